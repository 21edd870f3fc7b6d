/**
 * Which requests a gate can see (SesameModule `requestContext`): by default only gated routes run in
 * a request scope, so an ungated route pays nothing for the module. Ungated routes still answer the
 * documented statuses for a gated service they call (the exception filter), and `'all-routes'` is the
 * explicit opt-in for service gates that need the request (async mode, stopping on disconnect).
 */
import { Body, Controller, Get, Injectable, Module, ParseIntPipe, Post } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { RequireApproval, SesameConfigError, SesameModule } from '../../lib/index.js';
import { ApprovalRequestContext } from '../../lib/approval-gate/approval-request.context.js';
import { LocalBroker } from '../../lib/testing/index.js';
import { ADAPTERS, startApp, type StartedApp } from '../support/nest-apps.js';
import { Ledger } from '../support/ledger.js';

const API_KEY = 'sk_test_SECRET_context_7c2d';

@Injectable()
class TransfersService {
  constructor(private readonly ledger: Ledger) {}

  @RequireApproval('transfers.send', { summary: (to: string, amount: number) => `Send ${amount} to ${to}`, timeout: 400 })
  send(to: string, amount: number) {
    this.ledger.ran.push(`send:${to}:${amount}`);
    return { sent: amount, to };
  }

  @RequireApproval('transfers.schedule', { mode: 'async', summary: (to: string) => `Schedule a transfer to ${to}` })
  schedule(to: string) {
    this.ledger.ran.push(`schedule:${to}`);
    return { scheduled: to };
  }
}

@Controller()
class TransfersController {
  constructor(
    private readonly transfers: TransfersService,
    private readonly moduleRef: ModuleRef,
    private readonly ledger: Ledger,
  ) {}

  private get context(): ApprovalRequestContext {
    return this.moduleRef.get(ApprovalRequestContext, { strict: false });
  }

  /** Ungated: reports whether it runs inside a request scope. */
  @Get('plain')
  plain() {
    return { scoped: this.context.current() !== undefined };
  }

  @Post('gated')
  @RequireApproval('transfers.gated', { summary: 'Gated route' })
  gated() {
    return { scoped: this.context.current() !== undefined };
  }

  @Post('gated-slow')
  @RequireApproval('transfers.slow', { summary: 'Slow gated route', timeout: 300 })
  gatedSlow() {
    this.ledger.ran.push('slow');
  }

  @Post('gated-validated')
  @RequireApproval('transfers.validated', { summary: 'Validated gated route' })
  gatedValidated(@Body('amount', ParseIntPipe) amount: number) {
    this.ledger.ran.push(`validated:${amount}`);
  }

  @Post('send')
  send(@Body() body: { to: string; amount: number }) {
    return this.transfers.send(body.to, body.amount);
  }

  @Post('schedule')
  schedule(@Body() body: { to: string }) {
    return this.transfers.schedule(body.to);
  }
}

/** A feature module that does not import SesameModule: its gated route must still be gated (and answer). */
@Controller('feature')
class FeatureController {
  @Post('wire')
  @RequireApproval('feature.wire', { summary: 'Feature wire' })
  wire() {
    return { wired: true };
  }
}

@Module({ controllers: [FeatureController] })
class FeatureModule {}

function decide(approval: { action: string; summary: string }) {
  if (approval.summary.includes('to bob') || approval.action === 'transfers.gated' || approval.action === 'feature.wire') return 'approve';
  if (approval.summary.includes('to eve')) return 'deny';
  return undefined;
}

describe.each(ADAPTERS)('request context (%s)', (adapter) => {
  let broker: LocalBroker;
  let started: StartedApp | undefined;

  const boot = async (requestContext?: 'gated-routes' | 'all-routes', baseUrl = broker.url) => {
    started = await startApp(adapter, {
      imports: [SesameModule.forRoot({ apiKey: API_KEY, baseUrl, env: {}, retry: { retries: 0 }, ...(requestContext && { requestContext }) }), FeatureModule],
      controllers: [TransfersController],
      providers: [Ledger, TransfersService],
    });
    return started;
  };
  const post = (path: string, body: unknown) =>
    fetch(`${started!.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const ran = () => started!.app.get(Ledger).ran;

  beforeEach(async () => {
    broker = await LocalBroker.start({ apiKeys: [API_KEY], decide });
  });
  afterEach(async () => {
    await started?.app.close();
    started = undefined;
    await broker.stop();
  });

  it('by default an ungated route runs outside any request scope; a gated route runs inside one', async () => {
    await boot();
    expect(await (await fetch(`${started!.url}/plain`)).json()).toEqual({ scoped: false });
    const gated = await post('/gated', {});
    expect(gated.status).toBe(201);
    expect(await gated.json()).toEqual({ scoped: true });
  });

  it('no scope is held open while a gated call waits for a human or after calls settled, so Node 20 turns its async hooks off', async () => {
    await boot();
    const context = started!.app.get(ApprovalRequestContext);
    // The body runs held (it sees its scope), and lets go when it returns.
    const gated = await post('/gated', {});
    expect(await gated.json()).toEqual({ scoped: true });
    expect(context.openCount).toBe(0);
    // Waiting for a human: the gate has the scope in hand, the storage holds nothing.
    const waiting = post('/gated-slow', {});
    await broker.waitForHeldWaits(1);
    expect(context.openCount).toBe(0);
    expect((await waiting).status).toBe(504);
    expect(context.openCount).toBe(0);
    // A call refused before the handler ran (a pipe's 400) closes its scope too.
    expect((await post('/gated-validated', { amount: 'x' })).status).toBe(400);
    expect(context.openCount).toBe(0);
    expect(ran()).toEqual([]);
  });

  it("'all-routes' runs every request in a scope", async () => {
    await boot('all-routes');
    expect(await (await fetch(`${started!.url}/plain`)).json()).toEqual({ scoped: true });
  });

  it('a gated service behind an ungated route answers the documented statuses: 201, 403, 504, 503', async () => {
    await boot();
    const ok = await post('/send', { to: 'bob', amount: 5 });
    expect(ok.status).toBe(201);
    expect(await ok.json()).toEqual({ sent: 5, to: 'bob' });

    const denied = await post('/send', { to: 'eve', amount: 5 });
    expect(denied.status).toBe(403);
    expect(await denied.json()).toMatchObject({ code: 'approval_denied', status: 'denied', approvalId: expect.any(String) });

    const undecided = await post('/send', { to: 'mallory', amount: 5 });
    expect(undecided.status).toBe(504);
    expect(await undecided.json()).toMatchObject({ code: 'approval_timeout', status: 'pending' });
    expect(ran()).toEqual(['send:bob:5']);

    await started!.app.close();
    const url = broker.url;
    await broker.stop();
    await boot(undefined, url);
    const down = await post('/send', { to: 'bob', amount: 6 });
    expect(down.status).toBe(503);
    expect(await down.json()).toMatchObject({ code: 'approval_broker_unavailable' });
    expect(ran()).toEqual([]);
    broker = await LocalBroker.start({ apiKeys: [API_KEY], decide }); // afterEach stops it
  });

  it('an async gate in a service behind an ungated route needs the opt-in: without it, 500 and nothing is asked or run', async () => {
    await boot();
    const refused = await post('/schedule', { to: 'bob' });
    expect(refused.status).toBe(500);
    expect(await refused.json()).toMatchObject({ code: 'approval_gate_error' });
    expect(broker.list()).toEqual([]);
    expect(ran()).toEqual([]);
    expect(started!.logger.lines.some((line) => line.includes("requestContext: 'all-routes'"))).toBe(true);
  });

  it("with 'all-routes' the same async gate answers 202 with its approval id and headers", async () => {
    await boot('all-routes');
    const pending = await post('/schedule', { to: 'carol' });
    expect(pending.status).toBe(202);
    expect(pending.headers.get('sesame-approval-id')).toBe((await pending.json()).approvalId);
    expect(pending.headers.get('retry-after')).toBe('5');
    expect(ran()).toEqual([]);
  });

  it('a gated route in a module that does not import SesameModule is gated and answers', async () => {
    await boot();
    const res = await post('/feature/wire', {});
    expect(res.status).toBe(201);
    expect(await res.json()).toEqual({ wired: true });
    expect(broker.list().map((a) => a.action)).toEqual(['feature.wire']);
  });
});

describe('requestContext option', () => {
  it('refuses an unknown value at forRoot()', () => {
    expect(() => SesameModule.forRoot({ requestContext: 'everything' as never })).toThrow(SesameConfigError);
  });
});
