import { inspect } from 'node:util';
import { Body, Controller, Post } from '@nestjs/common';
import { ApprovalGate, RequireApproval, SesameClient, SesameConfigError, SesameModule } from '../../lib/index.js';
import { SesameConfig } from '../../lib/config/sesame.config.js';
import { LocalBroker } from '../../lib/testing/index.js';
import { compileError, startApp, type StartedApp } from '../support/nest-apps.js';
import { Ledger } from '../support/ledger.js';

/**
 * Attacks on the secrets the gate holds besides those the existing suites cover: the binding secret
 * (and the binding key derived from it or from the API key) and an API key HTTP headers cannot
 * carry. Nothing of them reaches a log line, an error, an HTTP answer, the broker's records,
 * util.inspect or JSON.stringify. Real Nest apps and the real local broker.
 */
const API_KEY = 'sk_live_CANARYattackkey_61e2';
const BINDING_SECRET = 'CANARYbinding-secret-0123456789abcdef-xyz';

@Controller()
class VaultController {
  constructor(private readonly ledger: Ledger) {}

  @Post('async')
  @RequireApproval('vault.async', { mode: 'async', summary: (body: { x: string }) => `Open ${body.x}` })
  openAsync(@Body() body: { x: string }) {
    this.ledger.ran.push(`async:${body.x}`);
    return { opened: body.x };
  }

  @Post('keyed')
  @RequireApproval('vault.keyed', { summary: 'Open keyed', dedupKey: (body: { key: string }) => body.key, timeout: 2_000 })
  openKeyed(@Body() body: { key: string }) {
    this.ledger.ran.push(`keyed:${body.key}`);
    return { opened: true };
  }
}

/** Every spelling of a secret worth looking for in captured text. */
function spellings(bytes: Buffer, text?: string): string[] {
  const all = [bytes.toString('hex'), bytes.toString('base64'), bytes.toString('base64url'), bytes.toString('base64').replace(/=+$/, '')];
  if (text !== undefined) all.push(text, encodeURIComponent(text), Buffer.from(text).toString('base64'));
  // Any 12-character window of the hex or base64url form: catches partial prints too.
  for (const form of [bytes.toString('hex'), bytes.toString('base64url')]) for (let i = 0; i + 12 <= form.length; i += 6) all.push(form.slice(i, i + 12));
  return all;
}

function capture(value: unknown): string[] {
  const out = [inspect(value, { depth: Infinity, showHidden: true }), inspect(value, { depth: Infinity, showHidden: true, getters: true })];
  try {
    out.push(String(JSON.stringify(value)));
  } catch (error) {
    out.push(`JSON.stringify threw: ${(error as Error).message}`);
  }
  if (value instanceof Error) out.push(value.message, value.stack ?? '', String(value.cause));
  return out;
}

describe('binding secrets never surface', () => {
  let broker: LocalBroker;
  let started: StartedApp;
  const brokerLog: string[] = [];

  beforeEach(async () => {
    broker = await LocalBroker.start({ apiKeys: [API_KEY], logger: { log: (line: string) => brokerLog.push(line) } });
    started = await startApp('express', {
      imports: [SesameModule.forRoot({ apiKey: API_KEY, baseUrl: broker.url, bindingSecret: BINDING_SECRET, env: {} })],
      controllers: [VaultController],
      providers: [Ledger],
    });
  });
  afterEach(async () => {
    await started.app.close();
    await broker.stop();
  });

  const post = async (path: string, body: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(`${started.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
    const answerHeaders: string[] = [];
    res.headers.forEach((value, name) => answerHeaders.push(`${name}: ${value}`));
    return `${res.status} ${answerHeaders.join('; ')} ${await res.text()}`;
  };

  it('through pending, mismatch, used, denied, reserved-key and timeout paths: no log, answer, record or inspection shows the binding key', async () => {
    const text: string[] = [];
    const first = await fetch(`${started.url}/async`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"x":"a"}' });
    const id = ((await first.json()) as { approvalId: string }).approvalId;
    text.push(String(first.status));
    text.push(await post('/async', { x: 'b' }, { 'sesame-approval-id': id }));
    await broker.approve(id);
    text.push(await post('/async', { x: 'a' }, { 'sesame-approval-id': id }));
    text.push(await post('/async', { x: 'a' }, { 'sesame-approval-id': id }));
    text.push(await post('/async', { x: 'a' }, { 'sesame-approval-id': 'apr_nope' }));
    text.push(await post('/keyed', { key: 'sesame:v2:forged' }));
    const keyed = post('/keyed', { key: 'k1' });
    const pending = await broker.waitForApproval((a) => a.action === 'vault.keyed');
    await broker.deny(pending.id);
    text.push(await keyed);
    text.push(await post('/keyed', { key: 'k2' })); // times out: 504

    const config = started.app.get(SesameConfig);
    const keyBytes = config.bindingKey.export();
    for (const value of [config, started.app.get(ApprovalGate), started.app.get(SesameClient), config.bindingKey, broker.list()]) text.push(...capture(value));
    text.push(...started.logger.lines, ...brokerLog, JSON.stringify(broker.list()));

    const joined = text.join('\n');
    expect(joined).toContain('vault.async'); // the capture works
    for (const needle of [...spellings(keyBytes), ...spellings(Buffer.from(BINDING_SECRET), BINDING_SECRET), 'CANARYbinding', 'CANARYattackkey']) {
      expect({ needle, found: joined.includes(needle) }).toEqual({ needle, found: false });
    }
  });
});

describe('bad binding secrets and unsendable API keys fail without naming them', () => {
  it.each([
    ['a binding secret too short', { bindingSecret: 'CANARYshort' }],
    ['a binding secret of the wrong type', { bindingSecret: 1234567 as unknown as string }],
    ['a short binding secret from the environment', { env: { SESAME_API_KEY: API_KEY, SESAME_BINDING_SECRET: 'CANARYenvshort' } }],
  ])('%s: a SesameConfigError without the value', async (_label, options) => {
    const error = await compileError({ imports: [SesameModule.forRoot({ apiKey: API_KEY, env: {}, ...options })] });
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(/bindingSecret/);
    const joined = capture(error).join('\n');
    for (const needle of ['CANARY', '1234567', 'CANARYattackkey']) expect(joined).not.toContain(needle);
  });

  it('an API key with a line break: the app refuses to boot, with an error that does not show the key', async () => {
    const broker = await LocalBroker.start({ apiKeys: [API_KEY] });
    try {
      const error = await startApp('express', {
        imports: [SesameModule.forRoot({ apiKey: `${API_KEY}\r\nX-Injected: 1`, baseUrl: broker.url, env: {} })],
        controllers: [VaultController],
        providers: [Ledger],
      }).then(
        async (started) => {
          await started.app.close();
          return new Error('the app booted with an API key holding a line break');
        },
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(SesameConfigError);
      expect((error as Error).message).toMatch(/line break/);
      const joined = capture(error).join('\n');
      expect(joined).not.toContain('CANARYattackkey');
      expect(joined).not.toContain('X-Injected');
      expect(broker.list()).toEqual([]);
    } finally {
      await broker.stop();
    }
  });
});
