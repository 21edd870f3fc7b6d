import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { decodeWebhookSecret } from './webhook-secret.js';

export interface SignedWebhookHeaders {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
}

export interface SignWebhookOptions {
  /** Stable across redeliveries of one event. Default: a new `msg_<uuid>`. */
  id?: string;
  /** Signing time. Default: now. */
  timestamp?: Date;
}

/**
 * One Standard Webhooks v1 signature entry, `v1,` and the base64 HMAC-SHA256 of `<id>.<timestamp>.<body>`.
 * The verifier computes the entry it expects with this too; it passes the timestamp text as received.
 */
export function computeWebhookSignature(key: Buffer, id: string, timestamp: number | string, body: string | Uint8Array): string {
  return `v1,${createHmac('sha256', key).update(`${id}.${timestamp}.`).update(body).digest('base64')}`;
}

/**
 * Signs a raw webhook body the way the broker does: one `v1,` entry per active secret,
 * space-separated, so receivers can rotate secrets without downtime.
 */
export function signWebhook(rawBody: string | Buffer, secrets: string | readonly string[], options: SignWebhookOptions = {}): SignedWebhookHeaders {
  const list = typeof secrets === 'string' ? [secrets] : secrets;
  const id = options.id ?? `msg_${randomUUID()}`;
  const timestamp = Math.floor((options.timestamp ?? new Date()).getTime() / 1000);
  const signature = list.map((s) => computeWebhookSignature(decodeWebhookSecret(s), id, timestamp, rawBody)).join(' ');
  return { 'webhook-id': id, 'webhook-timestamp': String(timestamp), 'webhook-signature': signature };
}

/** A fresh random secret in the `whsec_<base64>` form. */
export function generateWebhookSecret(): string {
  return `whsec_${randomBytes(24).toString('base64')}`;
}
