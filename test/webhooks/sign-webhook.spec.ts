import { createHmac } from 'node:crypto';
import { generateWebhookSecret, signWebhook } from '../../lib/webhooks/sign-webhook.js';
import { WebhookVerificationError } from '../../lib/errors.js';

describe('signWebhook', () => {
  it('signs "<id>.<timestamp>.<body>" with the decoded secret, one entry per secret', () => {
    const a = generateWebhookSecret();
    const b = generateWebhookSecret();
    const body = '{"approval_id":"apr_1"}';
    const headers = signWebhook(body, [a, b], { id: 'msg_1', timestamp: new Date(1_700_000_000_500) });
    expect(headers['webhook-id']).toBe('msg_1');
    expect(headers['webhook-timestamp']).toBe('1700000000');
    const expected = [a, b].map(
      (s) =>
        'v1,' +
        createHmac('sha256', Buffer.from(s.slice(6), 'base64'))
          .update(`msg_1.1700000000.${body}`)
          .digest('base64'),
    );
    expect(headers['webhook-signature']).toBe(expected.join(' '));
  });

  it('refuses a secret that is not whsec_<base64>, without echoing it', () => {
    expect(() => signWebhook('{}', 'not-a-secret-xyz')).toThrow(WebhookVerificationError);
    try {
      signWebhook('{}', 'whsec_@@@@secretvalue');
    } catch (e) {
      expect((e as Error).message).not.toContain('secretvalue');
    }
    expect.assertions(2);
  });
});
