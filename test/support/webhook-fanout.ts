import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { signWebhook } from '../../lib/index.js';

const FORWARDED_HEADERS = ['content-type', 'webhook-id', 'webhook-timestamp', 'webhook-signature'];

/** What one target answered to one forwarded webhook. */
export interface FanoutAnswer {
  webhookId: string;
  target: string;
  /** `verbatim`: the broker's request as it came; `second`: the same body signed again under a new webhook-id. */
  kind: 'verbatim' | 'second';
  status: number | null;
}

export interface WebhookFanoutOptions {
  /** Base URLs (`http://127.0.0.1:PORT`) of the replicas; the request's path is kept. */
  targets: string[];
  /**
   * Also sends each target a second delivery of the same body under a fresh webhook-id, signed with
   * these secrets: the same decision as two events (two subscriptions, a broker failing over), which
   * the webhook inbox cannot fold into one.
   */
  second?: { secrets: readonly string[] };
}

/**
 * A front for app replicas: each webhook the broker posts here goes to every target at once, byte for
 * byte with its signature headers (a load balancer mirroring it, or a broker subscribed per replica).
 * The broker gets a 2xx if any target took it, else the first target's status (502 if none answered),
 * so a decision nobody could take is delivered again.
 */
export class WebhookFanout {
  readonly answers: FanoutAnswer[] = [];

  private constructor(
    private readonly server: http.Server,
    private readonly options: WebhookFanoutOptions,
  ) {}

  static async start(options: WebhookFanoutOptions): Promise<WebhookFanout> {
    const server = http.createServer();
    const fanout = new WebhookFanout(server, options);
    server.on('request', (request, response) => void fanout.handle(request, response));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return fanout;
  }

  get targets(): readonly string[] {
    return this.options.targets;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private async handle(request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const headers: Record<string, string> = {};
    for (const name of FORWARDED_HEADERS) if (typeof request.headers[name] === 'string') headers[name] = request.headers[name] as string;
    const webhookId = headers['webhook-id'] ?? '';
    const path = request.url ?? '/';
    const { targets } = this.options;
    const statuses = await Promise.all(
      targets.map(async (target) => {
        const status = await post(`${target}${path}`, headers, body);
        this.answers.push({ webhookId, target, kind: 'verbatim', status });
        return status;
      }),
    );
    if (this.options.second) {
      const resigned = { 'content-type': headers['content-type'] ?? 'application/json', ...signWebhook(body, this.options.second.secrets) };
      await Promise.all(
        targets.map(async (target) => {
          const status = await post(`${target}${path}`, resigned, body);
          this.answers.push({ webhookId: resigned['webhook-id'], target, kind: 'second', status });
        }),
      );
    }
    const taken = statuses.find((s) => s !== null && s >= 200 && s < 300);
    response.writeHead(taken ?? statuses.find((s) => s !== null) ?? 502).end();
  }
}

/** One POST; the status, or null when the target did not answer (down, refused, reset). */
function post(url: string, headers: Record<string, string>, body: Buffer): Promise<number | null> {
  return new Promise((resolve) => {
    const request = http.request(url, { method: 'POST', headers: { ...headers, 'content-length': String(body.length) }, agent: false }, (response) => {
      response.resume();
      response.on('end', () => resolve(response.statusCode ?? null));
      response.on('error', () => resolve(null));
    });
    request.setTimeout(10_000, () => request.destroy());
    request.on('error', () => resolve(null));
    request.end(body);
  });
}
