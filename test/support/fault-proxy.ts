import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** Which protocol-v1 call a request is, so a fault plan can treat long-polls apart. */
export type BrokerCallKind = 'trigger' | 'get' | 'wait' | 'other';

export interface ProxiedRequest {
  method: string;
  path: string;
  kind: BrokerCallKind;
}

/** What the proxy does with one request. */
export type FaultAction =
  /** Forward and relay the answer untouched. */
  | { kind: 'pass' }
  /** Answer this status without forwarding (5xx, 429 with Retry-After...). */
  | { kind: 'status'; status: number; headers?: Record<string, string>; body?: string }
  /** Cut the connection before forwarding: the broker never sees the request. */
  | { kind: 'drop-request' }
  /** Forward, let the broker act on it, then cut the connection instead of answering: the answer is lost. */
  | { kind: 'drop-response' }
  /** Forward, then hold the broker's answer this long before relaying it (past the client's timeout). */
  | { kind: 'delay-response'; ms: number }
  /** Forward, and cut the connection after this long if still open (a long-poll dying mid-hold). */
  | { kind: 'drop-after'; ms: number };

export type FaultPlan = (request: ProxiedRequest) => FaultAction;

const PASS: FaultAction = { kind: 'pass' };

/**
 * A real HTTP proxy in front of a broker that injects faults per request: the "faulty broker" of the
 * fault-injection suite. It can also go down and come back on the same port (a broker restart, with
 * the broker behind it keeping its state) and switch to another upstream (a broker that lost its state).
 */
export class FaultProxy {
  /** How many requests got each action, by kind of call. */
  readonly counts = new Map<string, number>();
  plan: FaultPlan = () => PASS;
  private readonly clientSockets = new Set<Socket>();
  private readonly upstreamRequests = new Set<http.ClientRequest>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly agent = new http.Agent({ keepAlive: true });
  private server: http.Server | undefined;
  private down = false;
  private listeningPort = 0;

  private constructor(private upstreamUrl: URL) {}

  static async start(upstream: string): Promise<FaultProxy> {
    const proxy = new FaultProxy(new URL(upstream));
    await proxy.listen(0);
    return proxy;
  }

  get port(): number {
    return this.listeningPort;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Sends later requests to another broker; requests in flight to the old one are cut. */
  switchUpstream(upstream: string): void {
    this.upstreamUrl = new URL(upstream);
    this.cutEverything();
  }

  /** The broker "restarts": every connection is cut and new ones are refused until comeUp(). */
  async goDown(): Promise<void> {
    if (this.down) return;
    this.down = true;
    await this.close();
  }

  /** Listens again on the same port. */
  async comeUp(): Promise<void> {
    if (!this.down) return;
    await this.listen(this.listeningPort);
    this.down = false;
  }

  async stop(): Promise<void> {
    if (!this.down) {
      this.down = true;
      await this.close();
    }
    this.agent.destroy();
  }

  private async listen(port: number): Promise<void> {
    const server = http.createServer((req, res) => this.handle(req, res));
    server.on('connection', (socket: Socket) => {
      this.clientSockets.add(socket);
      socket.once('close', () => this.clientSockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port, host: '127.0.0.1', backlog: 4096 }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    this.listeningPort = (server.address() as AddressInfo).port;
  }

  private async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    this.cutEverything();
    await closed;
  }

  private cutEverything(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    for (const request of this.upstreamRequests) request.destroy();
    this.upstreamRequests.clear();
    for (const socket of this.clientSockets) socket.destroy();
    this.agent.destroy();
  }

  private later(ms: number, fn: () => void): NodeJS.Timeout {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, ms);
    this.timers.add(timer);
    return timer;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = req.url ?? '/';
    const request: ProxiedRequest = { method: req.method ?? 'GET', path, kind: kindOf(req.method ?? 'GET', path) };
    const action = this.plan(request);
    const label = `${request.kind}:${action.kind === 'status' ? `status ${action.status}` : action.kind}`;
    this.counts.set(label, (this.counts.get(label) ?? 0) + 1);

    if (action.kind === 'drop-request') {
      req.socket.destroy();
      return;
    }
    if (action.kind === 'status') {
      req.resume();
      res.writeHead(action.status, { 'content-type': 'application/json', ...action.headers });
      res.end(action.body ?? JSON.stringify({ error: { code: 'injected_fault', message: `Injected HTTP ${action.status}` } }));
      return;
    }

    const upstream = http.request({
      hostname: this.upstreamUrl.hostname,
      port: this.upstreamUrl.port,
      method: req.method,
      path,
      headers: { ...req.headers, host: this.upstreamUrl.host },
      agent: this.agent,
    });
    this.upstreamRequests.add(upstream);
    const forget = () => this.upstreamRequests.delete(upstream);
    // The client went away (gave up, timed out): release what the broker holds for it.
    let cut: NodeJS.Timeout | undefined;
    res.once('close', () => {
      if (!res.writableFinished) upstream.destroy();
      forget();
      // The exchange is over: a pending cut must not hit the next request on this keep-alive socket.
      if (cut) {
        clearTimeout(cut);
        this.timers.delete(cut);
      }
    });
    upstream.on('error', () => {
      forget();
      req.socket.destroy();
    });
    upstream.on('response', (answer) => {
      const chunks: Buffer[] = [];
      answer.on('data', (chunk: Buffer) => chunks.push(chunk));
      answer.on('error', () => req.socket.destroy());
      answer.on('end', () => {
        forget();
        const relay = () => {
          if (res.destroyed) return;
          if (action.kind === 'drop-response') return void req.socket.destroy();
          const headers = { ...answer.headers };
          delete headers.connection;
          delete headers['keep-alive'];
          res.writeHead(answer.statusCode ?? 502, headers);
          res.end(Buffer.concat(chunks));
        };
        if (action.kind === 'delay-response') this.later(action.ms, relay);
        else relay();
      });
    });
    if (action.kind === 'drop-after') cut = this.later(action.ms, () => req.socket.destroy());
    req.pipe(upstream);
  }
}

function kindOf(method: string, path: string): BrokerCallKind {
  const pathname = path.split('?')[0];
  if (method === 'POST' && pathname === '/v1/approvals') return 'trigger';
  if (method === 'GET' && /^\/v1\/approvals\/[^/]+\/wait$/.test(pathname)) return 'wait';
  if (method === 'GET' && /^\/v1\/approvals\/[^/]+$/.test(pathname)) return 'get';
  return 'other';
}
