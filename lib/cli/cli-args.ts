import { parseArgs } from 'node:util';
import { isLoopbackHost, LOCAL_BROKER_DEFAULT_API_KEY } from '../local-broker/local-broker.options.js';
import { decodeWebhookSecret } from '../webhooks/webhook-secret.js';

export const CLI_USAGE = `Usage: nestjs-sesame <command> [options]

Commands:
  broker                   Start a local Sesame broker (protocol v1, in memory) for development and demos.
  help                     Show this help.

Options for "broker":
  --port <n>               TCP port (default 8787; 0 picks a free one).
  --host <h>               Interface to bind (default 127.0.0.1). A non-loopback host such as 0.0.0.0
                           needs --api-key (or SESAME_API_KEY): the default key is public.
  --api-key <key>          Accepted API key; repeat for several (env fallback: SESAME_API_KEY;
                           default: sk_test_local, on a loopback host only).
  --webhook-secret <s>     Webhook signing secret whsec_<base64>; repeat to sign with several (rotation)
                           (env fallback: SESAME_WEBHOOK_SECRET; default: a secret generated for this run).
  --auto <approve|deny>    Decide every new approval at once (demos, load tests).
  --no-dashboard           Do not serve the approval dashboard (default: served at <url>/dashboard,
                           to loopback clients only).
  -h, --help               Show this help.
  -v, --version            Print the version.

The broker runs until Ctrl+C (SIGINT) or SIGTERM. Decide approvals on the dashboard, or with
  curl -X POST <url>/v1/approvals/<id>/decision -H "Authorization: Bearer <key>" \\
       -H "content-type: application/json" -d '{"decision":"approve"}'
`;

export const CLI_DEFAULT_PORT = 8787;

/** Where a setting came from: lets the CLI say so without printing what the user supplied. */
export type SettingSource = 'flag' | 'env' | 'default';

export type CliCommand =
  | { kind: 'help' }
  | { kind: 'version' }
  | {
      kind: 'broker';
      port: number;
      host: string;
      /** Empty: use the broker's default key. */
      apiKeys: string[];
      apiKeySource: SettingSource;
      /** Empty: let the broker generate one. */
      webhookSecrets: string[];
      webhookSecretSource: SettingSource;
      auto: 'approve' | 'deny' | undefined;
      /** false with --no-dashboard; undefined: the broker's default (served). */
      dashboard: false | undefined;
    };

/** Bad command line: the message is printed above the usage, exit code 2. It never echoes a secret. */
export class CliUsageError extends Error {}

/** Parses argv (without `node` and the script). Throws CliUsageError. */
export function parseCliArgs(argv: readonly string[], env: Record<string, string | undefined>): CliCommand {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (error) {
    throw new CliUsageError(safeParseMessage(error));
  }
  const { values, positionals } = parsed;
  if (values.help) return { kind: 'help' };
  if (values.version) return { kind: 'version' };
  const [command, ...extra] = positionals;
  if (command === undefined) throw new CliUsageError('Missing command');
  if (command === 'help') return { kind: 'help' };
  if (command !== 'broker') throw new CliUsageError(`Unknown command "${command.slice(0, 40)}"`);
  if (extra.length > 0) throw new CliUsageError('The broker command takes no positional arguments');

  let port = CLI_DEFAULT_PORT;
  if (values.port !== undefined) {
    port = /^\d{1,5}$/.test(values.port) ? Number(values.port) : NaN;
    if (!(port >= 0 && port <= 65535)) throw new CliUsageError('--port must be an integer from 0 to 65535');
  }
  const host = values.host ?? '127.0.0.1';
  if (host.length === 0) throw new CliUsageError('--host must not be empty');

  const [apiKeys, apiKeySource] = pick(values['api-key'], env.SESAME_API_KEY);
  if (apiKeys.some((k) => k.length === 0 || /\s/.test(k))) {
    throw new CliUsageError(`${apiKeySource === 'env' ? 'SESAME_API_KEY' : '--api-key'} must be non-empty and contain no whitespace`);
  }
  // The broker refuses this too; checked here so the message speaks of flags, not of options.
  if (apiKeys.length === 0 && !isLoopbackHost(host)) {
    throw new CliUsageError(
      `--host ${host.slice(0, 100)} is not a loopback address, and the default API key ${LOCAL_BROKER_DEFAULT_API_KEY} is public: ` +
        'pass --api-key <key> (or set SESAME_API_KEY) to serve beyond this machine',
    );
  }

  const [webhookSecrets, webhookSecretSource] = pick(values['webhook-secret'], env.SESAME_WEBHOOK_SECRET);
  for (const secret of webhookSecrets) {
    try {
      decodeWebhookSecret(secret);
    } catch {
      throw new CliUsageError(`${webhookSecretSource === 'env' ? 'SESAME_WEBHOOK_SECRET' : '--webhook-secret'} must look like whsec_<base64>`);
    }
  }

  const auto = values.auto;
  if (auto !== undefined && auto !== 'approve' && auto !== 'deny') throw new CliUsageError('--auto must be "approve" or "deny"');

  const dashboard = values['no-dashboard'] ? false : undefined;

  return { kind: 'broker', port, host, apiKeys, apiKeySource, webhookSecrets, webhookSecretSource, auto, dashboard };
}

function parse(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: true,
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      'api-key': { type: 'string', multiple: true },
      'webhook-secret': { type: 'string', multiple: true },
      auto: { type: 'string' },
      'no-dashboard': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean', short: 'v' },
    },
  });
}

/** Flag values win over the env var (which may hold several, separated by commas or spaces). */
function pick(flag: string[] | undefined, envValue: string | undefined): [string[], SettingSource] {
  if (flag !== undefined && flag.length > 0) return [flag, 'flag'];
  const fromEnv = (envValue ?? '').split(/[\s,]+/).filter((v) => v.length > 0);
  return fromEnv.length > 0 ? [fromEnv, 'env'] : [[], 'default'];
}

/** parseArgs messages name the option; they could quote a value, so only a known-safe shape passes. */
function safeParseMessage(error: unknown): string {
  // Duck-typed, not instanceof: the error may come from another realm (vm contexts, test runners).
  const { code, message: raw } = (error ?? {}) as { code?: unknown; message?: unknown };
  const message = typeof raw === 'string' ? raw : '';
  const option = /'(-{1,2}[A-Za-z0-9-]{1,40})/.exec(message)?.[1];
  switch (code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `Unknown option${option ? ` ${option}` : ''}`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      return `Missing or invalid value${option ? ` for ${option}` : ''}`;
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return 'Unexpected argument';
    default:
      return 'Invalid command line';
  }
}
