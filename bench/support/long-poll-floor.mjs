import http from 'node:http';
import { performance } from 'node:perf_hooks';

/** The body a decided approval has on the wire: the floor answers with the same bytes the broker would. */
export function decidedApprovalBody(id) {
  const now = new Date().toISOString();
  return JSON.stringify({
    id,
    action: 'bench.resume',
    summary: 'Benchmark call',
    reason: null,
    context: null,
    status: 'approved',
    created_at: now,
    expires_at: now,
    decided_at: now,
    requester_label: 'local',
    dedup_key: id,
    callback_url: null,
  });
}

/**
 * The physical floor of a decision-to-resume: a bare node:http server that holds each request and
 * answers it when told, and a bare node:http client (keep-alive, like the real client) that parses
 * the JSON answer. No library code at all.
 */
export class LongPollFloorServer {
  /** key -> held response */
  held = new Map();
  #watchers = new Set();

  static async start() {
    const floor = new LongPollFloorServer();
    floor.server = http.createServer({ keepAliveTimeout: 5000 }, (req, res) => {
      const key = req.url.slice('/wait/'.length);
      floor.held.set(key, res);
      res.on('close', () => floor.held.get(key) === res && floor.held.delete(key));
      for (const watcher of [...floor.#watchers]) watcher();
    });
    await new Promise((resolve) => floor.server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, resolve));
    floor.port = floor.server.address().port;
    return floor;
  }

  /** Resolves once at least `count` requests are held. */
  waitForHeld(count) {
    if (this.held.size >= count) return Promise.resolve();
    return new Promise((resolve) => {
      const watcher = () => {
        if (this.held.size < count) return;
        this.#watchers.delete(watcher);
        resolve();
      };
      this.#watchers.add(watcher);
    });
  }

  /**
   * Answers one held request with a decided approval; returns the time the decision was taken. Building
   * the answer counts, as it does for the local broker (timed from before `approve()`).
   */
  decide(key) {
    const t0 = performance.now();
    const res = this.held.get(key);
    this.held.delete(key);
    const body = decidedApprovalBody(key);
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': String(Buffer.byteLength(body)) });
    res.end(body);
    return t0;
  }

  async stop() {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

/** Client side of the floor: one long-poll per key; `onResume(key, time)` once its answer is parsed. */
export class LongPollFloorClient {
  #agent = new http.Agent({ keepAlive: true });

  constructor(port, onResume) {
    this.port = port;
    this.onResume = onResume;
  }

  wait(key) {
    return new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: this.port, path: `/wait/${key}`, agent: this.#agent }, (res) => {
        let data = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => (data += chunk));
        res.on('end', () => {
          const approval = JSON.parse(data);
          if (approval.status === 'approved') this.onResume(key, performance.now());
          resolve(approval);
        });
      });
      req.on('error', reject);
      req.end();
    });
  }

  close() {
    this.#agent.destroy();
  }
}
