import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { buildSampleApp, type BuiltSampleApp } from './sample-app.builder.js';
import { answer, send, type Answer, type SampleBroker } from './sample-app.client.js';
import { SampleAppProcess } from './sample-app.process.js';
import { startSample as startSampleApp } from './sample-app.start.js';

/**
 * The sample's refund policy (RefundApprovalPolicy: under 50.00 per payment runs at once, over 1,000.00
 * is refused, the rest asks a human) and its GraphQL endpoint, against the sample running as a
 * process with its embedded broker, as `npm run sample` starts it. The ledger is the run counter:
 * each test reads what a payment had refunded before and after.
 */
const REFUND_POLICY = "refunds under 50.00 run at once (a payment's refunds counted together), over 1,000.00 are refused, the rest wait for a human";
const POLICY_DENIED_MESSAGE = 'The approval policy refused this call; nothing was asked or run.';
const REFUND_MUTATION = `mutation Refund($paymentId: String!, $amount: Int!, $currency: String!, $reason: String!) {
  refund(paymentId: $paymentId, amount: $amount, currency: $currency, reason: $reason) { id paymentId amount currency reason status }
}`;

interface RefundInput {
  paymentId: string;
  amount: number;
  currency: string;
  reason: string;
}

let built: BuiltSampleApp | undefined;
beforeAll(async () => {
  built = await buildSampleApp();
}, 120_000);
afterAll(() => built?.remove());

const startSample = (env: Record<string, string> = {}) => startSampleApp(built!.main, env);

/** Still waiting for a human (the answer has not arrived by the time the broker shows the approval). */
async function stillWaiting(pending: Promise<unknown>): Promise<boolean> {
  return (await Promise.race([pending, 'still waiting'])) === 'still waiting';
}

describe('the sample app: its refund policy over REST and GraphQL', () => {
  let sample: SampleAppProcess | undefined;
  let api: string;
  let broker: SampleBroker;

  const refunded = async (paymentId: string): Promise<number> => (await answer(send('GET', `${api}/payments/${paymentId}`))).body.refunded;
  const approvalCount = async (): Promise<number> => (await broker.approvals()).length;
  const restRefund = (input: RefundInput) => send('POST', `${api}/refunds`, input);
  const graphql = (query: string, variables?: Record<string, unknown>) => send('POST', `${api}/graphql`, { query, variables });

  beforeAll(async () => {
    ({ sample, api, broker } = await startSample());
  }, 60_000);
  afterAll(() => sample?.kill());

  it('says in its banner where GraphQL is and what the policy lets through', () => {
    expect(sample!.stdout).toContain(`  GraphQL:    ${api}/graphql (query payments, mutation refund)\n`);
    expect(sample!.stdout).toContain(`  Policy:     ${REFUND_POLICY}\n`);
    // The suggested refund is over the threshold: it is one that waits for a human.
    expect(sample!.stdout).toContain(
      `Try it (the request waits until someone approves or denies it):\n  curl -i -X POST ${api}/refunds -H 'content-type: application/json' -d '{"paymentId":"pay_1002","amount":7500,"currency":"EUR","reason":"Customer was charged twice"}'\n`,
    );
  });

  it('GET / lists the GraphQL endpoint and the refund policy', async () => {
    const index = await answer(send('GET', `${api}/`));
    expect(index.status).toBe(200);
    expect(index.body.refundPolicy).toBe(REFUND_POLICY);
    expect(index.body.routes['POST /graphql']).toBe('GraphQL: query payments; mutation refund, gated like POST /refunds');
  });

  describe('REST (POST /refunds)', () => {
    it('a small refund runs at once: the policy allows it and no approval is created on the broker', async () => {
      const before = await approvalCount();
      const done = await answer(restRefund({ paymentId: 'pay_1001', amount: 2500, currency: 'USD', reason: 'Customer was charged twice' }));
      expect(done.status).toBe(201);
      expect(done.body).toEqual({
        id: expect.stringMatching(/^re_/),
        paymentId: 'pay_1001',
        amount: 2500,
        currency: 'USD',
        reason: 'Customer was charged twice',
        status: 'succeeded',
        createdAt: expect.any(String),
      });
      expect(await refunded('pay_1001')).toBe(2500);
      expect(await approvalCount()).toBe(before);
    });

    it('a large refund waits for a human, shown what it is, and runs once approved', async () => {
      const pending = restRefund({ paymentId: 'pay_1002', amount: 7500, currency: 'EUR', reason: 'Parcel arrived damaged' });
      const approval = await broker.waitForPending('Refund €75.00 on payment pay_1002');
      expect(approval).toMatchObject({ action: 'payments.refund', reason: 'Parcel arrived damaged', context: { paymentId: 'pay_1002', amount: 7500, currency: 'EUR' } });
      expect(await stillWaiting(pending)).toBe(true);
      expect(await refunded('pay_1002')).toBe(0);

      await broker.decide(approval.id, 'approve');
      const done = await answer(pending);
      expect(done.status).toBe(201);
      expect(done.body).toMatchObject({ paymentId: 'pay_1002', amount: 7500, currency: 'EUR', status: 'succeeded' });
      expect(await refunded('pay_1002')).toBe(7500);
    });

    it("a small refund on a payment that already had refunds asks a human (the payment's refunds count together), and denied it does not run", async () => {
      // pay_1002 had 75.00 refunded above: 10.00 more is small alone, not together.
      const pending = restRefund({ paymentId: 'pay_1002', amount: 1000, currency: 'EUR', reason: 'Split refund' });
      const approval = await broker.waitForPending('Refund €10.00 on payment pay_1002');
      await broker.decide(approval.id, 'deny');
      const done = await answer(pending);
      expect(done).toEqual({
        status: 403,
        body: { statusCode: 403, code: 'approval_denied', message: expect.any(String), approvalId: approval.id, status: 'denied' },
      });
      expect(await refunded('pay_1002')).toBe(7500);
    });

    it('a refund over the limit is refused by the policy: 403 approval_policy_denied with the reason, nothing asked or run', async () => {
      const before = await approvalCount();
      const done = await answer(restRefund({ paymentId: 'pay_1003', amount: 150_000, currency: 'GBP', reason: 'Chargeback threat' }));
      expect(done).toEqual({
        status: 403,
        body: { statusCode: 403, code: 'approval_policy_denied', message: POLICY_DENIED_MESSAGE, reason: 'Refunds above £1,000.00 are not made through this API' },
      });
      expect(await refunded('pay_1003')).toBe(0);
      expect(await approvalCount()).toBe(before);
      await sample!.waitForOutput(
        /WARN \[SesameApproval\] Approval refused by the policy: action=payments\.refund for RefundsController\.refund: Refunds above £1,000\.00 are not made through this API/,
        5000,
      );
    });

    it("other gated actions are not the policy's: a bulk delete of one customer still asks a human", async () => {
      const pending = send('POST', `${api}/admin/customers/bulk-delete`, { ids: ['cus_ada'] });
      const approval = await broker.waitForPending('Delete 1 customer: cus_ada');
      expect(approval.action).toBe('customers.bulk-delete');
      await broker.decide(approval.id, 'deny');
      expect(await answer(pending)).toMatchObject({ status: 403, body: { code: 'approval_denied', approvalId: approval.id } });
      const customers = (await answer(send('GET', `${api}/admin/customers`))).body as { id: string }[];
      expect(customers.map((c) => c.id)).toContain('cus_ada');
    });
  });

  describe('GraphQL (POST /graphql)', () => {
    const refundMutation = (input: RefundInput) => graphql(REFUND_MUTATION, { ...input });

    it('the payments query is not gated: it answers at once, nothing is asked', async () => {
      const before = await approvalCount();
      const done = await answer(graphql('{ payments { id customer amount currency refunded } }'));
      expect(done.status).toBe(200);
      expect(done.body).toEqual({
        data: {
          payments: [
            { id: 'pay_1001', customer: 'Ada Lovelace', amount: 4_999, currency: 'USD', refunded: await refunded('pay_1001') },
            { id: 'pay_1002', customer: 'Grace Hopper', amount: 12_000, currency: 'EUR', refunded: await refunded('pay_1002') },
            { id: 'pay_1003', customer: 'Alan Turing', amount: 250_000, currency: 'GBP', refunded: await refunded('pay_1003') },
          ],
        },
      });
      expect(await approvalCount()).toBe(before);
    });

    it('a small refund mutation runs at once: the policy allows it, no approval is created', async () => {
      const before = await approvalCount();
      const was = await refunded('pay_1001');
      const done = await answer(refundMutation({ paymentId: 'pay_1001', amount: 1000, currency: 'USD', reason: 'Late delivery' }));
      expect(done.status).toBe(200);
      expect(done.body).toEqual({
        data: { refund: { id: expect.stringMatching(/^re_/), paymentId: 'pay_1001', amount: 1000, currency: 'USD', reason: 'Late delivery', status: 'succeeded' } },
      });
      expect(await refunded('pay_1001')).toBe(was + 1000);
      expect(await approvalCount()).toBe(before);
    });

    it('a large refund mutation waits for a human, with the summary and context of the REST route, and runs once approved', async () => {
      const pending = refundMutation({ paymentId: 'pay_1003', amount: 20_000, currency: 'GBP', reason: 'Wrong size, returned' });
      const approval = await broker.waitForPending('Refund £200.00 on payment pay_1003');
      expect(approval).toMatchObject({ action: 'payments.refund', reason: 'Wrong size, returned', context: { paymentId: 'pay_1003', amount: 20_000, currency: 'GBP' } });
      expect(await stillWaiting(pending)).toBe(true);
      expect(await refunded('pay_1003')).toBe(0);

      await broker.decide(approval.id, 'approve');
      const done = await answer(pending);
      expect(done.status).toBe(200);
      expect(done.body).toEqual({
        data: { refund: { id: expect.stringMatching(/^re_/), paymentId: 'pay_1003', amount: 20_000, currency: 'GBP', reason: 'Wrong size, returned', status: 'succeeded' } },
      });
      expect(await refunded('pay_1003')).toBe(20_000);
    });

    it('a refund mutation denied by the human answers an APPROVAL_DENIED error and does not run', async () => {
      const pending = refundMutation({ paymentId: 'pay_1003', amount: 30_000, currency: 'GBP', reason: 'Goodwill' });
      const approval = await broker.waitForPending('Refund £300.00 on payment pay_1003');
      await broker.decide(approval.id, 'deny');
      const done = await answer(pending);
      expect(done.status).toBe(200);
      expect(done.body).toEqual({
        errors: [
          {
            message: expect.any(String),
            locations: [{ line: 2, column: 3 }],
            path: ['refund'],
            extensions: { code: 'APPROVAL_DENIED', sesameCode: 'approval_denied', approvalId: approval.id, status: 'denied' },
          },
        ],
        data: null,
      });
      expect(await refunded('pay_1003')).toBe(20_000);
    });

    it('a refund mutation over the limit answers APPROVAL_POLICY_DENIED with the reason; nothing is asked or run', async () => {
      const before = await approvalCount();
      const done = await answer(refundMutation({ paymentId: 'pay_1003', amount: 150_000, currency: 'GBP', reason: 'Chargeback threat' }));
      expect(done.status).toBe(200);
      expect(done.body).toEqual({
        errors: [
          {
            message: POLICY_DENIED_MESSAGE,
            locations: [{ line: 2, column: 3 }],
            path: ['refund'],
            extensions: { code: 'APPROVAL_POLICY_DENIED', sesameCode: 'approval_policy_denied', reason: 'Refunds above £1,000.00 are not made through this API' },
          },
        ],
        data: null,
      });
      expect(await refunded('pay_1003')).toBe(20_000);
      expect(await approvalCount()).toBe(before);
    });

    it('invalid or impossible refund mutations are refused by the DTO and the pipe before anyone is asked', async () => {
      const before = await approvalCount();
      const invalid = await answer(refundMutation({ paymentId: 'pay_1003', amount: 0, currency: 'GBP', reason: 'x' }));
      expect(invalid.body.data).toBeNull();
      expect(invalid.body.errors).toHaveLength(1);
      expect(invalid.body.errors[0].extensions).toMatchObject({
        code: 'BAD_REQUEST',
        originalError: { statusCode: 400, message: ['amount must not be less than 1', 'reason must be longer than or equal to 3 characters'] },
      });

      const impossible = await answer(refundMutation({ paymentId: 'pay_1003', amount: 1000, currency: 'EUR', reason: 'Wrong currency' }));
      expect(impossible.body.data).toBeNull();
      expect(impossible.body.errors[0]).toMatchObject({ message: 'Payment pay_1003 was made in GBP, not EUR', extensions: { originalError: { statusCode: 422 } } });

      expect(await refunded('pay_1003')).toBe(20_000);
      expect(await approvalCount()).toBe(before);
    });

    it('error answers carry no server stack trace', async () => {
      const done: Answer = await answer(refundMutation({ paymentId: 'pay_9999', amount: 100, currency: 'USD', reason: 'Unknown payment' }));
      expect(done.body.errors[0].message).toBe('Payment pay_9999 not found');
      expect(JSON.stringify(done.body)).not.toMatch(/stacktrace|\.js:\d+/);
    });

    // Last: it stops the sample.
    it('on SIGTERM, a refund mutation still waiting answers APPROVAL_UNAVAILABLE (approval_aborted_shutdown) and the process exits 0', async () => {
      const pending = refundMutation({ paymentId: 'pay_1003', amount: 10_000, currency: 'GBP', reason: 'Left waiting' });
      await broker.waitForPending('Refund £100.00 on payment pay_1003');
      sample!.signal('SIGTERM');

      const done = await answer(pending);
      expect(done.status).toBe(200);
      expect(done.body).toEqual({
        errors: [
          {
            message: 'The server is shutting down; nothing was run. Retry later.',
            locations: [{ line: 2, column: 3 }],
            path: ['refund'],
            extensions: { code: 'APPROVAL_UNAVAILABLE', sesameCode: 'approval_aborted_shutdown' },
          },
        ],
        data: null,
      });
      let timer: NodeJS.Timeout | undefined;
      const exit = await Promise.race([sample!.exited, new Promise((resolve) => (timer = setTimeout(resolve, 10_000, 'still running after 10 s')))]);
      clearTimeout(timer);
      expect(exit).toEqual({ code: 0, signal: null });
      expect(sample!.stdout).toContain('Stopped.');
      expect(sample!.stderr).toBe('');
    });
  });
});

describe('the sample app: refund policy limits from the environment', () => {
  const started: SampleAppProcess[] = [];
  afterAll(() => Promise.all(started.map((p) => p.kill())));

  it('SAMPLE_AUTO_APPROVE_BELOW=0 sends every refund to a human, and SAMPLE_REFUND_LIMIT sets the limit', async () => {
    const { sample, api, broker } = await startSample({ SAMPLE_AUTO_APPROVE_BELOW: '0', SAMPLE_REFUND_LIMIT: '2000' });
    started.push(sample);
    expect(sample.stdout).toContain('  Policy:     every refund waits for a human; refunds over 20.00 are refused\n');

    const pending = send('POST', `${api}/refunds`, { paymentId: 'pay_1001', amount: 100, currency: 'USD', reason: 'Tiny but asked' });
    const approval = await broker.waitForPending('Refund $1.00 on payment pay_1001');
    await broker.decide(approval.id, 'approve');
    expect(await answer(pending)).toMatchObject({ status: 201, body: { paymentId: 'pay_1001', amount: 100 } });

    const over = await answer(send('POST', `${api}/refunds`, { paymentId: 'pay_1003', amount: 2001, currency: 'GBP', reason: 'Just over' }));
    expect(over).toEqual({
      status: 403,
      body: { statusCode: 403, code: 'approval_policy_denied', message: POLICY_DENIED_MESSAGE, reason: 'Refunds above £20.00 are not made through this API' },
    });
    expect((await answer(send('GET', `${api}/payments/pay_1003`))).body.refunded).toBe(0);
    expect(await broker.approvals()).toHaveLength(1);
  });

  it.each([
    ['SAMPLE_AUTO_APPROVE_BELOW', '50.00'],
    ['SAMPLE_REFUND_LIMIT', '-1'],
  ])('exits 1 naming %s when it is %p, not a whole number of minor units', async (name, value) => {
    const sample = SampleAppProcess.start(built!.main, { PORT: '0', BROKER_PORT: '0', [name]: value });
    started.push(sample);
    expect(await sample.exited).toEqual({ code: 1, signal: null });
    expect(sample.stderr).toContain(`${name} must be a whole number of minor units (cents), e.g. 5000 for 50.00`);
    expect(sample.stdout).not.toContain('API:');
  });
});
