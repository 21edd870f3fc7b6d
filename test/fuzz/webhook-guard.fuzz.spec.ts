import http from 'node:http';
import { Controller, HttpCode, Injectable, Post, UseGuards } from '@nestjs/common';
import fc from 'fast-check';
import { SesameModule, SesameWebhookGuard, SesameWebhookPayload, type ApprovalDecisionPayload, type SesameWebhookRequest, type WebhookHeadersInput } from '../../lib/index.js';
import { SesameWebhookVerifier } from '../../lib/nest-webhooks/sesame-webhook.verifier.js';
import { tally } from '../chaos/gated-call-harness.js';
import { ADAPTERS, startApp, type StartedApp } from '../support/nest-apps.js';
import { FUZZ_TOLERANCE_MS, mutatedCaseFrom, objectHeaderValues, referenceVerdict, secretOf, validCaseFor, type WebhookCase } from './webhook-cases.js';

/**
 * SesameWebhookGuard over real HTTP (Express and Fastify) under generated and mutated webhooks: a
 * request reaches the handler only if the protocol's reference reading accepts it; every other one is
 * a 400 with a verification code, never a 500. `SESAME_FUZZ_GUARD_RUNS` per adapter (default 200).
 */
const RUNS = Number(process.env.SESAME_FUZZ_GUARD_RUNS ?? 200);
const KEY = Buffer.from('fuzz-guard-key-0123456789abcdef');

@Injectable()
class Received {
  readonly payloads: ApprovalDecisionPayload[] = [];
  /** The headers the guard last read, exactly as the adapter handed them over. */
  lastHeaders: Record<string, string | string[] | undefined> | undefined;
}

/** The guard unchanged, except that it notes the headers it verifies: the oracle judges exactly those. */
@Injectable()
class RecordingWebhookGuard extends SesameWebhookGuard {
  constructor(
    verifier: SesameWebhookVerifier,
    private readonly received: Received,
  ) {
    super(verifier);
  }

  protected override getHeaders(request: SesameWebhookRequest): WebhookHeadersInput {
    this.received.lastHeaders = request.headers;
    return super.getHeaders(request);
  }
}

@Controller('hooks')
class HooksController {
  constructor(private readonly received: Received) {}

  @Post()
  @HttpCode(200)
  @UseGuards(RecordingWebhookGuard)
  receive(@SesameWebhookPayload() payload: ApprovalDecisionPayload) {
    this.received.payloads.push(payload);
    return { ok: true };
  }
}

/** Only what can travel as HTTP header lines: strings of visible ASCII. */
function sendable(c: WebhookCase): boolean {
  return c.headers.every(([name, value]) => {
    const values = Array.isArray(value) ? value : [value];
    return /^[A-Za-z-]+$/.test(name) && values.every((v) => typeof v === 'string' && /^[\x20-\x7e]*$/.test(v));
  });
}

/** The guard reads the clock a moment after the oracle: keep clear of the tolerance edge, where that moment decides. */
function nearToleranceEdge(c: WebhookCase): boolean {
  return c.headers.some(([name, value]) => {
    if (name.toLowerCase() !== 'webhook-timestamp') return false;
    return (Array.isArray(value) ? value : [value]).some((v) => {
      const ts = Number(v);
      return typeof v === 'string' && v !== '' && Number.isFinite(ts) && Math.abs(Math.abs(ts * 1000 - Date.now()) - FUZZ_TOLERANCE_MS) < 30_000;
    });
  });
}

function send(url: string, c: WebhookCase, agent: http.Agent): Promise<{ status: number; body: string }> {
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of c.headers) {
    const existing = headers[name];
    headers[name] = existing === undefined ? (value as string | string[]) : ([] as string[]).concat(existing, value as string | string[]);
  }
  headers['content-length'] = String(c.body.length);
  return new Promise((resolve, reject) => {
    const req = http.request(`${url}/hooks`, { method: 'POST', headers, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end(c.body);
  });
}

describe.each(ADAPTERS)(`SesameWebhookGuard fuzzing on %s (${RUNS} requests)`, (adapter) => {
  let started: StartedApp;
  const agent = new http.Agent({ keepAlive: true });

  beforeAll(async () => {
    started = await startApp(adapter, {
      imports: [SesameModule.forRoot({ apiKey: 'sk_test_fuzz_guard', webhookSecret: secretOf(KEY), env: {} })],
      controllers: [HooksController],
      providers: [Received, RecordingWebhookGuard],
    });
  });
  afterAll(async () => {
    agent.destroy();
    await started?.app.close();
  });

  it('lets through exactly the webhooks the reference accepts; everything else is a 400, never a 500', async () => {
    const received = started.app.get(Received);
    const statuses: string[] = [];
    const valid = validCaseFor(fc.constant([KEY]));
    const caseArb = fc.oneof({ arbitrary: valid, weight: 1 }, { arbitrary: mutatedCaseFrom(valid), weight: 3 }).filter((c) => sendable(c) && !nearToleranceEdge(c));
    await fc.assert(
      fc.asyncProperty(caseArb, async (c) => {
        const before = received.payloads.length;
        received.lastHeaders = undefined;
        const { status, body } = await send(started.url, c, agent);
        statuses.push(`${status}${status === 400 ? ` ${(JSON.parse(body) as { code?: string }).code}` : ''}`);
        const handlerRan = received.payloads.length !== before;
        // Judged on what the guard read; a request refused before it read anything (no JSON body) must be a 400.
        const seen = received.lastHeaders;
        const expected = seen ? referenceVerdict(objectHeaderValues(seen), c.body, [KEY], Date.now()) : { valid: false };
        if (expected.valid) {
          if (status !== 200) throw new Error(`valid webhook refused: ${status} ${body}\n${JSON.stringify(seen)}`);
          expect(handlerRan).toBe(true);
          expect(received.payloads.at(-1)).toMatchObject(expected.payload!);
        } else {
          expect({ status, handlerRan }).toEqual({ status: 400, handlerRan: false });
        }
      }),
      { numRuns: RUNS },
    );
    console.info(`webhook guard fuzz on ${adapter}: ${statuses.length} requests, ${JSON.stringify(tally(statuses))}`);
    expect(statuses.some((s) => s === '200')).toBe(true);
    expect(started.logger.lines.join('\n')).not.toContain(secretOf(KEY));
  }, 120_000);
});
