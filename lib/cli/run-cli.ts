import { SesameConfigError } from '../errors.js';
import { SESAME_PACKAGE_VERSION } from '../version.js';
import { LocalBroker } from '../local-broker/local-broker.js';
import { LOCAL_BROKER_DEFAULT_API_KEY } from '../local-broker/local-broker.options.js';
import { CLI_USAGE, CliUsageError, parseCliArgs, type CliCommand } from './cli-args.js';

/** What the CLI talks to; `processIo()` is the real one, tests pass a fake. */
export interface CliIo {
  /** One line (or block) for stdout. */
  out(text: string): void;
  /** One line (or block) for stderr. */
  err(text: string): void;
  env: Record<string, string | undefined>;
  /** Calls `handler` on SIGINT/SIGTERM; returns the unsubscribe. */
  onShutdownSignal(handler: (signal: string) => void): () => void;
}

/** A CLI run: `exitCode` settles when the command is over (for `broker`: once stopped). */
export interface CliRun {
  /** The running broker (`broker` command only, once started). */
  readonly broker: LocalBroker | null;
  readonly exitCode: Promise<number>;
  /** Stops the broker, as SIGINT would, and resolves with the exit code. */
  stop(): Promise<number>;
}

function finished(code: number): CliRun {
  return { broker: null, exitCode: Promise.resolve(code), stop: () => Promise.resolve(code) };
}

/**
 * The `nestjs-sesame` command line. Never rejects: every failure is printed and becomes an exit code
 * (0 ok, 1 runtime failure such as a port in use, 2 usage error).
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<CliRun> {
  let command: CliCommand;
  try {
    command = parseCliArgs(argv, io.env);
  } catch (error) {
    if (!(error instanceof CliUsageError)) throw error;
    io.err(`nestjs-sesame: ${error.message}\n\n${CLI_USAGE}`);
    return finished(2);
  }
  if (command.kind === 'help') {
    io.out(CLI_USAGE);
    return finished(0);
  }
  if (command.kind === 'version') {
    io.out(SESAME_PACKAGE_VERSION);
    return finished(0);
  }

  let broker: LocalBroker;
  try {
    broker = await LocalBroker.start({
      port: command.port,
      host: command.host,
      apiKeys: command.apiKeys.length > 0 ? command.apiKeys : undefined,
      webhookSecret: command.webhookSecrets.length > 0 ? command.webhookSecrets : undefined,
      decide: command.auto ? () => command.auto : undefined,
      dashboard: command.dashboard,
      logger: { log: (message) => io.out(`${new Date().toISOString()} ${message}`) },
    });
  } catch (error) {
    const code = (error as { code?: string }).code;
    // A config error's message names the option and never a secret: print it, it says what to change.
    const reason =
      error instanceof SesameConfigError
        ? error.message
        : code === 'EADDRINUSE'
          ? `port ${command.port} is already in use (try --port 0)`
          : (code ?? (error as Error).message);
    io.err(`nestjs-sesame: could not start the broker: ${reason}`);
    return finished(1);
  }

  io.out(banner(broker, command));

  let resolveExit!: (code: number) => void;
  const exitCode = new Promise<number>((resolve) => (resolveExit = resolve));
  let stopping: Promise<number> | undefined;
  const stop = (): Promise<number> => {
    stopping ??= (async () => {
      unsubscribe();
      await broker.stop();
      io.out('Local broker stopped.');
      resolveExit(0);
      return 0;
    })();
    return stopping;
  };
  const unsubscribe = io.onShutdownSignal((signal) => {
    io.out(`\n${signal} received, stopping the local broker...`);
    void stop();
  });
  return { broker, exitCode, stop };
}

function banner(broker: LocalBroker, command: Extract<CliCommand, { kind: 'broker' }>): string {
  const keyLine =
    command.apiKeySource === 'default'
      ? `${LOCAL_BROKER_DEFAULT_API_KEY} (default test key)`
      : `${command.apiKeys.length} key(s) from ${command.apiKeySource === 'env' ? 'SESAME_API_KEY' : '--api-key'} (not printed)`;
  const secretLine = broker.webhookSecretGenerated
    ? `${broker.webhookSecrets[0]} (generated for this run: verify webhooks with it)`
    : `${command.webhookSecrets.length} secret(s) from ${command.webhookSecretSource === 'env' ? 'SESAME_WEBHOOK_SECRET' : '--webhook-secret'} (not printed)`;
  const autoLine = command.auto
    ? `every new approval is ${command.auto === 'approve' ? 'approved' : 'denied'} at once (--auto ${command.auto})`
    : 'off: decide each approval with the curl command below';
  const keyForCurl = command.apiKeySource === 'default' ? LOCAL_BROKER_DEFAULT_API_KEY : '$SESAME_API_KEY';
  return [
    `Sesame local broker (protocol v1, in memory; for development only) listening on ${broker.url}`,
    `  API key:        ${keyLine}`,
    `  Webhook secret: ${secretLine}`,
    `  Auto-decide:    ${autoLine}`,
    '',
    `Point your app at it:  SESAME_BROKER_URL=${broker.url}`,
    ...(broker.dashboardUrl ? [`Dashboard:             ${broker.dashboardUrl}  (approve or deny in your browser)`] : []),
    `List pending:          curl -H "Authorization: Bearer ${keyForCurl}" "${broker.url}/v1/approvals?status=pending"`,
    `Approve (or deny):     curl -X POST -H "Authorization: Bearer ${keyForCurl}" -H "content-type: application/json" \\`,
    `                         -d '{"decision":"approve"}' ${broker.url}/v1/approvals/<id>/decision`,
    'Press Ctrl+C to stop.',
  ].join('\n');
}

/** The real process: stdout/stderr, `process.env`, SIGINT/SIGTERM. */
export function processIo(): CliIo {
  return {
    out: (text) => void process.stdout.write(`${text}\n`),
    err: (text) => void process.stderr.write(`${text}\n`),
    env: process.env,
    onShutdownSignal(handler) {
      process.on('SIGINT', handler);
      process.on('SIGTERM', handler);
      return () => {
        process.off('SIGINT', handler);
        process.off('SIGTERM', handler);
      };
    },
  };
}
