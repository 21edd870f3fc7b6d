import { Body, Controller, Injectable, Param, Post } from '@nestjs/common';
import { RequireApproval } from '../../lib/index.js';
import { LocalBroker } from '../../lib/testing/index.js';
import { ADAPTERS, type StartedApp } from '../support/nest-apps.js';
import { startGatedApp } from '../support/gated-app.js';
import { Ledger } from '../support/ledger.js';

/**
 * Canonicalization attacks the binding refuses: pairs of arguments an attacker might hope bind alike
 * (type confusion, JSON look-alikes, Unicode forms, sparse arrays, Map and Set against their plain
 * shapes, Date against its ISO string, BigInt, bytes against text). For each pair, an approval of the
 * first call is presented on the second, which gets 403 approval_mismatch and does not run; the
 * approval then still runs the first call, once. The summary never shows the value, so only the
 * binding tells the calls apart. Real Nest apps (Express and Fastify), the real local broker.
 */
const API_KEY = 'sk_test_SECRET_attack_canonical_27b3';

/** Pairs of values built server-side (what a pipe or a controller could hand a gated provider). */
const TYPED: Record<string, [() => unknown, () => unknown]> = {
  'Date vs its ISO string': [() => new Date('2030-01-01T00:00:00.000Z'), () => '2030-01-01T00:00:00.000Z'],
  'invalid Date vs "invalid"': [() => new Date(Number.NaN), () => 'invalid'],
  'BigInt vs number': [() => 1n, () => 1],
  'BigInt vs string': [() => 1n, () => '1'],
  'Buffer vs its text': [() => Buffer.from('abc'), () => 'abc'],
  'Buffer vs its base64': [() => Buffer.from('abc'), () => 'YWJj'],
  'Uint8Array vs number array': [() => new Uint8Array([1, 2]), () => [1, 2]],
  'Map vs object': [() => new Map([['a', 1]]), () => ({ a: 1 })],
  'Map number key vs string key': [() => new Map([[1, 'a']]), () => new Map([['1', 'a']])],
  'Map vs entries array': [() => new Map([['a', 1]]), () => [['a', 1]]],
  'Set vs array': [() => new Set(['a']), () => ['a']],
  'Set vs Set with another item': [() => new Set(['a']), () => new Set(['a', 'b'])],
  'sparse array vs [null, 1]': [() => [, 1], () => [null, 1]], // eslint-disable-line no-sparse-arrays
  'sparse array vs [undefined, 1]': [() => [, 1], () => [undefined, 1]], // eslint-disable-line no-sparse-arrays
  'undefined vs null': [() => undefined, () => null],
  'NaN vs "NaN"': [() => Number.NaN, () => 'NaN'],
  'Infinity vs "Infinity"': [() => Number.POSITIVE_INFINITY, () => 'Infinity'],
  'Infinity vs -Infinity': [() => Number.POSITIVE_INFINITY, () => Number.NEGATIVE_INFINITY],
  'NaN vs Infinity': [() => Number.NaN, () => Number.POSITIVE_INFINITY],
  'nested Map vs nested object': [() => ({ limits: new Map([['eur', 10]]) }), () => ({ limits: { eur: 10 } })],
  'object vs array of its values': [() => ({ 0: 'a', 1: 'b' }), () => ['a', 'b']],
  'true vs 1': [() => true, () => 1],
  'empty string vs undefined': [() => '', () => undefined],
};

/** Pairs of JSON bodies, as an outsider sends them. */
const BODIES: Record<string, [string, string]> = {
  'number vs numeric string': ['{"v":1}', '{"v":"1"}'],
  'boolean vs string': ['{"v":true}', '{"v":"true"}'],
  'null vs missing': ['{"v":null}', '{}'],
  'empty array vs empty object': ['{"v":[]}', '{"v":{}}'],
  'array vs index-keyed object': ['{"v":["a"]}', '{"v":{"0":"a"}}'],
  'array order': ['{"v":[1,2]}', '{"v":[2,1]}'],
  'trailing NUL': ['{"v":"a"}', '{"v":"a\\u0000"}'],
  'NFC vs NFD': ['{"v":"\\u00e9"}', '{"v":"e\\u0301"}'],
  'lone surrogate vs replacement character': ['{"v":"\\ud800"}', '{"v":"\\ufffd"}'],
  'nested vs dotted key': ['{"v":{"a":{"b":1}}}', '{"v":{"a.b":1}}'],
  'big number vs its string': ['{"v":1e21}', '{"v":"1e+21"}'],
  '[null] vs []': ['{"v":[null]}', '{"v":[]}'],
  'extra key': ['{"v":1}', '{"v":1,"w":null}'],
  'key with a NUL': ['{"ab":1}', '{"a\\u0000b":1}'],
};

@Injectable()
class Operations {
  constructor(private readonly ledger: Ledger<unknown>) {}

  @RequireApproval('ops.apply', { mode: 'async', summary: 'Apply the prepared operation' })
  apply(value: unknown) {
    this.ledger.ran.push(value);
    return { applied: true };
  }
}

@Controller()
class OperationsController {
  constructor(
    private readonly operations: Operations,
    private readonly ledger: Ledger<unknown>,
  ) {}

  @Post('typed/:name/:which')
  typed(@Param('name') name: string, @Param('which') which: string) {
    return this.operations.apply(TYPED[name][which === 'first' ? 0 : 1]());
  }

  @Post('body')
  @RequireApproval('ops.body', { mode: 'async', summary: 'Apply the posted operation' })
  body(@Body() body: unknown) {
    this.ledger.ran.push(body);
    return { applied: true };
  }
}

describe.each(ADAPTERS)('canonicalization attacks the binding refuses (%s)', (adapter) => {
  let broker: LocalBroker;
  let started: StartedApp;
  let ledger: Ledger<unknown>;

  beforeEach(async () => {
    ({ broker, started } = await startGatedApp(adapter, {
      apiKey: API_KEY,
      sesame: { requestContext: 'all-routes' },
      controllers: [OperationsController],
      providers: [Ledger, Operations],
    }));
    ledger = started.app.get<Ledger<unknown>>(Ledger);
  });
  afterEach(async () => {
    await started.app.close();
    await broker.stop();
  });

  const post = async (path: string, body: string | undefined, id?: string) => {
    const res = await fetch(`${started.url}${path}`, {
      method: 'POST',
      headers: { ...(body !== undefined && { 'content-type': 'application/json' }), ...(id !== undefined && { 'sesame-approval-id': id }) },
      ...(body !== undefined && { body }),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  /** Approves the first call, presents the approval on the second (refused), then runs the first once. */
  const attack = async (first: () => ReturnType<typeof post>, second: (id: string) => ReturnType<typeof post>, firstWith: (id: string) => ReturnType<typeof post>) => {
    const pending = await first();
    expect(pending.status).toBe(202);
    const id = pending.body.approvalId as string;
    await broker.approve(id);
    expect(await second(id)).toMatchObject({ status: 403, body: { code: 'approval_mismatch', approvalId: id } });
    expect(ledger.ran).toEqual([]);
    expect((await firstWith(id)).status).toBe(201);
    expect(ledger.ran).toHaveLength(1);
  };

  it.each(Object.keys(TYPED))('%s', async (name) => {
    const path = (which: string) => `/typed/${encodeURIComponent(name)}/${which}`;
    await attack(
      () => post(path('first'), undefined),
      (id) => post(path('second'), undefined, id),
      (id) => post(path('first'), undefined, id),
    );
  });

  it.each(Object.keys(BODIES))('JSON body: %s', async (name) => {
    const [first, second] = BODIES[name];
    await attack(
      () => post('/body', first),
      (id) => post('/body', second, id),
      (id) => post('/body', first, id),
    );
  });

  it('a prototype-poisoning body never runs on the approval of the clean one', async () => {
    const pending = await post('/body', '{"v":1}');
    const id = pending.body.approvalId as string;
    await broker.approve(id);
    for (const poisoned of ['{"v":1,"__proto__":{"admin":true}}', '{"v":1,"constructor":{"prototype":{"admin":true}}}']) {
      // Express keeps __proto__ as an own key (bound, so refused); Fastify rejects the body outright.
      expect([400, 403]).toContain((await post('/body', poisoned, id)).status);
    }
    expect(ledger.ran).toEqual([]);
  });

  it('control: the same data with its keys in another order is the same call, and runs on the approval once', async () => {
    const pending = await post('/body', '{"a":1,"b":{"c":2,"d":3}}');
    const id = pending.body.approvalId as string;
    await broker.approve(id);
    expect((await post('/body', '{"b":{"d":3,"c":2},"a":1}', id)).status).toBe(201);
    expect((await post('/body', '{"a":1,"b":{"c":2,"d":3}}', id)).status).toBe(409);
    expect(ledger.ran).toHaveLength(1);
  });
});
