/**
 * The apps of attack5-transports.spec.ts: one Apollo (Express) app with gated resolvers, a gated
 * @ResolveField, gated provider methods under ungated resolvers, a slow module policy and a REST
 * route beside them; and a Redis microservice with a dedupKey'd message handler.
 */
import { Controller, Injectable, Param, ParseIntPipe, Post, UseGuards } from '@nestjs/common';
import { ApolloDriver, type ApolloDriverConfig } from '@nestjs/apollo';
import { Args, Field, GraphQLModule, Int, Mutation, ObjectType, Parent, Query, ResolveField, Resolver } from '@nestjs/graphql';
import { MessagePattern, Payload, Transport } from '@nestjs/microservices';
import { Test } from '@nestjs/testing';
import { RequireApproval, SesameModule, type ApprovalPolicy, type ApprovalPolicyCall, type ApprovalPolicyDecision } from '../../lib/index.js';
import { HeaderAuthGuard } from '../support/header-auth.guard.js';
import { Ledger } from '../support/ledger.js';
import { CapturingLogger, startApp, type StartedApp } from '../support/nest-apps.js';
import { GqlHeaderAuthGuard } from '../approval-gate/transports/graphql-fixtures.js';

/**
 * An invoice as an ORM or a domain layer models it: a class with a getter. The canonical form refuses
 * a class with accessors (its state may sit in private fields); in blocking mode and on the policy's
 * path the gate binds "what is not data" as an opaque marker instead, which says nothing of its fields.
 */
export class Invoice {
  constructor(
    public id: string,
    public amount: number,
  ) {}
  get label(): string {
    return `invoice ${this.id} (${this.amount})`;
  }
}

/** The same invoice as plain data: the control case. */
export interface PlainInvoice {
  id: string;
  amount: number;
}

/** The app's in-memory repository: one shared object per invoice, as an identity map or a cache keeps it. */
@Injectable()
export class InvoiceRepository {
  readonly byId = new Map<string, Invoice | PlainInvoice>();
}

/** Lets the test hold the policy's slow lookup open (a limits service, a database) and release it. */
@Injectable()
export class PolicyLatch {
  #release: (() => void) | undefined;
  #entered: (() => void) | undefined;
  entered = new Promise<void>((resolve) => (this.#entered = resolve));
  readonly released = new Promise<void>((resolve) => (this.#release = resolve));
  enter(): void {
    this.#entered?.();
  }
  release(): void {
    this.#release?.();
  }
}

/**
 * invoice.pay-small: the policy reads the amount, then looks up the requester's limits (slow), then
 * allows amounts below 5 with no human. Every other action asks a human.
 */
@Injectable()
export class SlowLimitPolicy implements ApprovalPolicy {
  constructor(private readonly latch: PolicyLatch) {}
  async evaluate(call: ApprovalPolicyCall): Promise<ApprovalPolicyDecision> {
    if (call.action !== 'invoice.pay-small') return 'ask';
    const { amount } = call.args[0] as PlainInvoice;
    this.latch.enter();
    await this.latch.released;
    return amount < 5 ? 'allow' : 'ask';
  }
}

const invoiceSummary = (invoice: PlainInvoice) => `Pay invoice ${invoice.id}: ${invoice.amount}`;

@Injectable()
export class InvoiceService {
  constructor(private readonly ledger: Ledger) {}

  @RequireApproval('invoice.pay', { summary: invoiceSummary, context: (invoice: PlainInvoice) => ({ id: invoice.id, amount: invoice.amount }) })
  pay(invoice: PlainInvoice): number {
    this.ledger.ran.push(`pay:${invoice.id}:${invoice.amount}`);
    return invoice.amount;
  }

  @RequireApproval('invoice.pay-small', { summary: invoiceSummary })
  paySmall(invoice: PlainInvoice): number {
    this.ledger.ran.push(`small:${invoice.id}:${invoice.amount}`);
    return invoice.amount;
  }
}

@ObjectType()
export class Order {
  @Field(() => String) id!: string;
  @Field(() => Int) amount!: number;
}

/** Gated resolvers; the refund mutations share the action of the REST route below. */
@Resolver()
@UseGuards(GqlHeaderAuthGuard)
export class AttackResolver {
  constructor(
    private readonly ledger: Ledger,
    private readonly invoices: InvoiceService,
    private readonly repository: InvoiceRepository,
  ) {}

  @Query(() => String)
  health(): string {
    return 'ok';
  }

  @Mutation(() => Int, { nullable: true })
  @RequireApproval('payments.async-refund', { mode: 'async' })
  asyncRefund(@Args('amount', { type: () => Int }) amount: number): number {
    this.ledger.ran.push(`async:${amount}`);
    return amount;
  }

  // Another action with the same argument shape: an approval for asyncRefund must not run it.
  @Mutation(() => Int, { nullable: true })
  @RequireApproval('payments.async-chargeback', { mode: 'async' })
  asyncChargeback(@Args('amount', { type: () => Int }) amount: number): number {
    this.ledger.ran.push(`chargeback:${amount}`);
    return amount;
  }

  // Ungated: calls the gated resolver method as a function (no scope of its own).
  @Mutation(() => Int, { nullable: true })
  relayRefund(@Args('amount', { type: () => Int }) amount: number): Promise<unknown> {
    return this.asyncRefund(amount) as unknown as Promise<unknown>;
  }

  // Gated (blocking) itself: after its approval, calls the gated async resolver method as a function.
  @Mutation(() => Int, { nullable: true })
  @RequireApproval('payments.relay', { summary: (amount: number) => `Relay ${amount}` })
  async gatedRelay(@Args('amount', { type: () => Int }) amount: number): Promise<unknown> {
    this.ledger.ran.push(`relay:${amount}`);
    return (this.asyncRefund(amount) as unknown as Promise<unknown>).catch((error: unknown) => {
      this.ledger.ran.push(`relay-inner-refused:${(error as Error).constructor.name}`);
      return null;
    });
  }

  @Mutation(() => Int)
  createInvoice(
    @Args('id', { type: () => String }) id: string,
    @Args('amount', { type: () => Int }) amount: number,
    @Args('plain', { type: () => Boolean }) plain: boolean,
  ): number {
    this.repository.byId.set(id, plain ? { id, amount } : new Invoice(id, amount));
    return amount;
  }

  // Another user editing the invoice (no approval needed to edit it) while a payment of it waits.
  @Mutation(() => Int)
  editInvoice(@Args('id', { type: () => String }) id: string, @Args('amount', { type: () => Int }) amount: number): number {
    this.repository.byId.get(id)!.amount = amount;
    return amount;
  }

  // Ungated resolvers: the gate runs in the service, on the repository's shared object.
  @Mutation(() => Int, { nullable: true })
  payInvoice(@Args('id', { type: () => String }) id: string): Promise<number> {
    return this.invoices.pay(this.repository.byId.get(id)!) as unknown as Promise<number>;
  }

  @Mutation(() => Int, { nullable: true })
  paySmallInvoice(@Args('id', { type: () => String }) id: string): Promise<number> {
    return this.invoices.paySmall(this.repository.byId.get(id)!) as unknown as Promise<number>;
  }
}

/** A short wait, a long-lived approval: a caller that timed out leaves it pending for the next caller with its key. */
const NOTE_OPTIONS = {
  summary: (order: Order | string) => `Read the note of ${typeof order === 'string' ? order : order.id}`,
  dedupKey: (order: Order | string) => `note:${typeof order === 'string' ? order : order.id}`,
  timeout: 1_000,
  expiresIn: 60_000,
};

/** orders(ids) returns one parent per id (repeats included); each `secret` field is gated (async) on its parent. */
@Resolver(() => Order)
@UseGuards(GqlHeaderAuthGuard)
export class OrdersResolver {
  constructor(private readonly ledger: Ledger) {}

  @Query(() => [Order])
  orders(@Args('ids', { type: () => [String] }) ids: string[]): Order[] {
    return ids.map((id) => ({ id, amount: Number(id.replace(/\D/g, '')) || 1 }));
  }

  @ResolveField(() => String, { nullable: true })
  @RequireApproval('orders.reveal-secret', { mode: 'async' })
  secret(@Parent() order: Order): string {
    this.ledger.ran.push(`secret:${order.id}`);
    return `secret of ${order.id}`;
  }

  // Blocking, shared by a dedupKey: calls with one key and one binding (action, arguments, requester) share one approval.
  @ResolveField(() => String, { nullable: true })
  @RequireApproval('orders.read-note', NOTE_OPTIONS)
  note(@Parent() order: Order): string {
    this.ledger.ran.push(`note:${order.id}`);
    return `note of ${order.id}`;
  }

  // The control: the same gate on a root query field, which runs Nest's enhancers (and so the gate's interceptor).
  @Query(() => String, { nullable: true })
  @RequireApproval('orders.read-note', NOTE_OPTIONS)
  orderNote(@Args('id', { type: () => String }) id: string): string {
    this.ledger.ran.push(`order-note:${id}`);
    return `note of ${id}`;
  }
}

/** The REST twin of AttackResolver.asyncRefund: same action, same argument. */
@Controller('refunds')
@UseGuards(HeaderAuthGuard)
export class RefundsController {
  constructor(private readonly ledger: Ledger) {}

  @Post(':amount')
  @RequireApproval('payments.async-refund', { mode: 'async' })
  refund(@Param('amount', ParseIntPipe) amount: number): number {
    this.ledger.ran.push(`rest-async:${amount}`);
    return amount;
  }
}

/** The Apollo app (Express, batched HTTP requests allowed, plus `graphql` options), gated through the broker at `baseUrl`. */
export function startApolloApp(apiKey: string, baseUrl: string, graphql: Partial<ApolloDriverConfig> = {}): Promise<StartedApp> {
  return startApp('express', {
    imports: [
      SesameModule.forRoot({ apiKey, baseUrl, env: {}, retry: { retries: 1, minDelay: 1, maxDelay: 2 }, policy: SlowLimitPolicy }),
      GraphQLModule.forRoot<ApolloDriverConfig>({ driver: ApolloDriver, autoSchemaFile: true, allowBatchedHttpRequests: true, ...graphql }),
    ],
    controllers: [RefundsController],
    providers: [Ledger, AttackResolver, OrdersResolver, InvoiceService, InvoiceRepository, PolicyLatch, SlowLimitPolicy, GqlHeaderAuthGuard, HeaderAuthGuard],
  });
}

export interface TransferMessage {
  to: string;
  amount: number;
}

/** A Redis microservice: one dedupKey'd blocking handler (calls with one key and one binding share one approval). */
@Controller()
export class TransferHandlers {
  constructor(private readonly ledger: Ledger) {}

  @MessagePattern('transfer')
  @RequireApproval('payments.transfer', {
    summary: (data: TransferMessage) => `Transfer ${data.amount} to ${data.to}`,
    dedupKey: (data: TransferMessage) => `transfer:${data.to}:${data.amount}`,
  })
  transfer(@Payload() data: TransferMessage) {
    this.ledger.ran.push(`transfer:${data.to}:${data.amount}`);
    return { sent: data.amount };
  }

  // No dedupKey: every message asks for its own approval.
  @MessagePattern('transfer.each')
  @RequireApproval('payments.transfer-each', { summary: (data: TransferMessage) => `Transfer ${data.amount} to ${data.to}` })
  transferEach(@Payload() data: TransferMessage) {
    this.ledger.ran.push(`each:${data.to}:${data.amount}`);
    return { sent: data.amount };
  }
}

export async function startRedisMicroservice(apiKey: string, baseUrl: string, redisPort: number) {
  const logger = new CapturingLogger();
  const moduleRef = await Test.createTestingModule({
    imports: [SesameModule.forRoot({ apiKey, baseUrl, env: {}, retry: { retries: 1, minDelay: 1, maxDelay: 2 } })],
    controllers: [TransferHandlers],
    providers: [Ledger],
  })
    .setLogger(logger)
    .compile();
  const app = moduleRef.createNestMicroservice({ transport: Transport.REDIS, options: { host: '127.0.0.1', port: redisPort }, logger });
  await app.listen();
  return { app, logger, ledger: app.get(Ledger) };
}
