/**
 * Attack 7: the scope storage of the gate is disabled when the last open scope closes (d8a96b0,
 * ApprovalRequestContext.open(): `storage.disable()` before Node 24) and enabled again by the next
 * open(). Can the disable/enable cycle make a gated call run for the wrong request or user, or
 * without the check it should get?
 *
 * The rule: an approval authorizes at most one execution of exactly the call the human saw (same
 * action, arguments, requester), on every path; when in doubt the gated code does not run.
 *
 * Who a gated call was bound to is observed through a gate subclass whose requesterOf() records the
 * user it read (the binding digest is over that requester): a call bound to no request records
 * nothing. Real Nest apps on loopback (Express and Fastify), the real local broker, Node 20 (where the
 * storage is really disabled). `it.failing` would mark a proven hole; every attack below held.
 */
import { Body, Controller, Injectable, Module, Post, type CallHandler, type CanActivate, type ExecutionContext, type NestInterceptor, UseInterceptors } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { Observable } from 'rxjs';
import { ApprovalGate, RequireApproval, SesameModule, type ApprovalHttpRequest, type GatedCall } from '../../lib/index.js';
import { ApprovalRequestContext } from '../../lib/approval-gate/approval-request.context.js';
import { LocalBroker } from '../../lib/testing/index.js';
import { ADAPTERS, startApp, type StartedApp } from '../support/nest-apps.js';

const API_KEY = 'sk_test_SECRET_attack7_9d04e1';
const HOOKS_STAY_ON = Number(process.versions.node.split('.')[0]) < 24;

/** What ran, in order: `method:args`. */
const ledger: string[] = [];
/** Who each gated call was bound to: `method:user` (requesterOf), nothing for a call bound to no request. */
const bound: string[] = [];

class RecordingGate extends ApprovalGate {
  protected override requesterOf(request: ApprovalHttpRequest, call: GatedCall): string | undefined {
    const user = (request.user as { id?: string } | undefined)?.id ?? '(none)';
    const entry = `${call.methodName}:${user}`;
    if (!bound.includes(entry)) bound.push(entry);
    return super.requesterOf(request, call);
  }
}

/** Sets request.user from the `x-user` header, as an auth guard would. */
class UserGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<{ headers: Record<string, string | undefined>; user?: unknown }>();
    const id = request.headers['x-user'];
    if (id) request.user = { id };
    return true;
  }
}

function latch() {
  let release!: () => void;
  const promise = new Promise<void>((resolve) => (release = resolve));
  return { promise, release, entered: false };
}
let hold = latch();
/** Work a handler left behind, awaited by the tests. */
let leftBehind: Promise<unknown> | undefined;
/** Captured by the test app: the storage's state when a left-behind call ran. */
const storeSeen: string[] = [];

@Injectable()
class PayoutService {
  constructor(private readonly moduleRef: ModuleRef) {}

  @RequireApproval('payouts.pay', { summary: (to: string, amount: number) => `Pay ${amount} to ${to}` })
  pay(to: string, amount: number) {
    ledger.push(`pay:${to}:${amount}`);
    return { paid: amount, to };
  }

  /** What the storage holds here (the user of the scope, or none). */
  where(tag: string) {
    const scope = this.moduleRef.get(ApprovalRequestContext, { strict: false }).current();
    storeSeen.push(`${tag}:${scope ? ((scope.request?.user as { id?: string } | undefined)?.id ?? '(no user)') + (scope.settled ? '(settled)' : '') : 'none'}`);
  }
}

class Dto {
  to!: string;
  amount!: number;
}

@Controller('r')
class RoutesController {
  constructor(private readonly payouts: PayoutService) {}

  /** Gated route: after its approval, waits on the latch (other requests come and go), then pays through the gated service. */
  @Post('gated-slow')
  @RequireApproval('routes.gated-slow', { summary: (dto: Dto) => `slow ${dto.to}` })
  async gatedSlow(@Body() dto: Dto) {
    hold.entered = true;
    await hold.promise;
    await new Promise((resolve) => setTimeout(resolve, 5));
    return this.payouts.pay(dto.to, dto.amount);
  }

  /** Gated route that bob holds open: its approval stays pending (decide() leaves it). */
  @Post('gated-hold')
  @RequireApproval('routes.hold', { summary: 'hold' })
  gatedHold() {
    ledger.push('hold');
    return { held: true };
  }

  /** Gated route that returns at once (one scope opened and closed per call). */
  @Post('gated-quick')
  @RequireApproval('routes.quick', { summary: (dto: Dto) => `quick ${dto.to}` })
  gatedQuick(@Body() dto: Dto) {
    ledger.push(`quick:${dto.to}`);
    return { quick: dto.to };
  }

  /** Gated route that leaves a timer behind, which pays later (fire and forget). */
  @Post('gated-forget')
  @RequireApproval('routes.forget', { summary: (dto: Dto) => `forget ${dto.to}` })
  gatedForget(@Body() dto: Dto) {
    leftBehind = new Promise((resolve) => {
      setTimeout(() => {
        this.payouts.where('timer');
        resolve((this.payouts.pay(dto.to, dto.amount) as unknown as Promise<unknown>).catch((error: Error) => error.constructor.name));
      }, 60);
    });
    return { forgot: dto.to };
  }

  /** Ungated route: waits on the latch, then pays through the gated service. */
  @Post('ungated-slow')
  async ungatedSlow(@Body() dto: Dto) {
    hold.entered = true;
    await hold.promise;
    this.payouts.where('ungated-slow');
    return this.payouts.pay(dto.to, dto.amount);
  }

  /** Ungated route: pays through the gated service at once. */
  @Post('ungated-pay')
  ungatedPay(@Body() dto: Dto) {
    return this.payouts.pay(dto.to, dto.amount);
  }

  /** Ungated route that starts a gated service call, then throws synchronously. */
  @Post('ungated-throw')
  ungatedThrow(@Body() dto: Dto) {
    leftBehind = (this.payouts.pay(dto.to, dto.amount) as unknown as Promise<unknown>).catch((error: Error) => error.constructor.name);
    throw new Error('boom');
  }

  /** Gated route whose body (after the approval) releases the latch from its own context. */
  @Post('gated-release')
  @RequireApproval('routes.release', { summary: 'release' })
  gatedRelease() {
    ledger.push('release');
    hold.release();
    return { released: true };
  }
}

/** A controller-level interceptor that does nothing but exists (the gate's interceptor is not the outermost). */
@Injectable()
class PassThrough implements NestInterceptor {
  intercept(_context: ExecutionContext, next: CallHandler): Observable<unknown> {
    return next.handle();
  }
}

@Controller('p')
@UseInterceptors(PassThrough)
class PassThroughController {
  constructor(private readonly payouts: PayoutService) {}

  @Post('gated-pay')
  @RequireApproval('p.gated-pay', { summary: (dto: Dto) => `p ${dto.to}` })
  async gatedPay(@Body() dto: Dto) {
    await new Promise((resolve) => setTimeout(resolve, 5));
    return this.payouts.pay(dto.to, dto.amount);
  }
}

function decide(approval: { action: string }): 'approve' | 'deny' | undefined {
  if (approval.action === 'routes.hold') return undefined;
  return 'approve';
}

@Module({})
class Empty {}

describe.each(ADAPTERS)('attack 7: scope storage disabled and enabled again (%s)', (adapter) => {
  let broker: LocalBroker;
  const apps: StartedApp[] = [];

  const boot = async (requestContext?: 'all-routes') => {
    const started = await startApp(
      adapter,
      {
        imports: [
          Empty,
          SesameModule.forRoot({
            apiKey: API_KEY,
            baseUrl: broker.url,
            env: {},
            retry: { retries: 0 },
            approvalGate: RecordingGate,
            ...(requestContext && { requestContext }),
          }),
        ],
        controllers: [RoutesController, PassThroughController],
        providers: [PayoutService],
      },
      (app) => app.useGlobalGuards(new UserGuard()),
    );
    apps.push(started);
    return started;
  };
  const post = (app: StartedApp, path: string, body: unknown, user?: string) =>
    fetch(`${app.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...(user && { 'x-user': user }) }, body: JSON.stringify(body) });
  const until = async (check: () => boolean, what: string) => {
    for (let i = 0; i < 600 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 5));
    if (!check()) throw new Error(`timed out waiting for ${what}`);
  };
  const contextOf = (app: StartedApp) => app.app.get(ApprovalRequestContext, { strict: false });
  /** Bob's gated route, held pending at the broker: his scope stays open (storage enabled) until it is denied. */
  const bobHolds = async (app: StartedApp) => {
    const waits = broker.list().filter((a) => a.action === 'routes.hold').length;
    const answer = post(app, '/r/gated-hold', {}, 'bob');
    await until(() => broker.list().filter((a) => a.action === 'routes.hold' && a.status === 'pending').length > waits, 'bob pending');
    const id = broker.list().find((a) => a.action === 'routes.hold' && a.status === 'pending')!.id;
    return {
      release: async () => {
        await broker.deny(id);
        expect((await answer).status).toBe(403);
      },
    };
  };

  beforeEach(async () => {
    ledger.length = 0;
    bound.length = 0;
    storeSeen.length = 0;
    hold = latch();
    leftBehind = undefined;
    broker = await LocalBroker.start({ apiKeys: [API_KEY], decide });
  });
  afterEach(async () => {
    hold.release();
    for (const started of apps.splice(0)) await started.app.close();
    await broker.stop();
  });

  (HOOKS_STAY_ON ? it : it.skip)('the machine is one where the storage is really disabled (Node < 24), and it is after a gated call', async () => {
    expect(HOOKS_STAY_ON).toBe(true);
    const app = await boot();
    expect((await post(app, '/r/gated-quick', { to: 'x', amount: 1 }, 'alice')).status).toBe(201);
    const context = contextOf(app);
    expect(context.openCount).toBe(0);
    // Disabled: getStore() is undefined anywhere, and run() has to enable it again.
    expect((context as unknown as { storage: { enabled: boolean } }).storage.enabled).toBe(false);
  });

  it("a gated route's gated service call after an await, while bob's gated calls open and close scopes, is bound to alice", async () => {
    const app = await boot();
    const alice = post(app, '/r/gated-slow', { to: 'a', amount: 7 }, 'alice');
    await until(() => hold.entered, 'alice in her handler');
    // Bob's calls come and go (each opens and closes its scope) while alice's handler waits.
    for (let i = 0; i < 3; i++) expect((await post(app, '/r/gated-quick', { to: `b${i}`, amount: 1 }, 'bob')).status).toBe(201);
    hold.release();
    expect(await (await alice).json()).toEqual({ paid: 7, to: 'a' });
    expect(bound).toEqual(['gatedSlow:alice', 'gatedQuick:bob', 'pay:alice']);
    expect(ledger).toEqual(['quick:b0', 'quick:b1', 'quick:b2', 'pay:a:7']);
    expect(contextOf(app).openCount).toBe(0);
  });

  it("'all-routes': an ungated route's gated service call after an await, while bob's gated calls open and close, is bound to alice (both interceptors on bob's routes)", async () => {
    const app = await boot('all-routes');
    const alice = post(app, '/r/ungated-slow', { to: 'a', amount: 3 }, 'alice');
    await until(() => hold.entered, 'alice in her handler');
    for (let i = 0; i < 3; i++) expect((await post(app, '/r/gated-quick', { to: `b${i}`, amount: 1 }, 'bob')).status).toBe(201);
    hold.release();
    expect(await (await alice).json()).toEqual({ paid: 3, to: 'a' });
    expect(storeSeen).toEqual(['ungated-slow:alice']);
    expect(bound).toEqual(['gatedQuick:bob', 'pay:alice']);
    expect(ledger).toEqual(['quick:b0', 'quick:b1', 'quick:b2', 'pay:a:3']);
  });

  it("'all-routes': sequential calls of alice and bob, the count back at 0 (storage disabled) between each: every service call is bound to its own user", async () => {
    const app = await boot('all-routes');
    for (const user of ['alice', 'bob', 'alice', 'bob']) {
      expect((await post(app, '/r/ungated-pay', { to: user, amount: 2 }, user)).status).toBe(201);
      expect(contextOf(app).openCount).toBe(0);
      expect((await post(app, '/p/gated-pay', { to: `${user}-p`, amount: 2 }, user)).status).toBe(201);
    }
    expect(bound).toEqual(['pay:alice', 'gatedPay:alice', 'pay:bob', 'gatedPay:bob']);
    expect(ledger).toEqual(['pay:alice:2', 'pay:alice-p:2', 'pay:bob:2', 'pay:bob-p:2', 'pay:alice:2', 'pay:alice-p:2', 'pay:bob:2', 'pay:bob-p:2']);
  });

  it("fire and forget: alice's timer (created in her scope) fires after her scope closed, while bob's gated call waits for a human (which holds no scope open): it sees no scope, is bound to nobody, never to bob", async () => {
    const app = await boot();
    expect((await post(app, '/r/gated-forget', { to: 'f', amount: 9 }, 'alice')).status).toBe(201);
    expect(contextOf(app).openCount).toBe(0);
    const bob = await bobHolds(app);
    // Bob's gate has his scope in hand while it waits: it holds nothing open, so the storage stays disabled.
    expect(contextOf(app).openCount).toBe(0);
    expect(await leftBehind).toEqual({ paid: 9, to: 'f' });
    // Before Node 24 the timer fires with the storage disabled: no scope at all (outside any request), as for a settled one.
    // Node 24 never disables it (nothing to save): the timer sees alice's settled scope, which binds nobody either.
    expect(storeSeen).toEqual([HOOKS_STAY_ON ? 'timer:none' : 'timer:alice(settled)']);
    expect(bound).toEqual(['gatedForget:alice', 'gatedHold:bob']);
    await bob.release();
    expect(ledger).toEqual(['pay:f:9']);
  });

  it("resources created while the storage was disabled (carol's ungated route, default mode) run while bob's scope is open: carol's gated service call sees no scope, not bob's", async () => {
    const app = await boot();
    // Enable once and disable again.
    expect((await post(app, '/r/gated-quick', { to: 'warm', amount: 1 }, 'alice')).status).toBe(201);
    expect(contextOf(app).openCount).toBe(0);
    const carol = post(app, '/r/ungated-slow', { to: 'c', amount: 4 }, 'carol');
    await until(() => hold.entered, 'carol waiting');
    const bob = await bobHolds(app);
    hold.release();
    expect(await (await carol).json()).toEqual({ paid: 4, to: 'c' });
    expect(storeSeen).toEqual(['ungated-slow:none']);
    expect(bound).toEqual(['gatedQuick:alice', 'gatedHold:bob']);
    await bob.release();
  });

  it("carol's await (made while disabled) is resumed from inside bob's gated handler (bob's scope open, storage enabled): her service call does not get bob's scope", async () => {
    const app = await boot();
    expect((await post(app, '/r/gated-quick', { to: 'warm', amount: 1 }, 'alice')).status).toBe(201);
    const carol = post(app, '/r/ungated-slow', { to: 'c', amount: 5 }, 'carol');
    await until(() => hold.entered, 'carol waiting');
    // Bob's handler body resolves carol's latch: her continuation runs while his scope is open.
    expect((await post(app, '/r/gated-release', {}, 'bob')).status).toBe(201);
    expect(await (await carol).json()).toEqual({ paid: 5, to: 'c' });
    expect(storeSeen).toEqual(['ungated-slow:none']);
    expect(bound).toEqual(['gatedQuick:alice', 'gatedRelease:bob']);
    expect(ledger).toEqual(['quick:warm', 'release', 'pay:c:5']);
  });

  it("'all-routes': carol's await is resumed from inside bob's gated handler: she keeps her own scope", async () => {
    const app = await boot('all-routes');
    const carol = post(app, '/r/ungated-slow', { to: 'c', amount: 5 }, 'carol');
    await until(() => hold.entered, 'carol waiting');
    expect((await post(app, '/r/gated-release', {}, 'bob')).status).toBe(201);
    expect(await (await carol).json()).toEqual({ paid: 5, to: 'c' });
    expect(storeSeen).toEqual(['ungated-slow:carol']);
    expect(bound).toEqual(['gatedRelease:bob', 'pay:carol']);
  });

  it("'all-routes': an ungated handler that starts a gated service call and throws synchronously (its scope closes inside run(), the storage disabled): the call stays bound to alice; the next call is bound to bob", async () => {
    const app = await boot('all-routes');
    expect((await post(app, '/r/ungated-throw', { to: 't', amount: 6 }, 'alice')).status).toBe(500);
    expect(await leftBehind).toEqual({ paid: 6, to: 't' });
    expect(contextOf(app).openCount).toBe(0);
    expect((await post(app, '/r/ungated-pay', { to: 'u', amount: 1 }, 'bob')).status).toBe(201);
    expect(bound).toEqual(['pay:alice', 'pay:bob']);
    expect(ledger).toEqual(['pay:t:6', 'pay:u:1']);
  });

  it("two apps in one process: app 2's scopes opening and closing (its storage disabled each time) do not touch alice's open scope in app 1; each app binds its own users", async () => {
    const one = await boot();
    const two = await boot('all-routes');
    const alice = post(one, '/r/gated-slow', { to: 'a1', amount: 8 }, 'alice');
    await until(() => hold.entered, 'alice in app 1');
    for (let i = 0; i < 3; i++) expect((await post(two, '/r/ungated-pay', { to: `b${i}`, amount: 1 }, 'bob')).status).toBe(201);
    expect(contextOf(two).openCount).toBe(0);
    expect(contextOf(one).openCount).toBe(1);
    hold.release();
    expect(await (await alice).json()).toEqual({ paid: 8, to: 'a1' });
    // App 2's storage is disabled now; app 1's scope was never seen there, nor app 2's in app 1.
    expect(bound).toEqual(['gatedSlow:alice', 'pay:bob', 'pay:alice']);
    expect(ledger).toEqual(['pay:b0:1', 'pay:b1:1', 'pay:b2:1', 'pay:a1:8']);
  });

  it("two apps: bob's gated call waits in app 2 (its storage enabled) while app 1's is disabled: carol's gated service call from an ungated route of app 1 is bound to nobody, bob's to bob", async () => {
    const one = await boot();
    const two = await boot();
    const bob = await bobHolds(two);
    expect((await post(one, '/r/ungated-pay', { to: 'x', amount: 1 }, 'carol')).status).toBe(201);
    expect(contextOf(one).openCount).toBe(0);
    expect(bound).toEqual(['gatedHold:bob']);
    await bob.release();
    expect(ledger).toEqual(['pay:x:1']);
  });

  it('a gated route behind another interceptor, many in parallel for alice and bob (the count rises and falls to 0 repeatedly): every call binds its own user', async () => {
    const app = await boot();
    const users = ['alice', 'bob', 'carol', 'dave'];
    for (let round = 0; round < 3; round++) {
      const answers = await Promise.all(users.map((user) => post(app, '/p/gated-pay', { to: `${user}${round}`, amount: round + 1 }, user)));
      expect(answers.map((a) => a.status)).toEqual([201, 201, 201, 201]);
      expect(contextOf(app).openCount).toBe(0);
    }
    expect([...bound].sort()).toEqual([...users.map((u) => `gatedPay:${u}`), ...users.map((u) => `pay:${u}`)].sort());
    expect([...ledger].sort()).toEqual(users.flatMap((u) => [0, 1, 2].map((r) => `pay:${u}${r}:${r + 1}`)).sort());
  });
});
