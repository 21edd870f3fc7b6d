import http from 'node:http';
import { inspect } from 'node:util';
import { Controller, Get, Injectable, Post, type INestApplication } from '@nestjs/common';
import {
  ApprovalDecisionDispatcher,
  OnApprovalDecision,
  RequireApproval,
  SesameClient,
  SesameModule,
  signWebhook,
  verifyWebhook,
  type ApprovalDecisionPayload,
} from '../../lib/index.js';
import { SesameConfig } from '../../lib/config/sesame.config.js';
import { LocalBroker } from '../../lib/testing/index.js';
import { ScriptedServer } from '../support/scripted-server.js';
import { CapturingLogger, compileError, startApp } from '../support/nest-apps.js';

/**
 * Runs the package's paths (gated routes through every outcome, webhooks good and bad, bad options)
 * with recognisable secrets, captures every log line (Nest LoggerService, console, stdout/stderr, the
 * local broker's logger), every error message, stack and inspection, every HTTP answer, and asserts
 * that none of them contains a secret.
 */
const API_KEY = 'sk_live_CANARYapikey9f3b7e1d5a';
const WRONG_KEY = 'sk_live_CANARYwrongkey4c8e2a6f';
const SECRET_BODY = Buffer.from('CANARY-webhook-secret-bytes-0042').toString('base64');
const WEBHOOK_SECRET = `whsec_${SECRET_BODY}`;
const CANARIES = [API_KEY, WRONG_KEY, 'CANARYapikey', 'CANARYwrongkey', WEBHOOK_SECRET, SECRET_BODY, 'CANARY-webhook-secret'];

const captured: string[] = [];
const capture = (...parts: unknown[]) => captured.push(parts.map((p) => (typeof p === 'string' ? p : inspect(p, { depth: 8 }))).join(' '));
const captureError = (error: unknown) => {
  capture(error);
  if (error instanceof Error) capture(error.message, error.stack ?? '', inspect(error, { depth: 8, showHidden: true }));
};

@Injectable()
class Ledger {
  ran = 0;
}

@Controller()
class VaultController {
  constructor(private readonly ledger: Ledger) {}

  @Post('vault')
  @RequireApproval('vault.open', { summary: 'Open the vault', timeout: 2_000 })
  open() {
    this.ledger.ran++;
    return { opened: true };
  }

  @Get('plain')
  plain() {
    return { ok: true };
  }
}

@Injectable()
class DecisionHandlers {
  @OnApprovalDecision('vault.open')
  onDecision(decision: ApprovalDecisionPayload) {
    if (decision.status === 'denied') throw new Error(`handler failed for ${decision.approvalId}`);
  }
}

function post(url: string, headers: Record<string, string> = {}, body = ''): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers } }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('secrets never surface in logs, errors or answers', () => {
  const restore: (() => void)[] = [];

  beforeAll(() => {
    for (const method of ['log', 'info', 'warn', 'error', 'debug', 'trace'] as const) {
      const original = console[method];
      console[method] = (...args: unknown[]) => capture(...args);
      restore.push(() => (console[method] = original));
    }
    for (const stream of [process.stdout, process.stderr]) {
      const original = stream.write.bind(stream);
      stream.write = ((chunk: unknown, ...rest: unknown[]) => {
        capture(typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString());
        return (original as (...a: unknown[]) => boolean)(chunk, ...rest);
      }) as typeof stream.write;
      restore.push(() => (stream.write = original as typeof stream.write));
    }
  });

  afterAll(() => {
    for (const undo of restore.splice(0)) undo();
  });

  it('gated routes through approval, denial, timeout, a rejected key, a dead broker and a broker speaking nonsense', async () => {
    const brokerLog: string[] = [];
    const broker = await LocalBroker.start({
      apiKeys: [API_KEY],
      webhookSecret: WEBHOOK_SECRET,
      decide: (a) => (a.summary === 'Open the vault' ? undefined : 'approve'),
      logger: { log: (line: string) => brokerLog.push(line) },
    });
    const scripted = await ScriptedServer.start();
    scripted.script({ status: 200, body: '{"id": 42, "status": "maybe"' });
    const apps: { app: INestApplication; logger: CapturingLogger }[] = [];
    try {
      const setups = [
        { apiKey: API_KEY, baseUrl: broker.url },
        { apiKey: WRONG_KEY, baseUrl: broker.url },
        { apiKey: API_KEY, baseUrl: 'http://127.0.0.1:9', retry: { retries: 1, minDelay: 1, maxDelay: 2 } },
        { apiKey: API_KEY, baseUrl: scripted.url, retry: { retries: 0 } },
      ];
      for (const options of setups) {
        apps.push(
          await startApp('express', {
            imports: [SesameModule.forRoot({ ...options, webhookSecret: WEBHOOK_SECRET, webhookPath: '/sesame/webhook', env: {} })],
            controllers: [VaultController],
            providers: [Ledger, DecisionHandlers],
          }),
        );
      }
      const [good, wrongKey, deadBroker, nonsense] = await Promise.all(apps.map(async (a) => ({ ...a, url: (await a.app.getUrl()).replace('[::1]', '127.0.0.1') })));

      // Approved, denied and undecided on the healthy setup.
      const approving = post(`${good.url}/vault`);
      const first = await broker.waitForApproval((a) => a.status === 'pending');
      await broker.approve(first.id, 'fine');
      const denying = post(`${good.url}/vault`);
      const second = await broker.waitForApproval((a) => a.status === 'pending' && a.id !== first.id);
      await broker.deny(second.id);
      const answers = [await approving, await denying, await post(`${good.url}/vault`)];
      answers.push(await post(`${wrongKey.url}/vault`), await post(`${deadBroker.url}/vault`), await post(`${nonsense.url}/vault`));
      expect(answers.map((a) => a.status)).toEqual([201, 403, 504, 500, 503, 502]);
      for (const answer of answers) capture(answer.body);

      // Webhooks: a good one (handler runs), one whose handler throws, forged and broken ones.
      const hook = (payload: object, secret = WEBHOOK_SECRET) => {
        const body = JSON.stringify(payload);
        return post(`${good.url}/sesame/webhook`, { ...signWebhook(body, secret) }, body);
      };
      const payload = { approval_id: first.id, action: 'vault.open', status: 'approved', decided_at: new Date().toISOString(), requester_label: 'local' };
      const hooks = [
        await hook(payload),
        await hook({ ...payload, status: 'denied' }),
        await hook(payload, `whsec_${Buffer.from('another secret entirely').toString('base64')}`),
        await post(`${good.url}/sesame/webhook`, { 'webhook-id': 'msg_1', 'webhook-timestamp': '1', 'webhook-signature': `v1,${SECRET_BODY}` }, '{}'),
        await post(`${good.url}/sesame/webhook`, {}, '{'),
      ];
      expect(hooks.map((h) => h.status)).toEqual([204, 500, 400, 400, 400]);
      for (const answer of hooks) capture(answer.body);

      // What a curious developer might print.
      for (const { app } of apps) {
        capture(app.get(SesameConfig), app.get(SesameClient), app.get(ApprovalDecisionDispatcher));
        // (config.clientOptions is the explicit accessor that hands the key to the client: asking for it is not a leak.)
        capture(JSON.stringify(app.get(SesameConfig)), JSON.stringify(app.get(SesameClient)));
      }
    } finally {
      for (const { app, logger } of apps) {
        await app.close();
        captured.push(...logger.lines);
      }
      await scripted.stop();
      await broker.stop();
      captured.push(...brokerLog);
    }
    expect(brokerLog.length).toBeGreaterThan(0);
  });

  it('bad options and bad webhooks fail with messages that name the problem, never the secret', async () => {
    const attempts: (() => unknown)[] = [
      () => new SesameClient({ apiKey: API_KEY, baseUrl: `http://user:${API_KEY}@127.0.0.1:4000` }),
      // Swapped environment variables: the key (or the webhook secret) where the broker URL goes.
      () => new SesameClient({ env: { SESAME_API_KEY: API_KEY, SESAME_BROKER_URL: API_KEY } }),
      () => new SesameClient({ apiKey: API_KEY, baseUrl: WEBHOOK_SECRET }),
      () => new SesameClient({ apiKey: API_KEY, baseUrl: ` ${API_KEY} ` }),
      () => new SesameClient({ apiKey: API_KEY, baseUrl: `http://${API_KEY}.example.com` }),
      () => new SesameClient({ apiKey: API_KEY, requestTimeout: -1 }),
      () => new SesameClient({ apiKey: 42 as unknown as string }),
      () => verifyWebhook({}, '{}', WEBHOOK_SECRET),
      () => verifyWebhook(signWebhook('{}', WEBHOOK_SECRET), '{}', `${WEBHOOK_SECRET}!`),
      () => verifyWebhook({ ...signWebhook('{"a":1}', WEBHOOK_SECRET), 'webhook-timestamp': '12' }, '{"a":1}', WEBHOOK_SECRET),
      () => verifyWebhook(signWebhook('{"a":1}', WEBHOOK_SECRET), '{"a":2}', WEBHOOK_SECRET),
      () => verifyWebhook(signWebhook('{"a":1}', WEBHOOK_SECRET), '{"a":1}', WEBHOOK_SECRET),
    ];
    let failures = 0;
    for (const attempt of attempts) {
      try {
        attempt();
      } catch (error) {
        failures++;
        captureError(error);
      }
    }
    expect(failures).toBe(attempts.length);

    const moduleErrors = [
      { apiKey: API_KEY, webhookSecret: `whsec_${SECRET_BODY}!!`, env: {} },
      { apiKey: API_KEY, webhookSecret: [WEBHOOK_SECRET, 'whsec_'], env: {} },
      { apiKey: API_KEY, baseUrl: `ftp://${API_KEY}@example.com`, env: {} },
      { env: { SESAME_API_KEY: API_KEY, SESAME_BROKER_URL: `http://${API_KEY}:x@example.com`, SESAME_WEBHOOK_SECRET: `${WEBHOOK_SECRET},nope` } },
      // A secret pasted as the Redis password of a malformed URL (test/security/store-secrets.spec.ts covers Redis in depth).
      { apiKey: API_KEY, env: {}, store: { type: 'redis' as const, url: `redis://:${encodeURIComponent(WEBHOOK_SECRET)}@127.0.0.1:6379x` } },
    ];
    for (const options of moduleErrors) {
      const error = await compileError({ imports: [SesameModule.forRoot(options)] });
      expect(error).toBeInstanceOf(Error);
      captureError(error);
    }
  });

  it('none of the captured text holds a secret', () => {
    expect(captured.length).toBeGreaterThan(50);
    const text = captured.join('\n');
    // The capture works: the key's neighbours (ids, action names) are there.
    expect(text).toContain('vault.open');
    for (const canary of CANARIES) {
      const hits = captured.filter((line) => line.includes(canary));
      expect({ canary, hits: hits.map((h) => h.slice(0, 300)) }).toEqual({ canary, hits: [] });
    }
  });
});
