import http from 'node:http';
import https from 'node:https';
import { SESAME_PACKAGE_VERSION } from '../version.js';

/** What one probe of the broker found: `reason` only when down, made of fixed words and error codes (no URL, no message text). */
export type BrokerHealth = { up: true } | { up: false; reason: string };

/** `/healthz` answers `{"ok": true}`: anything longer is not the broker. */
const MAX_BODY_BYTES = 1024;

/**
 * One `GET /healthz` (protocol v1: no authentication, `200 {"ok": true}`) to the broker at `baseUrl`,
 * settled within `timeoutMs` whatever the peer does. Sends no API key: the endpoint needs none. A fresh
 * connection each time (no agent), so it measures reachability now and leaves no pooled socket behind.
 */
export function probeBrokerHealth(baseUrl: string, timeoutMs: number): Promise<BrokerHealth> {
  const base = new URL(baseUrl);
  const request = base.protocol === 'https:' ? https.request : http.request;
  return new Promise((resolve) => {
    let settled = false;
    const finish = (health: BrokerHealth) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      resolve(health);
    };
    const req = request({
      host: base.hostname.replace(/^\[|\]$/g, ''),
      port: base.port || undefined,
      path: `${base.pathname.replace(/\/+$/, '')}/healthz`,
      headers: { accept: 'application/json', 'user-agent': `nestjs-sesame/${SESAME_PACKAGE_VERSION}` },
      agent: false,
    });
    // The code only (ECONNREFUSED, ENOTFOUND, CERT_HAS_EXPIRED...): Node's messages name the host and port.
    req.on('error', (error: NodeJS.ErrnoException) => finish({ up: false, reason: `broker unreachable${codeOf(error)}` }));
    const timer = setTimeout(() => finish({ up: false, reason: `broker did not answer within ${timeoutMs} ms` }), timeoutMs);
    req.on('response', (res) => {
      if (res.statusCode !== 200) return finish({ up: false, reason: `broker answered HTTP ${res.statusCode}` });
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_BODY_BYTES) finish({ up: false, reason: 'broker answered /healthz with something else than {"ok": true}' });
        else chunks.push(chunk);
      });
      res.on('end', () =>
        finish(isOk(Buffer.concat(chunks).toString('utf8')) ? { up: true } : { up: false, reason: 'broker answered /healthz with something else than {"ok": true}' }),
      );
      res.on('error', (error: NodeJS.ErrnoException) => finish({ up: false, reason: `broker unreachable${codeOf(error)}` }));
    });
    req.end();
  });
}

function isOk(text: string): boolean {
  try {
    return (JSON.parse(text) as { ok?: unknown } | null)?.ok === true;
  } catch {
    return false;
  }
}

function codeOf(error: NodeJS.ErrnoException): string {
  return typeof error.code === 'string' && /^[A-Z][A-Z0-9_]{1,40}$/.test(error.code) ? ` (${error.code})` : '';
}
