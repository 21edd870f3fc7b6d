/**
 * Attack 4: the per-request scopes of the gate (HttpApprovalScope, ApprovalRequestContext.scopeFor:
 * the route's own gate takes its scope once; any other gated call borrows the open scope).
 *
 * The rule: an approval authorizes at most one execution of exactly the call the human saw (same
 * action, method, arguments, requester), on every path and in every mode; when in doubt the gated
 * code does not run.
 *
 * Tests that assert the safe behaviour and fail against the code demonstrate a violation; the others
 * are attacks that were refused, kept as regression tests. Real Nest apps (Express and Fastify) and
 * the real local broker.
 */
import {
  Body,
  Controller,
  Injectable,
  Module,
  Post,
  UseInterceptors,
  ValidationPipe,
  type CallHandler,
  type CanActivate,
  type ExecutionContext,
  type NestInterceptor,
} from '@nestjs/common';
import { Observable, finalize, mergeMap, repeat } from 'rxjs';
import { IsInt, IsString, Min } from 'class-validator';
import { RequireApproval, SesameConfigError, SesameModule } from '../../lib/index.js';
import { LocalBroker } from '../../lib/testing/index.js';
import { ADAPTERS, startApp, type StartedApp } from '../support/nest-apps.js';

const API_KEY = 'sk_test_SECRET_attack4_5b21c9';

class PayoutDto {
  @IsString() to!: string;
  @IsInt() @Min(1) amount!: number;
}

/** What actually ran, in order. */
const ledger: string[] = [];

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

/** An ordinary "one at a time" interceptor: the next request starts when the previous one's handler finishes. */
function serialInterceptor() {
  @Injectable()
  class Serial implements NestInterceptor {
    static queued = 0;
    private busy = false;
    private readonly waiting: (() => void)[] = [];
    intercept(_context: ExecutionContext, next: CallHandler): Observable<unknown> {
      return new Observable((subscriber) => {
        const start = () => {
          this.busy = true;
          next
            .handle()
            .pipe(
              finalize(() => {
                const following = this.waiting.shift();
                if (following) following();
                else this.busy = false;
              }),
            )
            .subscribe(subscriber);
        };
        if (this.busy) {
          Serial.queued++;
          this.waiting.push(start);
        } else start();
      });
    }
  }
  return Serial;
}
/**
 * An audit interceptor (controller level): it writes the handler's result to an audit log before the
 * response goes out, so the request stays open a little after its handler finished.
 */
@Injectable()
class AuditInterceptor implements NestInterceptor {
  intercept(_context: ExecutionContext, next: CallHandler) {
    return next.handle().pipe(
      mergeMap(async (value: unknown) => {
        await new Promise((resolve) => setTimeout(resolve, 40));
        return value;
      }),
    );
  }
}

/** One provider-account queue shared by two gated routes (method level, inside the gate's interceptor). */
const SharedSerial = serialInterceptor();
/** The same queue at controller level, over ungated routes that call a gated service. */
const ControllerSerial = serialInterceptor();

async function work(route: string, dto: PayoutDto) {
  if (dto.to === 'carol') {
    hold.entered = true;
    await hold.promise;
  }
  ledger.push(`${route}:${dto.to}:${dto.amount}`);
  return { ran: route, to: dto.to, amount: dto.amount };
}

const summaryOf = (route: string) => (dto: PayoutDto) => `${route}: pay ${dto.amount} to ${dto.to}`;

/**
 * Two gated routes that share one serializing interceptor (one provider account, one call at a time),
 * stacked as Nest's docs stack them: @UseInterceptors above @RequireApproval.
 */
@Controller('shared')
@UseInterceptors(AuditInterceptor)
class SharedQueueController {
  @Post('a')
  @UseInterceptors(SharedSerial)
  @RequireApproval('shared.a', { mode: 'async', summary: summaryOf('a') })
  a(@Body() dto: PayoutDto) {
    return work('a', dto);
  }

  @Post('b')
  @UseInterceptors(SharedSerial)
  @RequireApproval('shared.b', { mode: 'async', summary: summaryOf('b') })
  b(@Body() dto: PayoutDto) {
    return work('b', dto);
  }
}

@Injectable()
class PayoutService {
  @RequireApproval('payouts.service', { mode: 'async', summary: (to: string, amount: number) => `Service pays ${amount} to ${to}` })
  send(to: string, amount: number) {
    ledger.push(`service:${to}:${amount}`);
    return { sent: amount, to };
  }
}

/** Ungated routes calling the gated service, behind a controller-level serializing interceptor; and one gated route. */
@Controller('queued')
@UseInterceptors(AuditInterceptor, ControllerSerial)
class QueuedServiceController {
  constructor(private readonly payouts: PayoutService) {}

  @Post('send')
  async send(@Body() dto: PayoutDto) {
    if (dto.to === 'carol') {
      hold.entered = true;
      await hold.promise;
      return { held: true };
    }
    return this.payouts.send(dto.to, dto.amount);
  }

  /** A gated route (its own scope even without 'all-routes') that holds while the queue fills. */
  @Post('slow')
  @RequireApproval('queued.slow', { mode: 'async', summary: summaryOf('slow') })
  slow(@Body() dto: PayoutDto) {
    return work('slow', dto);
  }

  /** A gated route whose handler pays through the service (how Alice asks for the service approval without 'all-routes'). */
  @Post('gated-send')
  @RequireApproval('queued.gated-send', { mode: 'async', summary: summaryOf('gated-send') })
  gatedSend(@Body() dto: PayoutDto) {
    return this.payouts.send(dto.to, dto.amount);
  }
}

/** Handlers that call gated methods of their own controller. */
@Controller('self')
class SelfCallingController {
  constructor(private readonly payouts: PayoutService) {}

  /** Recursion: the gated route calls itself (the gated wrapper) once more. */
  @Post('recurse')
  @RequireApproval('self.recurse', { mode: 'async', summary: summaryOf('recurse') })
  async recurse(@Body() dto: PayoutDto): Promise<unknown> {
    ledger.push(`recurse:${dto.to}:${dto.amount}`);
    if (dto.amount < 3) return this.recurse({ to: dto.to, amount: dto.amount + 1 });
    return { depth: dto.amount };
  }

  /** Same action, same summary, for a second method: called from the first one's handler. */
  @Post('first')
  @RequireApproval('self.pair', { mode: 'async', summary: 'pair' })
  async first(@Body() dto: PayoutDto): Promise<unknown> {
    ledger.push(`first:${dto.to}`);
    return this.second(dto);
  }

  @Post('second')
  @RequireApproval('self.pair', { mode: 'async', summary: 'pair' })
  second(@Body() dto: PayoutDto) {
    ledger.push(`second:${dto.to}`);
    return { second: dto.to };
  }

  /** A gated route calling the gated service twice with the same arguments. */
  @Post('twice')
  @RequireApproval('payouts.service', { mode: 'async', summary: (dto: PayoutDto) => `Service pays ${dto.amount} to ${dto.to}` })
  async twice(@Body() dto: PayoutDto) {
    const results: unknown[] = [];
    for (let i = 0; i < 2; i++) {
      try {
        results.push(await this.payouts.send(dto.to, dto.amount));
      } catch (error) {
        results.push((error as Error).constructor.name);
      }
    }
    return results;
  }
}

/** An interceptor that repeats the handler (RxJS repeat), at controller level: Nest re-runs the gate's interceptor for it. */
@Injectable()
class RepeatInterceptor implements NestInterceptor {
  intercept(_context: ExecutionContext, next: CallHandler) {
    return next.handle().pipe(repeat(2));
  }
}

/** An interceptor that calls next.handle() twice (a "warm-up then real" pattern), subscribing both. */
@Injectable()
class DoubleHandleInterceptor implements NestInterceptor {
  intercept(_context: ExecutionContext, next: CallHandler) {
    return new Observable((subscriber) => {
      next.handle().subscribe({
        error: (error: unknown) => subscriber.error(error),
        complete: () => next.handle().subscribe(subscriber),
      });
    });
  }
}

@Controller('repeat')
@UseInterceptors(RepeatInterceptor)
class RepeatController {
  @Post('go')
  @RequireApproval('repeat.go', { mode: 'async' })
  go(@Body() dto: PayoutDto) {
    ledger.push(`repeat:${dto.to}`);
    return { ok: true };
  }
}

@Controller('double')
@UseInterceptors(DoubleHandleInterceptor)
class DoubleController {
  @Post('go')
  @RequireApproval('double.go', { mode: 'async' })
  go(@Body() dto: PayoutDto) {
    ledger.push(`double:${dto.to}`);
    return { ok: true };
  }
}

/** Base and subclass controllers: an approval for one class's method must not run the other's. */
@Controller('base')
class BaseAccounts {
  @Post('close')
  @RequireApproval('accounts.close', { mode: 'async', summary: 'Close account' })
  close(@Body() dto: PayoutDto) {
    ledger.push(`base-close:${dto.to}`);
    return { closed: dto.to };
  }
}

@Controller('sub')
class SubAccounts extends BaseAccounts {}

/**
 * Two versions of one controller, in two feature modules: the class name is the same (a common
 * layout: users/v1/users.controller.ts and users/v2/users.controller.ts), the methods are not.
 */
function usersController(version: 'v1' | 'v2') {
  @Controller(`${version}/users`)
  class UsersController {
    @Post('remove')
    @RequireApproval('users.remove', { mode: 'async' })
    remove(@Body() dto: PayoutDto) {
      // v1 archives the user; v2 erases it for good.
      ledger.push(`${version === 'v1' ? 'archive' : 'erase'}:${dto.to}`);
      return { version };
    }
  }
  return UsersController;
}
@Module({ controllers: [usersController('v1')] })
class UsersV1Module {}
@Module({ controllers: [usersController('v2')] })
class UsersV2Module {}

function decide(approval: { summary: string }): 'approve' | 'deny' | undefined {
  if (approval.summary.includes('to carol')) return 'approve';
  return undefined;
}

describe.each(ADAPTERS)('attack 4: request scopes of the gate (%s)', (adapter) => {
  let broker: LocalBroker;
  let started: StartedApp | undefined;

  const boot = async (requestContext?: 'all-routes', versions: unknown[] = []) => {
    started = await startApp(
      adapter,
      {
        imports: [
          SesameModule.forRoot({ apiKey: API_KEY, baseUrl: broker.url, env: {}, retry: { retries: 0 }, ...(requestContext && { requestContext }) }),
          ...(versions as never[]),
        ],
        controllers: [SharedQueueController, QueuedServiceController, SelfCallingController, RepeatController, DoubleController, BaseAccounts, SubAccounts],
        providers: [PayoutService],
      },
      (app) => {
        app.useGlobalPipes(new ValidationPipe({ transform: true, whitelist: true, forbidNonWhitelisted: true }));
        app.useGlobalGuards(new UserGuard());
      },
    );
    return started;
  };
  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${started!.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  const until = async (check: () => boolean, what: string) => {
    for (let i = 0; i < 400 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 5));
    if (!check()) throw new Error(`timed out waiting for ${what}`);
  };
  const askAndApprove = async (path: string, body: unknown, headers: Record<string, string>) => {
    const asked = await post(path, body, headers);
    expect(asked.status).toBe(202);
    const id = (await asked.json()).approvalId as string;
    await broker.approve(id);
    return id;
  };

  beforeEach(async () => {
    ledger.length = 0;
    hold = latch();
    SharedSerial.queued = 0;
    ControllerSerial.queued = 0;
    broker = await LocalBroker.start({ apiKeys: [API_KEY], decide });
  });
  afterEach(async () => {
    hold.release();
    await started?.app.close();
    started = undefined;
    await broker.stop();
  });

  it("two gated routes sharing one serializing interceptor: Bob's gated route b, started in Alice's open request to route a, must not run on Alice's approval for b", async () => {
    await boot();
    // Alice has an approved, unused approval for "b: pay 5 to mallory".
    const aliceApproval = await askAndApprove('/shared/b', { to: 'mallory', amount: 5 }, { 'x-user': 'alice' });
    // Alice's (auto-approved) call to route a holds the queue...
    const aliceA = post('/shared/a', { to: 'carol', amount: 1 }, { 'x-user': 'alice' });
    await until(() => hold.entered, "Alice's route a to start");
    // ...while Bob asks route b for the same payout, without any approval id.
    const bob = post('/shared/b', { to: 'mallory', amount: 5 }, { 'x-user': 'bob' });
    await until(() => SharedSerial.queued === 1, "Bob's request to queue");
    hold.release();
    expect((await aliceA).status).toBe(201);
    const bobAnswer = await bob;
    const bobBody = await bobAnswer.json();
    // Safe: Bob's call is not bound to Alice (his own 202, or a 500 failing closed), and Alice's approval is not spent on it.
    expect(ledger).toEqual(['a:carol:1']);
    expect([202, 500]).toContain(bobAnswer.status);
    expect(bobBody.approvalId).not.toBe(aliceApproval);
    const aliceRun = await post('/shared/b', { to: 'mallory', amount: 5 }, { 'x-user': 'alice', 'sesame-approval-id': aliceApproval });
    expect(aliceRun.status).toBe(201);
  });

  // KNOWN AND OPEN (docs/reliability.md, item 11): with the opt-in 'all-routes', the app-wide interceptor runs outside
  // the controller's interceptors, so it cannot see Alice's handler end before a context-losing queue there starts
  // Bob's handler in her context. `it.failing` passes while the violation holds and fails once it is fixed.
  it.failing(
    "'all-routes': Bob's ungated route, started in Alice's open request by a controller-level queue, must not run the gated service on Alice's approval",
    async () => {
      await boot('all-routes');
      const aliceApproval = await askAndApprove('/queued/send', { to: 'mallory', amount: 5 }, { 'x-user': 'alice' });
      // Alice's next (ungated) request holds the queue...
      const aliceNext = post('/queued/send', { to: 'carol', amount: 1 }, { 'x-user': 'alice' });
      await until(() => hold.entered, "Alice's request to start");
      const bob = post('/queued/send', { to: 'mallory', amount: 5 }, { 'x-user': 'bob' });
      await until(() => ControllerSerial.queued === 1, "Bob's request to queue");
      hold.release();
      expect((await aliceNext).status).toBe(201);
      const bobAnswer = await bob;
      const bobBody = await bobAnswer.json();
      expect(ledger).toEqual([]);
      expect([202, 500]).toContain(bobAnswer.status);
      expect(bobBody.approvalId).not.toBe(aliceApproval);
    },
  );

  it("default mode: Bob's ungated route started in Alice's open gated request (controller-level queue) must not run the gated service bound to Alice", async () => {
    await boot();
    // Alice asks for the service payout through the gated route: the route's approval first...
    const routeApproval = await askAndApprove('/queued/gated-send', { to: 'mallory', amount: 5 }, { 'x-user': 'alice' });
    // ...then, repeated without the header (which the service call would present too), the route runs on it and the service asks its own.
    const serviceAsked = await post('/queued/gated-send', { to: 'mallory', amount: 5 }, { 'x-user': 'alice' });
    expect(serviceAsked.status).toBe(202);
    const serviceApproval = (await serviceAsked.json()).approvalId as string;
    expect(serviceApproval).not.toBe(routeApproval);
    await broker.approve(serviceApproval);
    expect(ledger).toEqual([]);
    // Bob's ungated /queued/send, queued behind Alice's gated /queued/slow, runs in Alice's scope.
    const aliceSlow = post('/queued/slow', { to: 'carol', amount: 1 }, { 'x-user': 'alice' });
    await until(() => hold.entered, "Alice's gated route to start");
    const bob = post('/queued/send', { to: 'mallory', amount: 5 }, { 'x-user': 'bob' });
    await until(() => ControllerSerial.queued === 1, "Bob's request to queue");
    hold.release();
    expect((await aliceSlow).status).toBe(201);
    const bobAnswer = await bob;
    const bobBody = await bobAnswer.json();
    // Outside any request (his ungated route without 'all-routes'), Bob's async service call fails closed with a 500;
    // it must never run on Alice's service approval.
    expect(ledger).toEqual(['slow:carol:1']);
    expect(bobAnswer.status).toBe(500);
    expect(bobBody.approvalId).toBeUndefined();
  });

  it('a gated route that calls itself (recursion through the gated wrapper): the approval runs the outer call only, the inner one fails closed', async () => {
    await boot();
    const id = await askAndApprove('/self/recurse', { to: 'x', amount: 1 }, { 'x-user': 'alice' });
    const run = await post('/self/recurse', { to: 'x', amount: 1 }, { 'x-user': 'alice', 'sesame-approval-id': id });
    expect(run.status).toBe(500);
    expect(await run.json()).toMatchObject({ code: 'approval_gate_error' });
    expect(ledger).toEqual(['recurse:x:1']);
  });

  it('a gated route calling another gated route method of its class (same action and summary): one approval does not run both', async () => {
    await boot();
    const id = await askAndApprove('/self/first', { to: 'x', amount: 1 }, { 'x-user': 'alice' });
    const run = await post('/self/first', { to: 'x', amount: 1 }, { 'x-user': 'alice', 'sesame-approval-id': id });
    // The inner call is a route method called as a function inside another route's request: refused (500), as a
    // route never uses another route's scope (before that rule it borrowed the header and was refused 403 by the binding).
    expect(run.status).toBe(500);
    expect(ledger).toEqual(['first:x']);
    // And the first approval does not run second() on its own route either.
    const cross = await post('/self/second', { to: 'x', amount: 1 }, { 'x-user': 'alice', 'sesame-approval-id': id });
    expect(cross.status).toBe(403);
    expect(ledger).toEqual(['first:x']);
  });

  it('a gated route calling the gated service twice with the same arguments: one approval runs it once', async () => {
    await boot();
    const routeId = await askAndApprove('/self/twice', { to: 'm', amount: 2 }, { 'x-user': 'alice' });
    // The route's approval presented: the route runs; each service call presents the route's approval too (another method): refused.
    const run = await post('/self/twice', { to: 'm', amount: 2 }, { 'x-user': 'alice', 'sesame-approval-id': routeId });
    expect(run.status).toBe(201);
    expect(await run.json()).toEqual(['ApprovalMismatchError', 'ApprovalMismatchError']);
    expect(ledger).toEqual([]);
  });

  it('a controller-level RxJS repeat re-runs the gate interceptor (a new scope): the approval still runs the route once', async () => {
    await boot();
    const id = await askAndApprove('/repeat/go', { to: 'r', amount: 1 }, {});
    const run = await post('/repeat/go', { to: 'r', amount: 1 }, { 'sesame-approval-id': id });
    expect(run.status).not.toBe(201);
    expect(ledger).toEqual(['repeat:r']);
  });

  it('an interceptor that calls next.handle() twice: the approval runs the route once', async () => {
    await boot();
    const id = await askAndApprove('/double/go', { to: 'd', amount: 1 }, {});
    const run = await post('/double/go', { to: 'd', amount: 1 }, { 'sesame-approval-id': id });
    expect(run.status).not.toBe(201);
    expect(ledger).toEqual(['double:d']);
  });

  it('base and subclass controllers: an approval for Base.close does not run Sub.close (nor the reverse)', async () => {
    await boot();
    const baseId = await askAndApprove('/base/close', { to: 'acct', amount: 1 }, { 'x-user': 'alice' });
    expect((await post('/sub/close', { to: 'acct', amount: 1 }, { 'x-user': 'alice', 'sesame-approval-id': baseId })).status).toBe(403);
    const subId = await askAndApprove('/sub/close', { to: 'acct', amount: 1 }, { 'x-user': 'alice' });
    expect((await post('/base/close', { to: 'acct', amount: 1 }, { 'x-user': 'alice', 'sesame-approval-id': subId })).status).toBe(403);
    expect(ledger).toEqual([]);
  });

  it('two controller classes of one name in two modules (v1 and v2): an approval for v1 remove (archive) must not run v2 remove (erase)', async () => {
    // Approvals are bound to Class.method by name: an app with two gated classes of one name does not boot,
    // so the v1 approval can never reach the v2 erase.
    const refused = await boot(undefined, [UsersV1Module, UsersV2Module]).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(SesameConfigError);
    expect((refused as Error).message).toContain('UsersController');
    expect(ledger).toEqual([]);
    // Each version alone boots and gates its own route.
    await boot(undefined, [UsersV1Module]);
    const id = await askAndApprove('/v1/users/remove', { to: 'u42', amount: 1 }, { 'x-user': 'alice' });
    expect(id).toEqual(expect.any(String));
  });
});
