import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Body, Controller, Injectable, Param, Patch, Post, ValidationPipe } from '@nestjs/common';
import { IsInt, IsString, Min } from 'class-validator';
import { RequireApproval, SesameClient, SesameModule } from '../../lib/index.js';
import { LocalBroker } from '../../lib/testing/index.js';
import { ADAPTERS, startApp, type StartedApp } from '../support/nest-apps.js';
import { Ledger } from '../support/ledger.js';
import { FaultProxy } from '../support/fault-proxy.js';
import { ScriptedServer } from '../support/scripted-server.js';

/**
 * Attacks an outside review found succeeding (each test failed until its fix): arguments the binding
 * could not tell apart, a toJSON() hiding what the handler uses, arguments changed after approval,
 * an API key with a line break, a broker echoing the key. Real Nest apps (Express and Fastify), the
 * real local broker, no mocks.
 */
const API_KEY = 'sk_test_SECRET_attack_findings_4c1d';

// ---------------------------------------------------------------------------------------------
// Finding 1: the canonical JSON of the binding cannot see state that is not an own enumerable
// property, nor an object's class, so different arguments bind identically.
// ---------------------------------------------------------------------------------------------

/** A value object with private state (a common TypeScript idiom): no own enumerable property at all. */
class Money {
  readonly #cents: number;
  constructor(cents: number) {
    this.#cents = cents;
  }
  get cents(): number {
    return this.#cents;
  }
}

/** Command objects (CQRS style): same fields, the class decides what runs. */
class SuspendUserCommand {
  constructor(readonly userId: string) {}
}
class DeleteUserCommand {
  constructor(readonly userId: string) {}
}

/** What the handler can tell apart; the same label means the same call. */
function describeValue(value: unknown): string {
  if (value instanceof ArrayBuffer) return `ArrayBuffer(${Buffer.from(value).toString('hex')})`;
  if (value instanceof DataView) return `DataView(${Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('hex')})`;
  if (value instanceof RegExp) return `RegExp(${value.source})`;
  if (value instanceof URLSearchParams) return `URLSearchParams(${value.toString()})`;
  if (value instanceof Blob) return `Blob(${value.size})`;
  if (value instanceof Number) return `Number(${value.valueOf()})`;
  if (value instanceof Money) return `Money(${value.cents})`;
  if (value instanceof SuspendUserCommand || value instanceof DeleteUserCommand) return `${value.constructor.name}(${value.userId})`;
  if (typeof value === 'number') return Object.is(value, -0) ? 'number(-0)' : `number(${value})`;
  return `other(${String(value)})`;
}

/** Pairs of arguments a handler tells apart (approved: the first; presented: the second). */
const COLLISIONS: Record<string, [() => unknown, () => unknown]> = {
  'array-buffer': [() => new Uint8Array([1]).buffer, () => new Uint8Array([0xde, 0xad, 0xbe, 0xef]).buffer],
  'data-view': [() => new DataView(new Uint8Array([1]).buffer), () => new DataView(new Uint8Array([2, 2, 2]).buffer)],
  regexp: [() => /^tmp-/, () => /.*/],
  'url-search-params': [() => new URLSearchParams('account=1'), () => new URLSearchParams('account=2&all=true')],
  blob: [() => new Blob(['ok']), () => new Blob(['a much larger and different payload'])],
  'boxed-number': [() => new Number(1), () => new Number(1_000_000)],
  'private-fields': [() => new Money(100), () => new Money(100_000_000)],
  'class-identity': [() => new SuspendUserCommand('42'), () => new DeleteUserCommand('42')],
  // JSON.parse('-0') is -0: an HTTP body can carry it.
  'negative-zero': [() => 0, () => -0],
};

@Injectable()
class Operations {
  constructor(private readonly ledger: Ledger) {}

  @RequireApproval('ops.apply', { mode: 'async', summary: 'Apply the prepared operation' })
  apply(value: unknown) {
    this.ledger.ran.push(describeValue(value));
    return { applied: describeValue(value) };
  }
}

@Controller()
class OperationsController {
  constructor(private readonly operations: Operations) {}

  // Ungated route; the gated provider method decides (its 202 and 403/409 still map to HTTP).
  @Post('apply/:name/:which')
  apply(@Param('name') name: string, @Param('which') which: string) {
    const pair = COLLISIONS[name];
    return this.operations.apply(pair[which === 'approved' ? 0 : 1]());
  }
}

// ---------------------------------------------------------------------------------------------
// Finding 2: a DTO's toJSON() replaces its fields in the binding.
// ---------------------------------------------------------------------------------------------

/** Masks the IBAN in logs and JSON (privacy): the binding then only sees the last four digits. */
class PaymentDto {
  @IsString() iban!: string;
  @IsInt() @Min(1) amount!: number;

  toJSON() {
    return { iban: `****${this.iban.slice(-4)}`, amount: this.amount };
  }
}

@Controller()
class PaymentsController {
  constructor(private readonly ledger: Ledger) {}

  @Post('payments')
  @RequireApproval('payments.pay', { mode: 'async', summary: (dto: PaymentDto) => `Pay EUR ${dto.amount} to IBAN ****${dto.iban.slice(-4)}` })
  pay(@Body() dto: PaymentDto) {
    this.ledger.ran.push(`pay:${dto.amount}:${dto.iban}`);
    return { paid: dto.amount };
  }
}

// ---------------------------------------------------------------------------------------------
// Finding 3: blocking mode binds the arguments when it asks, but runs with whatever they hold
// after the wait: an argument changed while the human reads the approval is what runs.
// ---------------------------------------------------------------------------------------------

interface Draft {
  to: string;
  subject: string;
}

/** An in-memory repository handing out its own objects (as simple repositories and identity maps do). */
@Injectable()
class Drafts {
  readonly byId = new Map<string, Draft>();
}

@Injectable()
class Mailer {
  constructor(private readonly ledger: Ledger) {}

  @RequireApproval('mail.send', { summary: (draft: Draft) => `Send "${draft.subject}" to ${draft.to}`, timeout: 10_000 })
  send(draft: Draft) {
    this.ledger.ran.push(`send:${draft.to}`);
    return { sent: draft.to };
  }
}

/** The same mailer in async mode: the binding is checked on the repeat, but the run comes after two more round trips. */
@Injectable()
class AsyncMailer {
  constructor(private readonly ledger: Ledger) {}

  @RequireApproval('mail.send-async', { mode: 'async', summary: (draft: Draft) => `Send "${draft.subject}" to ${draft.to}` })
  send(draft: Draft) {
    this.ledger.ran.push(`send-async:${draft.to}`);
    return { sent: draft.to };
  }
}

@Controller()
class DraftsController {
  constructor(
    private readonly drafts: Drafts,
    private readonly mailer: Mailer,
    private readonly asyncMailer: AsyncMailer,
  ) {}

  @Post('drafts/:id/send')
  send(@Param('id') id: string) {
    return this.mailer.send(this.drafts.byId.get(id)!);
  }

  @Post('drafts/:id/send-async')
  sendAsync(@Param('id') id: string) {
    return this.asyncMailer.send(this.drafts.byId.get(id)!);
  }

  @Patch('drafts/:id')
  edit(@Param('id') id: string, @Body() body: Partial<Draft>) {
    Object.assign(this.drafts.byId.get(id)!, body);
    return this.drafts.byId.get(id);
  }
}

/** What a refused call answers: 403 approval_mismatch, or 500 approval_gate_error when the arguments cannot be bound. */
const REFUSED = [
  { status: 403, code: 'approval_mismatch' },
  { status: 500, code: 'approval_gate_error' },
];
const REFUSED_OR_PENDING = [
  { status: 202, code: 'approval_pending' },
  { status: 500, code: 'approval_gate_error' },
];
const pick = (answer: { status: number; body: Record<string, unknown> }) => ({ status: answer.status, code: answer.body.code });

describe.each(ADAPTERS)('attack findings (%s)', (adapter) => {
  let broker: LocalBroker;
  let proxy: FaultProxy;
  let started: StartedApp;
  let ledger: Ledger;

  beforeEach(async () => {
    broker = await LocalBroker.start({ apiKeys: [API_KEY] });
    // A pass-through proxy in front of the broker: finding 3 slows one answer down to open the race window.
    proxy = await FaultProxy.start(broker.url);
    started = await startApp(
      adapter,
      {
        imports: [SesameModule.forRoot({ apiKey: API_KEY, baseUrl: proxy.url, env: {}, requestContext: 'all-routes' })],
        controllers: [OperationsController, PaymentsController, DraftsController],
        providers: [Ledger, Operations, Drafts, Mailer, AsyncMailer],
      },
      (app) => app.useGlobalPipes(new ValidationPipe({ transform: true, whitelist: true })),
    );
    ledger = started.app.get(Ledger);
  });
  afterEach(async () => {
    await started.app.close();
    await proxy.stop();
    await broker.stop();
  });

  const request = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(`${started.url}${path}`, {
      method,
      headers: { ...(body !== undefined && { 'content-type': 'application/json' }), ...headers },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  describe('finding 1: arguments the binding cannot tell apart', () => {
    it.each(Object.keys(COLLISIONS))('%s: an approval of one value does not run the call with another', async (name) => {
      const [approvedValue, presentedValue] = COLLISIONS[name];
      expect(describeValue(approvedValue())).not.toBe(describeValue(presentedValue()));

      const first = await request('POST', `/apply/${name}/approved`);
      // A fix may also refuse to bind such a value at all (fail closed, 500): nothing is asked or run then.
      expect(REFUSED_OR_PENDING).toContainEqual(pick(first));
      const id = first.body.approvalId as string | undefined;
      if (id !== undefined) await broker.approve(id);

      const other = await request('POST', `/apply/${name}/presented`, undefined, id === undefined ? {} : { 'sesame-approval-id': id });
      // Secure: the approval was granted for other arguments, so this call is refused and does not run.
      expect(ledger.ran).not.toContain(describeValue(presentedValue()));
      expect(REFUSED).toContainEqual(pick(other));
    });
  });

  describe('finding 2: a DTO whose toJSON() leaves out what the handler uses', () => {
    it('an approved payment to one IBAN does not pay another IBAN with the same last four digits', async () => {
      const supplier = { iban: 'DE89370400440532013000', amount: 5_000 };
      const attacker = { iban: 'GB33BUKB20201555553000', amount: 5_000 };
      const first = await request('POST', '/payments', supplier);
      expect(first.status).toBe(202);
      const id = first.body.approvalId as string;
      await broker.approve(id);

      const stolen = await request('POST', '/payments', attacker, { 'sesame-approval-id': id });
      expect(ledger.ran).not.toContain(`pay:5000:${attacker.iban}`);
      expect(stolen).toMatchObject({ status: 403, body: { code: 'approval_mismatch' } });
      // The approval still pays the supplier, once.
      expect((await request('POST', '/payments', supplier, { 'sesame-approval-id': id })).status).toBe(201);
      expect(ledger.ran).toEqual([`pay:5000:${supplier.iban}`]);
    });
  });

  describe('finding 3: blocking mode runs with the arguments as they are after the wait', () => {
    it('a draft edited while its approval is pending is not sent to the new recipient', async () => {
      started.app.get(Drafts).byId.set('1', { to: 'alice@example.com', subject: 'Q3 figures' });
      const sending = request('POST', '/drafts/1/send');
      const approval = await broker.waitForApproval((a) => a.action === 'mail.send');
      expect(approval.summary).toBe('Send "Q3 figures" to alice@example.com');

      // While the human reads "to alice", the requester edits the draft.
      expect((await request('PATCH', '/drafts/1', { to: 'mallory@evil.example' })).status).toBe(200);
      await broker.approve(approval.id);
      const sent = await sending;

      // Secure: the human approved a mail to alice; a mail to mallory must not go out on it.
      expect(ledger.ran).not.toContain('send:mallory@evil.example');
      expect(sent.status === 201 ? ledger.ran : []).toEqual(sent.status === 201 ? ['send:alice@example.com'] : []);
    });

    it('async mode too: a draft edited while the approved repeat reads its approval is not sent to the new recipient', async () => {
      started.app.get(Drafts).byId.set('2', { to: 'alice@example.com', subject: 'Q3 figures' });
      const first = await request('POST', '/drafts/2/send-async');
      expect(first.status).toBe(202);
      const id = first.body.approvalId as string;
      await broker.approve(id);

      // The repeat binds the draft (to alice, as approved), then reads the approval from the broker: slow today.
      proxy.plan = (call) => (call.kind === 'get' ? { kind: 'delay-response', ms: 400 } : { kind: 'pass' });
      const repeat = request('POST', '/drafts/2/send-async', undefined, { 'sesame-approval-id': id });
      await new Promise((resolve) => setTimeout(resolve, 150));
      expect((await request('PATCH', '/drafts/2', { to: 'mallory@evil.example' })).status).toBe(200);
      const sent = await repeat;

      expect(ledger.ran).not.toContain('send-async:mallory@evil.example');
      expect(sent.status === 201 ? ledger.ran : []).toEqual(sent.status === 201 ? ['send-async:alice@example.com'] : []);
    });
  });
});

// ---------------------------------------------------------------------------------------------
// Finding 4: an API key with a character HTTP headers cannot carry (a trailing newline, read from
// a secrets file) leaves an orphaned ClientRequest without an 'error' listener on every trigger;
// when its socket closes, the unhandled 'error' event crashes the whole process. Run in a child
// process, so the crash cannot take the test runner with it.
// ---------------------------------------------------------------------------------------------

describe('finding 4: an API key with a newline', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sesame-attack-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('a gated call with the key fails closed and the process survives the broker closing the connection', async () => {
    const lib = (path: string) => pathToFileURL(join(process.cwd(), path)).href;
    const script = join(dir, 'newline-key.mjs');
    await writeFile(
      script,
      `
import { SesameClient } from ${JSON.stringify(lib('lib/index.ts'))};
import { LocalBroker } from ${JSON.stringify(lib('lib/testing/index.ts'))};
const KEY = ${JSON.stringify(API_KEY)};
const broker = await LocalBroker.start({ apiKeys: [KEY] });
let outcome;
try {
  // As read with readFileSync('/run/secrets/sesame_api_key', 'utf8'). A fix may refuse the key right here.
  const client = new SesameClient({ apiKey: KEY + '\\n', baseUrl: broker.url });
  outcome = await client.approvals.trigger({ action: 'payments.refund', summary: 'Refund $10' }).then(() => 'triggered', (e) => e.constructor.name);
  await client.close();
} catch (error) {
  outcome = error.constructor.name;
}
console.log('outcome=' + outcome);
await broker.stop();
await new Promise((r) => setTimeout(r, 300));
console.log('survived');
`,
    );
    const child = spawn(process.execPath, ['--import', './test/support/ts-source.loader.mjs', script], { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));

    expect(stdout).toContain('outcome=');
    expect(stdout).not.toContain('outcome=triggered');
    expect(stderr).not.toContain("Unhandled 'error' event");
    expect(stdout).toContain('survived');
    expect(code).toBe(0);
    // Whatever the outcome, the key never shows.
    expect(stdout + stderr).not.toContain('SECRET_attack');
  }, 20_000);
});

// ---------------------------------------------------------------------------------------------
// Finding 5: whatever the broker (or a proxy or gateway in front of it) writes into an error's
// code and message is copied into RequestRejectedError / BrokerProtocolError and logged by the
// interceptor. An answer that echoes the Authorization header puts the API key in the app's logs.
// (The Redis store scrubs a peer echoing its password; the broker client has no such scrub.)
// ---------------------------------------------------------------------------------------------

@Controller()
class VaultController {
  constructor(private readonly ledger: Ledger) {}

  @Post('vault')
  @RequireApproval('vault.open', { summary: 'Open the vault', timeout: 2_000 })
  open() {
    this.ledger.ran.push('vault');
    return { opened: true };
  }
}

describe('finding 5: a broker answer echoing the API key', () => {
  let scripted: ScriptedServer;
  let started: StartedApp;

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

  it.each([
    [422, { error: { code: 'validation_failed', message: `malformed Authorization header "Bearer ${API_KEY}"` } }],
    [400, { error: { code: `unknown_key_${API_KEY}`, message: 'rejected' } }],
    [403, { error: { code: `forbidden_for_${API_KEY}`, message: 'rejected' } }],
  ])('HTTP %i: the gated call fails closed, and neither the log nor the error shows the key', async (status, body) => {
    scripted.script({ status, body });
    const res = await fetch(`${started.url}/vault`, { method: 'POST' });
    expect(res.status).toBeGreaterThanOrEqual(500);
    expect(await res.text()).not.toContain(API_KEY);
    expect(started.app.get(Ledger).ran).toEqual([]);

    const client = new SesameClient({ apiKey: API_KEY, baseUrl: scripted.url, retry: { retries: 0 } });
    const error = await client.approvals.trigger({ action: 'vault.open', summary: 'Open the vault' }).catch((e: unknown) => e as Error);
    await client.close();
    expect(error).toBeInstanceOf(Error);
    const leaks = [...started.logger.lines, (error as Error).message, String((error as Error).stack)].filter((line) => line.includes('SECRET_attack'));
    expect(leaks).toEqual([]);
  });
});
