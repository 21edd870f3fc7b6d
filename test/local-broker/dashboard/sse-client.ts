import http from 'node:http';

export interface SseEvent {
  event: string;
  data: string;
}

/**
 * A minimal server-sent-events client over node:http, for asserting on exactly what the broker streams:
 * events (in order), comment lines, the `retry:` field, and the end of the stream.
 */
export class SseClient {
  readonly events: SseEvent[] = [];
  readonly comments: string[] = [];
  retry: number | undefined;
  /** Settles when the server ends the stream or the connection drops. */
  readonly ended: Promise<void>;
  private buffer = '';
  private finished = false;
  private readonly waiters = new Set<() => void>();

  private constructor(
    readonly response: http.IncomingMessage,
    private readonly request: http.ClientRequest,
  ) {
    response.setEncoding('utf8');
    response.on('data', (chunk: string) => {
      this.buffer += chunk;
      let end: number;
      while ((end = this.buffer.indexOf('\n\n')) !== -1) {
        this.parse(this.buffer.slice(0, end));
        this.buffer = this.buffer.slice(end + 2);
      }
      this.wake();
    });
    this.ended = new Promise((resolve) => {
      const done = () => {
        this.finished = true;
        resolve();
        this.wake();
      };
      response.once('end', done);
      response.once('close', done);
      response.once('error', done);
    });
  }

  static open(url: string): Promise<SseClient> {
    return new Promise((resolve, reject) => {
      const request = http.get(url, { headers: { accept: 'text/event-stream' } }, (response) => resolve(new SseClient(response, request)));
      request.once('error', reject);
    });
  }

  /** The `index`-th event named `name` (0 = the first one ever received), waiting for it at most `timeoutMs`. */
  nth(name: string, index: number, timeoutMs = 5000): Promise<SseEvent> {
    return this.until(() => this.events.filter((e) => e.event === name)[index], `event #${index} "${name}"`, timeoutMs);
  }

  /** Resolves once `predicate` returns a value; rejects after `timeoutMs` or when the stream ends first. */
  until<T>(predicate: () => T | undefined, what: string, timeoutMs = 5000): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const value = predicate();
        if (value !== undefined) finish(() => resolve(value));
        else if (this.finished) finish(() => reject(new Error(`The stream ended before ${what}`)));
      };
      const timer = setTimeout(() => finish(() => reject(new Error(`No ${what} within ${timeoutMs} ms (got ${JSON.stringify(this.events.map((e) => e.event))})`))), timeoutMs);
      const finish = (settle: () => void) => {
        clearTimeout(timer);
        this.waiters.delete(check);
        settle();
      };
      this.waiters.add(check);
      check();
    });
  }

  close(): void {
    this.request.destroy();
  }

  private parse(block: string): void {
    let event = 'message';
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) this.comments.push(line.slice(1).trim());
      else if (line.startsWith('event: ')) event = line.slice(7);
      else if (line.startsWith('data: ')) data.push(line.slice(6));
      else if (line.startsWith('retry: ')) this.retry = Number(line.slice(7));
    }
    if (data.length > 0) this.events.push({ event, data: data.join('\n') });
  }

  private wake(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}
