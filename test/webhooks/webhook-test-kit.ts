import { generateWebhookSecret, signWebhook, type SignedWebhookHeaders } from '../../lib/webhooks/sign-webhook.js';
import { WebhookVerificationError, type WebhookVerificationErrorCode } from '../../lib/errors.js';

/** Fixed clock for every test: whole seconds, so signWebhook's flooring changes nothing. */
export const NOW = new Date('2024-05-01T12:00:00.000Z');
export const NOW_SECONDS = NOW.getTime() / 1000;
export const WEBHOOK_ID = 'msg_2fWkG0Ky3lG8QgKk';

export const PAYLOAD = {
  approval_id: 'apr_123',
  action: 'deploy.production',
  status: 'approved',
  decided_at: '2024-05-01T11:59:30.000Z',
  requester_label: 'ci-bot',
  dedup_key: 'deploy-42',
} as const;
export const BODY = JSON.stringify(PAYLOAD);

/** What verifying BODY must return. */
export const EXPECTED_PAYLOAD = {
  approvalId: 'apr_123',
  action: 'deploy.production',
  status: 'approved',
  decidedAt: new Date('2024-05-01T11:59:30.000Z'),
  requesterLabel: 'ci-bot',
  dedupKey: 'deploy-42',
  webhookId: WEBHOOK_ID,
};

/** NOW shifted by a number of seconds. */
export const at = (offsetSeconds: number): Date => new Date(NOW.getTime() + offsetSeconds * 1000);

// Everything an error message must never contain: secrets (whole and their base64) and valid signatures.
const sensitive = new Set<string>();

/** A fresh secret, remembered so that every asserted error is checked for leaks of it. */
export function newSecret(): string {
  const secret = generateWebhookSecret();
  sensitive.add(secret);
  sensitive.add(secret.slice('whsec_'.length));
  return secret;
}

/** signWebhook at NOW with WEBHOOK_ID unless told otherwise; the signatures produced are remembered as sensitive. */
export function sign(body: string | Buffer, secrets: string | readonly string[], options: { id?: string; timestamp?: Date } = {}): SignedWebhookHeaders {
  const headers = signWebhook(body, secrets, { id: WEBHOOK_ID, timestamp: NOW, ...options });
  for (const entry of headers['webhook-signature'].split(' ')) sensitive.add(entry.slice('v1,'.length));
  return headers;
}

export function assertNoLeak(text: string): void {
  for (const value of sensitive) expect(text).not.toContain(value);
}

/** Runs fn, asserts it threw a WebhookVerificationError with `code` and a leak-free message, and returns it. */
export function expectVerificationError(fn: () => unknown, code: WebhookVerificationErrorCode): WebhookVerificationError {
  let thrown: unknown;
  let threw = false;
  try {
    fn();
  } catch (error) {
    threw = true;
    thrown = error;
  }
  expect(threw).toBe(true);
  expect(thrown).toBeInstanceOf(WebhookVerificationError);
  const error = thrown as WebhookVerificationError;
  expect({ code: error.code, message: error.message }).toEqual({ code, message: expect.any(String) });
  expect(error.name).toBe('WebhookVerificationError');
  assertNoLeak(error.message);
  assertNoLeak(error.stack ?? '');
  return error;
}
