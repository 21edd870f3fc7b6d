import { formatAmount } from '../money.js';

/**
 * The refund policy's limits, in minor units of the payment's currency (5_000 is $50.00, €50.00 or
 * £50.00). Read from the environment before Nest starts (sample-settings.ts), provided by RefundsModule.
 */
export class RefundLimits {
  constructor(
    /** SAMPLE_AUTO_APPROVE_BELOW: a payment's refunds that stay below this together run at once. 0: every refund asks a human. */
    readonly autoApproveBelow: number,
    /** SAMPLE_REFUND_LIMIT: a refund above this is refused outright, nobody is asked. */
    readonly maxRefund: number,
  ) {}

  /** One line for the banner and GET /. */
  describe(): string {
    const refused = `over ${formatAmount(this.maxRefund)} are refused`;
    if (this.autoApproveBelow === 0) return `every refund waits for a human; refunds ${refused}`;
    return `refunds under ${formatAmount(this.autoApproveBelow)} run at once (a payment's refunds counted together), ${refused}, the rest wait for a human`;
  }
}
