import { Body, Controller, Injectable, Post, Req, UseGuards, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { IsInt, IsString, Min } from 'class-validator';
import { ApprovalGate, AsyncApprovalContextError, RequireApproval, SesameConfigError, SesameModule, type ApprovalHttpRequest } from '../../lib/index.js';
import { LocalBroker } from '../../lib/testing/index.js';
import { ADAPTERS, startApp, type StartedApp } from '../support/nest-apps.js';
import { startGatedApp } from '../support/gated-app.js';
import { postJson } from '../support/http-requests.js';
import { Ledger } from '../support/ledger.js';

const API_KEY = 'sk_test_SECRET_async_81c2';

class RefundDto {
  @IsInt() @Min(1) amount!: number;
  @IsString() customerId!: string;
}

/** Stands in for Passport: `x-user` authenticates a user; `x-user-nameless` one without id or sub. */
@Injectable()
class FakeAuthGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<{ headers: Record<string, string | undefined>; user?: unknown }>();
    if (request.headers['x-user']) request.user = { id: request.headers['x-user'] };
    if (request.headers['x-user-nameless']) request.user = { name: request.headers['x-user-nameless'] };
    return true;
  }
}

/** What actually ran: the invariant under test is "an approval runs its request once, and only that request". */
@Injectable()
class ReportsService {
  constructor(private readonly ledger: Ledger) {}

  @RequireApproval('reports.export', { mode: 'async' })
  export(format: string): string {
    this.ledger.ran.push(`export:${format}`);
    return 'exported';
  }
}

@Controller()
@UseGuards(FakeAuthGuard)
class AsyncRefundsController {
  constructor(private readonly ledger: Ledger) {}

  @Post('refunds')
  @RequireApproval('payments.refund', {
    mode: 'async',
    summary: (dto: RefundDto) => `Refund ${dto.amount} to ${dto.customerId}`,
    retryAfter: 2_500,
  })
  refund(@Body() dto: RefundDto) {
    this.ledger.ran.push(`refund:${dto.amount}:${dto.customerId}`);
    return { refunded: dto.amount, to: dto.customerId, validated: dto instanceof RefundDto };
  }

  @Post('payouts')
  @RequireApproval('payments.payout', { mode: 'async' })
  payout(@Body() dto: RefundDto) {
    this.ledger.ran.push(`payout:${dto.amount}`);
    return { paid: dto.amount };
  }

  // Async mode binds to the arguments: a raw request object cannot be one.
  @Post('raw')
  @RequireApproval('debug.raw', { mode: 'async' })
  raw(@Req() _request: unknown) {
    this.ledger.ran.push('raw');
    return {};
  }
}

describe.each(ADAPTERS)("@RequireApproval mode 'async' (%s)", (adapter) => {
  let broker: LocalBroker;
  let started: StartedApp;
  let ledger: Ledger;

  beforeEach(async () => {
    ({ broker, started } = await startGatedApp(adapter, {
      apiKey: API_KEY,
      sesame: { retry: { retries: 1, minDelay: 1, maxDelay: 2 } },
      controllers: [AsyncRefundsController],
      providers: [Ledger, ReportsService, FakeAuthGuard],
      validation: { transform: true, whitelist: true, forbidNonWhitelisted: true },
    }));
    ledger = started.app.get(Ledger);
  });
  afterEach(async () => {
    await started.app.close();
    await broker.stop();
    for (const line of started.logger.lines) expect(line).not.toContain(API_KEY);
  });

  const post = (path: string, body: unknown, headers: Record<string, string> = {}) => postJson(`${started.url}${path}`, body, headers);
  const refund = { amount: 42, customerId: 'cus_1' };

  it('first call: 202 at once with the approval id (body and header) and Retry-After; nothing runs', async () => {
    const res = await post('/refunds', refund);

    expect(res.status).toBe(202);
    const [approval] = broker.list();
    expect(res.body).toEqual({
      statusCode: 202,
      code: 'approval_pending',
      message: expect.stringContaining('Sesame-Approval-Id'),
      approvalId: approval.id,
      status: 'pending',
      expiresAt: approval.expires_at,
    });
    expect(res.headers.get('sesame-approval-id')).toBe(approval.id);
    expect(res.headers.get('retry-after')).toBe('3');
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(approval).toMatchObject({ action: 'payments.refund', summary: 'Refund 42 to cus_1', status: 'pending' });
    expect(approval.dedup_key).toMatch(/^sesame:v2:[A-Za-z0-9_-]{43}$/);
    expect(ledger.ran).toEqual([]);
    expect(started.logger.lines).toContainEqual(expect.stringContaining(`Approval requested: action=payments.refund id=${approval.id}`));
  });

  it('the full protocol: pending 202, approve, the repeat runs the handler once, a second repeat is 409', async () => {
    const first = await post('/refunds', refund);
    const id = first.body.approvalId as string;
    const header = { 'sesame-approval-id': id };

    const stillPending = await post('/refunds', refund, header);
    expect(stillPending.status).toBe(202);
    expect(stillPending.body).toMatchObject({ approvalId: id, status: 'pending' });
    expect(stillPending.headers.get('sesame-approval-id')).toBe(id);
    expect(ledger.ran).toEqual([]);

    await broker.approve(id);
    const ran = await post('/refunds', refund, header);
    expect(ran.status).toBe(201);
    expect(ran.body).toEqual({ refunded: 42, to: 'cus_1', validated: true });
    expect(ledger.ran).toEqual(['refund:42:cus_1']);

    const again = await post('/refunds', refund, header);
    expect(again.status).toBe(409);
    expect(again.body).toMatchObject({ statusCode: 409, code: 'approval_already_used', approvalId: id });
    expect(ledger.ran).toEqual(['refund:42:cus_1']);
    expect(broker.list()).toHaveLength(1);
    expect(started.logger.lines).toContainEqual(expect.stringContaining(`Approval used: action=payments.refund id=${id} runs AsyncRefundsController.refund`));
  });

  it('a retry without the header finds the same pending approval: nobody is paged twice', async () => {
    const first = await post('/refunds', refund);
    const retried = await post('/refunds', refund);
    const thirdTime = await post('/refunds', { customerId: 'cus_1', amount: 42 }); // same data, other key order
    expect([retried.status, thirdTime.status]).toEqual([202, 202]);
    expect(retried.body.approvalId).toBe(first.body.approvalId);
    expect(thirdTime.body.approvalId).toBe(first.body.approvalId);
    expect(broker.list()).toHaveLength(1);
  });

  it('a client that lost the 202 and retries after the approval runs the handler once; the same request later asks again', async () => {
    const first = await post('/refunds', refund);
    await broker.approve(first.body.approvalId as string);

    const retried = await post('/refunds', refund);
    expect(retried.status).toBe(201);
    expect(ledger.ran).toEqual(['refund:42:cus_1']);

    // The approval is spent: doing the same refund again is a new operation, with a new approval.
    const later = await post('/refunds', refund);
    expect(later.status).toBe(202);
    expect(later.body.approvalId).not.toBe(first.body.approvalId);
    expect(broker.list()).toHaveLength(2);
    const repeatedLater = await post('/refunds', refund);
    expect(repeatedLater.body.approvalId).toBe(later.body.approvalId);
    expect(broker.list()).toHaveLength(2);
    expect(ledger.ran).toEqual(['refund:42:cus_1']);
  });

  it('denied: 403 approval_denied, with or without the header, and no second page', async () => {
    const first = await post('/refunds', refund);
    const id = first.body.approvalId as string;
    await broker.deny(id);

    const repeat = await post('/refunds', refund, { 'sesame-approval-id': id });
    expect(repeat.status).toBe(403);
    expect(repeat.body).toMatchObject({ statusCode: 403, code: 'approval_denied', approvalId: id, status: 'denied' });
    const retry = await post('/refunds', refund);
    expect(retry.status).toBe(403);
    expect(retry.body).toMatchObject({ code: 'approval_denied', approvalId: id });
    expect(broker.list()).toHaveLength(1);
    expect(ledger.ran).toEqual([]);
  });

  it('expired: 403 approval_expired', async () => {
    const first = await post('/refunds', refund);
    const id = first.body.approvalId as string;
    await broker.expire(id);
    const repeat = await post('/refunds', refund, { 'sesame-approval-id': id });
    expect(repeat.status).toBe(403);
    expect(repeat.body).toMatchObject({ code: 'approval_expired', approvalId: id, status: 'expired' });
    expect(ledger.ran).toEqual([]);
  });

  it('what was approved is what runs: other arguments are refused with 403 approval_mismatch, and the approval stays usable', async () => {
    const first = await post('/refunds', refund);
    const id = first.body.approvalId as string;
    await broker.approve(id);
    const header = { 'sesame-approval-id': id };

    const bigger = await post('/refunds', { amount: 4200, customerId: 'cus_1' }, header);
    expect(bigger.status).toBe(403);
    expect(bigger.body).toMatchObject({ statusCode: 403, code: 'approval_mismatch', approvalId: id });
    const otherCustomer = await post('/refunds', { amount: 42, customerId: 'cus_2' }, header);
    expect(otherCustomer.body).toMatchObject({ code: 'approval_mismatch' });
    expect(ledger.ran).toEqual([]);

    expect((await post('/refunds', refund, header)).status).toBe(201);
    expect(ledger.ran).toEqual(['refund:42:cus_1']);
  });

  it("another action's approval id: 403 approval_action_mismatch; an unknown id: 403 approval_not_found", async () => {
    const payout = await post('/payouts', refund);
    const payoutId = payout.body.approvalId as string;
    await broker.approve(payoutId);

    const crossed = await post('/refunds', refund, { 'sesame-approval-id': payoutId });
    expect(crossed.status).toBe(403);
    expect(crossed.body).toMatchObject({ code: 'approval_action_mismatch', approvalId: payoutId });
    expect(crossed.body.message).toContain('payments.payout');

    const unknown = await post('/refunds', refund, { 'sesame-approval-id': 'apr_does_not_exist' });
    expect(unknown.status).toBe(403);
    expect(unknown.body).toMatchObject({ code: 'approval_not_found', approvalId: 'apr_does_not_exist' });
    expect(ledger.ran).toEqual([]);
  });

  it('bound to the authenticated user: the same request by another user is refused and gets its own approval', async () => {
    const alice = await post('/refunds', refund, { 'x-user': 'alice' });
    const id = alice.body.approvalId as string;
    await broker.approve(id);

    const bob = await post('/refunds', refund, { 'x-user': 'bob', 'sesame-approval-id': id });
    expect(bob.status).toBe(403);
    expect(bob.body).toMatchObject({ code: 'approval_mismatch' });
    const anonymous = await post('/refunds', refund, { 'sesame-approval-id': id });
    expect(anonymous.body).toMatchObject({ code: 'approval_mismatch' });
    const bobAsks = await post('/refunds', refund, { 'x-user': 'bob' });
    expect(bobAsks.status).toBe(202);
    expect(bobAsks.body.approvalId).not.toBe(id);

    expect((await post('/refunds', refund, { 'x-user': 'alice', 'sesame-approval-id': id })).status).toBe(201);
    expect(ledger.ran).toEqual(['refund:42:cus_1']);
  });

  it('a malformed Sesame-Approval-Id header: 400 and nothing is asked or run', async () => {
    const res = await post('/refunds', refund, { 'sesame-approval-id': 'apr_1, apr_2' });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ statusCode: 400, code: 'approval_id_invalid' });
    expect(broker.list()).toEqual([]);
    expect(ledger.ran).toEqual([]);
  });

  it('validation runs first: 400 and no approval', async () => {
    const res = await post('/refunds', { amount: -1, customerId: 'cus_1' });
    expect(res.status).toBe(400);
    expect(broker.list()).toEqual([]);
  });

  it('fails closed when the arguments cannot be bound (an @Req() object): 500, nothing asked or run', async () => {
    const res = await post('/raw', {});
    expect(res.status).toBe(500);
    expect(res.body).toMatchObject({ code: 'approval_gate_error' });
    expect(broker.list()).toEqual([]);
    expect(ledger.ran).toEqual([]);
    expect(started.logger.lines).toContainEqual(expect.stringMatching(/^error .*AsyncRefundsController\.raw\(\).*but args\[0\]\S* is /));
  });

  it('fails closed when an authenticated user has no id or sub to bind to', async () => {
    const res = await post('/refunds', refund, { 'x-user-nameless': 'someone' });
    expect(res.status).toBe(500);
    expect(broker.list()).toEqual([]);
    expect(started.logger.lines).toContainEqual(expect.stringContaining('requesterOf()'));
  });

  it('outside an HTTP request an async-mode method fails closed with AsyncApprovalContextError', async () => {
    const reports = started.app.get(ReportsService);
    await expect(reports.export('csv')).rejects.toBeInstanceOf(AsyncApprovalContextError);
    await expect(reports.export('csv')).rejects.toThrow("ReportsService.export() is gated with mode 'async'");
    expect(broker.list()).toEqual([]);
    expect(ledger.ran).toEqual([]);
  });
});

/** Binds async approvals to a tenant instead of a user: the documented requesterOf() override. */
@Injectable()
class TenantApprovalGate extends ApprovalGate {
  protected override requesterOf(request: ApprovalHttpRequest): string | undefined {
    const tenant = request.headers['x-tenant'];
    return typeof tenant === 'string' ? `tenant:${tenant}` : undefined;
  }
}

describe('a subclassed ApprovalGate (approvalGate extra)', () => {
  let broker: LocalBroker;
  let started: StartedApp;

  beforeEach(async () => {
    broker = await LocalBroker.start({ apiKeys: [API_KEY] });
    started = await startApp('express', {
      imports: [SesameModule.forRoot({ apiKey: API_KEY, baseUrl: broker.url, env: {}, approvalGate: TenantApprovalGate })],
      controllers: [AsyncRefundsController],
      providers: [Ledger, ReportsService, FakeAuthGuard],
    });
  });
  afterEach(async () => {
    await started.app.close();
    await broker.stop();
  });

  const post = (tenant: string, approvalId?: string) =>
    fetch(`${started.url}/refunds`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-tenant': tenant, ...(approvalId && { 'sesame-approval-id': approvalId }) },
      body: JSON.stringify({ amount: 5, customerId: 'cus_t' }),
    });

  it('replaces the module gate, so its requesterOf() decides the binding', async () => {
    expect(started.app.get(ApprovalGate)).toBeInstanceOf(TenantApprovalGate);
    const acme = (await (await post('acme')).json()) as { approvalId: string };
    const globex = (await (await post('globex')).json()) as { approvalId: string };
    expect(globex.approvalId).not.toBe(acme.approvalId);
    await broker.approve(acme.approvalId);
    expect((await post('globex', acme.approvalId)).status).toBe(403);
    expect((await post('acme', acme.approvalId)).status).toBe(201);
    expect(started.app.get(Ledger).ran).toEqual(['refund:5:cus_t']);
  });

  it('refuses a class that does not extend ApprovalGate', () => {
    class NotAGate {}
    expect(() => SesameModule.forRoot({ approvalGate: NotAGate as never })).toThrow(SesameConfigError);
    expect(() => SesameModule.forRoot({ approvalGate: NotAGate as never })).toThrow('approvalGate must be a class that extends ApprovalGate');
  });
});
