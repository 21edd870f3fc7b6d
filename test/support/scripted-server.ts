import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** What the scripted server does with one request. */
export type Step = { status: number; body?: unknown; headers?: Record<string, string> } | { drop: true } | { delayMs: number; status: number; body?: unknown };

export interface ScriptedRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/**
 * A real HTTP server answering from a script, one step per request (the last step repeats):
 * the stand-in for a broker misbehaving in ways the local broker never would.
 */
export class ScriptedServer {
  readonly requests: ScriptedRequest[] = [];
  private readonly server: http.Server;
  private steps: Step[] = [];
  private readonly watchers = new Set<() => void>();

  private constructor() {
    this.server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        this.requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
        for (const watcher of [...this.watchers]) watcher();
        const step = this.steps.length > 1 ? this.steps.shift()! : this.steps[0];
        if (!step) return void res.writeHead(500).end();
        if ('drop' in step) return void req.socket.destroy();
        const send = () => {
          const payload = typeof step.body === 'string' ? step.body : step.body === undefined ? '' : JSON.stringify(step.body);
          res.writeHead(step.status, { 'content-type': 'application/json', ...('headers' in step ? step.headers : {}) });
          res.end(payload);
        };
        if ('delayMs' in step) setTimeout(send, step.delayMs).unref();
        else send();
      });
    });
  }

  static async start(): Promise<ScriptedServer> {
    const s = new ScriptedServer();
    await new Promise<void>((resolve) => s.server.listen(0, '127.0.0.1', resolve));
    return s;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Resolves once at least `count` requests have arrived (no polling). */
  waitForRequests(count: number): Promise<void> {
    return new Promise((resolve) => {
      const check = () => {
        if (this.requests.length < count) return;
        this.watchers.delete(check);
        resolve();
      };
      this.watchers.add(check);
      check();
    });
  }

  script(...steps: Step[]): void {
    this.steps = steps;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** A protocol-v1 approval body, for scripted answers. */
export function wireApproval(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: 'apr_scripted',
    action: 'payments.refund',
    summary: 'Refund $42.00',
    reason: null,
    context: null,
    status: 'pending',
    created_at: '2026-11-24T08:00:00.000Z',
    expires_at: '2026-11-24T09:00:00.000Z',
    decided_at: null,
    requester_label: 'local',
    dedup_key: 'k',
    callback_url: null,
    ...overrides,
  };
}
