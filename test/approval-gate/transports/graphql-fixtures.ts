/**
 * The GraphQL apps of graphql.e2e-spec.ts: `GraphQLApps` boots a fresh one per test, gated through the
 * test's broker. Apollo runs in Jest's process; Mercurius cannot (it loads @fastify/static, whose
 * content-disposition 3 is ESM only, and Jest cannot require() an ES module before Node 24.9, plain
 * Node 20.19+ can), so it runs in a Node process of its own, this file as its entry point:
 *
 *   node --import ./test/support/ts-source.loader.mjs test/approval-gate/transports/graphql-fixtures.ts mercurius
 *
 * The parent asks over IPC ({ id, op }): `start`, `state`, `stop`, as GraphQLApps does in process.
 * The process ends when the parent disconnects.
 */
import { serveChildApps } from '../../support/child-app-host.js';
import { Injectable, UseGuards, type CanActivate, type DynamicModule, type ExecutionContext } from '@nestjs/common';
import { ApolloDriver, type ApolloDriverConfig } from '@nestjs/apollo';
import { Args, Field, GqlExecutionContext, GraphQLModule, InputType, Int, Mutation, Query, Resolver } from '@nestjs/graphql';
import type { MercuriusDriverConfig } from '@nestjs/mercurius';
import { pathToFileURL } from 'node:url';
import { RequireApproval, SesameModule, type ApprovalPolicy, type ApprovalPolicyCall, type ApprovalPolicyDecision } from '../../../lib/index.js';
import { startApp, type AdapterName, type StartedApp } from '../../support/nest-apps.js';
import { Ledger } from '../../support/ledger.js';

export type GraphQLDriverName = 'apollo' | 'mercurius';

/** Each driver on the HTTP adapter it runs on. Mercurius is loaded only where it is used (see above). */
const DRIVERS: Record<GraphQLDriverName, { adapter: AdapterName; graphql: () => Promise<DynamicModule> }> = {
  apollo: { adapter: 'express', graphql: async () => GraphQLModule.forRoot<ApolloDriverConfig>({ driver: ApolloDriver, autoSchemaFile: true }) },
  mercurius: {
    adapter: 'fastify',
    graphql: async () => {
      const { MercuriusDriver } = await import('@nestjs/mercurius');
      return GraphQLModule.forRoot<MercuriusDriverConfig>({ driver: MercuriusDriver, autoSchemaFile: true });
    },
  },
};

/** Stands in for Passport on GraphQL: `x-user: alice` authenticates as { id: 'alice' } on the context's request. */
@Injectable()
export class GqlHeaderAuthGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const req = GqlExecutionContext.create(context).getContext<{ req: { headers: Record<string, string | undefined>; user?: unknown } }>().req;
    const user = req.headers['x-user'];
    if (user !== undefined) req.user = { id: user };
    return true;
  }
}

export type PolicyCallSeen = Pick<ApprovalPolicyCall, 'action' | 'args' | 'requester' | 'transport'>;

/** By a number first argument: below 5 allowed without a human, 666 refused, anything else asks. Records what it saw. */
@Injectable()
export class AmountPolicy implements ApprovalPolicy {
  readonly calls: PolicyCallSeen[] = [];
  evaluate({ action, args, requester, transport }: ApprovalPolicyCall): ApprovalPolicyDecision {
    this.calls.push({ action, args, requester, transport });
    const [amount] = args;
    if (typeof amount !== 'number') return 'ask';
    if (amount < 5) return 'allow';
    if (amount === 666) return { deny: 'amount 666 is blocked' };
    return 'ask';
  }
}

@InputType()
export class PayoutInput {
  @Field(() => Int) amount!: number;
  @Field(() => String) customerId!: string;
}

/** A gated provider method, called from an ungated resolver: its outcomes reach the app-wide filter. */
@Injectable()
export class PurgeService {
  constructor(private readonly ledger: Ledger) {}

  @RequireApproval('db.purge', { summary: (table: string) => `Purge ${table}` })
  purge(table: string): number {
    this.ledger.ran.push(`purge:${table}`);
    return 1;
  }
}

/** Every gated mutation records its run in the Ledger: the invariant under test is "nothing runs without approval, and once". */
@Resolver()
@UseGuards(GqlHeaderAuthGuard)
export class RefundsResolver {
  constructor(
    private readonly ledger: Ledger,
    private readonly purges: PurgeService,
  ) {}

  @Query(() => String)
  health(): string {
    return 'ok';
  }

  @Mutation(() => Int)
  @RequireApproval('payments.refund', { summary: (amount: number) => `Refund ${amount}`, context: (amount: number) => ({ amount }) })
  refund(@Args('amount', { type: () => Int }) amount: number): number {
    this.ledger.ran.push(`refund:${amount}`);
    return amount;
  }

  // Not gated itself: the gate runs in the service.
  @Mutation(() => Int)
  purgeTable(@Args('table', { type: () => String }) table: string): number {
    return this.purges.purge(table);
  }

  @Mutation(() => Int)
  @RequireApproval('payments.quick-refund', { timeout: 300 })
  quickRefund(@Args('amount', { type: () => Int }) amount: number): number {
    this.ledger.ran.push(`quick:${amount}`);
    return amount;
  }

  // Small refunds need nobody.
  @Mutation(() => Int)
  @RequireApproval('payments.conditional-refund', { when: (amount: number) => amount >= 100 })
  conditionalRefund(@Args('amount', { type: () => Int }) amount: number): number {
    this.ledger.ran.push(`conditional:${amount}`);
    return amount;
  }

  @Mutation(() => Int)
  @RequireApproval('payments.broken-refund', {
    when: () => {
      throw new Error('when exploded');
    },
  })
  brokenRefund(@Args('amount', { type: () => Int }) amount: number): number {
    this.ledger.ran.push(`broken:${amount}`);
    return amount;
  }

  @Mutation(() => Int)
  @RequireApproval('payments.async-refund', { mode: 'async', retryAfter: 2_500 })
  asyncRefund(@Args('amount', { type: () => Int }) amount: number): number {
    this.ledger.ran.push(`async:${amount}`);
    return amount;
  }

  // An input object: graphql-js hands an inline literal over as a null-prototype object, variables as a plain one.
  @Mutation(() => Int)
  @RequireApproval('payments.payout', { mode: 'async' })
  payout(@Args('input', { type: () => PayoutInput }) input: PayoutInput): number {
    this.ledger.ran.push(`payout:${input.amount}:${input.customerId}`);
    return input.amount;
  }

  // Query fields resolve in parallel: several of them wait at once in one operation.
  @Query(() => String, { nullable: true })
  @RequireApproval('reports.export', { summary: (format: string) => `Export ${format}` })
  exportReport(@Args('format', { type: () => String }) format: string): string {
    this.ledger.ran.push(`export:${format}`);
    return `exported ${format}`;
  }

  @Query(() => String, { nullable: true })
  @RequireApproval('reports.async-export', { mode: 'async' })
  asyncExport(@Args('format', { type: () => String }) format: string): string {
    this.ledger.ran.push(`async-export:${format}`);
    return `exported ${format}`;
  }
}

export interface GraphQLAppState {
  ran: string[];
  policyCalls: PolicyCallSeen[];
  logs: string[];
}

/** One app at a time on one driver: what each test starts, reads and stops. */
export class GraphQLApps {
  private started: StartedApp | undefined;

  constructor(private readonly driver: GraphQLDriverName) {}

  /** A fresh app gated through the broker at `brokerUrl`; resolves with its URL. */
  async start(brokerUrl: string, apiKey: string): Promise<string> {
    const { adapter, graphql } = DRIVERS[this.driver];
    this.started = await startApp(adapter, {
      imports: [SesameModule.forRoot({ apiKey, baseUrl: brokerUrl, env: {}, retry: { retries: 1, minDelay: 1, maxDelay: 2 }, policy: AmountPolicy }), await graphql()],
      providers: [Ledger, RefundsResolver, PurgeService, GqlHeaderAuthGuard, AmountPolicy],
    });
    return this.started.url;
  }

  /** A copy of what ran, what the policy saw and the log lines so far. */
  state(app = this.started!): GraphQLAppState {
    return { ran: [...app.app.get<Ledger>(Ledger).ran], policyCalls: [...app.app.get(AmountPolicy).calls], logs: [...app.logger.lines] };
  }

  /** Closes the app; its final state. */
  async stop(): Promise<GraphQLAppState> {
    const app = this.started!;
    this.started = undefined;
    await app.app.close();
    return this.state(app);
  }
}

/** The child process: serves the parent's requests over IPC. */
// Jest's workers have process.send too: only this file run as the entry point serves.
if (process.send && process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) serveChildApps(new GraphQLApps(process.argv[2] as GraphQLDriverName));
