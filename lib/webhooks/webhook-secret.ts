import { WebhookVerificationError } from '../errors.js';
import { isStrictBase64 } from './strict-base64.js';

const PREFIX = 'whsec_';

/** Decodes `whsec_<base64>` into the HMAC key bytes. The secret itself never enters the message. */
export function decodeWebhookSecret(secret: string): Buffer {
  if (typeof secret !== 'string' || !secret.startsWith(PREFIX)) {
    throw new WebhookVerificationError('invalid_secret', 'Webhook secret must look like whsec_<base64>');
  }
  const encoded = secret.slice(PREFIX.length);
  if (!isStrictBase64(encoded)) {
    throw new WebhookVerificationError('invalid_secret', 'Webhook secret must be whsec_ followed by valid base64');
  }
  return Buffer.from(encoded, 'base64');
}
