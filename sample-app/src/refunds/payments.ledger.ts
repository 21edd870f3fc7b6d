import { ConflictException, Injectable, NotFoundException } from '@nestjs/common';
import { randomUUID } from 'node:crypto';

export interface Payment {
  id: string;
  customer: string;
  /** Minor units (cents). */
  amount: number;
  currency: string;
  refunded: number;
}

export interface Refund {
  id: string;
  paymentId: string;
  amount: number;
  currency: string;
  reason: string;
  status: 'succeeded';
  createdAt: string;
}

/** An in-memory stand-in for a payment provider: a few captured payments, and the refunds made on them. */
@Injectable()
export class PaymentsLedger {
  private readonly payments = new Map<string, Payment>(
    [
      { id: 'pay_1001', customer: 'Ada Lovelace', amount: 4_999, currency: 'USD', refunded: 0 },
      { id: 'pay_1002', customer: 'Grace Hopper', amount: 12_000, currency: 'EUR', refunded: 0 },
      { id: 'pay_1003', customer: 'Alan Turing', amount: 250_000, currency: 'GBP', refunded: 0 },
    ].map((p) => [p.id, p]),
  );
  private readonly refunds: Refund[] = [];

  list(): Payment[] {
    return [...this.payments.values()].map((p) => ({ ...p }));
  }

  get(id: string): Payment {
    const payment = this.payments.get(id);
    if (!payment) throw new NotFoundException(`Payment ${id} not found`);
    return { ...payment };
  }

  refundable(id: string): number {
    const payment = this.get(id);
    return payment.amount - payment.refunded;
  }

  /** Checked again here: another refund may have been approved while this one waited. */
  refund(paymentId: string, amount: number, reason: string): Refund {
    const payment = this.payments.get(paymentId);
    if (!payment) throw new NotFoundException(`Payment ${paymentId} not found`);
    if (amount > payment.amount - payment.refunded) {
      throw new ConflictException(`Only ${payment.amount - payment.refunded} ${payment.currency} minor units are left to refund on ${paymentId}`);
    }
    payment.refunded += amount;
    const refund: Refund = {
      id: `re_${randomUUID().slice(0, 8)}`,
      paymentId,
      amount,
      currency: payment.currency,
      reason,
      status: 'succeeded',
      createdAt: new Date().toISOString(),
    };
    this.refunds.push(refund);
    return refund;
  }
}
