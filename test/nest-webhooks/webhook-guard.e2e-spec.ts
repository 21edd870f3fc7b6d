import { Controller, HttpCode, Injectable, Post, UnauthorizedException, UseGuards, type INestApplication } from '@nestjs/common';
import request from 'supertest';
import { generateWebhookSecret, signWebhook, SesameModule, type ApprovalDecisionPayload, type WebhookVerificationError } from '../../lib/index.js';
import { SesameWebhookPayload } from '../../lib/nest-webhooks/sesame-webhook-payload.decorator.js';
import { SESAME_WEBHOOK_PAYLOAD, SesameWebhookGuard } from '../../lib/nest-webhooks/sesame-webhook.guard.js';
import { SesameWebhookVerifier } from '../../lib/nest-webhooks/sesame-webhook.verifier.js';
import { ADAPTERS, CapturingLogger, startApp } from '../support/nest-apps.js';

const SECRET = generateWebhookSecret();
const OLD_SECRET = generateWebhookSecret();
const UNKNOWN_SECRET = generateWebhookSecret();

const WIRE = {
  approval_id: 'apr_guard_1',
  action: 'payments.refund',
  status: 'approved',
  decided_at: '2024-05-01T11:59:30.000Z',
  requester_label: 'support-bot',
  dedup_key: 'ticket-42',
};
const BODY = JSON.stringify(WIRE);

/** What the handlers received, per app. */
@Injectable()
class Inbox {
  readonly decisions: ApprovalDecisionPayload[] = [];
}

@Controller('hooks')
class HooksController {
  constructor(private readonly inbox: Inbox) {}

  @Post('sesame')
  @HttpCode(200)
  @UseGuards(SesameWebhookGuard)
  receive(@SesameWebhookPayload() decision: ApprovalDecisionPayload) {
    this.inbox.decisions.push(decision);
    return { received: decision.approvalId };
  }

  // The guard is forgotten here: the decorator must refuse to hand over an unverified body.
  @Post('unguarded')
  unguarded(@SesameWebhookPayload() decision: ApprovalDecisionPayload) {
    this.inbox.decisions.push(decision);
    return { received: decision.approvalId };
  }
}

/** The documented extension point: a subclass answering 401 instead of 400. */
@Injectable()
class UnauthorizedWebhookGuard extends SesameWebhookGuard {
  protected override onVerificationFailed(error: WebhookVerificationError): never {
    throw new UnauthorizedException({ statusCode: 401, message: 'untrusted webhook', code: error.code });
  }
}

@Controller('strict-hooks')
class StrictHooksController {
  constructor(private readonly inbox: Inbox) {}

  @Post()
  @HttpCode(204)
  @UseGuards(UnauthorizedWebhookGuard)
  receive(@SesameWebhookPayload() decision: ApprovalDecisionPayload) {
    this.inbox.decisions.push(decision);
  }
}

describe.each(ADAPTERS)('SesameWebhookGuard on %s', (adapter) => {
  let app: INestApplication | undefined;
  let logger: CapturingLogger;
  let signatures: string[];

  async function boot(options: { secrets?: string | string[]; rawBody?: boolean } = {}): Promise<INestApplication> {
    ({ app } = await startApp(
      adapter,
      {
        imports: [SesameModule.forRoot({ apiKey: 'sk_test_guard', baseUrl: 'http://127.0.0.1:9', env: {}, webhookSecret: options.secrets ?? SECRET })],
        controllers: [HooksController, StrictHooksController],
        providers: [Inbox, UnauthorizedWebhookGuard],
      },
      undefined,
      { rawBody: options.rawBody, logger, listen: false },
    ));
    return app;
  }

  /** Signs with the real clock; every signature is remembered, to assert none reaches a log. */
  function sign(body: string | Buffer, secrets: string | string[] = SECRET, timestamp?: Date) {
    const headers = signWebhook(body, secrets, { timestamp });
    signatures.push(...headers['webhook-signature'].split(' ').map((entry) => entry.slice('v1,'.length)));
    return headers;
  }

  function post(target: INestApplication, path: string, body: string | Buffer, headers: Record<string, string>, contentType = 'application/json') {
    // Identity serializer: the exact bytes go out (superagent would JSON-encode a Buffer).
    return request(target.getHttpServer())
      .post(path)
      .set(headers)
      .set('content-type', contentType)
      .serialize((data: unknown) => data as string)
      .send(body as unknown as string);
  }

  const inboxOf = (target: INestApplication) => target.get(Inbox).decisions;

  beforeEach(() => {
    logger = new CapturingLogger();
    signatures = [];
  });

  afterEach(async () => {
    await app?.close();
    app = undefined;
    // Whatever happened in the test, no log line may hold a secret or a signature.
    for (const line of logger.lines) {
      for (const secret of [SECRET, OLD_SECRET, UNKNOWN_SECRET]) {
        expect(line).not.toContain(secret);
        expect(line).not.toContain(secret.slice('whsec_'.length));
      }
      for (const signature of signatures) expect(line).not.toContain(signature);
    }
  });

  it('hands the verified, typed payload to the handler', async () => {
    const target = await boot();
    const headers = sign(BODY);
    const res = await post(target, '/hooks/sesame', BODY, { ...headers });

    expect(res.status).toBe(200);
    expect(res.body).toEqual({ received: 'apr_guard_1' });
    const decisions = inboxOf(target);
    expect(decisions).toEqual([
      {
        approvalId: 'apr_guard_1',
        action: 'payments.refund',
        status: 'approved',
        decidedAt: new Date('2024-05-01T11:59:30.000Z'),
        requesterLabel: 'support-bot',
        dedupKey: 'ticket-42',
        webhookId: headers['webhook-id'],
      },
    ]);
    expect(decisions[0].decidedAt).toBeInstanceOf(Date);
  });

  it('refuses a tampered body with 400 signature_mismatch', async () => {
    const target = await boot();
    const headers = sign(BODY);
    const tampered = BODY.replace('apr_guard_1', 'apr_guard_2');
    const res = await post(target, '/hooks/sesame', tampered, { ...headers });

    expect(res.status).toBe(400);
    expect(res.body).toEqual({
      statusCode: 400,
      error: 'Bad Request',
      message: 'No webhook signature matches the configured secret(s)',
      code: 'signature_mismatch',
    });
    expect(inboxOf(target)).toEqual([]);
    expect(logger.lines.some((line) => line.startsWith('warn') && line.includes('signature_mismatch'))).toBe(true);
  });

  it('refuses a body signed with an unknown secret', async () => {
    const target = await boot();
    const res = await post(target, '/hooks/sesame', BODY, { ...sign(BODY, UNKNOWN_SECRET) });

    expect(res.status).toBe(400);
    expect(res.body.code).toBe('signature_mismatch');
    expect(inboxOf(target)).toEqual([]);
  });

  it('refuses a missing signature header with 400 missing_header', async () => {
    const target = await boot();
    const { 'webhook-signature': _omitted, ...headers } = sign(BODY);
    const res = await post(target, '/hooks/sesame', BODY, headers);

    expect(res.status).toBe(400);
    expect(res.body).toEqual({ statusCode: 400, error: 'Bad Request', message: expect.stringContaining('webhook-signature'), code: 'missing_header' });
    expect(inboxOf(target)).toEqual([]);
  });

  it('refuses a stale timestamp (replay) with 400', async () => {
    const target = await boot();
    const headers = sign(BODY, SECRET, new Date(Date.now() - 10 * 60_000));
    const res = await post(target, '/hooks/sesame', BODY, { ...headers });

    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ statusCode: 400, error: 'Bad Request', code: 'timestamp_too_old' });
    expect(inboxOf(target)).toEqual([]);
  });

  it('refuses a validly signed body that is not valid JSON text (bad UTF-8) with 400 invalid_body', async () => {
    const target = await boot();
    // The platform's lenient decoder accepts these bytes; the guard decodes strictly before trusting them.
    const body = Buffer.concat([Buffer.from('{"approval_id":"apr_'), Buffer.from([0xc3, 0x28]), Buffer.from('","action":"x"}')]);
    const res = await post(target, '/hooks/sesame', body, { ...sign(body) });

    expect(res.status).toBe(400);
    expect(res.body).toEqual({ statusCode: 400, error: 'Bad Request', message: expect.stringContaining('UTF-8'), code: 'invalid_body' });
    expect(inboxOf(target)).toEqual([]);
  });

  it('refuses a validly signed non-JSON body with 400 invalid_body', async () => {
    const target = await boot();
    const body = 'approved, trust me';
    const res = await post(target, '/hooks/sesame', body, { ...sign(body) }, 'text/plain');

    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ statusCode: 400, error: 'Bad Request', code: 'invalid_body' });
    expect(inboxOf(target)).toEqual([]);
  });

  it('refuses malformed JSON with 400 before the handler runs (the platform body parser answers)', async () => {
    const target = await boot();
    const body = '{"approval_id": "apr_guard_1",';
    const res = await post(target, '/hooks/sesame', body, { ...sign(body) });

    expect(res.status).toBe(400);
    expect(inboxOf(target)).toEqual([]);
  });

  it('refuses an empty body with 400, not as a misconfiguration', async () => {
    const target = await boot();
    const res = await post(target, '/hooks/sesame', '', { ...sign('') });

    expect(res.status).toBe(400);
    expect(inboxOf(target)).toEqual([]);
    expect(logger.lines.filter((line) => line.startsWith('error'))).toEqual([]);
  });

  it('refuses a validly signed body that is not a decision payload with 400 invalid_payload', async () => {
    const target = await boot();
    const body = JSON.stringify({ ...WIRE, status: 'maybe' });
    const res = await post(target, '/hooks/sesame', body, { ...sign(body) });

    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ statusCode: 400, code: 'invalid_payload' });
    expect(inboxOf(target)).toEqual([]);
  });

  it('answers 500 and logs how to fix it when the app was created without rawBody', async () => {
    const target = await boot({ rawBody: false });
    const res = await post(target, '/hooks/sesame', BODY, { ...sign(BODY) });

    expect(res.status).toBe(500);
    expect(res.body).toMatchObject({ statusCode: 500, message: expect.stringContaining('misconfigured') });
    expect(inboxOf(target)).toEqual([]);
    const errors = logger.lines.filter((line) => line.startsWith('error'));
    expect(errors).toEqual([expect.stringContaining('NestFactory.create(AppModule, { rawBody: true })')]);
    expect(errors[0]).toContain('Express and the Fastify adapter');
  });

  it('accepts a body signed with only the new secret while both are configured (rotation)', async () => {
    const target = await boot({ secrets: [OLD_SECRET, SECRET] });
    const headers = sign(BODY, SECRET);
    const res = await post(target, '/hooks/sesame', BODY, { ...headers });

    expect(res.status).toBe(200);
    expect(inboxOf(target).map((d) => d.webhookId)).toEqual([headers['webhook-id']]);

    const byOld = await post(target, '/hooks/sesame', BODY, { ...sign(BODY, OLD_SECRET) });
    expect(byOld.status).toBe(200);
    expect(inboxOf(target)).toHaveLength(2);
  });

  it('answers 500 with the fix when @SesameWebhookPayload() is used without the guard', async () => {
    const target = await boot();
    const res = await post(target, '/hooks/unguarded', BODY, { ...sign(BODY) });

    expect(res.status).toBe(500);
    expect(res.body.message).toContain('@UseGuards(SesameWebhookGuard)');
    expect(inboxOf(target)).toEqual([]);
    expect(logger.lines.some((line) => line.startsWith('error') && line.includes('HooksController.unguarded()'))).toBe(true);
  });

  it('lets a subclass change the failure answer (onVerificationFailed)', async () => {
    const target = await boot();
    const bad = await post(target, '/strict-hooks', BODY, { ...sign(BODY, UNKNOWN_SECRET) });
    expect(bad.status).toBe(401);
    expect(bad.body).toEqual({ statusCode: 401, message: 'untrusted webhook', code: 'signature_mismatch' });

    const good = await post(target, '/strict-hooks', BODY, { ...sign(BODY) });
    expect(good.status).toBe(204);
    expect(inboxOf(target)).toHaveLength(1);
  });
});

describe('SesameWebhookVerifier without a secret', () => {
  let app: INestApplication | undefined;

  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  it('reports configured = false, verify() throws SesameConfigError, and the guard answers 500', async () => {
    const started = await startApp(
      'express',
      {
        imports: [SesameModule.forRoot({ apiKey: 'sk_test_guard', baseUrl: 'http://127.0.0.1:9', env: {} })],
        controllers: [HooksController],
        providers: [Inbox],
      },
      undefined,
      { listen: false },
    );
    ({ app } = started);
    const { logger } = started;

    const verifier = app.get(SesameWebhookVerifier);
    expect(verifier.configured).toBe(false);
    expect(() => verifier.verify({}, BODY)).toThrow('no webhook secret: set webhookSecret or SESAME_WEBHOOK_SECRET');

    const res = await request(app.getHttpServer())
      .post('/hooks/sesame')
      .set({ ...signWebhook(BODY, SECRET) })
      .set('content-type', 'application/json')
      .send(BODY);
    expect(res.status).toBe(500);
    expect(app.get(Inbox).decisions).toEqual([]);
    expect(logger.lines.filter((line) => line.startsWith('error'))).toEqual([expect.stringContaining('SESAME_WEBHOOK_SECRET')]);
  });

  it('stores the payload under the exported symbol', () => {
    expect(SESAME_WEBHOOK_PAYLOAD).toBe(Symbol.for('nestjs-sesame.webhook-payload'));
  });
});
