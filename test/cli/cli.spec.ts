import { generateWebhookSecret } from '../../lib/webhooks/sign-webhook.js';
import { CLI_DEFAULT_PORT, CliUsageError, parseCliArgs } from '../../lib/cli/cli-args.js';
import { runCli, type CliIo } from '../../lib/cli/run-cli.js';
import { LocalBroker } from '../../lib/testing/index.js';

class FakeIo implements CliIo {
  readonly stdout: string[] = [];
  readonly stderr: string[] = [];
  signalHandler: ((signal: string) => void) | undefined;
  unsubscribed = false;
  constructor(readonly env: Record<string, string | undefined> = {}) {}
  out(text: string): void {
    this.stdout.push(text);
  }
  err(text: string): void {
    this.stderr.push(text);
  }
  onShutdownSignal(handler: (signal: string) => void): () => void {
    this.signalHandler = handler;
    return () => {
      this.unsubscribed = true;
    };
  }
  get all(): string {
    return [...this.stdout, ...this.stderr].join('\n');
  }
}

describe('CLI argument parsing', () => {
  it('parses the broker command with defaults', () => {
    expect(parseCliArgs(['broker'], {})).toEqual({
      kind: 'broker',
      port: CLI_DEFAULT_PORT,
      host: '127.0.0.1',
      apiKeys: [],
      apiKeySource: 'default',
      webhookSecrets: [],
      webhookSecretSource: 'default',
      auto: undefined,
    });
  });

  it('parses every flag (repeatable keys and secrets); flags win over SESAME_API_KEY / SESAME_WEBHOOK_SECRET', () => {
    const s1 = generateWebhookSecret();
    const s2 = generateWebhookSecret();
    const env = { SESAME_API_KEY: 'sk_env', SESAME_WEBHOOK_SECRET: s2 };
    const argv = ['broker', '--port', '0', '--host', '0.0.0.0', '--api-key', 'sk_a', '--api-key=sk_b', '--webhook-secret', s1, '--auto', 'deny'];
    expect(parseCliArgs(argv, env)).toEqual({
      kind: 'broker',
      port: 0,
      host: '0.0.0.0',
      apiKeys: ['sk_a', 'sk_b'],
      apiKeySource: 'flag',
      webhookSecrets: [s1],
      webhookSecretSource: 'flag',
      auto: 'deny',
    });
    expect(parseCliArgs(['broker'], env)).toMatchObject({ apiKeys: ['sk_env'], apiKeySource: 'env', webhookSecrets: [s2], webhookSecretSource: 'env' });
    expect(parseCliArgs(['broker'], { SESAME_WEBHOOK_SECRET: `${s1}, ${s2}` })).toMatchObject({ webhookSecrets: [s1, s2] });
  });

  it('recognises help and version', () => {
    expect(parseCliArgs(['--help'], {})).toEqual({ kind: 'help' });
    expect(parseCliArgs(['broker', '-h'], {})).toEqual({ kind: 'help' });
    expect(parseCliArgs(['help'], {})).toEqual({ kind: 'help' });
    expect(parseCliArgs(['--version'], {})).toEqual({ kind: 'version' });
  });

  it.each([
    [[], /Missing command/],
    [['serve'], /Unknown command "serve"/],
    [['broker', 'extra'], /positional/],
    [['broker', '--nope'], /Unknown option --nope/],
    [['broker', '--port'], /--port/],
    [['broker', '--port', '70000'], /--port/],
    [['broker', '--port', 'abc'], /--port/],
    [['broker', '--auto', 'maybe'], /--auto/],
    [['broker', '--webhook-secret', 'whsec_!!topsecret'], /--webhook-secret must look like whsec_/],
  ])('refuses %j with a CliUsageError', (argv, message) => {
    let error: unknown;
    try {
      parseCliArgs(argv, {});
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(CliUsageError);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).not.toContain('topsecret');
  });

  it('names the env var when SESAME_WEBHOOK_SECRET is malformed, without echoing it', () => {
    expect(() => parseCliArgs(['broker'], { SESAME_WEBHOOK_SECRET: 'plain-topsecret' })).toThrow(/SESAME_WEBHOOK_SECRET must look like/);
  });
});

describe('runCli', () => {
  it('--help prints usage to stdout and exits 0', async () => {
    const io = new FakeIo();
    const run = await runCli(['--help'], io);
    expect(await run.exitCode).toBe(0);
    expect(io.stdout.join('\n')).toMatch(/Usage: nestjs-sesame <command>/);
    expect(run.broker).toBeNull();
  });

  it('a usage error prints the problem and usage to stderr and exits 2, never echoing a secret', async () => {
    const io = new FakeIo();
    const run = await runCli(['broker', '--bogus=whsec_topsecret', '--port', '0'], io);
    expect(await run.exitCode).toBe(2);
    expect(io.stderr.join('\n')).toMatch(/Unknown option --bogus[\s\S]*Usage:/);
    expect(io.all).not.toContain('topsecret');
    expect(io.stdout).toEqual([]);
  });

  it('starts a real broker (--port 0 --auto approve), prints URL, key and the generated secret once, and stops via the handle', async () => {
    const io = new FakeIo();
    const run = await runCli(['broker', '--port', '0', '--auto', 'approve'], io);
    const broker = run.broker!;
    expect(broker).toBeInstanceOf(LocalBroker);
    const banner = io.stdout.join('\n');
    expect(banner).toContain(broker.url);
    expect(banner).toContain('sk_test_local');
    expect(banner.split(broker.webhookSecrets[0]).length - 1).toBe(1);

    const res = await fetch(`${broker.url}/v1/approvals`, {
      method: 'POST',
      headers: { authorization: 'Bearer sk_test_local', 'content-type': 'application/json' },
      body: JSON.stringify({ action: 'demo', summary: 'Demo' }),
    });
    expect(res.status).toBe(201);
    expect(((await res.json()) as { status: string }).status).toBe('approved');
    expect(io.stdout.some((l) => l.includes('created: demo'))).toBe(true);

    expect(await run.stop()).toBe(0);
    expect(await run.exitCode).toBe(0);
    expect(broker.stopped).toBe(true);
    expect(io.unsubscribed).toBe(true);
    await expect(fetch(`${broker.url}/healthz`)).rejects.toThrow();
  });

  it('stops cleanly on SIGINT/SIGTERM; never prints a key or secret the user supplied', async () => {
    const secret = generateWebhookSecret();
    const io = new FakeIo({ SESAME_API_KEY: 'sk_from_env_1234', SESAME_WEBHOOK_SECRET: secret });
    const run = await runCli(['broker', '--port', '0'], io);
    const broker = run.broker!;
    expect(broker.apiKey).toBe('sk_from_env_1234');
    expect(broker.webhookSecrets).toEqual([secret]);
    const ok = await fetch(`${broker.url}/v1/approvals`, { headers: { authorization: 'Bearer sk_from_env_1234' } });
    expect(ok.status).toBe(200);
    expect(io.stdout.join('\n')).toMatch(/SESAME_API_KEY \(not printed\)[\s\S]*SESAME_WEBHOOK_SECRET \(not printed\)/);

    io.signalHandler!('SIGTERM');
    expect(await run.exitCode).toBe(0);
    expect(broker.stopped).toBe(true);
    expect(io.all).not.toContain('sk_from_env_1234');
    expect(io.all).not.toContain(secret);
  });

  it('exits 1 with a clear message when the port is taken', async () => {
    const busy = await LocalBroker.start();
    try {
      const io = new FakeIo();
      const run = await runCli(['broker', '--port', String(busy.port)], io);
      expect(await run.exitCode).toBe(1);
      expect(io.stderr.join('\n')).toMatch(/already in use/);
    } finally {
      await busy.stop();
    }
  });
});
