import http, { type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface ForwardedRequest {
  method: string;
  /** The absolute URL the client asked the proxy for (`http://127.0.0.1:PORT/v1/...`). */
  url: string;
  /** The headers as they went on to the upstream server (hop-by-hop ones dropped). */
  headers: IncomingHttpHeaders;
}

/** Headers that belong to one hop (RFC 9110 7.6.1) and are not forwarded. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-authorization', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

/**
 * A real forward HTTP proxy (absolute-form requests, as axios' `proxy` option sends them), the
 * stand-in for a corporate egress proxy: it forwards each request to the URL asked for, relays the
 * answer, and records what it forwarded. With `credentials`, a request without that
 * `Proxy-Authorization: Basic` gets 407 and goes nowhere.
 */
export class HttpProxy {
  readonly forwarded: ForwardedRequest[] = [];
  /** Requests refused with 407 (missing or wrong credentials). */
  refused = 0;
  private readonly sockets = new Set<Socket>();
  private readonly upstream = new Set<http.ClientRequest>();
  private readonly server: http.Server;

  private constructor(private readonly credentials: string | undefined) {
    this.server = http.createServer((req, res) => this.forward(req, res));
    this.server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  static async start(options: { credentials?: { username: string; password: string } } = {}): Promise<HttpProxy> {
    const { credentials } = options;
    const proxy = new HttpProxy(credentials && Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64'));
    await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  private forward(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (this.credentials !== undefined && req.headers['proxy-authorization'] !== `Basic ${this.credentials}`) {
      this.refused++;
      res.writeHead(407, { 'proxy-authenticate': 'Basic realm="test proxy"' }).end();
      return;
    }
    let target: URL;
    try {
      target = new URL(req.url ?? '');
    } catch {
      res.writeHead(400).end('absolute-form request expected');
      return;
    }
    const headers = Object.fromEntries(Object.entries(req.headers).filter(([name]) => !HOP_BY_HOP.has(name)));
    this.forwarded.push({ method: req.method ?? '', url: target.href, headers });
    const upstream = http.request(target, { method: req.method, headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, Object.fromEntries(Object.entries(answer.headers).filter(([name]) => !HOP_BY_HOP.has(name))));
      answer.pipe(res);
    });
    this.upstream.add(upstream);
    upstream.on('close', () => this.upstream.delete(upstream));
    upstream.on('error', () => res.headersSent || res.writeHead(502).end());
    // The client went away (an aborted long-poll): the request upstream goes too, as it would through a real proxy.
    res.on('close', () => upstream.destroy());
    req.pipe(upstream);
  }

  async stop(): Promise<void> {
    for (const request of this.upstream) request.destroy();
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
