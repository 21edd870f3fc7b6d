/**
 * Conditional gates over HTTP: the decorator's `when` and the module's ApprovalPolicy decide, before any
 * human is asked, whether a gated call needs one. Real apps on Express and Fastify, a global
 * ValidationPipe, the real LocalBroker; gated routes and gated provider methods behind ungated routes,
 * in blocking and async mode. What may never happen: a refused, failed or tampered decision runs anything.
 */
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { Body, Controller, Inject, Injectable, Module, NotFoundException, Param, Post, UseGuards, ValidationPipe } from '@nestjs/common';
import { IsInt, IsString } from 'class-validator';
import {
  ApprovalGate,
  ApprovalStore,
  SesameClient,
  SesameConfigError,
  SesameModule,
  RequireApproval,
  type ApprovalPolicy,
  type ApprovalPolicyCall,
  type ApprovalPolicyDecision,
} from '../../lib/index.js';
import { ApprovalRequestContext } from '../../lib/approval-gate/approval-request.context.js';
import { SesameConfig } from '../../lib/config/sesame.config.js';
import { LocalBroker } from '../../lib/testing/index.js';
import { startGatedApp } from '../support/gated-app.js';
import { HeaderAuthGuard } from '../support/header-auth.guard.js';
import { postJson, type JsonAnswer } from '../support/http-requests.js';
import { Ledger } from '../support/ledger.js';
import { ADAPTERS, compileError, createApp, startApp, type AdapterName, type StartedApp } from '../support/nest-apps.js';

const API_KEY = 'sk_test_SECRET_policy_6a0e';
/** What the failing `when` and policy throw: their user's bug, for the log only. */
const WHEN_FAILURE = 'limits lookup blew up (when-detail-3f81)';
const POLICY_FAILURE = 'policy store unreachable (policy-detail-9c27)';
const GATE_ERROR = { statusCode: 500, code: 'approval_gate_error', message: 'The approval gate is misconfigured; nothing was run.' };
const DAILY_LIMIT_DENIAL = {
  statusCode: 403,
  code: 'approval_policy_denied',
  message: 'The approval policy refused this call; nothing was asked or run.',
  reason: 'over the daily limit',
};

class RefundDto {
  @IsInt() amount!: number;
  @IsString() orderId!: string;
}

/** The app's own limits, in its own feature module: what the async `when` and the module policy read. */
@Injectable()
class LimitsRepository {
  /** The async `when` (`limits` routes) asks a human from this amount on. */
  approvalThreshold = 50;
  /** ThresholdPolicy: below this runs at once, above `dailyMax` is refused, in between asks. */
  allowUnder = 5;
  dailyMax = 1_000;
  /** The orders needsApproval() was consulted for: proves the `when` reached it through `this`. */
  readonly consulted: string[] = [];

  async needsApproval(dto: RefundDto): Promise<boolean> {
    await new Promise((resolve) => setImmediate(resolve));
    this.consulted.push(dto.orderId);
    return dto.amount >= this.approvalThreshold;
  }

  async current(): Promise<{ allowUnder: number; dailyMax: number }> {
    await new Promise((resolve) => setImmediate(resolve));
    return { allowUnder: this.allowUnder, dailyMax: this.dailyMax };
  }
}

/** What a policy saw of one call (the request itself is not kept whole: its user is). */
interface SeenCall {
  action: string;
  className: string;
  methodName: string;
  args: unknown[];
  requester?: string;
  transport?: string;
  hasRequester: boolean;
  user?: unknown;
}

/** The app's policy: a provider of the feature module, with that module's dependencies (LimitsRepository). */
@Injectable()
class ThresholdPolicy implements ApprovalPolicy {
  readonly seen: SeenCall[] = [];

  constructor(private readonly limits: LimitsRepository) {}

  async evaluate(call: ApprovalPolicyCall): Promise<ApprovalPolicyDecision> {
    const { action, className, methodName, args, requester, transport, request } = call;
    this.seen.push({ action, className, methodName, args: [...args], requester, transport, hasRequester: 'requester' in call, user: request?.user });
    const { amount } = args[0] as RefundDto;
    const { allowUnder, dailyMax } = await this.limits.current();
    if (amount < allowUnder) return 'allow';
    if (amount > dailyMax) return { deny: 'over the daily limit' };
    return 'ask';
  }
}

/** What UnreliablePolicy answers per orderId (none of them a decision). */
const GARBAGE: Record<string, unknown> = { yes: 'yes', null: null, 'empty-deny': { deny: '' }, 'numeric-deny': { deny: 42 }, 'ask-upper': 'ASK', array: ['allow'] };

/** Misbehaves as the orderId says. Not a provider anywhere, no dependencies: SesameModule creates it. */
@Injectable()
class UnreliablePolicy implements ApprovalPolicy {
  evaluate(call: ApprovalPolicyCall): ApprovalPolicyDecision | Promise<ApprovalPolicyDecision> {
    const dto = call.args[0] as RefundDto;
    // RefundsService.primitive(amount, orderId) takes no DTO.
    const orderId = typeof dto === 'object' ? dto.orderId : (call.args[1] as string);
    switch (orderId) {
      case 'allow':
        return 'allow';
      case 'replaces':
        // Judges one amount, then swaps another into the arguments the method gets.
        (call.args as unknown[])[0] = 9_999;
        return 'allow';
      case 'deny-getter-throws':
        return {
          get deny(): string {
            throw new Error(POLICY_FAILURE);
          },
        };
      case 'throws':
        throw new Error(POLICY_FAILURE);
      case 'rejects':
        return Promise.reject(new Error(POLICY_FAILURE));
      case 'mutates':
        // Judges one refund, then hands another to the method.
        dto.amount = 9_999;
        return 'allow';
      default:
        return GARBAGE[orderId] as ApprovalPolicyDecision; // 'undefined' and anything unknown: undefined
    }
  }
}

/** A `when` that fails as the orderId says; otherwise 50 or more asks. */
function misbehavingWhen(dto: RefundDto): unknown {
  switch (dto.orderId) {
    case 'when-throws':
      throw new Error(WHEN_FAILURE);
    case 'when-rejects':
      return Promise.reject(new Error(WHEN_FAILURE));
    case 'when-yes':
      return 'yes';
    case 'when-undefined':
      return undefined;
    case 'when-one':
      return Promise.resolve(1);
    case 'when-mutates':
      // Judges a small refund as needing nobody, and turns it into a big one.
      dto.amount = 9_999;
      return false;
    default:
      return dto.amount >= 50;
  }
}
const faulty = misbehavingWhen as (dto: RefundDto) => boolean;

/** Gated routes: one per kind of `when` and mode. */
@Controller('route')
@UseGuards(HeaderAuthGuard)
class RefundsController {
  constructor(
    private readonly ledger: Ledger,
    readonly limits: LimitsRepository,
  ) {}

  private ran(action: string, dto: RefundDto) {
    this.ledger.ran.push(`${action}:${dto.amount}`);
    return { refunded: dto.amount, orderId: dto.orderId, validated: dto instanceof RefundDto };
  }

  @Post('threshold/blocking')
  @RequireApproval('route.threshold.blocking', { when: (dto: RefundDto) => dto.amount >= 50 })
  thresholdBlocking(@Body() dto: RefundDto) {
    return this.ran('route.threshold.blocking', dto);
  }

  @Post('threshold/async')
  @RequireApproval('route.threshold.async', { mode: 'async', when: (dto: RefundDto) => dto.amount >= 50 })
  thresholdAsync(@Body() dto: RefundDto) {
    return this.ran('route.threshold.async', dto);
  }

  @Post('limits/blocking')
  @RequireApproval('route.limits.blocking', {
    when: async function (this: RefundsController, dto: RefundDto) {
      return this.limits.needsApproval(dto);
    },
  })
  limitsBlocking(@Body() dto: RefundDto) {
    return this.ran('route.limits.blocking', dto);
  }

  @Post('limits/async')
  @RequireApproval('route.limits.async', {
    mode: 'async',
    when: async function (this: RefundsController, dto: RefundDto) {
      return this.limits.needsApproval(dto);
    },
  })
  limitsAsync(@Body() dto: RefundDto) {
    return this.ran('route.limits.async', dto);
  }

  @Post('faulty/blocking')
  @RequireApproval('route.faulty.blocking', { when: faulty })
  faultyBlocking(@Body() dto: RefundDto) {
    return this.ran('route.faulty.blocking', dto);
  }

  @Post('faulty/async')
  @RequireApproval('route.faulty.async', { mode: 'async', when: faulty })
  faultyAsync(@Body() dto: RefundDto) {
    return this.ran('route.faulty.async', dto);
  }

  @Post('plain/blocking')
  @RequireApproval('route.plain.blocking')
  plainBlocking(@Body() dto: RefundDto) {
    return this.ran('route.plain.blocking', dto);
  }

  @Post('plain/async')
  @RequireApproval('route.plain.async', { mode: 'async' })
  plainAsync(@Body() dto: RefundDto) {
    return this.ran('route.plain.async', dto);
  }
}

/** The same gates on provider methods, called from the ungated routes below. */
@Injectable()
class RefundsService {
  constructor(
    private readonly ledger: Ledger,
    readonly limits: LimitsRepository,
  ) {}

  private ran(action: string, dto: RefundDto) {
    this.ledger.ran.push(`${action}:${dto.amount}`);
    return { refunded: dto.amount, orderId: dto.orderId, validated: dto instanceof RefundDto };
  }

  @RequireApproval('service.threshold.blocking', { when: (dto: RefundDto) => dto.amount >= 50 })
  thresholdBlocking(dto: RefundDto) {
    return this.ran('service.threshold.blocking', dto);
  }

  @RequireApproval('service.threshold.async', { mode: 'async', when: (dto: RefundDto) => dto.amount >= 50 })
  thresholdAsync(dto: RefundDto) {
    return this.ran('service.threshold.async', dto);
  }

  @RequireApproval('service.limits.blocking', {
    when: async function (this: RefundsService, dto: RefundDto) {
      return this.limits.needsApproval(dto);
    },
  })
  limitsBlocking(dto: RefundDto) {
    return this.ran('service.limits.blocking', dto);
  }

  @RequireApproval('service.limits.async', {
    mode: 'async',
    when: async function (this: RefundsService, dto: RefundDto) {
      return this.limits.needsApproval(dto);
    },
  })
  limitsAsync(dto: RefundDto) {
    return this.ran('service.limits.async', dto);
  }

  @RequireApproval('service.faulty.blocking', { when: faulty })
  faultyBlocking(dto: RefundDto) {
    return this.ran('service.faulty.blocking', dto);
  }

  @RequireApproval('service.faulty.async', { mode: 'async', when: faulty })
  faultyAsync(dto: RefundDto) {
    return this.ran('service.faulty.async', dto);
  }

  @RequireApproval('service.plain.blocking')
  plainBlocking(dto: RefundDto) {
    return this.ran('service.plain.blocking', dto);
  }

  @RequireApproval('service.plain.async', { mode: 'async' })
  plainAsync(dto: RefundDto) {
    return this.ran('service.plain.async', dto);
  }

  // Primitive arguments: outside a request nothing in the call can change, so the gate skips the check before the run.
  @RequireApproval('service.primitive')
  primitive(amount: number, orderId: string) {
    this.ledger.ran.push(`service.primitive:${amount}`);
    return { refunded: amount, orderId };
  }
}

type Kind = 'threshold' | 'limits' | 'faulty' | 'plain';
type Mode = 'blocking' | 'async';
const methodName = (kind: Kind, mode: Mode) => `${kind}${mode === 'async' ? 'Async' : 'Blocking'}` as const;

/** Ungated: the gate is on the service method each route calls (the DTO validated here). */
@Controller('service')
@UseGuards(HeaderAuthGuard)
class ServiceRoutesController {
  constructor(private readonly refunds: RefundsService) {}

  @Post('primitive')
  primitive(@Body() dto: RefundDto) {
    return this.refunds.primitive(dto.amount, dto.orderId);
  }

  @Post(':kind/:mode')
  call(@Param('kind') kind: Kind, @Param('mode') mode: Mode, @Body() dto: RefundDto) {
    if (!['threshold', 'limits', 'faulty', 'plain'].includes(kind) || !['blocking', 'async'].includes(mode)) throw new NotFoundException();
    return this.refunds[methodName(kind, mode)](dto);
  }
}

/** The app's feature module: LimitsRepository is exported; ThresholdPolicy is only provided here (strict:false still finds it). */
@Module({ providers: [LimitsRepository, ThresholdPolicy], exports: [LimitsRepository] })
class LimitsModule {}

const APP = { controllers: [RefundsController, ServiceRoutesController], providers: [Ledger, RefundsService, HeaderAuthGuard], imports: [LimitsModule] };
const VALIDATION = { transform: true, whitelist: true, forbidNonWhitelisted: true };

interface Cell {
  where: 'route' | 'service';
  mode: Mode;
}
const CELLS: [string, Cell][] = [
  ['gated route, blocking', { where: 'route', mode: 'blocking' }],
  ["gated route, mode 'async'", { where: 'route', mode: 'async' }],
  ['gated provider method behind an ungated route, blocking', { where: 'service', mode: 'blocking' }],
  ["gated provider method behind an ungated route, mode 'async'", { where: 'service', mode: 'async' }],
];
const className = (cell: Cell) => (cell.where === 'route' ? 'RefundsController' : 'RefundsService');
const actionOf = (cell: Cell, kind: Kind) => `${cell.where}.${kind}.${cell.mode}`;
const pathOf = (cell: Cell, kind: Kind) => `/${cell.where}/${kind}/${cell.mode}`;

/** One booted app and its broker, with the moves every case makes. */
class Harness {
  constructor(
    readonly broker: LocalBroker,
    readonly started: StartedApp,
  ) {}

  get ran(): string[] {
    return this.started.app.get<Ledger>(Ledger).ran;
  }

  get limits(): LimitsRepository {
    return this.started.app.get(LimitsRepository, { strict: false });
  }

  get lines(): string[] {
    return this.started.logger.lines;
  }

  post(path: string, body: unknown, headers: Record<string, string> = { 'x-user': 'alice' }): Promise<JsonAnswer> {
    return postJson(`${this.started.url}${path}`, body, headers);
  }

  /** The call asks a human, nothing runs before the decision; then the decision is made and the call's answer returned. */
  async asked(cell: Cell, kind: Kind, dto: RefundDto, decision: 'approve' | 'deny'): Promise<JsonAnswer> {
    const action = actionOf(cell, kind);
    const path = pathOf(cell, kind);
    let answer: Promise<JsonAnswer>;
    if (cell.mode === 'blocking') {
      answer = this.post(path, dto);
      const approval = await this.broker.waitForApproval((a) => a.action === action);
      expect(approval.status).toBe('pending');
      expect(this.ran).toEqual([]);
      await this.broker[decision](approval.id);
    } else {
      const first = await this.post(path, dto);
      expect(first.status).toBe(202);
      const [approval] = this.broker.list();
      expect(approval).toMatchObject({ action, status: 'pending' });
      expect(first.body).toMatchObject({ statusCode: 202, code: 'approval_pending', approvalId: approval.id });
      expect(this.ran).toEqual([]);
      await this.broker[decision](approval.id);
      answer = this.post(path, dto, { 'x-user': 'alice', 'sesame-approval-id': approval.id });
    }
    const res = await answer;
    expect(this.broker.list()).toHaveLength(1);
    return res;
  }

  async close(): Promise<void> {
    await this.started.app.close();
    await this.broker.stop();
    for (const line of this.lines) expect(line).not.toContain(API_KEY);
  }
}

async function boot(adapter: AdapterName, sesame: Partial<Parameters<typeof SesameModule.forRoot>[0]> = {}): Promise<Harness> {
  const { broker, started } = await startGatedApp(adapter, {
    apiKey: API_KEY,
    // 'all-routes': the async provider method needs the ungated route's request.
    sesame: { retry: { retries: 0 }, requestContext: 'all-routes', ...sesame },
    validation: VALIDATION,
    ...APP,
  });
  return new Harness(broker, started);
}

const notNeeded = (action: string, who: 'when' | 'the policy', cls: string, method: string) =>
  expect.stringMatching(new RegExp(`^debug Approval not needed: action=${action.replaceAll('.', '\\.')} \\(${who}\\) runs ${cls}\\.${method}`));

describe.each(ADAPTERS)('when predicates over HTTP (%s)', (adapter) => {
  describe.each(CELLS)('%s', (_name, cell) => {
    let h: Harness;
    beforeEach(async () => {
      h = await boot(adapter);
    });
    afterEach(async () => {
      await h.close();
    });

    it('when false (amount 10): runs at once with the validated DTO, asks nobody, logs at debug naming the action', async () => {
      const res = await h.post(pathOf(cell, 'threshold'), { amount: 10, orderId: 'ord_10' });
      expect(res.status).toBe(201);
      expect(res.body).toEqual({ refunded: 10, orderId: 'ord_10', validated: true });
      expect(h.ran).toEqual([`${actionOf(cell, 'threshold')}:10`]);
      expect(h.broker.list()).toEqual([]);
      expect(h.lines).toContainEqual(notNeeded(actionOf(cell, 'threshold'), 'when', className(cell), methodName('threshold', cell.mode)));
    });

    it('when true (amount 100): waits for a human and runs once, only when approved', async () => {
      const res = await h.asked(cell, 'threshold', { amount: 100, orderId: 'ord_100' }, 'approve');
      expect(res.status).toBe(201);
      expect(res.body).toEqual({ refunded: 100, orderId: 'ord_100', validated: true });
      expect(h.ran).toEqual([`${actionOf(cell, 'threshold')}:100`]);
      expect(h.lines.some((l) => l.includes('Approval not needed'))).toBe(false);
    });

    it('when true and the human denies: 403 approval_denied, nothing ran', async () => {
      const res = await h.asked(cell, 'threshold', { amount: 100, orderId: 'ord_100' }, 'deny');
      expect(res.status).toBe(403);
      expect(res.body).toMatchObject({ statusCode: 403, code: 'approval_denied', status: 'denied' });
      expect(h.ran).toEqual([]);
    });

    it('an async when reads a provider of the instance (this): under its threshold runs at once, over it asks', async () => {
      h.limits.approvalThreshold = 500;
      const small = await h.post(pathOf(cell, 'limits'), { amount: 100, orderId: 'ord_small' });
      expect(small.status).toBe(201);
      expect(h.ran).toEqual([`${actionOf(cell, 'limits')}:100`]);
      expect(h.broker.list()).toEqual([]);
      expect(h.lines).toContainEqual(notNeeded(actionOf(cell, 'limits'), 'when', className(cell), methodName('limits', cell.mode)));

      h.ran.length = 0;
      const big = await h.asked(cell, 'limits', { amount: 600, orderId: 'ord_big' }, 'approve');
      expect(big.status).toBe(201);
      expect(h.ran).toEqual([`${actionOf(cell, 'limits')}:600`]);
      // Consulted once per call through the gate (async: the first call and its repeat).
      expect(h.limits.consulted).toEqual(cell.mode === 'async' ? ['ord_small', 'ord_big', 'ord_big'] : ['ord_small', 'ord_big']);
    });

    it.each([
      ['throws', 'when-throws', 'its when predicate threw', true],
      ['rejects', 'when-rejects', 'its when predicate threw', true],
      ["answers 'yes'", 'when-yes', 'its when predicate answered neither true nor false', false],
      ['answers undefined', 'when-undefined', 'its when predicate answered neither true nor false', false],
      ['resolves 1', 'when-one', 'its when predicate answered neither true nor false', false],
    ])('a when that %s: 500 approval_gate_error, nothing ran or was asked, the cause only in the log', async (_what, orderId, detail, hasCause) => {
      // Amount 100 would ask a human: a failing `when` must not fall back to running, nor to asking.
      const res = await h.post(pathOf(cell, 'faulty'), { amount: 100, orderId });
      expect(res.status).toBe(500);
      expect(res.body).toEqual(GATE_ERROR);
      expect(JSON.stringify(res.body)).not.toContain('when-detail');
      expect(h.ran).toEqual([]);
      expect(h.broker.list()).toEqual([]);
      const method = `${className(cell)}.${methodName('faulty', cell.mode)}`;
      const failure = h.lines.find((l) => l.startsWith('error') && l.includes(`Approval gate failed closed: ${method}(): ${detail}, so it did not run`));
      expect(failure).toBeDefined();
      if (hasCause) expect(failure).toContain(WHEN_FAILURE);
    });

    it('a when that changes its DTO and answers false: nothing runs (the arguments changed while deciding)', async () => {
      const res = await h.post(pathOf(cell, 'faulty'), { amount: 10, orderId: 'when-mutates' });
      expect(res.status).toBe(500);
      expect(res.body).toEqual(GATE_ERROR);
      expect(h.ran).toEqual([]);
      expect(h.broker.list()).toEqual([]);
      const method = `${className(cell)}.${methodName('faulty', cell.mode)}`;
      expect(h.lines).toContainEqual(expect.stringContaining(`${method}(): its arguments changed while when decided it needs no approval, so it did not run`));
      expect(h.lines.some((l) => l.includes('Approval not needed'))).toBe(false);
    });

    it('ten at once with amount 10: each runs once, nobody is asked', async () => {
      const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => h.post(pathOf(cell, 'threshold'), { amount: 10, orderId: `ord_${i}` })));
      expect(answers.map((a) => a.status)).toEqual(Array(10).fill(201));
      expect(h.ran).toEqual(Array(10).fill(`${actionOf(cell, 'threshold')}:10`));
      expect(h.broker.list()).toEqual([]);
    });
  });
});

describe.each(ADAPTERS)('the module ApprovalPolicy over HTTP (%s)', (adapter) => {
  describe.each(CELLS)('%s', (_name, cell) => {
    let h: Harness;
    const policy = () => h.started.app.get(ThresholdPolicy, { strict: false });
    beforeEach(async () => {
      h = await boot(adapter, { policy: ThresholdPolicy });
    });
    afterEach(async () => {
      await h.close();
    });

    it('allow (under the threshold): runs at once without the broker; the policy saw the call, its requester, DTO and transport', async () => {
      const res = await h.post(pathOf(cell, 'plain'), { amount: 3, orderId: 'ord_3' });
      expect(res.status).toBe(201);
      expect(res.body).toEqual({ refunded: 3, orderId: 'ord_3', validated: true });
      expect(h.ran).toEqual([`${actionOf(cell, 'plain')}:3`]);
      expect(h.broker.list()).toEqual([]);
      expect(h.lines).toContainEqual(notNeeded(actionOf(cell, 'plain'), 'the policy', className(cell), methodName('plain', cell.mode)));
      // The app's own instance (in LimitsModule, with its LimitsRepository) is the one asked.
      expect(policy().seen).toEqual([
        {
          action: actionOf(cell, 'plain'),
          className: className(cell),
          methodName: methodName('plain', cell.mode),
          args: [{ amount: 3, orderId: 'ord_3' }],
          requester: 'alice',
          transport: 'http',
          hasRequester: true,
          user: { id: 'alice' },
        },
      ]);
      expect(policy().seen[0].args[0]).toBeInstanceOf(RefundDto);
    });

    it('without an authenticated user the policy sees no requester (and still the request)', async () => {
      const res = await h.post(pathOf(cell, 'plain'), { amount: 3, orderId: 'ord_anon' }, {});
      expect(res.status).toBe(201);
      expect(policy().seen).toMatchObject([{ transport: 'http', hasRequester: false, user: undefined }]);
      expect(h.ran).toEqual([`${actionOf(cell, 'plain')}:3`]);
    });

    it("deny (over the daily max): 403 with the policy's reason, nothing asked or run", async () => {
      for (const kind of ['plain', 'threshold'] as const) {
        const res = await h.post(pathOf(cell, kind), { amount: 2_000, orderId: 'ord_2000' });
        expect(res.status).toBe(403);
        expect(res.body).toEqual(DAILY_LIMIT_DENIAL);
      }
      expect(h.ran).toEqual([]);
      expect(h.broker.list()).toEqual([]);
      expect(h.lines).toContainEqual(
        expect.stringContaining(
          `warn Approval refused by the policy: action=${actionOf(cell, 'plain')} for ${className(cell)}.${methodName('plain', cell.mode)}: over the daily limit`,
        ),
      );
    });

    it('ask, then a when that answers false: runs at once, nobody is asked', async () => {
      const res = await h.post(pathOf(cell, 'threshold'), { amount: 10, orderId: 'ord_10' });
      expect(res.status).toBe(201);
      expect(h.ran).toEqual([`${actionOf(cell, 'threshold')}:10`]);
      expect(h.broker.list()).toEqual([]);
      expect(h.lines).toContainEqual(notNeeded(actionOf(cell, 'threshold'), 'when', className(cell), methodName('threshold', cell.mode)));
    });

    it('ask, then a when that answers true: a human decides, and it runs once when approved', async () => {
      const res = await h.asked(cell, 'threshold', { amount: 100, orderId: 'ord_100' }, 'approve');
      expect(res.status).toBe(201);
      expect(res.body).toEqual({ refunded: 100, orderId: 'ord_100', validated: true });
      expect(h.ran).toEqual([`${actionOf(cell, 'threshold')}:100`]);
    });

    it('ask, and no when: a human decides; denied runs nothing', async () => {
      const res = await h.asked(cell, 'plain', { amount: 10, orderId: 'ord_10' }, 'deny');
      expect(res.status).toBe(403);
      expect(res.body).toMatchObject({ code: 'approval_denied', status: 'denied' });
      expect(h.ran).toEqual([]);
    });

    it('the policy decides before when: a denied call never reaches the when (nor its provider)', async () => {
      const res = await h.post(pathOf(cell, 'limits'), { amount: 2_000, orderId: 'ord_big' });
      expect(res.status).toBe(403);
      expect(res.body).toEqual(DAILY_LIMIT_DENIAL);
      expect(h.limits.consulted).toEqual([]);
      // Allowed: neither.
      expect((await h.post(pathOf(cell, 'limits'), { amount: 1, orderId: 'ord_one' })).status).toBe(201);
      expect(h.limits.consulted).toEqual([]);
      expect(h.ran).toEqual([`${actionOf(cell, 'limits')}:1`]);
    });
  });
});

describe.each(ADAPTERS)('a module policy that fails (%s)', (adapter) => {
  describe.each(CELLS)('%s', (_name, cell) => {
    let h: Harness;
    beforeEach(async () => {
      h = await boot(adapter, { policy: UnreliablePolicy });
    });
    afterEach(async () => {
      await h.close();
    });

    it('a policy class that is a provider nowhere is created by SesameModule and used', async () => {
      const res = await h.post(pathOf(cell, 'plain'), { amount: 100, orderId: 'allow' });
      expect(res.status).toBe(201);
      expect(h.ran).toEqual([`${actionOf(cell, 'plain')}:100`]);
      expect(h.broker.list()).toEqual([]);
      expect(() => h.started.app.get(UnreliablePolicy, { strict: false })).toThrow();
    });

    it.each([
      ['throws', 'throws', 'the approval policy threw', true],
      ['rejects', 'rejects', 'the approval policy threw', true],
      ["answers 'yes'", 'yes', "the approval policy answered neither 'ask', 'allow' nor { deny: reason }", false],
      ["answers 'ASK'", 'ask-upper', "the approval policy answered neither 'ask', 'allow' nor { deny: reason }", false],
      ['answers undefined', 'undefined', "the approval policy answered neither 'ask', 'allow' nor { deny: reason }", false],
      ['answers null', 'null', "the approval policy answered neither 'ask', 'allow' nor { deny: reason }", false],
      ["answers { deny: '' }", 'empty-deny', "the approval policy answered neither 'ask', 'allow' nor { deny: reason }", false],
      ['answers { deny: 42 }', 'numeric-deny', "the approval policy answered neither 'ask', 'allow' nor { deny: reason }", false],
      ["answers ['allow']", 'array', "the approval policy answered neither 'ask', 'allow' nor { deny: reason }", false],
    ])('a policy that %s: 500 approval_gate_error, nothing ran or was asked, the cause only in the log', async (_what, orderId, detail, hasCause) => {
      // The threshold route's when would answer false (amount 10): a failed policy must not fall through to it.
      for (const kind of ['plain', 'threshold'] as const) {
        const res = await h.post(pathOf(cell, kind), { amount: 10, orderId });
        expect(res.status).toBe(500);
        expect(res.body).toEqual(GATE_ERROR);
        expect(JSON.stringify(res.body)).not.toContain('policy-detail');
        const method = `${className(cell)}.${methodName(kind, cell.mode)}`;
        const failure = h.lines.find((l) => l.startsWith('error') && l.includes(`Approval gate failed closed: ${method}(): ${detail}, so it did not run`));
        expect(failure).toBeDefined();
        if (hasCause) expect(failure).toContain(POLICY_FAILURE);
      }
      expect(h.ran).toEqual([]);
      expect(h.broker.list()).toEqual([]);
    });

    it("a policy that swaps an argument and answers 'allow': nothing runs (the arguments changed while deciding)", async () => {
      const res = await h.post(pathOf(cell, 'plain'), { amount: 10, orderId: 'replaces' });
      expect(res.status).toBe(500);
      expect(res.body).toEqual(GATE_ERROR);
      expect(h.ran).toEqual([]);
      expect(h.broker.list()).toEqual([]);
    });

    it("a policy that changes the DTO and answers 'allow': nothing runs (the arguments changed while deciding)", async () => {
      const res = await h.post(pathOf(cell, 'plain'), { amount: 10, orderId: 'mutates' });
      expect(res.status).toBe(500);
      expect(res.body).toEqual(GATE_ERROR);
      expect(h.ran).toEqual([]);
      expect(h.broker.list()).toEqual([]);
      expect(h.lines).toContainEqual(
        expect.stringContaining(
          `${className(cell)}.${methodName('plain', cell.mode)}(): its arguments changed while the policy decided it needs no approval, so it did not run`,
        ),
      );
    });
  });
});

describe.each(ADAPTERS)('the module policy, other ways in (%s)', (adapter) => {
  let broker: LocalBroker | undefined;
  let started: StartedApp | undefined;
  afterEach(async () => {
    await started?.app.close();
    await broker?.stop();
    started = undefined;
    broker = undefined;
  });

  it('given through forRootAsync({ useFactory, policy }): allow, deny and ask all hold', async () => {
    broker = await LocalBroker.start({ apiKeys: [API_KEY] });
    const baseUrl = broker.url;
    started = await startApp(
      adapter,
      {
        ...APP,
        imports: [
          SesameModule.forRootAsync({ useFactory: async () => ({ apiKey: API_KEY, baseUrl, env: {}, retry: { retries: 0 } }), policy: ThresholdPolicy }),
          LimitsModule,
        ],
      },
      (app) => app.useGlobalPipes(new ValidationPipe(VALIDATION)),
    );
    const h = new Harness(broker, started);
    const cell: Cell = { where: 'route', mode: 'blocking' };

    expect((await h.post(pathOf(cell, 'plain'), { amount: 2, orderId: 'ord_2' })).status).toBe(201);
    const denied = await h.post(pathOf(cell, 'plain'), { amount: 5_000, orderId: 'ord_5000' });
    expect(denied.status).toBe(403);
    expect(denied.body).toEqual(DAILY_LIMIT_DENIAL);
    expect(broker.list()).toEqual([]);
    expect(h.ran).toEqual(['route.plain.blocking:2']);

    h.ran.length = 0;
    const asked = await h.asked(cell, 'plain', { amount: 20, orderId: 'ord_20' }, 'approve');
    expect(asked.status).toBe(201);
    expect(h.ran).toEqual(['route.plain.blocking:20']);
    expect(started.app.get(ThresholdPolicy, { strict: false }).seen).toHaveLength(3);
  });

  it('under the default requestContext a provider method behind an ungated route is judged without transport or requester', async () => {
    const h = await boot(adapter, { policy: ThresholdPolicy, requestContext: 'gated-routes' });
    ({ broker, started } = h);
    const res = await h.post('/service/plain/blocking', { amount: 3, orderId: 'ord_3' });
    expect(res.status).toBe(201);
    expect(h.ran).toEqual(['service.plain.blocking:3']);
    expect(started.app.get(ThresholdPolicy, { strict: false }).seen).toEqual([
      expect.objectContaining({ className: 'RefundsService', args: [{ amount: 3, orderId: 'ord_3' }], transport: undefined, requester: undefined, hasRequester: false }),
    ]);
    // Refused all the same: deny needs no request to answer.
    const denied = await h.post('/service/plain/blocking', { amount: 5_000, orderId: 'ord_5000' });
    expect(denied.status).toBe(403);
    expect(denied.body).toEqual(DAILY_LIMIT_DENIAL);
    expect(h.ran).toEqual(['service.plain.blocking:3']);
  });

  it("a policy swapping a primitive argument of a provider method inside a request ('all-routes'): nothing runs", async () => {
    const h = await boot(adapter, { policy: UnreliablePolicy });
    ({ broker, started } = h);
    expect((await h.post('/service/primitive', { amount: 10, orderId: 'allow' })).status).toBe(201);
    const res = await h.post('/service/primitive', { amount: 10, orderId: 'replaces' });
    expect(res.status).toBe(500);
    expect(res.body).toEqual(GATE_ERROR);
    expect(h.ran).toEqual(['service.primitive:10']);
    expect(broker.list()).toEqual([]);
  });

  // Found by this suite: the policy got the live `call.args` array, and a call with only primitive arguments outside any
  // request is not checked again before it runs, so the swapped amount ran. policyCall now hands the policy a frozen copy.
  it('a policy swapping a primitive argument of a provider method outside any request: nothing runs', async () => {
    const h = await boot(adapter, { policy: UnreliablePolicy, requestContext: 'gated-routes' });
    ({ broker, started } = h);
    const res = await h.post('/service/primitive', { amount: 10, orderId: 'replaces' });
    expect(h.ran).toEqual([]);
    expect(res.status).toBe(500);
    expect(res.body).toEqual(GATE_ERROR);
  });

  it('a policy whose answer throws when read: a 500, nothing ran or was asked', async () => {
    const h = await boot(adapter, { policy: UnreliablePolicy });
    ({ broker, started } = h);
    const res = await h.post('/route/plain/blocking', { amount: 10, orderId: 'deny-getter-throws' });
    expect(res.status).toBe(500);
    expect(JSON.stringify(res.body)).not.toContain('policy-detail');
    expect(h.ran).toEqual([]);
    expect(broker.list()).toEqual([]);
  });

  // Found by this suite: needsHuman read `decision.deny` outside its try, so the error escaped as a plain Error, answered by
  // Nest as { statusCode: 500, message: 'Internal server error' } and not logged by the gate. Read once, inside the try, now.
  it("a policy whose answer throws when read: the gate's own 500 approval_gate_error, logged", async () => {
    const h = await boot(adapter, { policy: UnreliablePolicy });
    ({ broker, started } = h);
    const res = await h.post('/route/plain/blocking', { amount: 10, orderId: 'deny-getter-throws' });
    expect(res.body).toEqual(GATE_ERROR);
    expect(h.lines).toContainEqual(expect.stringContaining('Approval gate failed closed: RefundsController.plainBlocking(): the approval policy'));
  });

  it('a provider registered under the policy class with no evaluate(): refused when the app initialises', async () => {
    // The class has evaluate(); what the app provides under it does not.
    const { app } = await createApp(adapter, {
      ...APP,
      imports: [SesameModule.forRoot({ apiKey: API_KEY, baseUrl: 'http://127.0.0.1:9', env: {}, policy: UnreliablePolicy }), LimitsModule],
      providers: [...APP.providers, { provide: UnreliablePolicy, useValue: { evaluate: 'allow' } }],
    });
    try {
      const failure = await app.init().then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(failure).toBeInstanceOf(SesameConfigError);
      expect((failure as Error).message).toBe('SesameModule: policy UnreliablePolicy has no evaluate(call) method (implement ApprovalPolicy)');
    } finally {
      await app.close();
    }
  });
});

/** Written against a four-parameter ApprovalGate: the policy host never reaches super(). */
@Injectable()
class ForgetfulGate extends ApprovalGate {
  constructor(client: SesameClient, config: SesameConfig, requestContext: ApprovalRequestContext, @Inject(ApprovalStore) store: ApprovalStore) {
    super(...([client, config, requestContext, store] as unknown as ConstructorParameters<typeof ApprovalGate>));
  }
}

describe('module policy: refused at boot', () => {
  it('policy: 42 is a SesameConfigError at forRoot() and forRootAsync()', () => {
    const message = 'SesameModule: policy must be an injectable class implementing ApprovalPolicy (an evaluate(call) method)';
    expect(() => SesameModule.forRoot({ apiKey: API_KEY, env: {}, policy: 42 as never })).toThrow(SesameConfigError);
    expect(() => SesameModule.forRoot({ apiKey: API_KEY, env: {}, policy: 42 as never })).toThrow(message);
    expect(() => SesameModule.forRootAsync({ useFactory: () => ({ apiKey: API_KEY, env: {} }), policy: 42 as never })).toThrow(message);
  });

  it('a class without evaluate() is a SesameConfigError at forRoot()', () => {
    @Injectable()
    class Decides {
      decide(): ApprovalPolicyDecision {
        return 'allow';
      }
    }
    expect(() => SesameModule.forRoot({ apiKey: API_KEY, env: {}, policy: Decides as never })).toThrow(SesameConfigError);
    // An arrow function is no class either.
    expect(() => SesameModule.forRoot({ apiKey: API_KEY, env: {}, policy: (() => 'allow') as never })).toThrow(SesameConfigError);
  });

  it('an ApprovalGate subclass whose constructor drops the fifth parameter fails to compile, naming the fix', async () => {
    const error = await compileError({
      ...APP,
      imports: [SesameModule.forRoot({ apiKey: API_KEY, baseUrl: 'http://127.0.0.1:9', env: {}, approvalGate: ForgetfulGate }), LimitsModule],
    });
    expect(error).toBeInstanceOf(SesameConfigError);
    expect((error as Error).message).toBe("ForgetfulGate: pass all of ApprovalGate's constructor parameters to super() (the fifth is the ApprovalPolicyHost)");
  });
});
