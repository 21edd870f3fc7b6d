import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Body, Controller, Injectable, Param, Patch, Post } from '@nestjs/common';
import { Type } from 'class-transformer';
import { IsOptional, IsString, ValidateNested } from 'class-validator';
import { RequireApproval, SesameConfigError, SesameModule, WebhookVerifier, signWebhook } from '../../lib/index.js';
import { resolveSesameConfig } from '../../lib/module/resolve-sesame-config.js';
import { LocalBroker } from '../../lib/testing/index.js';
import { startApp, type StartedApp } from '../support/nest-apps.js';
import { startGatedApp } from '../support/gated-app.js';
import { Ledger } from '../support/ledger.js';
import { ScriptedServer } from '../support/scripted-server.js';

/**
 * Second outside review: attacks that still succeed after the fixes of commit 06b4cd3. Each test
 * asserts the secure behaviour, so each fails until its finding is fixed. Real Nest apps (Express),
 * the real local broker (or a scripted one standing in for a misbehaving broker or proxy), no mocks.
 */
const API_KEY = 'sk_test_SECRET_attack2_findings_9e4a';

const REFUSED = [
  { status: 403, code: 'approval_mismatch' },
  { status: 500, code: 'approval_gate_error' },
];
const REFUSED_OR_PENDING = [
  { status: 202, code: 'approval_pending' },
  { status: 500, code: 'approval_gate_error' },
];
const pick = (answer: { status: number; body: Record<string, unknown> }) => ({ status: answer.status, code: answer.body.code });

async function call(url: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: { ...(body !== undefined && { 'content-type': 'application/json' }), ...headers },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: (text === '' ? {} : JSON.parse(text)) as Record<string, unknown>, text };
}

// ---------------------------------------------------------------------------------------------
// Finding A: the canonical form still binds different arguments alike.
// ---------------------------------------------------------------------------------------------

/** A timestamp with its zone (a common value object): a Date subclass with an own field. */
class ZonedDate extends Date {
  constructor(
    value: string,
    readonly zone: string,
  ) {
    super(value);
  }
}

/** A Map subclass carrying whose it is. */
class OwnedLimits extends Map<string, number> {
  constructor(
    entries: [string, number][],
    readonly owner: string,
  ) {
    super(entries);
  }
}

/** Some own data, plus state in a private field read through an accessor. */
class Transfer {
  readonly #to: string;
  constructor(
    readonly amount: number,
    to: string,
  ) {
    this.#to = to;
  }
  get to(): string {
    return this.#to;
  }
}

/** Two bounded contexts, each with its own command of the same name (CQRS handlers are looked up by class, not name). */
const chat = {
  DeleteAccountCommand: class DeleteAccountCommand {
    readonly context = 'account';
    constructor(readonly accountId: string) {}
  },
};
const billing = {
  DeleteAccountCommand: class DeleteAccountCommand {
    readonly context = 'account';
    constructor(readonly accountId: string) {}
  },
};

/** Mixins return anonymous classes: two different behaviours, no name either. */
const Archivable = <T extends new (...a: any[]) => object>(Base: T) => class extends Base {}; // eslint-disable-line @typescript-eslint/no-explicit-any
const Purgeable = <T extends new (...a: any[]) => object>(Base: T) => class extends Base {}; // eslint-disable-line @typescript-eslint/no-explicit-any
class Target {
  constructor(readonly id: string) {}
}
const ArchiveTarget = Archivable(Target);
const PurgeTarget = Purgeable(Target);

/** The encoder calls `value.map(...)`, found through the value: a subclass decides what is bound. */
class FileNames extends Array<string> {
  override map<U>(): U[] {
    return [];
  }
}
const files = (...names: string[]) => {
  const list = new FileNames();
  list.push(...names);
  return list;
};

/** A Proxy is refused, unless its getPrototypeOf trap claims URL.prototype: then it is bound by whatever its get trap says `href` is. */
function proxyPosingAsUrl(href: string, real: string): object {
  return new Proxy({ href: real }, { getPrototypeOf: () => URL.prototype, get: (target, key) => (key === 'href' ? href : Reflect.get(target, key)) });
}

function describeValue(value: unknown): string {
  if (value instanceof ZonedDate) return `ZonedDate(${value.toISOString()} ${value.zone})`;
  if (value instanceof OwnedLimits) return `OwnedLimits(${value.owner})`;
  if (value instanceof Transfer) return `Transfer(${value.amount} to ${value.to})`;
  if (value instanceof chat.DeleteAccountCommand) return `chat.DeleteAccount(${value.accountId})`;
  if (value instanceof billing.DeleteAccountCommand) return `billing.DeleteAccount(${value.accountId})`;
  if (value instanceof ArchiveTarget) return `archive(${value.id})`;
  if (value instanceof PurgeTarget) return `purge(${value.id})`;
  if (value instanceof FileNames) return `files(${[...value].join(',')})`;
  if (Array.isArray(value)) return `array(${value.join(',')}; scope=${String((value as unknown as { scope?: string }).scope)})`;
  if (typeof value === 'object' && value !== null && 'href' in value) {
    return `proxy(${(Reflect.getOwnPropertyDescriptor(value, 'href')?.value as string | undefined) ?? '?'})`;
  }
  return `other(${String(value)})`;
}

/** Pairs the handler tells apart: approved, then presented. */
const COLLISIONS: Record<string, [() => unknown, () => unknown]> = {
  'Date subclass with an own field (zone)': [() => new ZonedDate('2030-01-01T09:00:00.000Z', 'UTC'), () => new ZonedDate('2030-01-01T09:00:00.000Z', 'Pacific/Kiritimati')],
  'Map subclass with an own field (owner)': [() => new OwnedLimits([['eur', 10]], 'alice'), () => new OwnedLimits([['eur', 10]], 'mallory')],
  'array with an extra own property': [() => Object.assign(['report.pdf'], { scope: 'own' }), () => Object.assign(['report.pdf'], { scope: 'all-tenants' })],
  'an Array subclass whose map() hides its items': [() => files('report.pdf'), () => files('report.pdf', '/etc/shadow')],
  'some own data plus a private field': [() => new Transfer(100, 'alice'), () => new Transfer(100, 'mallory')],
  'two classes with the same name from two modules': [() => new chat.DeleteAccountCommand('42'), () => new billing.DeleteAccountCommand('42')],
  'two anonymous (mixin) classes': [() => new ArchiveTarget('42'), () => new PurgeTarget('42')],
  'a Proxy posing as a URL (the Proxy refusal bypassed)': [
    () => proxyPosingAsUrl('https://bank.example/alice', 'alice'),
    () => proxyPosingAsUrl('https://bank.example/alice', 'mallory'),
  ],
};

@Injectable()
class Operations {
  constructor(private readonly ledger: Ledger) {}

  @RequireApproval('ops2.apply', { mode: 'async', summary: 'Apply the prepared operation' })
  apply(value: unknown) {
    this.ledger.ran.push(describeValue(value));
    return { applied: describeValue(value) };
  }
}

@Controller()
class OperationsController {
  constructor(private readonly operations: Operations) {}

  @Post('apply/:name/:which')
  apply(@Param('name') name: string, @Param('which') which: string) {
    return this.operations.apply(COLLISIONS[name][which === 'approved' ? 0 : 1]());
  }
}

// ---------------------------------------------------------------------------------------------
// Finding B: an own accessor property answers the gate's reads one way and the method's another.
// ---------------------------------------------------------------------------------------------

/** True while the approval gate itself (its resolvers, its binding, its re-check) is reading. */
function gateIsReading(): boolean {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 100;
  const stack = new Error().stack ?? '';
  Error.stackTraceLimit = limit;
  return /\b(canonicalJson|bindingDigest|buildRequest)\b/.test(stack);
}

interface Draft {
  to: string;
  subject: string;
}

/** A draft whose `to` is an own enumerable getter: `alice` to the gate, `mallory` to the method. */
function twoFacedDraft(): Draft {
  return Object.defineProperties({ subject: 'Q3 figures' } as Draft, {
    to: { enumerable: true, get: () => (gateIsReading() ? 'alice@example.com' : 'mallory@evil.example') },
  });
}

// ---------------------------------------------------------------------------------------------
// Finding C: a blocking call with one argument that is not data (an AbortSignal, a transaction, a
// callback) is bound by a random key and never checked again: its data arguments may change during
// the wait, and what runs is not what the human saw.
// Finding D: blocking mode binds after the summary/context resolvers ran, so a resolver that changes
// its arguments after the summary was worked out is approved with the change (async mode refuses it).
// ---------------------------------------------------------------------------------------------

@Injectable()
class Drafts {
  readonly byId = new Map<string, Draft>();
}

@Injectable()
class Mailer {
  constructor(private readonly ledger: Ledger) {}

  @RequireApproval('mail2.send', { summary: (draft: Draft) => `Send "${draft.subject}" to ${draft.to}`, timeout: 10_000 })
  send(draft: Draft, signal?: AbortSignal) {
    if (signal?.aborted) return { sent: null };
    this.ledger.ran.push(`send:${draft.to}`);
    return { sent: draft.to };
  }

  @RequireApproval('mail2.send-plain', { summary: (draft: Draft) => `Send "${draft.subject}" to ${draft.to}`, timeout: 10_000 })
  sendPlain(draft: Draft) {
    this.ledger.ran.push(`send-plain:${draft.to}`);
    return { sent: draft.to };
  }

  @RequireApproval('mail2.normalized', {
    summary: (draft: Draft) => `Send "${draft.subject}" to ${draft.to}`,
    // "Normalizes" the recipient after the summary read it: an alias table, a trim, an enrichment.
    context: (draft: Draft) => {
      draft.to = draft.to === 'team' ? 'mallory@evil.example' : draft.to;
      return { subject: draft.subject };
    },
    timeout: 10_000,
  })
  sendNormalized(draft: Draft) {
    this.ledger.ran.push(`normalized:${draft.to}`);
    return { sent: draft.to };
  }

  @RequireApproval('mail2.normalized-async', {
    mode: 'async',
    summary: (draft: Draft) => `Send "${draft.subject}" to ${draft.to}`,
    context: (draft: Draft) => {
      draft.to = draft.to === 'team' ? 'mallory@evil.example' : draft.to;
      return { subject: draft.subject };
    },
  })
  sendNormalizedAsync(draft: Draft) {
    this.ledger.ran.push(`normalized-async:${draft.to}`);
    return { sent: draft.to };
  }

  @RequireApproval('mail2.two-faced', { summary: (draft: Draft) => `Send "${draft.subject}" to ${draft.to}`, timeout: 10_000 })
  sendTwoFaced(draft: Draft) {
    this.ledger.ran.push(`two-faced:${draft.to}`);
    return { sent: draft.to };
  }

  @RequireApproval('mail2.two-faced-async', { mode: 'async', summary: (draft: Draft) => `Send "${draft.subject}" to ${draft.to}` })
  sendTwoFacedAsync(draft: Draft) {
    this.ledger.ran.push(`two-faced-async:${draft.to}`);
    return { sent: draft.to };
  }
}

@Controller()
class DraftsController {
  constructor(
    private readonly drafts: Drafts,
    private readonly mailer: Mailer,
  ) {}

  @Post('drafts/:id/send')
  send(@Param('id') id: string) {
    // The request's own abort signal (or a transaction handle, a progress callback): not data.
    return this.mailer.send(this.drafts.byId.get(id)!, new AbortController().signal);
  }

  @Post('drafts/:id/send-plain')
  sendPlain(@Param('id') id: string) {
    return this.mailer.sendPlain(this.drafts.byId.get(id)!);
  }

  @Patch('drafts/:id')
  edit(@Param('id') id: string, @Body() body: Partial<Draft>) {
    Object.assign(this.drafts.byId.get(id)!, body);
    return this.drafts.byId.get(id);
  }

  @Post('normalized')
  normalized() {
    return this.mailer.sendNormalized({ to: 'team', subject: 'Q3 figures' });
  }

  @Post('normalized-async')
  normalizedAsync() {
    return this.mailer.sendNormalizedAsync({ to: 'team', subject: 'Q3 figures' });
  }

  @Post('two-faced')
  twoFaced() {
    return this.mailer.sendTwoFaced(twoFacedDraft());
  }

  @Post('two-faced-async')
  twoFacedAsync() {
    return this.mailer.sendTwoFacedAsync(twoFacedDraft());
  }
}

// ---------------------------------------------------------------------------------------------
// Finding E: an ordinary validated DTO whose fields are all optional, sent empty, cannot be gated
// in async mode (nor with a dedupKey): 500 "misconfigured" instead of an approval.
// ---------------------------------------------------------------------------------------------

class ExportFiltersDto {
  @IsOptional() @IsString() tag?: string;
}

class ExportOptionsDto {
  @IsOptional() @IsString() format?: string;
  @IsOptional() @ValidateNested() @Type(() => ExportFiltersDto) filters?: ExportFiltersDto;
}

@Controller()
class ExportsController {
  constructor(private readonly ledger: Ledger) {}

  @Post('exports')
  @RequireApproval('exports2.run', { mode: 'async', summary: (dto: ExportOptionsDto) => `Export everything as ${dto.format ?? 'csv'}` })
  run(@Body() dto: ExportOptionsDto) {
    this.ledger.ran.push(`export:${dto.format ?? 'csv'}`);
    return { exported: true };
  }
}

describe('attack2 findings (express)', () => {
  let broker: LocalBroker;
  let started: StartedApp;
  let ledger: Ledger;

  beforeEach(async () => {
    ({ broker, started } = await startGatedApp('express', {
      apiKey: API_KEY,
      sesame: { requestContext: 'all-routes' },
      controllers: [OperationsController, DraftsController, ExportsController],
      providers: [Ledger, Operations, Drafts, Mailer],
      validation: { transform: true, whitelist: true },
    }));
    ledger = started.app.get(Ledger);
  });
  afterEach(async () => {
    await started.app.close();
    await broker.stop();
  });

  const request = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => call(started.url, method, path, body, headers);

  describe('finding A: arguments the canonical form still cannot tell apart', () => {
    it.each(Object.keys(COLLISIONS))('%s: an approval of one value does not run the call with the other', async (name) => {
      const [approvedValue, presentedValue] = COLLISIONS[name];
      expect(describeValue(approvedValue())).not.toBe(describeValue(presentedValue()));
      const path = (which: string) => `/apply/${encodeURIComponent(name)}/${which}`;

      const first = await request('POST', path('approved'));
      // A fix may refuse to bind such a value (500): nothing is asked or run then.
      expect(REFUSED_OR_PENDING).toContainEqual(pick(first));
      const id = first.body.approvalId as string | undefined;
      if (id !== undefined) await broker.approve(id);

      const other = await request('POST', path('presented'), undefined, id === undefined ? {} : { 'sesame-approval-id': id });
      expect(ledger.ran).not.toContain(describeValue(presentedValue()));
      expect(REFUSED).toContainEqual(pick(other));
    });
  });

  describe('finding B: an own getter shows the gate one value and the method another', () => {
    it('blocking: approved for alice, the mail goes to mallory', async () => {
      // Fixed by refusing accessor properties at the binding: nobody is asked, nothing runs.
      expect(pick(await request('POST', '/two-faced'))).toEqual({ status: 500, code: 'approval_gate_error' });
      expect(broker.list()).toEqual([]);
      expect(ledger.ran).not.toContain('two-faced:mallory@evil.example');
    });

    it('async: approved for alice, the approved repeat mails mallory', async () => {
      const first = await request('POST', '/two-faced-async');
      // A fix may refuse accessor properties outright (500).
      expect(REFUSED_OR_PENDING).toContainEqual(pick(first));
      const id = first.body.approvalId as string | undefined;
      if (id !== undefined) {
        expect(broker.get(id)?.summary).toBe('Send "Q3 figures" to alice@example.com');
        await broker.approve(id);
        await request('POST', '/two-faced-async', undefined, { 'sesame-approval-id': id });
      }
      expect(ledger.ran).not.toContain('two-faced-async:mallory@evil.example');
    });
  });

  describe('finding C: a blocking call with a non-data argument is never re-checked', () => {
    it('a draft edited while its approval is pending is sent to the new recipient, because the call also takes an AbortSignal', async () => {
      started.app.get(Drafts).byId.set('1', { to: 'alice@example.com', subject: 'Q3 figures' });
      const sending = request('POST', '/drafts/1/send');
      const approval = await broker.waitForApproval((a) => a.action === 'mail2.send');
      expect(approval.summary).toBe('Send "Q3 figures" to alice@example.com');

      expect((await request('PATCH', '/drafts/1', { to: 'mallory@evil.example' })).status).toBe(200);
      await broker.approve(approval.id);
      const sent = await sending;

      expect(ledger.ran).not.toContain('send:mallory@evil.example');
      expect(sent.status === 201 ? ledger.ran : []).toEqual(sent.status === 201 ? ['send:alice@example.com'] : []);
    });
  });

  describe('finding C, control', () => {
    it('the same data-only call with nobody signed in is re-checked: 403, not sent to the new recipient', async () => {
      started.app.get(Drafts).byId.set('8', { to: 'alice@example.com', subject: 'Q3 figures' });
      const sending = request('POST', '/drafts/8/send-plain');
      const approval = await broker.waitForApproval((a) => a.action === 'mail2.send-plain');
      expect((await request('PATCH', '/drafts/8', { to: 'mallory@evil.example' })).status).toBe(200);
      await broker.approve(approval.id);
      expect(pick(await sending)).toEqual({ status: 403, code: 'approval_mismatch' });
      expect(ledger.ran).toEqual([]);
    });
  });

  describe('finding D: blocking mode binds the arguments after its resolvers changed them', () => {
    it('control: async mode refuses a call whose resolver changed its arguments (nothing runs)', async () => {
      const first = await request('POST', '/normalized-async');
      expect(first.status).toBe(202);
      const id = first.body.approvalId as string;
      await broker.approve(id);
      const repeat = await request('POST', '/normalized-async', undefined, { 'sesame-approval-id': id });
      expect(pick(repeat)).toEqual({ status: 403, code: 'approval_mismatch' });
      expect(ledger.ran).toEqual([]);
    });

    it('blocking: the human approves "to team", the mail goes to mallory', async () => {
      const sending = request('POST', '/normalized');
      const approval = await broker.waitForApproval((a) => a.action === 'mail2.normalized');
      expect(approval.summary).toBe('Send "Q3 figures" to team');
      await broker.approve(approval.id);
      await sending;
      expect(ledger.ran).not.toContain('normalized:mallory@evil.example');
    });
  });

  describe('finding E: an empty all-optional DTO cannot be gated', () => {
    it.each([
      ['{}', {}],
      ['{"filters":{}}', { filters: {} }],
    ])('POST %s in async mode asks for an approval (202), instead of failing as misconfigured', async (_label, body) => {
      const first = await request('POST', '/exports', body);
      expect(pick(first)).toEqual({ status: 202, code: 'approval_pending' });
      await broker.approve(first.body.approvalId as string);
      expect((await request('POST', '/exports', body, { 'sesame-approval-id': first.body.approvalId as string })).status).toBe(201);
      expect(ledger.ran).toEqual(['export:csv']);
    });
  });
});

// ---------------------------------------------------------------------------------------------
// Finding F: broker text reaching logs and errors is cut to 500 (message) / 100 (code) characters
// BEFORE it is masked, so a key that straddles the cut is no longer "the API key" when masked: all but
// its last character stays. And approval fields the gate logs or puts in its 403 answer (the
// approval's id and action, as the broker sent them) are not masked at all.
// ---------------------------------------------------------------------------------------------

@Controller()
class VaultController {
  constructor(private readonly ledger: Ledger) {}

  @Post('vault')
  @RequireApproval('vault2.open', { summary: 'Open the vault', timeout: 2_000 })
  open() {
    this.ledger.ran.push('vault');
    return { opened: true };
  }
}

describe('finding F: the API key reaches logs through broker text', () => {
  let scripted: ScriptedServer;
  let started: StartedApp;
  /** Most of the key is as good as the key (the rest is guessed): nothing this long may show. */
  const KEY_PART = API_KEY.slice(0, -1);

  beforeEach(async () => {
    scripted = await ScriptedServer.start();
    started = await startApp('express', {
      imports: [SesameModule.forRoot({ apiKey: API_KEY, baseUrl: scripted.url, env: {}, requestContext: 'all-routes', retry: { retries: 0 } })],
      controllers: [VaultController],
      providers: [Ledger],
    });
  });
  afterEach(async () => {
    await started.app.close();
    await scripted.stop();
  });

  const leaks = (extra: string[] = []) => [...started.logger.lines, ...extra].filter((line) => line.includes(KEY_PART));

  it.each([
    // A gateway quoting the raw request it rejected: the key glued to the text before it, right at the cut.
    ['message cut at 500', 422, { error: { code: 'validation_failed', message: `${'x'.repeat(500 - KEY_PART.length)}${API_KEY} trailing` } }],
    ['code cut at 100', 400, { error: { code: `${'x'.repeat(100 - KEY_PART.length)}${API_KEY}`, message: 'rejected' } }],
    ['code cut at 100 (403)', 403, { error: { code: `${'x'.repeat(100 - KEY_PART.length)}${API_KEY}`, message: 'rejected' } }],
  ])('%s: the gated call fails closed, and no log line holds the key', async (_label, status, body) => {
    scripted.script({ status, body });
    const res = await call(started.url, 'POST', '/vault');
    expect(res.status).toBeGreaterThanOrEqual(500);
    expect(res.text).not.toContain(KEY_PART);
    expect(started.app.get(Ledger).ran).toEqual([]);
    expect(leaks()).toEqual([]);
  });

  it('an approval whose id or action echoes the key: neither the log nor the 403 answer shows it', async () => {
    const now = new Date();
    scripted.script({
      status: 201,
      body: {
        id: `apr_${API_KEY}`,
        action: `vault2.open ${API_KEY}`,
        summary: 'Open the vault',
        reason: null,
        context: null,
        status: 'approved',
        created_at: now.toISOString(),
        expires_at: new Date(now.getTime() + 60_000).toISOString(),
        decided_at: now.toISOString(),
        requester_label: null,
        dedup_key: 'sesame:v2:forged',
        callback_url: null,
      },
    });
    const res = await call(started.url, 'POST', '/vault');
    // Refused whole: an answer quoting the API key is off-protocol (502 approval_broker_error).
    expect(res.status).toBe(502);
    expect(started.app.get(Ledger).ran).toEqual([]);
    expect(res.text).not.toContain(KEY_PART);
    expect(leaks()).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// Finding G: a webhook secret's strength is never checked. `whsec_AA==` (a one-byte HMAC key) boots,
// and anyone can then forge decision webhooks in at most 256 tries.
// ---------------------------------------------------------------------------------------------

describe('finding G: a one-byte webhook secret is accepted', () => {
  const WEAK = 'whsec_Kg=='; // one byte, 0x2a

  it('an outsider forges a decision webhook against it in at most 256 tries', () => {
    const verifier = (() => {
      try {
        return new WebhookVerifier(WEAK);
      } catch {
        return undefined; // refused: the secure outcome
      }
    })();
    let forged = 0;
    if (verifier) {
      const body = JSON.stringify({ approval_id: 'apr_1', action: 'payments.refund', status: 'approved', decided_at: new Date().toISOString() });
      for (let byte = 0; byte < 256 && forged === 0; byte++) {
        const guess = `whsec_${Buffer.from([byte]).toString('base64')}`;
        try {
          if (verifier.verify(signWebhook(body, guess), body).status === 'approved') forged = byte + 1;
        } catch {
          // wrong guess
        }
      }
    }
    // The number of the guess that was accepted (0: none was): today 43, the secret's byte plus one.
    expect(forged).toBe(0);
    expect(verifier).toBeUndefined();
  });

  it('SesameModule refuses it at boot', () => {
    expect(() => resolveSesameConfig({ apiKey: API_KEY, env: {}, webhookSecret: WEAK })).toThrow(SesameConfigError);
  });
});

describe('finding C (second path): a signed-in user without an id makes a blocking call unbound', () => {
  let broker: LocalBroker;
  let started: StartedApp;

  beforeEach(async () => {
    broker = await LocalBroker.start({ apiKeys: [API_KEY] });
    started = await startApp(
      'express',
      {
        imports: [SesameModule.forRoot({ apiKey: API_KEY, baseUrl: broker.url, env: {}, requestContext: 'all-routes' })],
        controllers: [DraftsController],
        providers: [Ledger, Drafts, Mailer],
      },
      // An authentication layer whose user carries an email, not an `id` or `sub`.
      (app) =>
        app.use((req: { user?: unknown }, _res: unknown, next: () => void) => {
          req.user = { email: 'bob@example.com' };
          next();
        }),
    );
  });
  afterEach(async () => {
    await started.app.close();
    await broker.stop();
  });

  it('data arguments only, yet a draft edited while its approval is pending is sent to the new recipient', async () => {
    started.app.get(Drafts).byId.set('9', { to: 'alice@example.com', subject: 'Q3 figures' });
    const sending = call(started.url, 'POST', '/drafts/9/send-plain');
    const approval = await broker.waitForApproval((a) => a.action === 'mail2.send-plain');
    expect(approval.summary).toBe('Send "Q3 figures" to alice@example.com');
    expect((await call(started.url, 'PATCH', '/drafts/9', { to: 'mallory@evil.example' })).status).toBe(200);
    await broker.approve(approval.id);
    const sent = await sending;
    const ran = started.app.get(Ledger).ran;
    expect(ran).not.toContain('send-plain:mallory@evil.example');
    expect(sent.status === 201 ? ran : []).toEqual(sent.status === 201 ? ['send-plain:alice@example.com'] : []);
  });
});

// ---------------------------------------------------------------------------------------------
// Finding H: the canonical form unfolds shared references, so an argument graph of n objects where
// each refers twice to the next costs 2^n encodings: 23 objects block the event loop ~20 s, 40 for
// days. No cycle, depth under 64: nothing refuses it. Run in a child process that is killed after 3 s.
// ---------------------------------------------------------------------------------------------

describe('finding H: shared references blow up the binding', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sesame-attack2-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('40 objects, each referring twice to the next (as a $ref / identity-map decoder builds them): bound or refused within 3 s', async () => {
    const script = join(dir, 'dag.mjs');
    await writeFile(
      script,
      `
import { bindingDigest } from ${JSON.stringify(pathToFileURL(join(process.cwd(), 'lib/approval-gate/approval-binding.ts')).href)};
import { createSecretKey } from 'node:crypto';
let node = { amount: 1 };
for (let i = 0; i < 40; i++) node = { left: node, right: node };
try {
  bindingDigest(createSecretKey(Buffer.alloc(32)), { action: 'a', method: 'C.m', args: [node], requester: undefined });
  console.log('outcome=bound');
} catch (error) {
  console.log('outcome=' + error.constructor.name);
}
`,
    );
    const child = spawn(process.execPath, ['--import', './test/support/ts-source.loader.mjs', script], { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    const exited = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 3_000);
      child.on('exit', () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
    if (!exited) child.kill('SIGKILL');
    expect({ exited, stdout: stdout.trim() }).toEqual({ exited: true, stdout: expect.stringMatching(/^outcome=/) });
  }, 10_000);
});
