import { WebhookVerificationError } from '../errors.js';

const PREFIX = 'whsec_';
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** Decodes `whsec_<base64>` into the HMAC key bytes. The secret itself never enters the message. */
export function decodeWebhookSecret(secret: string): Buffer {
  if (typeof secret !== 'string' || !secret.startsWith(PREFIX)) {
    throw new WebhookVerificationError('invalid_secret', 'Webhook secret must look like whsec_<base64>');
  }
  const encoded = secret.slice(PREFIX.length);
  if (encoded.length === 0 || encoded.length % 4 !== 0 || !BASE64.test(encoded)) {
    throw new WebhookVerificationError('invalid_secret', 'Webhook secret must be whsec_ followed by valid base64');
  }
  return Buffer.from(encoded, 'base64');
}
