import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Injectable, type INestApplicationContext } from '@nestjs/common';
import fc from 'fast-check';
import { ApprovalError, RequireApproval, SesameModule } from '../../lib/index.js';
import { tally } from '../chaos/gated-call-harness.js';
import { CLIENT_TRANSPORTS, transportOptions } from '../support/client-transports.js';
import { startContext } from '../support/nest-apps.js';
import { wireApproval } from '../support/scripted-server.js';

/**
 * The broker client and a gated method against a real HTTP server answering malformed broker
 * responses: bad JSON, wrong types, missing fields, unknown statuses, another approval's id, huge
 * and endless bodies, odd HTTP statuses. Every call must end in a typed ApprovalError and the gated
 * method must never run. The trigger is answered properly (a pending approval); the fuzz is in the wait.
 */
const RUNS = Number(process.env.SESAME_FUZZ_BROKER_RUNS ?? 300);
const ID = 'apr_scripted';

interface Answer {
  status: number;
  headers?: Record<string, string>;
  /** Raw bytes to send; `endless` streams until the client gives up. */
  body: string | Buffer | 'endless';
  what: string;
}

// The gate refuses an approval for another action, so every answer is about the action it asked for.
const ACTION = 'vault.open';
const SUMMARY = 'Open the vault';
// Stands for the dedup key the gate sent with its trigger (it carries the call's binding): the stand-in broker echoes it.
const TRIGGER_DEDUP_KEY = '__trigger_dedup_key__';
const approval = (overrides: Record<string, unknown>) =>
  wireApproval({ id: ID, action: ACTION, summary: SUMMARY, expires_at: '2099-01-01T00:00:00.000Z', dedup_key: TRIGGER_DEDUP_KEY, ...overrides });
const approved = () => approval({ status: 'approved', decided_at: '2026-11-24T08:01:00.000Z' });
const REQUIRED_STRINGS = ['id', 'action', 'summary', 'status', 'created_at'];
const wrongValues = fc.oneof(
  fc.constant(null),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(''),
  fc.array(fc.string(), { maxLength: 2 }),
  fc.object({ maxDepth: 1 }),
  fc.constantFrom('yesterday', 'not a date', '2026-13-45T99:99:99Z'),
);

/** An answer to the wait that is never a valid decision "approved" for this approval. */
const answerArb: fc.Arbitrary<Answer> = fc.oneof(
  // A required field with a wrong type, or missing.
  fc.record({ field: fc.constantFrom(...REQUIRED_STRINGS), value: wrongValues, drop: fc.boolean() }).map(({ field, value, drop }) => {
    const body = approved();
    if (drop) delete body[field];
    // A non-empty string is a valid id, action or summary: those get only non-strings and ''.
    else body[field] = typeof value === 'string' && ['id', 'action', 'summary'].includes(field) ? '' : value;
    return { status: 200, body: JSON.stringify(body), what: `${drop ? 'missing' : 'bad'} ${field}` };
  }),
  // An optional field with a type the protocol does not allow (a string where an object goes, etc.), on an approved answer.
  fc
    .record({
      field: fc.constantFrom('reason', 'context', 'expires_at', 'decided_at', 'requester_label', 'dedup_key', 'callback_url'),
      value: fc.oneof(fc.integer(), fc.boolean(), fc.array(fc.integer(), { maxLength: 2 })),
    })
    .map(({ field, value }) => ({
      status: 200,
      body: JSON.stringify({ ...approved(), [field]: field === 'context' && typeof value !== 'object' ? String(value) : value }),
      what: `bad ${field}`,
    })),
  // Unknown statuses, in every spelling.
  fc.constantFrom('APPROVED', 'Approved', 'approved ', ' approved', 'approve', 'ok', 'yes', 'true', 'granted', 'pending_approval', '').map((status) => ({
    status: 200,
    body: JSON.stringify({ ...approved(), status }),
    what: 'unknown status',
  })),
  // An approved answer about another approval.
  fc
    .string({ minLength: 1, maxLength: 40 })
    .filter((id) => id !== ID)
    .map((id) => ({ status: 200, body: JSON.stringify({ ...approved(), id }), what: 'another approval' })),
  // Not JSON, or not an object.
  fc
    .oneof(
      fc.string({ maxLength: 40 }),
      fc.constantFrom('', '{', '{"status":"approved"', '<html>ok</html>', 'null', '[]', '"approved"', 'true', '42', `[${JSON.stringify(approved())}]`),
      fc.constant(JSON.stringify(approved()).slice(0, -1)),
      fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)),
    )
    .map((body) => ({ status: 200, body, what: 'not an approval object' })),
  // Huge and endless bodies.
  fc.constantFrom<Answer>(
    { status: 200, body: JSON.stringify({ ...approved(), summary: 'x'.repeat(2 * 1024 * 1024) }), what: 'huge body' },
    { status: 200, body: 'endless', what: 'endless body' },
  ),
  // HTTP statuses that are not a decision.
  fc.constantFrom(201, 202, 204, 206, 301, 302, 304, 307, 400, 401, 403, 404, 405, 409, 410, 418, 422, 426, 451).map((status): Answer => ({
    status,
    headers: status >= 300 && status < 400 ? { location: '/v1/approvals/apr_scripted' } : {},
    body: status === 204 || status === 304 ? '' : status >= 300 ? JSON.stringify(approved()) : JSON.stringify({ error: { code: 'x', message: 'fuzzed' } }),
    what: `HTTP ${status}`,
  })),
);

/** A broker stand-in: answers the trigger with a pending approval and each wait with the current fuzzed answer. */
class FuzzedBroker {
  answer: Answer = { status: 500, body: '', what: 'unset' };
  private dedupKey = '';
  private readonly server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      if (req.method === 'POST') {
        this.dedupKey = (JSON.parse(Buffer.concat(chunks).toString()) as { dedup_key: string }).dedup_key;
        res.writeHead(201, { 'content-type': 'application/json' });
        return void res.end(JSON.stringify(approval({ dedup_key: this.dedupKey })));
      }
      const { status, headers } = this.answer;
      const body = typeof this.answer.body === 'string' ? this.answer.body.replaceAll(TRIGGER_DEDUP_KEY, this.dedupKey) : this.answer.body;
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      if (body !== 'endless') return void res.end(body);
      const chunk = Buffer.alloc(64 * 1024, 'x');
      const pump = () => {
        while (!res.destroyed && res.write(chunk));
        if (!res.destroyed) res.once('drain', pump);
      };
      res.write('{"id":"apr_scripted","summary":"');
      pump();
    });
  });

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

@Injectable()
class Vault {
  opened = 0;

  @RequireApproval(ACTION, { summary: SUMMARY, timeout: 5_000 })
  async open(): Promise<void> {
    this.opened++;
  }
}

describe.each(CLIENT_TRANSPORTS)(`a gated method against ${RUNS} malformed broker answers (%s HTTP client)`, (transport) => {
  const broker = new FuzzedBroker();
  let app: INestApplicationContext;

  beforeAll(async () => {
    const url = await broker.start();
    app = await startContext(
      {
        imports: [
          SesameModule.forRoot({ apiKey: 'sk_test_fuzz_broker', baseUrl: url, env: {}, retry: { retries: 1, minDelay: 1, maxDelay: 2 }, ...transportOptions(transport) }),
        ],
        providers: [Vault],
      },
      { logger: false },
    );
  });
  afterAll(async () => {
    await app?.close();
    await broker.stop();
  });

  it('ends every call with a typed ApprovalError, and the gated method never runs', async () => {
    const vault = app.get(Vault);
    const errors: string[] = [];
    const kinds: string[] = [];
    await fc.assert(
      fc.asyncProperty(answerArb, async (answer) => {
        broker.answer = answer;
        kinds.push(answer.what);
        const before = vault.opened;
        const error = await vault.open().then(
          () => new Error(`the gated method ran on: ${answer.what}`),
          (e: unknown) => e,
        );
        expect(error).toBeInstanceOf(ApprovalError);
        errors.push((error as Error).constructor.name);
        expect(vault.opened).toBe(before);
      }),
      { numRuns: RUNS },
    );
    console.info(
      `broker-response fuzz (${transport} HTTP client): ${RUNS} malformed answers ${JSON.stringify(tally(kinds))}; outcomes ${JSON.stringify(tally(errors))}; gated method ran ${vault.opened} times`,
    );
    expect(vault.opened).toBe(0);
  }, 120_000);

  it('the same answers made valid let the method run (the rig is not refusing everything)', async () => {
    const vault = app.get(Vault);
    const before = vault.opened;
    broker.answer = { status: 200, body: JSON.stringify(approved()), what: 'valid approved' };
    await vault.open();
    expect(vault.opened).toBe(before + 1);
  });
});
