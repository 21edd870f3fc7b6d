import { Body, Controller, Injectable, Param, Post, Req } from '@nestjs/common';
import { Type } from 'class-transformer';
import { IsArray, IsDate, IsInt, IsString, Min, ValidateNested } from 'class-validator';
import { RequireApproval } from '../../lib/index.js';
import { LocalBroker } from '../../lib/testing/index.js';
import { ADAPTERS, type StartedApp } from '../support/nest-apps.js';
import { startGatedApp } from '../support/gated-app.js';
import { Ledger } from '../support/ledger.js';

/**
 * Second outside review, attacks on the canonical form and on the re-check before the run that are
 * refused (kept as regression tests): Proxies of every shape, byte views told apart by type and
 * window, a shared buffer changed during the wait, getters that change or throw, resolvers with side
 * effects, an unbound blocking approval presented elsewhere; and ordinary class-transformer DTOs
 * (nested, arrays, Dates) that must keep working. Real Nest apps, the real local broker.
 */
const API_KEY = 'sk_test_SECRET_attack2_refused_51c0';

// ---------------------------------------------------------------------------------------------
// Values a Nest pipe or a controller could hand a gated provider method.
// ---------------------------------------------------------------------------------------------

class Account {
  constructor(readonly iban: string) {}
}

/** Proxies of every shape (except one posing as a URL: see attack2-findings). */
const PROXIES: Record<string, () => unknown> = {
  'plain object': () => new Proxy({ to: 'alice' }, {}),
  array: () => new Proxy(['alice'], {}),
  Date: () => new Proxy(new Date(0), {}),
  Map: () => new Proxy(new Map([['to', 'alice']]), {}),
  Uint8Array: () => new Proxy(new Uint8Array([1, 2]), {}),
  'class instance': () => new Proxy(new Account('DE89'), {}),
  'revoked proxy': () => {
    const { proxy, revoke } = Proxy.revocable({ to: 'alice' }, {});
    revoke();
    return proxy;
  },
  'nested in a plain object': () => ({ transfer: { to: new Proxy({ iban: 'DE89' }, {}) } }),
  'inside an array': () => [1, new Proxy({}, {})],
  'as a Map value': () => new Map([['to', new Proxy({}, {})]]),
  'as a Set item': () => new Set([new Proxy({}, {})]),
  'a Proxy posing as an array': () => new Proxy({ 0: 'alice', length: 1 }, { getPrototypeOf: () => Array.prototype }),
  'a Proxy posing as a Date': () => new Proxy({}, { getPrototypeOf: () => Date.prototype }),
  'a Proxy posing as a Map': () => new Proxy({}, { getPrototypeOf: () => Map.prototype }),
};

const shared = new ArrayBuffer(8);
new Uint8Array(shared).set([1, 2, 3, 4, 1, 2, 3, 4]);

/** Byte values that hold the same bytes but that a handler reads differently. */
const BYTES: Record<string, [() => unknown, () => unknown]> = {
  'Buffer vs Uint8Array': [() => Buffer.from([1, 2]), () => new Uint8Array([1, 2])],
  'Uint8Array vs Int8Array': [() => new Uint8Array([255]), () => new Int8Array([-1])],
  'Uint8Array vs Uint8ClampedArray': [() => new Uint8Array([1]), () => new Uint8ClampedArray([1])],
  'Float32Array vs Uint8Array of its bytes': [() => new Float32Array([1]), () => new Uint8Array(new Float32Array([1]).buffer)],
  'DataView vs Uint8Array': [() => new DataView(new Uint8Array([1, 2]).buffer), () => new Uint8Array([1, 2])],
  'two windows of one buffer': [() => new Uint8Array(shared, 0, 4), () => new Uint8Array(shared, 2, 4)],
  'a window vs the whole buffer': [() => new Uint8Array(shared, 0, 4), () => new Uint8Array(shared)],
  'ArrayBuffer vs SharedArrayBuffer': [() => new Uint8Array([1]).buffer, () => Object.assign(new SharedArrayBuffer(1), {})],
  'Uint16Array little vs big': [() => new Uint16Array([0x0102]), () => new Uint16Array([0x0201])],
};

/** A getter that answers something else on every read: no two bindings of it agree. */
function everChanging(): object {
  let reads = 0;
  return Object.defineProperty({}, 'to', { enumerable: true, get: () => `user-${++reads}@example.com` });
}

/** A getter that works for the first `n` reads and then throws. */
function throwsAfter(n: number): object {
  let reads = 0;
  return Object.defineProperty({}, 'to', {
    enumerable: true,
    get: () => {
      if (++reads > n) throw new TypeError('account closed');
      return 'alice@example.com';
    },
  });
}

@Injectable()
class Operations {
  constructor(private readonly ledger: Ledger) {}

  @RequireApproval('ops2r.apply', { mode: 'async', summary: 'Apply the prepared operation' })
  apply(value: unknown) {
    this.ledger.ran.push(label(value));
    return { applied: true };
  }

  @RequireApproval('ops2r.apply-blocking', { summary: 'Apply the prepared operation', timeout: 5_000 })
  applyBlocking(value: unknown) {
    this.ledger.ran.push(label(value));
    return { applied: true };
  }

  /** Blocking, shares its approval with calls of the same key: its arguments must be data. */
  @RequireApproval('ops2r.keyed', { summary: 'Apply the prepared operation', dedupKey: 'nightly', timeout: 5_000 })
  applyKeyed(value: unknown) {
    this.ledger.ran.push(label(value));
    return { applied: true };
  }
}

function label(value: unknown): string {
  if (ArrayBuffer.isView(value))
    return `${value.constructor.name}[${value.byteOffset}+${value.byteLength}](${Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('hex')})`;
  if (value instanceof ArrayBuffer || value instanceof SharedArrayBuffer) return `${value.constructor.name}(${value.byteLength})`;
  try {
    return `value(${JSON.stringify(value)})`;
  } catch {
    return 'value(?)';
  }
}

@Controller()
class OperationsController {
  constructor(private readonly operations: Operations) {}

  @Post('proxy/:name')
  proxy(@Param('name') name: string) {
    return this.operations.apply(PROXIES[name]());
  }

  @Post('proxy-keyed/:name')
  proxyKeyed(@Param('name') name: string) {
    return this.operations.applyKeyed(PROXIES[name]());
  }

  @Post('bytes/:name/:which')
  bytes(@Param('name') name: string, @Param('which') which: string) {
    return this.operations.apply(BYTES[name][which === 'first' ? 0 : 1]());
  }

  @Post('ever-changing/:mode')
  everChanging(@Param('mode') mode: string) {
    return mode === 'async' ? this.operations.apply(everChanging()) : this.operations.applyBlocking(everChanging());
  }

  @Post('throws-after/:n')
  throwsAfter(@Param('n') n: string) {
    return this.operations.applyBlocking(throwsAfter(Number(n)));
  }
}

// ---------------------------------------------------------------------------------------------
// A buffer shared with other code, changed while the approval is pending.
// ---------------------------------------------------------------------------------------------

@Injectable()
class Firmware {
  /** One buffer, a view of its image handed to the gated flash() call. */
  readonly buffer = new ArrayBuffer(16);
  constructor(private readonly ledger: Ledger) {}

  @RequireApproval('firmware.flash', { summary: (image: Uint8Array) => `Flash image ${Buffer.from(image).toString('hex')}`, timeout: 5_000 })
  flash(image: Uint8Array) {
    this.ledger.ran.push(`flash:${Buffer.from(image).toString('hex')}`);
    return { flashed: true };
  }
}

@Controller()
class FirmwareController {
  constructor(private readonly firmware: Firmware) {}

  @Post('firmware/flash')
  flash() {
    return this.firmware.flash(new Uint8Array(this.firmware.buffer, 4, 4));
  }

  @Post('firmware/poke')
  poke() {
    // Another view over the same buffer, as a second request (or a worker) would write it.
    new DataView(this.firmware.buffer).setUint32(4, 0xdeadbeef);
    return { poked: true };
  }
}

// ---------------------------------------------------------------------------------------------
// Resolvers with side effects.
// ---------------------------------------------------------------------------------------------

let summaries = 0;

@Controller()
class ResolversController {
  constructor(private readonly ledger: Ledger) {}

  /** The summary differs on every call (a counter, a clock): the human saw the first one only. */
  @Post('counted')
  @RequireApproval('resolvers.counted', { mode: 'async', summary: () => `Run #${++summaries}` })
  counted(@Body() body: { v: number }) {
    this.ledger.ran.push(`counted:${body.v}`);
    return { ran: true };
  }

  /** Normalizes its argument while working out the summary. */
  @Post('normalizing')
  @RequireApproval('resolvers.normalizing', {
    mode: 'async',
    summary: (body: { to: string }) => {
      body.to = body.to.toLowerCase();
      return `Send to ${body.to}`;
    },
  })
  normalizing(@Body() body: { to: string }) {
    this.ledger.ran.push(`normalizing:${body.to}`);
    return { ran: true };
  }

  /** Throws on the repeat (a lookup that fails): the call must not run unchecked. */
  @Post('flaky')
  @RequireApproval('resolvers.flaky', {
    mode: 'async',
    summary: 'Run the flaky thing',
    context: (body: { fail?: boolean }) => {
      if (body.fail === true) throw new Error('lookup failed');
      return { ok: true };
    },
  })
  flaky(@Body() body: { v: number }) {
    this.ledger.ran.push(`flaky:${body.v}`);
    return { ran: true };
  }
}

// ---------------------------------------------------------------------------------------------
// A blocking route taking @Req() (not data): bound by a random key, so no other call can use it.
// ---------------------------------------------------------------------------------------------

@Controller()
class PaymentsController {
  constructor(private readonly ledger: Ledger) {}

  @Post('pay-blocking')
  @RequireApproval('payments2.pay', { summary: (_req: unknown, body: { amount: number }) => `Pay EUR ${body.amount}`, timeout: 5_000 })
  payBlocking(@Req() _req: unknown, @Body() body: { amount: number }) {
    this.ledger.ran.push(`blocking:${body.amount}`);
    return { paid: body.amount };
  }

  /** The same action, in async mode, with data arguments only. */
  @Post('pay-async')
  @RequireApproval('payments2.pay', { mode: 'async', summary: (body: { amount: number }) => `Pay EUR ${body.amount}` })
  payAsync(@Body() body: { amount: number }) {
    this.ledger.ran.push(`async:${body.amount}`);
    return { paid: body.amount };
  }
}

// ---------------------------------------------------------------------------------------------
// Ordinary validated DTOs (class-transformer): nested, arrays of DTOs, Date fields.
// ---------------------------------------------------------------------------------------------

class LineDto {
  @IsString() sku!: string;
  @IsInt() @Min(1) qty!: number;
}

class AddressDto {
  @IsString() city!: string;
}

class OrderDto {
  @ValidateNested() @Type(() => AddressDto) shipTo!: AddressDto;
  @IsArray() @ValidateNested({ each: true }) @Type(() => LineDto) lines!: LineDto[];
  @IsDate() @Type(() => Date) deliverOn!: Date;
}

@Controller()
class OrdersController {
  constructor(private readonly ledger: Ledger) {}

  @Post('orders')
  @RequireApproval('orders2.place', { mode: 'async', summary: (dto: OrderDto) => `Order ${dto.lines.length} lines to ${dto.shipTo.city}` })
  place(@Body() dto: OrderDto) {
    this.ledger.ran.push(`order:${dto.shipTo.city}:${dto.lines.map((l) => `${l.sku}x${l.qty}`).join(',')}:${dto.deliverOn.toISOString()}`);
    return { placed: true };
  }
}

const ORDER = {
  shipTo: { city: 'Berlin' },
  lines: [
    { sku: 'A', qty: 1 },
    { sku: 'B', qty: 2 },
  ],
  deliverOn: '2030-01-01T00:00:00.000Z',
};

describe.each(ADAPTERS)('attack2: refused attacks (%s)', (adapter) => {
  let broker: LocalBroker;
  let started: StartedApp;
  let ledger: Ledger;

  beforeEach(async () => {
    summaries = 0;
    ({ broker, started } = await startGatedApp(adapter, {
      apiKey: API_KEY,
      sesame: { requestContext: 'all-routes' },
      controllers: [OperationsController, FirmwareController, ResolversController, PaymentsController, OrdersController],
      providers: [Ledger, Operations, Firmware],
      validation: { transform: true },
    }));
    ledger = started.app.get(Ledger);
  });
  afterEach(async () => {
    await started.app.close();
    await broker.stop();
  });

  const request = async (path: string, body?: unknown, id?: string) => {
    const res = await fetch(`${started.url}${path}`, {
      method: 'POST',
      headers: { ...(body !== undefined && { 'content-type': 'application/json' }), ...(id !== undefined && { 'sesame-approval-id': id }) },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const pick = (answer: { status: number; body: Record<string, unknown> }) => ({ status: answer.status, code: answer.body.code });

  describe('Proxies are refused wherever they sit', () => {
    it.each(Object.keys(PROXIES))('%s: async mode fails closed (500), asks nobody, runs nothing', async (name) => {
      // A revoked Proxy throws a TypeError of its own when looked at: still a 500 before anything is asked.
      const answer = await request(`/proxy/${encodeURIComponent(name)}`);
      expect(answer.status).toBe(500);
      if (name !== 'revoked proxy') expect(answer.body.code).toBe('approval_gate_error');
      expect(broker.list()).toEqual([]);
      expect(ledger.ran).toEqual([]);
    });

    it('a shared (dedupKey) blocking call with a Proxy argument fails closed too', async () => {
      expect(pick(await request('/proxy-keyed/plain%20object'))).toEqual({ status: 500, code: 'approval_gate_error' });
      expect(broker.list()).toEqual([]);
      expect(ledger.ran).toEqual([]);
    });
  });

  describe('byte values are bound by type and window, not only by their bytes', () => {
    it.each(Object.keys(BYTES))('%s: the approval of one does not run the other, and still runs its own once', async (name) => {
      const path = (which: string) => `/bytes/${encodeURIComponent(name)}/${which}`;
      const first = await request(path('first'));
      expect(first.status).toBe(202);
      const id = first.body.approvalId as string;
      await broker.approve(id);
      expect(pick(await request(path('second'), undefined, id))).toEqual({ status: 403, code: 'approval_mismatch' });
      expect(ledger.ran).toEqual([]);
      expect((await request(path('first'), undefined, id)).status).toBe(201);
      expect(ledger.ran).toHaveLength(1);
    });

    it('a buffer written through another view while the approval is pending: 403, the new image is not flashed', async () => {
      const flashing = request('/firmware/flash');
      const approval = await broker.waitForApproval((a) => a.action === 'firmware.flash');
      expect(approval.summary).toBe('Flash image 00000000');
      expect((await request('/firmware/poke')).status).toBe(201);
      await broker.approve(approval.id);
      expect(pick(await flashing)).toEqual({ status: 403, code: 'approval_mismatch' });
      expect(ledger.ran).toEqual([]);
    });
  });

  describe('getters with side effects', () => {
    // An own getter is refused when the call is bound, in every mode: nobody is asked, nothing runs.
    it('a getter answering something else on every read never runs, blocking or async', async () => {
      expect(pick(await request('/ever-changing/blocking'))).toEqual({ status: 500, code: 'approval_gate_error' });
      expect(pick(await request('/ever-changing/async'))).toEqual({ status: 500, code: 'approval_gate_error' });
      expect(broker.list()).toEqual([]);
      expect(ledger.ran).toEqual([]);
    });

    it('a getter that throws on the first read (the binding): fails closed, asks nobody, runs nothing', async () => {
      expect((await request('/throws-after/0')).status).toBe(500);
      expect(broker.list()).toEqual([]);
      expect(ledger.ran).toEqual([]);
    });

    it('a getter that would throw only on the re-check: refused at the binding already, nothing runs', async () => {
      expect((await request('/throws-after/1')).status).toBe(500);
      expect(broker.list()).toEqual([]);
      expect(ledger.ran).toEqual([]);
    });
  });

  describe('resolvers with side effects', () => {
    it('a summary that differs on every call: the approved repeat is refused (the human saw another summary)', async () => {
      const first = await request('/counted', { v: 1 });
      expect(first.status).toBe(202);
      const id = first.body.approvalId as string;
      await broker.approve(id);
      expect(pick(await request('/counted', { v: 1 }, id))).toEqual({ status: 403, code: 'approval_mismatch' });
      expect(ledger.ran).toEqual([]);
    });

    it('a summary resolver that changes its argument: the change is caught before the run (403), not run', async () => {
      const first = await request('/normalizing', { to: 'Alice@Example.com' });
      expect(first.status).toBe(202);
      const id = first.body.approvalId as string;
      await broker.approve(id);
      for (const to of ['Alice@Example.com', 'alice@example.com']) {
        expect(pick(await request('/normalizing', { to }, id))).toEqual({ status: 403, code: 'approval_mismatch' });
      }
      expect(ledger.ran).toEqual([]);
    });

    it('a context resolver that throws on the repeat: the call fails and does not run', async () => {
      const first = await request('/flaky', { v: 1 });
      expect(first.status).toBe(202);
      const id = first.body.approvalId as string;
      await broker.approve(id);
      expect((await request('/flaky', { v: 1, fail: true }, id)).status).toBeGreaterThanOrEqual(400);
      expect(ledger.ran).toEqual([]);
    });
  });

  describe('a blocking call bound by a random key (its @Req() is not data)', () => {
    it('two calls with the same body get two approvals; approving one runs that one only', async () => {
      const a = request('/pay-blocking', { amount: 10 });
      const b = request('/pay-blocking', { amount: 10 });
      await broker.waitForHeldWaits(2);
      const [first, second] = broker.list().filter((x) => x.action === 'payments2.pay');
      expect(first.id).not.toBe(second.id);
      expect(first.dedup_key).not.toBe(second.dedup_key);
      await broker.approve(first.id);
      await broker.deny(second.id);
      const answers = [await a, await b].map((x) => x.status).sort();
      expect(answers).toEqual([201, 403]);
      expect(ledger.ran).toEqual(['blocking:10']);
    });

    it('its approval presented on an async route of the same action, same body: 403, nothing runs', async () => {
      const paying = request('/pay-blocking', { amount: 10 });
      const approval = await broker.waitForApproval((x) => x.action === 'payments2.pay');
      await broker.approve(approval.id);
      expect((await paying).status).toBe(201);
      // Used already; and a fresh, unused one:
      const again = request('/pay-blocking', { amount: 10 });
      const unused = await broker.waitForApproval((x) => x.action === 'payments2.pay' && x.id !== approval.id);
      for (const id of [approval.id, unused.id]) {
        if (id === unused.id) await broker.approve(id);
        expect(pick(await request('/pay-async', { amount: 10 }, id))).toEqual({ status: 403, code: 'approval_mismatch' });
      }
      expect((await again).status).toBe(201);
      expect(ledger.ran).toEqual(['blocking:10', 'blocking:10']);
    });
  });

  describe('ordinary validated DTOs: nested, arrays of DTOs, Dates', () => {
    it('an order runs on its approval once; any nested change is refused', async () => {
      const first = await request('/orders', ORDER);
      expect(first.status).toBe(202);
      const id = first.body.approvalId as string;
      await broker.approve(id);
      const variants = [
        { ...ORDER, shipTo: { city: 'Berlin ' } },
        { ...ORDER, lines: [...ORDER.lines].reverse() },
        { ...ORDER, lines: [ORDER.lines[0], { sku: 'B', qty: 3 }] },
        { ...ORDER, deliverOn: '2030-01-01T00:00:00.001Z' },
        { ...ORDER, lines: [...ORDER.lines, { sku: 'C', qty: 1 }] },
      ];
      for (const variant of variants) {
        expect(pick(await request('/orders', variant, id))).toEqual({ status: 403, code: 'approval_mismatch' });
      }
      expect(ledger.ran).toEqual([]);
      // The same order, its keys in another order and its date spelled alike: the same call.
      expect((await request('/orders', { deliverOn: ORDER.deliverOn, lines: ORDER.lines, shipTo: ORDER.shipTo }, id)).status).toBe(201);
      expect((await request('/orders', ORDER, id)).status).toBe(409);
      expect(ledger.ran).toEqual(['order:Berlin:Ax1,Bx2:2030-01-01T00:00:00.000Z']);
    });
  });
});
