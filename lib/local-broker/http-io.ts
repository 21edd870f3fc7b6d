import type { IncomingMessage, ServerResponse } from 'node:http';
import { WIRE_LIMITS } from '../protocol/wire-limits.js';
import type { WireErrorBody } from '../protocol/wire-error.js';

const MAX_BODY_BYTES = WIRE_LIMITS.bodyMaxBytes;
/** Past this many bytes of an oversized body the connection is cut instead of drained. */
const MAX_DRAIN_BYTES = 8 * MAX_BODY_BYTES;

/** A protocol error answer (a WireErrorBody) with this status. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(payload)),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(payload);
}

export function sendError(res: ServerResponse, error: HttpError): void {
  const body: WireErrorBody = { error: { code: error.code, message: error.message } };
  sendJson(res, error.status, body, error.headers);
}

/**
 * Reads a JSON request body of at most `WIRE_LIMITS.bodyMaxBytes` (1 MiB). Throws HttpError 413 `payload_too_large` (after draining
 * the rest, so the client can read the answer) or 400 `invalid_json`.
 */
export async function readJsonBody(req: IncomingMessage): Promise<unknown> {
  const raw = await readBody(req);
  if (raw.length === 0) throw new HttpError(400, 'invalid_json', 'Request body is empty: expected a JSON object');
  try {
    return JSON.parse(raw.toString('utf8')) as unknown;
  } catch {
    throw new HttpError(400, 'invalid_json', 'Request body is not valid JSON');
  }
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = Number(req.headers['content-length']) > MAX_BODY_BYTES;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) tooLarge = true;
      if (tooLarge) {
        chunks.length = 0;
        if (size > MAX_DRAIN_BYTES) req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (tooLarge) reject(new HttpError(413, 'payload_too_large', `Request body exceeds ${MAX_BODY_BYTES} bytes`, { connection: 'close' }));
      else resolve(Buffer.concat(chunks, size));
    });
    req.on('error', reject);
    req.on('close', () => reject(new HttpError(400, 'aborted', 'Request aborted by the client')));
  });
}
