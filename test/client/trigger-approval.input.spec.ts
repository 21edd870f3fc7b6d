import { RequestRejectedError } from '../../lib/index.js';
import { assertValidTriggerInput } from '../../lib/client/trigger-approval.input.js';
import type { TriggerApprovalInput } from '../../lib/client/approval.types.js';

function problemsOf(input: unknown): string {
  try {
    assertValidTriggerInput(input as TriggerApprovalInput);
  } catch (error) {
    expect(error).toBeInstanceOf(RequestRejectedError);
    expect(error).toMatchObject({ status: null, code: 'invalid_input' });
    return (error as Error).message;
  }
  return '';
}

describe('trigger input checks (run before anything is sent)', () => {
  const valid = { action: 'payments.refund', summary: 'Refund $42.00' };

  it('accepts a minimal input and a full one', () => {
    expect(problemsOf(valid)).toBe('');
    expect(
      problemsOf({
        ...valid,
        reason: 'customer asked',
        context: { orderId: 'o_1' },
        callbackUrl: 'http://localhost:3000/sesame/webhook',
        dedupKey: 'refund-o_1',
        expiresIn: 604_800_000,
      }),
    ).toBe('');
  });

  it.each([
    ['action', { summary: 's' }],
    ['action', { action: '', summary: 's' }],
    ['action', { action: 'a'.repeat(201), summary: 's' }],
    ['summary', { action: 'a' }],
    ['summary', { action: 'a', summary: 42 }],
    ['summary', { action: 'a', summary: 's'.repeat(2001) }],
    ['reason', { ...valid, reason: 7 }],
    ['context', { ...valid, context: ['not', 'an', 'object'] }],
    ['context', { ...valid, context: 'text' }],
    ['callbackUrl', { ...valid, callbackUrl: 'not a url' }],
    ['callbackUrl', { ...valid, callbackUrl: 'ftp://example.com/hook' }],
    ['callbackUrl', { ...valid, callbackUrl: '/relative/hook' }],
    ['dedupKey', { ...valid, dedupKey: '' }],
    ['dedupKey', { ...valid, dedupKey: 'k'.repeat(201) }],
    ['expiresIn', { ...valid, expiresIn: 0 }],
    ['expiresIn', { ...valid, expiresIn: 1.5 }],
    ['expiresIn', { ...valid, expiresIn: 604_800_001 }],
    ['expiresIn', { ...valid, expiresIn: '60000' }],
  ])('names %s when it is wrong', (field, input) => {
    const message = problemsOf(input);
    expect(message).toContain(`${field}:`);
    // Only the wrong field is named.
    expect(message.split('; ')).toHaveLength(1);
  });

  it('lists every problem at once, and never echoes a value', () => {
    const message = problemsOf({ action: '', summary: 'x', expiresIn: -5, reason: { secret: 'sk_live_do_not_echo' } });
    expect(message).toMatch(/action:.*expiresIn:/);
    expect(message).toContain('reason:');
    expect(message).not.toContain('sk_live_do_not_echo');
  });

  it('refuses something that is not an object', () => {
    expect(problemsOf(null)).toMatch(/takes an object/);
    expect(problemsOf('payments.refund')).toMatch(/takes an object/);
  });
});
