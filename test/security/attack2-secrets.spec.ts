import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { inspect } from 'node:util';
import { Controller, Post } from '@nestjs/common';
import { RequireApproval, SesameClient, SesameConfigError, SesameModule, WebhookVerifier } from '../../lib/index.js';
import { SesameConfig } from '../../lib/config/sesame.config.js';
import { resolveSesameConfig } from '../../lib/module/resolve-sesame-config.js';
import { startApp, type StartedApp } from '../support/nest-apps.js';
import { ScriptedServer } from '../support/scripted-server.js';
import { Ledger } from '../support/ledger.js';

/**
 * Second outside review: attempts to get the API key (or a webhook secret) into a log line, an
 * error or an HTTP answer through what a broker, or a proxy in front of it, answers; and through
 * boot errors for unusable secrets. All refused (see attack2-findings, finding F, for what is not).
 */
const API_KEY = 'sk_test_CANARY2_attack2_secrets_73aa';
const WEBHOOK_SECRET = 'whsec_Q0FOQVJZMndlYmhvb2stc2VjcmV0LWJ5dGVzISE=';

@Controller()
class VaultController {
  constructor(private readonly ledger: Ledger) {}

  @Post('vault')
  @RequireApproval('vault3.open', { summary: 'Open the vault', timeout: 2_000 })
  open() {
    this.ledger.ran.push('vault');
    return { opened: true };
  }
}

/** What a request answered, headers included. */
async function answer(url: string): Promise<string> {
  const res = await fetch(url, { method: 'POST' });
  const headers: string[] = [];
  res.headers.forEach((value, name) => headers.push(`${name}: ${value}`));
  return `${res.status} ${headers.join('; ')} ${await res.text()}`;
}

/** The needles: the key, and every part of it long enough to matter. */
const NEEDLES = ['CANARY2', API_KEY.slice(8), encodeURIComponent(API_KEY), Buffer.from(API_KEY).toString('base64').slice(0, 20)];
const leaksIn = (text: string) => NEEDLES.filter((needle) => text.includes(needle));

describe('broker error answers that quote the API key', () => {
  let scripted: ScriptedServer;
  let started: StartedApp;

  beforeEach(async () => {
    scripted = await ScriptedServer.start();
    started = await startApp('express', {
      imports: [SesameModule.forRoot({ apiKey: API_KEY, baseUrl: scripted.url, env: {}, retry: { retries: 1, minDelay: 1, maxDelay: 1 } })],
      controllers: [VaultController],
      providers: [Ledger],
    });
  });
  afterEach(async () => {
    await started.app.close();
    await scripted.stop();
  });

  const basic = Buffer.from(`user:${API_KEY}`).toString('base64');
  it.each([
    ['422, key after Bearer', 422, { error: { code: 'bad_auth', message: `Authorization: Bearer ${API_KEY}` } }, {}],
    ['422, raw key', 422, { error: { code: 'bad_auth', message: `key=${API_KEY};` } }, {}],
    ['422, key glued to text, no cut', 422, { error: { code: 'bad_auth', message: `prefix${API_KEY}suffix` } }, {}],
    ['422, key JSON-escaped', 422, `{"error":{"code":"x","message":"\\u0073\\u006b${API_KEY.slice(2)}"}}`, {}],
    ['400, key in the code', 400, { error: { code: `bad_${API_KEY}`, message: 'no' } }, {}],
    ['400, key as URL credentials', 400, { error: { code: 'bad_url', message: `https://user:${API_KEY}@broker.example/v1` } }, {}],
    ['400, Basic credentials', 400, { error: { code: 'bad', message: `Authorization: Basic ${basic}` } }, {}],
    ['403, key in the code', 403, { error: { code: `forbidden ${API_KEY}`, message: API_KEY } }, {}],
    ['409, key everywhere', 409, { error: { code: API_KEY, message: API_KEY }, key: API_KEY }, { 'x-echo': `Bearer ${API_KEY}` }],
    ['302 to a URL with the key', 302, { error: { code: 'moved', message: `see https://x.example/?key=${API_KEY}` } }, { location: `https://x.example/?key=${API_KEY}` }],
    ['503 page quoting the key (retried, then unavailable)', 503, `<html>Bearer ${API_KEY}</html>`, { 'retry-after': '0', 'x-echo': API_KEY }],
    ['429 quoting the key', 429, { error: { code: API_KEY, message: API_KEY } }, { 'retry-after': '0' }],
    ['201 that is not JSON, quoting the key', 201, `not json ${API_KEY}`, {}],
    ['201 malformed approval holding the key', 201, { id: API_KEY, action: API_KEY, status: API_KEY }, {}],
    ['201 approval with a bad date holding the key', 201, { id: 'apr_1', action: 'vault3.open', summary: 'x', status: 'pending', created_at: API_KEY }, {}],
  ])('%s: fails closed; neither the log nor the answer shows the key', async (_label, status, body, headers) => {
    scripted.script({ status, body, headers: headers as Record<string, string> });
    const text = await answer(`${started.url}/vault`);
    expect(Number(text.slice(0, 3))).toBeGreaterThanOrEqual(400);
    expect(started.app.get(Ledger).ran).toEqual([]);
    expect(leaksIn([text, ...started.logger.lines].join('\n'))).toEqual([]);
  });

  it('the same answers through SesameClient directly: no error message, stack or inspection shows the key', async () => {
    const client = new SesameClient({ apiKey: API_KEY, baseUrl: scripted.url, retry: { retries: 0 } });
    try {
      for (const [status, body] of [
        [422, { error: { code: 'bad', message: `Bearer ${API_KEY}` } }],
        [400, { error: { code: `x${API_KEY}`.slice(0, 90), message: 'no' } }],
        [418, { error: { code: API_KEY, message: API_KEY } }],
      ] as const) {
        scripted.script({ status, body });
        const error = (await client.approvals.trigger({ action: 'a.b', summary: 'x' }).then(
          () => new Error('triggered'),
          (e: unknown) => e,
        )) as Error;
        expect(error).toBeInstanceOf(Error);
        expect(error.message).not.toBe('triggered');
        const text = [error.message, String(error.stack), inspect(error, { depth: Infinity, showHidden: true }), JSON.stringify(error)].join('\n');
        expect(leaksIn(text)).toEqual([]);
      }
      expect(leaksIn(inspect(client, { depth: Infinity, showHidden: true, getters: true }) + String(JSON.stringify(client)))).toEqual([]);
    } finally {
      await client.close();
    }
  });
});

/**
 * A broker that plays along (echoes the dedup key, so the approval is bound to the call) but fills
 * the fields it owns with the key: requester_label, and decision notes. None of them is logged.
 */
describe('approval fields the broker owns, holding the key', () => {
  let server: http.Server;
  let url: string;
  let started: StartedApp;
  let status: 'approved' | 'denied' | 'expired' = 'denied';

  beforeEach(async () => {
    server = http.createServer((req, res) => {
      let raw = '';
      req.on('data', (c: Buffer) => (raw += c.toString()));
      req.on('end', () => {
        const sent = JSON.parse(raw || '{}') as Record<string, unknown>;
        const now = new Date();
        res.writeHead(201, { 'content-type': 'application/json', 'x-request-echo': `Bearer ${API_KEY}` });
        res.end(
          JSON.stringify({
            id: 'apr_echo1',
            action: sent.action,
            summary: sent.summary,
            reason: sent.reason ?? null,
            context: sent.context ?? null,
            status,
            created_at: now.toISOString(),
            expires_at: new Date(now.getTime() + 60_000).toISOString(),
            decided_at: now.toISOString(),
            requester_label: `api key ${API_KEY}`,
            dedup_key: sent.dedup_key,
            callback_url: null,
            note: API_KEY,
            decided_by: `Bearer ${API_KEY}`,
          }),
        );
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    started = await startApp('express', {
      imports: [SesameModule.forRoot({ apiKey: API_KEY, baseUrl: url, env: {}, retry: { retries: 0 } })],
      controllers: [VaultController],
      providers: [Ledger],
    });
  });
  afterEach(async () => {
    await started.app.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  // A broker answer quoting the API key is refused whole (502 approval_broker_error): whatever it decided, nothing runs.
  it.each(['denied', 'expired', 'approved'] as const)('%s: refused whole, nothing runs, and no log line or answer shows the key', async (decision) => {
    status = decision;
    const text = await answer(`${started.url}/vault`);
    expect(text.slice(0, 3)).toBe('502');
    expect(text).toContain('approval_broker_error');
    expect(started.app.get(Ledger).ran).toEqual([]);
    expect(leaksIn([text, ...started.logger.lines].join('\n'))).toEqual([]);
  });
});

describe('unusable secrets fail at boot without naming them', () => {
  const errorOf = (run: () => unknown): Error => {
    try {
      run();
    } catch (error) {
      return error as Error;
    }
    throw new Error('did not throw');
  };

  it.each([
    ['a tab', `${API_KEY}\t`],
    ['a NUL', `${API_KEY}\u0000`],
    ['a DEL', `${API_KEY}\u007f`],
    ['a non-breaking space', `${API_KEY}\u00a0`],
    ['a zero-width space', `${API_KEY}\u200b`],
    ['a non-ASCII letter', API_KEY.replace('CANARY2', 'CANARY2é')],
    ['a leading space', ` ${API_KEY}`],
  ])('an API key with %s: SesameConfigError, key not shown', (_label, apiKey) => {
    const error = errorOf(() => resolveSesameConfig({ apiKey, env: {} }));
    expect(error).toBeInstanceOf(SesameConfigError);
    expect(leaksIn([error.message, String(error.stack), inspect(error)].join('\n'))).toEqual([]);
    // And the client refuses it the same way.
    const clientError = errorOf(() => new SesameClient({ apiKey, baseUrl: 'http://127.0.0.1:1' }));
    expect(leaksIn([clientError.message, String(clientError.stack)].join('\n'))).toEqual([]);
  });

  it.each([
    ['URL-safe base64', 'whsec_CANARY2-_CANARY2-_CANARY2__'],
    ['a control character', 'whsec_CANARY2\u0001AAAA'],
    ['non-ASCII', 'whsec_CANARY2éAAA'],
    ['no prefix', 'CANARY2bm9wcmVmaXg='],
    ['bad padding', 'whsec_CANARY2A==='],
    ['the prefix alone', 'whsec_'],
  ])('a webhook secret with %s: refused at boot and by the verifier, without the secret', (_label, secret) => {
    for (const error of [errorOf(() => resolveSesameConfig({ apiKey: API_KEY, env: {}, webhookSecret: secret })), errorOf(() => new WebhookVerifier(secret))]) {
      expect(error).toBeInstanceOf(Error);
      expect([error.message, String(error.stack), inspect(error)].join('\n')).not.toContain('CANARY2');
    }
  });

  it('a webhook secret list where the second one is bad: the error names its index, not its value', () => {
    const error = errorOf(() => resolveSesameConfig({ apiKey: API_KEY, env: {}, webhookSecret: `${WEBHOOK_SECRET} whsec_CANARY2!!` }));
    expect(error.message).toContain('webhookSecret[1]');
    expect(error.message).not.toContain('CANARY2');
    expect(error.message).not.toContain(WEBHOOK_SECRET.slice(6));
  });

  it('a good config: inspecting or serializing it shows neither the key nor the webhook secret', () => {
    const config = resolveSesameConfig({ apiKey: API_KEY, env: {}, webhookSecret: WEBHOOK_SECRET, bindingSecret: 'CANARY2-binding-secret-0123456789abcdef' });
    expect(config).toBeInstanceOf(SesameConfig);
    const text = [inspect(config, { depth: Infinity, showHidden: true, getters: true }), JSON.stringify(config), String(config)].join('\n');
    expect(leaksIn(text)).toEqual([]);
    expect(text).not.toContain(WEBHOOK_SECRET.slice(6, 20));
  });
});
