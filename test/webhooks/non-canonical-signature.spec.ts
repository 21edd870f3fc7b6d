import { generateWebhookSecret, signWebhook, verifyWebhook, WebhookVerificationError } from '../../lib/index.js';

/**
 * Base64 leaves the low bits of a digest's last character unused, so several strings decode to the
 * same 32 bytes. Only the canonical one is `base64(HMAC)` as the protocol defines it (and what other
 * Standard Webhooks verifiers compare): the others are not a signature the broker sent (found by the fuzz suite).
 */
describe('a signature that is not canonical base64', () => {
  const secret = generateWebhookSecret();
  const now = new Date('2026-01-15T12:00:00.000Z');
  const body = JSON.stringify({ approval_id: 'apr_1', action: 'db.drop', status: 'approved', decided_at: now.toISOString(), requester_label: null });
  const headers = signWebhook(body, secret, { id: 'msg_1', timestamp: now });
  const canonical = headers['webhook-signature'].slice('v1,'.length);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  // 32 bytes = 43 base64 digits + '='; the 43rd digit carries 2 bits, its 4 low bits are padding.
  const last = canonical[42];
  const variant = canonical.slice(0, 42) + alphabet[alphabet.indexOf(last) + 1] + '=';

  it('decodes to the same bytes (so the check is not merely a byte comparison)', () => {
    expect(variant).not.toBe(canonical);
    expect(Buffer.from(variant, 'base64').equals(Buffer.from(canonical, 'base64'))).toBe(true);
  });

  it('is refused, while the canonical one passes', () => {
    expect(verifyWebhook(headers, body, secret, { now }).approvalId).toBe('apr_1');
    const error = (() => {
      try {
        verifyWebhook({ ...headers, 'webhook-signature': `v1,${variant}` }, body, secret, { now });
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(WebhookVerificationError);
    expect((error as WebhookVerificationError).code).toBe('invalid_signature_header');
  });
});
