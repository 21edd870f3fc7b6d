import { randomBytes } from 'node:crypto';
import { decodeWebhookSecret } from '../../lib/webhooks/webhook-secret.js';
import { expectVerificationError } from './webhook-test-kit.js';

describe('decodeWebhookSecret', () => {
  it('decodes every key length to the bytes Buffer.from gives, whatever the padding (0, 1 or 2 "=")', () => {
    for (let length = 1; length <= 96; length++) {
      for (let sample = 0; sample < 20; sample++) {
        const key = randomBytes(length);
        expect(decodeWebhookSecret(`whsec_${key.toString('base64')}`).equals(key)).toBe(true);
      }
    }
  });

  it('decodes every base64 digit', () => {
    const digits = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    expect(decodeWebhookSecret(`whsec_${digits}`).equals(Buffer.from(digits, 'base64'))).toBe(true);
  });

  it.each([
    ['an empty body', 'whsec_'],
    ['a length that is not a multiple of 4', 'whsec_QUJD'.slice(0, -1)],
    ['padding in the middle', 'whsec_QQ==QUJD'],
    ['three "=" of padding', 'whsec_Q==='],
    ['padding alone', 'whsec_===='],
    ['a space', 'whsec_QUJ D'],
    ['a line break', 'whsec_QUJD\nQUJD'],
    ['the URL-safe alphabet', 'whsec_-_-_'],
    ['a non-ASCII letter', 'whsec_QUJé'],
    ['an emoji (two UTF-16 units)', 'whsec_QU\u{1F600}'],
    ['a fullwidth letter', 'whsec_QUJ\uFF21'],
    ['a NUL', 'whsec_QUJ\0'],
  ])('refuses %s as invalid_secret', (_label, secret) => {
    expectVerificationError(() => decodeWebhookSecret(secret), 'invalid_secret');
  });

  it('refuses anything without the whsec_ prefix', () => {
    expectVerificationError(() => decodeWebhookSecret('QUJD'), 'invalid_secret');
    expectVerificationError(() => decodeWebhookSecret('WHSEC_QUJD'), 'invalid_secret');
  });
});
