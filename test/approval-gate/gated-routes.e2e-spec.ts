import { Body, Controller, Get, Injectable, Param, Post, SetMetadata, UseGuards, ValidationPipe, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { IsInt, IsString, Min } from 'class-validator';
import { RequireApproval, SesameModule } from '../../lib/index.js';
import { LocalBroker } from '../../lib/testing/index.js';
import { ADAPTERS, startApp, type StartedApp } from '../support/nest-apps.js';
import { Ledger } from '../support/ledger.js';

const API_KEY = 'sk_test_SECRET_routes_5b1e';

class RefundDto {
  @IsInt() @Min(1) amount!: number;
  @IsString() customerId!: string;
}

const Roles = (...roles: string[]) => SetMetadata('roles', roles);

/** A guard that reads metadata from the (gated) handler: it must still see what @Roles wrote. */
@Injectable()
class RolesGuard implements CanActivate {
  constructor(private readonly reflector: Reflector) {}
  canActivate(context: ExecutionContext): boolean {
    const roles = this.reflector.get<string[] | undefined>('roles', context.getHandler());
    if (!roles) return true;
    const role = context.switchToHttp().getRequest<{ headers: Record<string, string> }>().headers['x-role'];
    return roles.includes(role);
  }
}

/** Counts what actually ran: the invariant under test is "nothing runs without approval". */
@Injectable()
class BulkDeleteService {
  constructor(private readonly ledger: Ledger) {}

  @RequireApproval('db.bulk-delete', { summary: (table: string, ids: string[]) => `Delete ${ids.length} rows from ${table}` })
  deleteRows(table: string, ids: string[]): { deleted: number } {
    this.ledger.ran.push(`delete:${table}`);
    return { deleted: ids.length };
  }
}

@Controller()
@UseGuards(RolesGuard)
class RefundsController {
  constructor(
    private readonly ledger: Ledger,
    private readonly bulk: BulkDeleteService,
  ) {}

  // @Roles below @RequireApproval: its metadata must be carried over to the replacement method.
  @Post('refunds')
  @RequireApproval('payments.refund', {
    summary: (dto: RefundDto) => `Refund ${dto.amount} to ${dto.customerId}`,
    context: (dto: RefundDto) => ({ amount: dto.amount, customerId: dto.customerId, isDto: dto instanceof RefundDto }),
    reason: 'customer support ticket',
  })
  @Roles('admin')
  refund(@Body() dto: RefundDto) {
    this.ledger.ran.push(`refund:${dto.amount}`);
    return { refunded: dto.amount, to: dto.customerId };
  }

  @Post('quick-refunds')
  @Roles('admin')
  @RequireApproval('payments.quick-refund', { timeout: 300 })
  quickRefund(@Body() dto: RefundDto) {
    this.ledger.ran.push(`quick:${dto.amount}`);
    return { refunded: dto.amount };
  }

  // Ungated route calling a gated service: the decision still maps to HTTP.
  @Post('tables/:table/purge')
  purge(@Param('table') table: string, @Body() body: { ids: string[] }) {
    return this.bulk.deleteRows(table, body.ids);
  }

  @Get('health')
  health() {
    return { ok: true };
  }
}

/** Auto-decides by amount: 42 approve, 13 deny, anything else stays pending for the test to decide. */
function decideByAmount(approval: { context: Record<string, unknown> | null; action: string; summary: string }) {
  if (approval.action === 'db.bulk-delete') return approval.summary.includes('from orders') ? 'approve' : 'deny';
  const amount = approval.context?.amount;
  return amount === 42 ? 'approve' : amount === 13 ? 'deny' : undefined;
}

describe.each(ADAPTERS)('@RequireApproval on routes (%s)', (adapter) => {
  let broker: LocalBroker;
  let started: StartedApp;
  let ledger: Ledger;

  const boot = async (baseUrl: string, apiKey = API_KEY, retry = { retries: 1, minDelay: 1, maxDelay: 2 }) => {
    started = await startApp(
      adapter,
      {
        imports: [SesameModule.forRoot({ apiKey, baseUrl, retry, env: {} })],
        controllers: [RefundsController],
        providers: [Ledger, BulkDeleteService, RolesGuard],
      },
      (app) => app.useGlobalPipes(new ValidationPipe({ transform: true, whitelist: true, forbidNonWhitelisted: true })),
    );
    ledger = started.app.get(Ledger);
  };
  const post = (path: string, body: unknown, role = 'admin', signal?: AbortSignal) =>
    fetch(`${started.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-role': role },
      body: JSON.stringify(body),
      signal,
    });

  beforeEach(async () => {
    broker = await LocalBroker.start({ apiKeys: [API_KEY], decide: decideByAmount });
    await boot(broker.url);
  });
  afterEach(async () => {
    await started?.app.close();
    await broker?.stop();
    for (const line of started.logger.lines) expect(line).not.toContain(API_KEY);
  });

  it('approved: the handler runs with the validated DTO, and the human saw the computed summary', async () => {
    const res = await post('/refunds', { amount: 42, customerId: 'cus_1' });
    expect(res.status).toBe(201);
    expect(await res.json()).toEqual({ refunded: 42, to: 'cus_1' });
    expect(ledger.ran).toEqual(['refund:42']);
    const [approval] = broker.list();
    expect(approval).toMatchObject({
      action: 'payments.refund',
      summary: 'Refund 42 to cus_1',
      reason: 'customer support ticket',
      context: { amount: 42, customerId: 'cus_1', isDto: true },
      status: 'approved',
    });
    expect(started.logger.lines.some((l) => l.includes(`Approval decided: action=payments.refund id=${approval.id} status=approved`))).toBe(true);
  });

  it('waits for the human: nothing runs until the click', async () => {
    const response = post('/refunds', { amount: 77, customerId: 'cus_2' });
    const approval = await broker.waitForApproval((a) => a.action === 'payments.refund');
    expect(approval.status).toBe('pending');
    expect(ledger.ran).toEqual([]);
    await broker.approve(approval.id);
    const res = await response;
    expect(res.status).toBe(201);
    expect(ledger.ran).toEqual(['refund:77']);
  });

  it('denied: 403 with approvalId and status; the handler does not run', async () => {
    const res = await post('/refunds', { amount: 13, customerId: 'cus_1' });
    expect(res.status).toBe(403);
    const body = await res.json();
    expect(body).toMatchObject({ statusCode: 403, status: 'denied', approvalId: broker.list()[0].id });
    expect(ledger.ran).toEqual([]);
  });

  it('expired: 403 with status expired; the handler does not run', async () => {
    const response = post('/refunds', { amount: 55, customerId: 'cus_1' });
    const approval = await broker.waitForApproval((a) => a.action === 'payments.refund');
    await broker.expire(approval.id);
    const res = await response;
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ status: 'expired', approvalId: approval.id });
    expect(ledger.ran).toEqual([]);
  });

  it('no decision before the timeout: 504 with approvalId; the handler does not run', async () => {
    const res = await post('/quick-refunds', { amount: 55, customerId: 'cus_1' });
    expect(res.status).toBe(504);
    expect(await res.json()).toMatchObject({ approvalId: broker.list()[0].id });
    expect(ledger.ran).toEqual([]);
  });

  it('validation failure: 400 and no approval is triggered', async () => {
    const res = await post('/refunds', { amount: -1, customerId: 'cus_1' });
    expect(res.status).toBe(400);
    expect(broker.list()).toEqual([]);
    expect(ledger.ran).toEqual([]);
  });

  it('guard rejects (the @Roles metadata is still read): 403 and no approval is triggered', async () => {
    for (const path of ['/refunds', '/quick-refunds']) {
      const res = await post(path, { amount: 42, customerId: 'cus_1' }, 'intern');
      expect(res.status).toBe(403);
      expect(await res.json()).not.toHaveProperty('approvalId');
    }
    expect(broker.list()).toEqual([]);
    expect(ledger.ran).toEqual([]);
  });

  it('a gated service called from an ungated route: approved runs, denied answers 403', async () => {
    const ok = await post('/tables/orders/purge', { ids: ['a', 'b', 'c'] });
    expect(ok.status).toBe(201);
    expect(await ok.json()).toEqual({ deleted: 3 });
    const denied = await post('/tables/users/purge', { ids: ['a'] });
    expect(denied.status).toBe(403);
    expect(ledger.ran).toEqual(['delete:orders']);
    expect(
      broker
        .list()
        .map((a) => a.summary)
        .sort(),
    ).toEqual(['Delete 1 rows from users', 'Delete 3 rows from orders']);
  });

  it('the client disconnecting stops the wait; a later approval runs nothing', async () => {
    const controller = new AbortController();
    const response = post('/refunds', { amount: 66, customerId: 'cus_1' }, 'admin', controller.signal).catch((e: unknown) => e);
    const approval = await broker.waitForApproval((a) => a.action === 'payments.refund');
    await broker.waitForHeldWaits(1);
    controller.abort();
    expect(await response).toMatchObject({ name: 'AbortError' });
    await broker.waitForHeldWaits(0);
    await broker.approve(approval.id);
    // Prove the app is idle and healthy afterwards, then check nothing ran.
    expect((await fetch(`${started.url}/health`)).status).toBe(200);
    expect(ledger.ran).toEqual([]);
  });

  it('broker unreachable: 503 and the handler does not run', async () => {
    await started.app.close();
    const url = broker.url;
    await broker.stop();
    await boot(url);
    const res = await post('/refunds', { amount: 42, customerId: 'cus_1' });
    expect(res.status).toBe(503);
    expect(ledger.ran).toEqual([]);
    broker = await LocalBroker.start({ apiKeys: [API_KEY] }); // afterEach stops it
  });

  it('a rejected API key: 500, an error log without the key, and the handler does not run', async () => {
    await started.app.close();
    await boot(broker.url, 'sk_test_SECRET_wrong_key_0000');
    const res = await post('/refunds', { amount: 42, customerId: 'cus_1' });
    expect(res.status).toBe(500);
    expect(ledger.ran).toEqual([]);
    const errors = started.logger.lines.filter((l) => l.startsWith('error'));
    expect(errors.some((l) => l.includes('SESAME_API_KEY'))).toBe(true);
    expect(started.logger.lines.join('\n')).not.toContain('sk_test_SECRET_wrong_key_0000');
  });
});
