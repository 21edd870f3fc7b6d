import type { ServerResponse } from 'node:http';

/** What the dashboard stream carries: a full snapshot on connect, then one event per change. */
export type DashboardEventName = 'snapshot' | 'created' | 'decided';

export interface DashboardEventHubOptions {
  /** A comment line this often keeps idle connections open through proxies and finds dead ones. Default 15_000. */
  heartbeatMs?: number;
  /** A client this far behind (bytes buffered) is dropped; its EventSource reconnects and gets a fresh snapshot. Default 1 MiB. */
  maxBufferedBytes?: number;
}

/**
 * The dashboard's server-sent-events fan-out. Costs nothing while no page is open (no serialisation,
 * no timer); `close()` ends every stream and clears the heartbeat, so a stopped broker keeps no handle.
 */
export class DashboardEventHub {
  private readonly clients = new Set<ServerResponse>();
  private readonly heartbeatMs: number;
  private readonly maxBufferedBytes: number;
  private heartbeat: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(options: DashboardEventHubOptions = {}) {
    this.heartbeatMs = options.heartbeatMs ?? 15_000;
    this.maxBufferedBytes = options.maxBufferedBytes ?? 1024 * 1024;
  }

  /** Open streams. */
  get clientCount(): number {
    return this.clients.size;
  }

  /** Turns `res` into an event stream that starts with `snapshot`. Returns false (and leaves `res` alone) once closed. */
  open(res: ServerResponse, snapshot: unknown): boolean {
    if (this.closed) return false;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      connection: 'keep-alive',
    });
    // Reconnect quickly after a broker restart; the next snapshot resynchronises the page.
    res.write('retry: 1000\n\n');
    res.write(frame('snapshot', JSON.stringify(snapshot)));
    this.clients.add(res);
    res.once('close', () => this.drop(res));
    this.heartbeat ??= setInterval(() => this.broadcast(': ping\n\n'), this.heartbeatMs).unref();
    return true;
  }

  /** Sends one event to every open stream. */
  publish(event: Exclude<DashboardEventName, 'snapshot'>, data: unknown): void {
    if (this.clients.size === 0) return;
    this.broadcast(frame(event, JSON.stringify(data)));
  }

  /** Ends every stream and refuses new ones. Idempotent. */
  close(): void {
    this.closed = true;
    for (const res of [...this.clients]) {
      this.drop(res);
      res.end();
    }
  }

  private broadcast(chunk: string): void {
    for (const res of [...this.clients]) {
      if (res.writableLength > this.maxBufferedBytes) {
        this.drop(res);
        res.destroy();
        continue;
      }
      res.write(chunk);
    }
  }

  private drop(res: ServerResponse): void {
    this.clients.delete(res);
    if (this.clients.size === 0 && this.heartbeat !== undefined) {
      clearInterval(this.heartbeat);
      this.heartbeat = undefined;
    }
  }
}

/** JSON.stringify never emits a raw newline, so the data always fits on one `data:` line. */
function frame(event: DashboardEventName, json: string): string {
  return `event: ${event}\ndata: ${json}\n\n`;
}
