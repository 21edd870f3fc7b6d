/**
 * Attack 3: the HTTP paths of the gate after the app-wide interceptor became per-route
 * (ApprovalGateInterceptor put on each gated method by @RequireApproval, the ApprovalExceptionFilter
 * for ungated routes, `requestContext: 'all-routes'` as an opt-in).
 *
 * The rule: an approval authorizes at most one execution of exactly the call the human saw (same
 * action, arguments, requester), on every path; when in doubt the gated code does not run; secrets
 * never reach a log, an answer, util.inspect or JSON.stringify.
 *
 * Tests that assert the safe behaviour and fail against the code demonstrate a violation; the others
 * are attacks that were refused, kept as regression tests. Real Nest apps (Express and Fastify) and
 * the real local broker.
 */
import { inspect } from 'node:util';
import {
  Body,
  Controller,
  Injectable,
  Module,
  Post,
  Scope,
  UseInterceptors,
  ValidationPipe,
  type CallHandler,
  type CanActivate,
  type ExecutionContext,
  type INestApplication,
  type NestInterceptor,
} from '@nestjs/common';
import { Observable, finalize, retry } from 'rxjs';
import { IsInt, IsString, Min } from 'class-validator';
import { RequireApproval, SesameModule, SkipApproval } from '../../lib/index.js';
import { ApprovalGateInterceptor } from '../../lib/approval-gate/approval-gate.interceptor.js';
import { ApprovalExceptionFilter } from '../../lib/approval-gate/approval-exception.filter.js';
import { LocalBroker } from '../../lib/testing/index.js';
import { ADAPTERS, startApp, type StartedApp } from '../support/nest-apps.js';

const API_KEY = 'sk_test_SECRET_attack3_9f4e1a';

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

/** A latch a handler can be held on, released by the test. */
function latch() {
  let release!: () => void;
  const promise = new Promise<void>((resolve) => (release = resolve));
  return { promise, release, entered: false };
}
let hold = latch();

/**
 * An ordinary "one at a time" interceptor (a payout provider that must not be called concurrently):
 * a callback queue, the next request started when the previous one finishes. Nothing in it touches
 * the gate, the headers or the user.
 */
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
const OuterSerial = serialInterceptor();
const InnerSerial = serialInterceptor();

const payoutOptions = { mode: 'async', summary: (dto: PayoutDto) => `Pay ${dto.amount} to ${dto.to}` } as const;

async function pay(route: string, dto: PayoutDto) {
  if (dto.to === 'carol') {
    hold.entered = true;
    await hold.promise;
  }
  ledger.push(`${route}:${dto.to}:${dto.amount}`);
  return { paid: dto.amount, to: dto.to };
}

/** A serializing interceptor on the controller (outside the gate's own, method-level interceptor). */
@Controller('outer')
@UseInterceptors(OuterSerial)
class OuterSerialController {
  @Post('payouts')
  @RequireApproval('payouts.outer', payoutOptions)
  payout(@Body() dto: PayoutDto) {
    return pay('outer', dto);
  }
}

/** The same interceptor on the method, above @RequireApproval (so it runs inside the gate's interceptor). */
@Controller('inner')
class InnerSerialController {
  @Post('payouts')
  @UseInterceptors(InnerSerial)
  @RequireApproval('payouts.inner', payoutOptions)
  payout(@Body() dto: PayoutDto) {
    return pay('inner', dto);
  }
}

/** Every way to stack the gate with Nest's route and interceptor decorators. */
@Injectable()
class TagInterceptor implements NestInterceptor {
  intercept(_context: ExecutionContext, next: CallHandler) {
    return next.handle();
  }
}

@Controller('order')
@UseInterceptors(TagInterceptor)
class OrderController {
  @Post('a')
  @RequireApproval('order.a', { mode: 'async' })
  a(@Body() dto: PayoutDto) {
    ledger.push(`a:${dto.to}`);
    return { ok: 'a' };
  }

  @RequireApproval('order.b', { mode: 'async' })
  @Post('b')
  b(@Body() dto: PayoutDto) {
    ledger.push(`b:${dto.to}`);
    return { ok: 'b' };
  }

  @Post('c')
  @UseInterceptors(TagInterceptor)
  @RequireApproval('order.c', { mode: 'async' })
  c(@Body() dto: PayoutDto) {
    ledger.push(`c:${dto.to}`);
    return { ok: 'c' };
  }

  @Post('d')
  @RequireApproval('order.d', { mode: 'async' })
  @UseInterceptors(TagInterceptor)
  d(@Body() dto: PayoutDto) {
    ledger.push(`d:${dto.to}`);
    return { ok: 'd' };
  }
}

/** An undecorated base with a route; a class-level gated controller inheriting and overriding. */
class BaseRoutes {
  @Post('inherited')
  inherited(@Body() dto: PayoutDto) {
    ledger.push(`inherited:${dto.to}`);
    return { ok: 'inherited' };
  }

  @Post('overridden')
  overridden(@Body() dto: PayoutDto) {
    ledger.push(`base-overridden:${dto.to}`);
    return { ok: 'base' };
  }
}

@Controller('cls')
@RequireApproval('cls.any', { mode: 'async' })
class ClassGatedController extends BaseRoutes {
  @Post('own')
  own(@Body() dto: PayoutDto) {
    ledger.push(`own:${dto.to}`);
    return { ok: 'own' };
  }

  @Post('overridden')
  override overridden(@Body() dto: PayoutDto) {
    ledger.push(`overridden:${dto.to}`);
    return { ok: 'overridden' };
  }

  @Post('skip')
  @SkipApproval()
  skip(@Body() dto: PayoutDto) {
    ledger.push(`skip:${dto.to}`);
    return { ok: 'skip' };
  }
}

/** One class-level action for every method, with one summary the developer wrote for all of them. */
@Controller('admin')
@RequireApproval('admin.users', { mode: 'async', summary: (dto: PayoutDto) => `Admin operation on user ${dto.to}` })
class AdminController {
  @Post('delete')
  remove(@Body() dto: PayoutDto) {
    ledger.push(`delete:${dto.to}`);
    return { deleted: dto.to };
  }

  @Post('promote')
  promote(@Body() dto: PayoutDto) {
    ledger.push(`promote:${dto.to}`);
    return { promoted: dto.to };
  }
}

/** A common "timing" decorator that wraps the method and forgets to copy its metadata. */
function Timed(): MethodDecorator {
  return (_target, _key, descriptor: PropertyDescriptor) => {
    const original = descriptor.value as (...args: unknown[]) => unknown;
    descriptor.value = function (this: unknown, ...args: unknown[]) {
      return original.apply(this, args);
    };
    return descriptor;
  };
}

@Controller('wrapped')
class WrappedController {
  /** Not a route: it only makes the explorer bind the instance, so the wrapped routes reach the gate. */
  @RequireApproval('wrapped.other')
  other() {
    ledger.push('wrapped-other');
  }

  @Post('async')
  @Timed()
  @RequireApproval('wrapped.async', { mode: 'async' })
  asyncRoute(@Body() dto: PayoutDto) {
    ledger.push(`wrapped-async:${dto.to}`);
    return { ok: true };
  }

  @Post('blocking')
  @Timed()
  @RequireApproval('wrapped.blocking', { summary: (dto: PayoutDto) => `Wrapped to ${dto.to}`, timeout: 2_000 })
  blockingRoute(@Body() dto: PayoutDto) {
    ledger.push(`wrapped-blocking:${dto.to}`);
    return { ok: true };
  }
}

@Controller({ path: 'per-request', scope: Scope.REQUEST })
class PerRequestController {
  @Post('go')
  @RequireApproval('per-request.go', { timeout: 2_000 })
  go(@Body() dto: PayoutDto) {
    ledger.push(`per-request:${dto.to}`);
    return { ok: true };
  }
}

/** A gated service drained by a worker that a gated route kicks off (setTimeout), for jobs other users queued. */
@Injectable()
class PayoutService {
  @RequireApproval('payouts.service', { mode: 'async', summary: (to: string, amount: number) => `Service pays ${amount} to ${to}` })
  send(to: string, amount: number) {
    ledger.push(`service:${to}:${amount}`);
    return { sent: amount, to };
  }
}

@Injectable()
class Worker {
  readonly jobs: { to: string; amount: number }[] = [];
  readonly outcomes: string[] = [];
  constructor(private readonly payouts: PayoutService) {}
  async drain() {
    for (let job = this.jobs.shift(); job; job = this.jobs.shift()) {
      try {
        await this.payouts.send(job.to, job.amount);
        this.outcomes.push('ran');
      } catch (error) {
        this.outcomes.push((error as Error).constructor.name);
      }
    }
  }
}

@Controller('work')
class WorkController {
  constructor(
    private readonly worker: Worker,
    private readonly payouts: PayoutService,
  ) {}

  /** Ungated: queue a job. */
  @Post('jobs')
  enqueue(@Body() dto: PayoutDto) {
    this.worker.jobs.push({ to: dto.to, amount: dto.amount });
    return { queued: true };
  }

  /** Ungated route calling the gated service directly (needs 'all-routes' for async mode). */
  @Post('send')
  send(@Body() dto: PayoutDto) {
    return this.payouts.send(dto.to, dto.amount);
  }

  /** A gated (blocking) admin route that, as a side effect, kicks the worker. */
  @Post('audit')
  @RequireApproval('work.audit', { summary: 'Audit', timeout: 2_000 })
  audit() {
    setTimeout(() => void this.worker.drain(), 50);
    return { audited: true };
  }
}

/** A gated async route whose handler fails after it ran: a retrying interceptor must not run it twice. */
@Controller('flaky')
class FlakyController {
  @Post('go')
  @RequireApproval('flaky.go', { mode: 'async' })
  go(@Body() dto: PayoutDto) {
    ledger.push(`flaky:${dto.to}`);
    throw new Error('downstream failed after the side effect');
  }
}

@Injectable()
class RetryInterceptor implements NestInterceptor {
  intercept(_context: ExecutionContext, next: CallHandler) {
    return next.handle().pipe(retry(2));
  }
}

/** A feature module that does not import SesameModule. */
@Module({ controllers: [OrderController, ClassGatedController] })
class FeatureModule {}

function decide(approval: { summary: string; action: string }): 'approve' | 'deny' | undefined {
  if (approval.summary.includes('to carol')) return 'approve';
  if (approval.action === 'work.audit') return 'approve';
  if (approval.summary.includes('Wrapped to eve')) return 'deny';
  return undefined;
}

describe.each(ADAPTERS)('attack 3: HTTP paths of the gate (%s)', (adapter) => {
  let broker: LocalBroker;
  let started: StartedApp | undefined;
  const extraApps: INestApplication[] = [];

  const boot = async (requestContext?: 'all-routes', extra: { interceptors?: NestInterceptor[]; apiKey?: string } = {}) => {
    started = await startApp(
      adapter,
      {
        imports: [
          SesameModule.forRoot({ apiKey: extra.apiKey ?? API_KEY, baseUrl: broker.url, env: {}, retry: { retries: 0 }, ...(requestContext && { requestContext }) }),
          FeatureModule,
        ],
        controllers: [OuterSerialController, InnerSerialController, AdminController, WrappedController, PerRequestController, WorkController, FlakyController],
        providers: [PayoutService, Worker],
      },
      (app) => {
        app.useGlobalPipes(new ValidationPipe({ transform: true, whitelist: true, forbidNonWhitelisted: true }));
        app.useGlobalGuards(new UserGuard());
        if (extra.interceptors) app.useGlobalInterceptors(...extra.interceptors);
      },
    );
    return started;
  };
  const post = (path: string, body: unknown, headers: Record<string, string> = {}, base = started!.url) =>
    fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  const until = async (check: () => boolean, what: string) => {
    for (let i = 0; i < 400 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 5));
    if (!check()) throw new Error(`timed out waiting for ${what}`);
  };

  beforeEach(async () => {
    ledger.length = 0;
    hold = latch();
    OuterSerial.queued = 0;
    InnerSerial.queued = 0;
    broker = await LocalBroker.start({ apiKeys: [API_KEY], decide });
  });
  afterEach(async () => {
    hold.release();
    await started?.app.close();
    started = undefined;
    for (const app of extraApps.splice(0)) await app.close();
    await broker.stop();
  });

  /**
   * Alice has an approved, unused approval for "pay 5 to mallory". Bob asks for the same payout; his
   * request is started (by an ordinary serializing interceptor) when Alice's previous request ends,
   * so it runs in Alice's async context. Bob must get an approval of his own (202), not run Alice's.
   */
  async function crossRequest(prefix: '/outer' | '/inner', serial: { queued: number }) {
    const asked = await post(`${prefix}/payouts`, { to: 'mallory', amount: 5 }, { 'x-user': 'alice' });
    expect(asked.status).toBe(202);
    const aliceApproval = (await asked.json()).approvalId as string;
    await broker.approve(aliceApproval);

    // Alice's next, unrelated payout (auto-approved) is in progress...
    const aliceNext = post(`${prefix}/payouts`, { to: 'carol', amount: 1 }, { 'x-user': 'alice' });
    await until(() => hold.entered, "Alice's second payout to start");
    // ...when Bob asks for the same payout Alice's pending approval is for, without any approval id.
    const bob = post(`${prefix}/payouts`, { to: 'mallory', amount: 5 }, { 'x-user': 'bob' });
    await until(() => serial.queued === 1, "Bob's request to queue");
    hold.release();

    expect((await aliceNext).status).toBe(201);
    const bobAnswer = await bob;
    const bobBody = await bobAnswer.json();
    return { aliceApproval, bobAnswer, bobBody };
  }

  it("a gated route started from inside another request (controller-level serializing interceptor) gets its own scope, not the other request's user", async () => {
    await boot();
    const { aliceApproval, bobAnswer, bobBody } = await crossRequest('/outer', OuterSerial);
    // Safe: Bob's request is bound to Bob, so Alice's approval does not run it.
    expect(ledger).toEqual(['outer:carol:1']);
    expect(bobAnswer.status).toBe(202);
    expect(bobBody.approvalId).not.toBe(aliceApproval);
  });

  it("with 'all-routes' too: the route's interceptor must not reuse another request's scope", async () => {
    await boot('all-routes');
    const { aliceApproval, bobAnswer, bobBody } = await crossRequest('/outer', OuterSerial);
    expect(ledger).toEqual(['outer:carol:1']);
    expect(bobAnswer.status).toBe(202);
    expect(bobBody.approvalId).not.toBe(aliceApproval);
  });

  it("a serializing interceptor inside the gate's own interceptor: Bob's gated call still must not be bound to Alice", async () => {
    await boot();
    const { aliceApproval, bobAnswer, bobBody } = await crossRequest('/inner', InnerSerial);
    expect(ledger).toEqual(['inner:carol:1']);
    // Bob's handler runs in Alice's async context (the queue inside the gate's interceptor lost Bob's), where
    // nothing can tell it is Bob's: it does not run (500, fails closed), and never on Alice's approval.
    expect(bobAnswer.status).toBe(500);
    expect(bobBody).toMatchObject({ code: 'approval_gate_error' });
    expect(bobBody.approvalId).not.toBe(aliceApproval);
  });

  it("a worker kicked by a gated route (timer) runs another user's queued job: it must not run on the finished request's user and approval", async () => {
    await boot('all-routes');
    // Alice asks for "service pays 5 to mallory" (ungated route, async service gate) and it is approved.
    const asked = await post('/work/send', { to: 'mallory', amount: 5 }, { 'x-user': 'alice' });
    expect(asked.status).toBe(202);
    await broker.approve((await asked.json()).approvalId);
    // Bob queues the same payout as a job; Alice's (approved) audit route kicks the worker.
    expect((await post('/work/jobs', { to: 'mallory', amount: 5 }, { 'x-user': 'bob' })).status).toBe(201);
    expect((await post('/work/audit', {}, { 'x-user': 'alice' })).status).toBe(201);
    const worker = started!.app.get(Worker);
    await until(() => worker.outcomes.length === 1, 'the worker to drain');
    // Safe: outside a live request an async gate does not run (AsyncApprovalContextError), and never on Alice's approval.
    expect(ledger).toEqual([]);
    expect(worker.outcomes).toEqual(['AsyncApprovalContextError']);
  });

  it('every stacking of @RequireApproval with @Post and @UseInterceptors (method and controller level) runs the gate in scope: 202, one run, then 409', async () => {
    await boot();
    for (const route of ['a', 'b', 'c', 'd']) {
      const first = await post(`/order/${route}`, { to: 'x', amount: 1 }, { 'x-user': 'alice' });
      expect([route, first.status]).toEqual([route, 202]);
      const id = first.headers.get('sesame-approval-id')!;
      expect(id).toBe((await first.json()).approvalId);
      expect(ledger).toEqual([]);
      await broker.approve(id);
      const run = await post(`/order/${route}`, { to: 'x', amount: 1 }, { 'x-user': 'alice', 'sesame-approval-id': id });
      expect([route, run.status]).toEqual([route, 201]);
      const again = await post(`/order/${route}`, { to: 'x', amount: 1 }, { 'x-user': 'alice', 'sesame-approval-id': id });
      expect([route, again.status]).toEqual([route, 409]);
      // Another user cannot use it, another argument cannot either.
      const other = await post(`/order/${route}`, { to: 'x', amount: 1 }, { 'x-user': 'bob', 'sesame-approval-id': id });
      expect([route, other.status]).toEqual([route, 403]);
      ledger.length = 0;
    }
  });

  it('class-level @RequireApproval: inherited and overriding routes are gated in scope, @SkipApproval runs', async () => {
    await boot();
    for (const route of ['inherited', 'overridden', 'own']) {
      const first = await post(`/cls/${route}`, { to: route, amount: 1 });
      expect([route, first.status]).toEqual([route, 202]);
    }
    expect(ledger).toEqual([]);
    const skip = await post('/cls/skip', { to: 'x', amount: 1 });
    expect(skip.status).toBe(201);
    expect(ledger).toEqual(['skip:x']);
    expect(broker.list().map((a) => a.action)).toEqual(['cls.any', 'cls.any', 'cls.any']);
  });

  it('class-level gate: an approval granted for one method (delete user 42) does not run another method of the class (promote user 42)', async () => {
    await boot();
    const asked = await post('/admin/delete', { to: 'u42', amount: 1 }, { 'x-user': 'alice' });
    expect(asked.status).toBe(202);
    const id = (await asked.json()).approvalId as string;
    await broker.approve(id);
    const other = await post('/admin/promote', { to: 'u42', amount: 1 }, { 'x-user': 'alice', 'sesame-approval-id': id });
    // Safe: the human approved a delete; the approval does not run promote().
    expect(ledger).toEqual([]);
    expect(other.status).toBe(403);
  });

  it('two concurrent requests on one async route, no user interceptor: each is bound to its own user', async () => {
    await boot();
    const asked = await post('/order/a', { to: 'm', amount: 3 }, { 'x-user': 'alice' });
    await broker.approve((await asked.json()).approvalId);
    const [alice, bob] = await Promise.all([post('/order/a', { to: 'm', amount: 3 }, { 'x-user': 'alice' }), post('/order/a', { to: 'm', amount: 3 }, { 'x-user': 'bob' })]);
    expect([alice.status, bob.status]).toEqual([201, 202]);
    expect(ledger).toEqual(['a:m']);
  });

  it('a wrapping decorator above @RequireApproval drops the route interceptor: still gated, async fails closed, a denial answers 403', async () => {
    await boot();
    const asyncAnswer = await post('/wrapped/async', { to: 'x', amount: 1 });
    expect(asyncAnswer.status).toBe(500);
    expect(await asyncAnswer.json()).toMatchObject({ code: 'approval_gate_error' });
    const denied = await post('/wrapped/blocking', { to: 'eve', amount: 1 });
    expect(denied.status).toBe(403);
    expect(ledger).toEqual([]);
    expect(broker.list().map((a) => a.action)).toEqual(['wrapped.blocking']);
  });

  it('a request-scoped controller: its gated route fails closed (nothing asked, nothing run)', async () => {
    await boot();
    const answer = await post('/per-request/go', { to: 'x', amount: 1 });
    expect(answer.status).toBe(500);
    expect(await answer.json()).toMatchObject({ code: 'approval_gate_error' });
    expect(ledger).toEqual([]);
    expect(broker.list()).toEqual([]);
  });

  it("'all-routes' plus a gated route (two interceptors, one scope): 202 once, one run, 409, headers once", async () => {
    await boot('all-routes');
    const first = await post('/order/a', { to: 'y', amount: 2 }, { 'x-user': 'alice' });
    expect(first.status).toBe(202);
    expect(first.headers.get('retry-after')).toBe('5');
    const id = first.headers.get('sesame-approval-id')!;
    expect(id).not.toContain(',');
    await broker.approve(id);
    expect((await post('/order/a', { to: 'y', amount: 2 }, { 'x-user': 'alice', 'sesame-approval-id': id })).status).toBe(201);
    expect((await post('/order/a', { to: 'y', amount: 2 }, { 'x-user': 'alice', 'sesame-approval-id': id })).status).toBe(409);
    expect(ledger).toEqual(['a:y']);
  });

  it('a global retrying interceptor re-subscribes the handler after it ran and failed: the approval still runs it once', async () => {
    await boot(undefined, { interceptors: [new RetryInterceptor()] });
    const first = await post('/flaky/go', { to: 'z', amount: 1 });
    expect(first.status).toBe(202);
    const id = first.headers.get('sesame-approval-id')!;
    await broker.approve(id);
    const run = await post('/flaky/go', { to: 'z', amount: 1 }, { 'sesame-approval-id': id });
    expect(run.status).not.toBe(201);
    expect(ledger).toEqual(['flaky:z']);
  });

  it("two apps in one process, one controller class: each route's interceptor finds its own app's context and gate", async () => {
    await boot();
    const otherBroker = await LocalBroker.start({ apiKeys: [API_KEY], decide });
    try {
      const other = await startApp(adapter, {
        imports: [SesameModule.forRoot({ apiKey: API_KEY, baseUrl: otherBroker.url, env: {}, retry: { retries: 0 } }), FeatureModule],
      });
      extraApps.push(other.app);
      const here = await post('/order/a', { to: 'q', amount: 1 });
      const there = await post('/order/a', { to: 'q', amount: 1 }, {}, other.url);
      expect([here.status, there.status]).toEqual([202, 202]);
      expect(broker.list()).toHaveLength(1);
      expect(otherBroker.list()).toHaveLength(1);
      // An approval of the first app's broker is nothing to the second app.
      const id = here.headers.get('sesame-approval-id')!;
      await broker.approve(id);
      const cross = await post('/order/a', { to: 'q', amount: 1 }, { 'sesame-approval-id': id }, other.url);
      expect(cross.status).toBe(403);
      expect(ledger).toEqual([]);
    } finally {
      await otherBroker.stop();
    }
  });

  it.each([undefined, 'all-routes'] as const)('a rejected API key through the new paths (requestContext %s): no log line or answer shows it', async (requestContext) => {
    const wrongKey = 'sk_test_SECRET_wrong_key_31c7d0';
    await boot(requestContext, { apiKey: wrongKey });
    const answers = [
      await post('/order/a', { to: 'k', amount: 1 }, { 'x-user': 'alice' }), // gated route: route interceptor
      await post('/wrapped/blocking', { to: 'k', amount: 1 }), // no route interceptor: the exception filter (or the global interceptor)
      await post('/work/send', { to: 'k', amount: 1 }, { 'x-user': 'alice' }), // ungated route, async service
    ];
    const bodies = await Promise.all(answers.map((a) => a.text()));
    expect(answers.map((a) => a.status)).toEqual([500, 500, 500]);
    for (const body of bodies) expect(body).toContain('approval_gate_error');
    const text = [...bodies, ...started!.logger.lines].join('\n');
    expect(text).not.toContain(wrongKey);
    expect(text).not.toContain(wrongKey.slice(-12));
    expect(ledger).toEqual([]);
  });

  it('inspecting or serializing the route interceptor and the exception filter shows no API key', async () => {
    await boot('all-routes');
    const found: string[] = [];
    const check = (label: string, value: unknown) => {
      const texts: Record<string, string> = {
        'inspect(depth 12)': inspect(value, { depth: 12 }),
        'inspect(depth 12, showHidden)': inspect(value, { depth: 12, showHidden: true }),
      };
      try {
        texts['JSON.stringify'] = String(JSON.stringify(value));
      } catch (error) {
        texts['JSON.stringify'] = `threw: ${(error as Error).message}`;
      }
      for (const [how, text] of Object.entries(texts)) if (text.includes(API_KEY)) found.push(`${label} via ${how}`);
    };
    const interceptor = started!.app.get(ApprovalGateInterceptor, { strict: false });
    expect(interceptor).toBeInstanceOf(ApprovalGateInterceptor);
    check('ApprovalGateInterceptor', interceptor);
    const filters = (started!.app as unknown as { config: { getGlobalFilters(): unknown[] } }).config.getGlobalFilters();
    const filter = filters.find((f) => f instanceof ApprovalExceptionFilter);
    expect(filter).toBeInstanceOf(ApprovalExceptionFilter);
    check('ApprovalExceptionFilter', filter);
    expect(found).toEqual([]);
    // And the logs of a misconfigured call (unknown key) show it nowhere.
    expect(started!.logger.lines.join('\n')).not.toContain(API_KEY);
  });
});
