/**
 * The apps of attack6-sockets-and-messages.spec.ts:
 * - a WebSocket gateway (either adapter) whose users log in with a message, and whose gated handler
 *   acts for the socket's current user;
 * - microservices (TCP, Redis) with dedupKey'd message and event handlers;
 * - a Mercurius (Fastify) GraphQL app with `subscription.fullWsTransport` (queries and mutations over
 *   the GraphQL WebSocket), `subscription.context` giving resolvers the upgrade request as `req`, and
 *   batched queries. Mercurius cannot load under Jest on Node 20 (see graphql-fixtures.ts), so it runs
 *   in a child process, this file as its entry point:
 *
 *     node --import ./test/support/ts-source.loader.mjs test/security/attack6-fixtures.ts mercurius
 *
 *   asked over IPC ({ id, op }: `start`, `state`, `stop`).
 */
import { serveChildApps } from '../support/child-app-host.js';
import { AsyncLocalStorage } from 'node:async_hooks';
import { pathToFileURL } from 'node:url';
import type { IncomingMessage } from 'node:http';
import {
  Controller,
  Injectable,
  type INestMicroservice,
  UseGuards,
  UseInterceptors,
  type CallHandler,
  type CanActivate,
  type ExecutionContext,
  type NestInterceptor,
} from '@nestjs/common';
import { Args, GqlExecutionContext, Int, Mutation, Query, Resolver, GraphQLModule } from '@nestjs/graphql';
import type { MercuriusDriverConfig } from '@nestjs/mercurius';
import { EventPattern, MessagePattern, Payload, type ClientProxy } from '@nestjs/microservices';
import { ConnectedSocket, MessageBody, SubscribeMessage, WebSocketGateway, type OnGatewayConnection } from '@nestjs/websockets';
import { Observable } from 'rxjs';
import { RequireApproval, SesameModule } from '../../lib/index.js';
import type { ApprovalStoreOption } from '../../lib/approval-store/approval-store.factory.js';
import { Ledger } from '../support/ledger.js';
import { startMicroserviceApp } from '../support/microservice-apps.js';
import { CapturingLogger, startApp, type StartedApp } from '../support/nest-apps.js';

// ---------------------------------------------------------------------------------------------
// WebSocket gateway
// ---------------------------------------------------------------------------------------------

/** Either adapter's client, as the gateway handles it: socket.io keeps the user in `data`, `ws` on the socket. */
export interface GatewayClient {
  data?: { user?: { id: string } };
  user?: { id: string };
  handshake?: { query: Record<string, unknown> };
}

export interface TransferData {
  amount: number;
  to: string;
}

function setUser(client: GatewayClient, id: string): void {
  if (client.data !== undefined && client.handshake !== undefined) client.data.user = { id };
  else client.user = { id };
}

export function userOf(client: GatewayClient): string {
  return (client.data?.user ?? client.user)?.id ?? 'nobody';
}

/**
 * A gateway where users log in with a message (a common pattern when the handshake cannot carry a
 * token): `login` replaces the socket's user. The gated handlers act for the socket's current user.
 */
@WebSocketGateway()
export class AccountsGateway implements OnGatewayConnection {
  constructor(private readonly ledger: Ledger) {}

  handleConnection(client: GatewayClient, request?: IncomingMessage): void {
    const fromQuery = client.handshake?.query.user;
    const fromUrl = request?.url === undefined ? null : new URL(request.url, 'http://localhost').searchParams.get('user');
    const user = typeof fromQuery === 'string' ? fromQuery : fromUrl;
    if (user) setUser(client, user);
  }

  // Ungated: (re)authenticates the socket. A real app would verify a token here.
  @SubscribeMessage('login')
  login(@ConnectedSocket() client: GatewayClient, @MessageBody() data: { user: string }) {
    setUser(client, data.user);
    return { event: 'logged-in', data: { user: data.user } };
  }

  // Acts for whoever the socket is now: debits the current user's account.
  @SubscribeMessage('transfer')
  @RequireApproval('accounts.transfer', { summary: (data: TransferData) => `Transfer ${data.amount} to ${data.to}` })
  transfer(@MessageBody() data: TransferData, @ConnectedSocket() client: GatewayClient) {
    const from = userOf(client);
    this.ledger.ran.push(`transfer:${from}:${data.amount}:${data.to}`);
    return { event: 'transferred', data: { from, amount: data.amount, to: data.to } };
  }

  // Shared by dedupKey: two messages for one order share one approval (one of them runs).
  @SubscribeMessage('pay-order')
  @RequireApproval('orders.pay', {
    summary: (data: { orderId: string; amount: number }) => `Pay ${data.amount} for ${data.orderId}`,
    dedupKey: (data: { orderId: string }) => `order:${data.orderId}`,
  })
  payOrder(@MessageBody() data: { orderId: string; amount: number }) {
    this.ledger.ran.push(`pay:${data.orderId}:${data.amount}`);
    return { event: 'paid', data };
  }

  // Short wait, long approval: a client can leave (timeout) while the approval stays open.
  @SubscribeMessage('pay-order-quick')
  @RequireApproval('orders.pay-quick', { dedupKey: (data: { orderId: string }) => `order:${data.orderId}`, timeout: 2_000, expiresIn: 60_000 })
  payOrderQuick(@MessageBody() data: { orderId: string; amount: number }) {
    this.ledger.ran.push(`pay-quick:${data.orderId}:${data.amount}`);
    return { event: 'paid', data };
  }

  @SubscribeMessage('ack-transfer')
  @RequireApproval('accounts.ack-transfer')
  ackTransfer(@MessageBody() data: TransferData) {
    this.ledger.ran.push(`ack:${data.amount}:${data.to}`);
    return { ok: data.amount };
  }
}

// ---------------------------------------------------------------------------------------------
// Microservices
// ---------------------------------------------------------------------------------------------

export interface OrderMessage {
  orderId: string;
  amount?: unknown;
}

const orderKey = (data: OrderMessage) => `order:${data.orderId}`;

@Controller()
export class OrderHandlers {
  constructor(private readonly ledger: Ledger) {}

  @MessagePattern('order.pay')
  @RequireApproval('orders.pay', { dedupKey: orderKey, summary: (d: OrderMessage) => `Pay order ${d.orderId}` })
  pay(@Payload() data: OrderMessage) {
    // Spread the way handlers merge defaults: an own "__proto__" from JSON would change the prototype here.
    const order = Object.assign({ currency: 'EUR' }, data) as OrderMessage & { currency: string };
    this.ledger.ran.push(`pay:${data.orderId}:${JSON.stringify(order.amount ?? null)}`);
    return { paid: order.amount ?? null };
  }

  @MessagePattern('order.pay-quick')
  @RequireApproval('orders.pay-quick', { dedupKey: orderKey, timeout: 2_000, expiresIn: 60_000 })
  payQuick(@Payload() data: OrderMessage) {
    this.ledger.ran.push(`pay-quick:${data.orderId}:${JSON.stringify(data.amount ?? null)}`);
    return { paid: data.amount ?? null };
  }

  @EventPattern('order.placed')
  @RequireApproval('orders.placed', { dedupKey: orderKey })
  placed(@Payload() data: OrderMessage) {
    this.ledger.ran.push(`placed:${data.orderId}`);
  }
}

export interface StartedRpc {
  app: INestMicroservice;
  ledger: Ledger;
  logger: CapturingLogger;
  client: ClientProxy;
  newClient(): ClientProxy;
}

const RETRY = { retries: 1, minDelay: 1, maxDelay: 2 };

export interface RpcSetup {
  transport: 'tcp' | 'redis';
  apiKey: string;
  baseUrl: string;
  redisPort?: number;
  /** SesameModule store option (e.g. a Redis store with a password). */
  store?: ApprovalStoreOption;
}

export async function startRpc({ transport, apiKey, baseUrl, redisPort, store }: RpcSetup): Promise<StartedRpc> {
  const started = await startMicroserviceApp(
    transport,
    { imports: [SesameModule.forRoot({ apiKey, baseUrl, env: {}, retry: RETRY, ...(store !== undefined && { store }) })], controllers: [OrderHandlers], providers: [Ledger] },
    redisPort,
  );
  return { ...started, ledger: started.app.get(Ledger) };
}

// ---------------------------------------------------------------------------------------------
// Mercurius (child process)
// ---------------------------------------------------------------------------------------------

/** Who the resolver runs for, as an app keeps it: set by an (ungated) interceptor from `context.req.user`. */
const currentUser = new AsyncLocalStorage<string>();

/** `x-user` on the request (over WebSocket: on the upgrade request, Mercurius' `subscription.context` req) authenticates. */
@Injectable()
export class GqlUserGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const req = GqlExecutionContext.create(context).getContext<{ req?: { headers: Record<string, string | undefined>; user?: unknown } }>().req;
    const user = req?.headers['x-user'];
    if (req && user !== undefined) req.user = { id: user };
    return true;
  }
}

@Injectable()
export class CurrentUserInterceptor implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const req = GqlExecutionContext.create(context).getContext<{ req?: { user?: { id?: string } } }>().req;
    const user = req?.user?.id ?? 'nobody';
    return new Observable((subscriber) => currentUser.run(user, () => next.handle().subscribe(subscriber)));
  }
}

@Resolver()
@UseGuards(GqlUserGuard)
@UseInterceptors(CurrentUserInterceptor)
export class WalletResolver {
  constructor(private readonly ledger: Ledger) {}

  @Query(() => String)
  health(): string {
    return 'ok';
  }

  // One approval per order (dedupKey); a short wait on a long-lived approval (a client gives up, the approval stays open).
  @Mutation(() => Int)
  @RequireApproval('wallet.withdraw', {
    dedupKey: (amount: number) => `withdraw:${amount}`,
    timeout: 2_000,
    expiresIn: 60_000,
    summary: (amount: number) => `Withdraw ${amount}`,
  })
  withdraw(@Args('amount', { type: () => Int }) amount: number): number {
    this.ledger.ran.push(`withdraw:${currentUser.getStore() ?? 'none'}:${amount}`);
    return amount;
  }

  @Mutation(() => Int)
  @RequireApproval('wallet.deposit', { dedupKey: (amount: number) => `deposit:${amount}` })
  deposit(@Args('amount', { type: () => Int }) amount: number): number {
    this.ledger.ran.push(`deposit:${currentUser.getStore() ?? 'none'}:${amount}`);
    return amount;
  }

  @Mutation(() => Int)
  @RequireApproval('wallet.async-deposit', { mode: 'async' })
  asyncDeposit(@Args('amount', { type: () => Int }) amount: number): number {
    this.ledger.ran.push(`async-deposit:${currentUser.getStore() ?? 'none'}:${amount}`);
    return amount;
  }
}

export interface MercuriusAppState {
  ran: string[];
  logs: string[];
}

class MercuriusApps {
  private started: StartedApp | undefined;

  async start(brokerUrl: string, apiKey: string): Promise<string> {
    const { MercuriusDriver } = await import('@nestjs/mercurius');
    this.started = await startApp('fastify', {
      imports: [
        SesameModule.forRoot({ apiKey, baseUrl: brokerUrl, env: {}, retry: RETRY }),
        GraphQLModule.forRoot<MercuriusDriverConfig>({
          driver: MercuriusDriver,
          autoSchemaFile: true,
          allowBatchedQueries: true,
          // Mutations over the GraphQL WebSocket too; resolvers there get the upgrade request as `req` (where the gate reads the user).
          subscription: { fullWsTransport: true, context: (_socket: unknown, request: unknown) => ({ req: request }) },
        }),
      ],
      providers: [Ledger, WalletResolver, GqlUserGuard, CurrentUserInterceptor],
    });
    return this.started.url;
  }

  state(app = this.started!): MercuriusAppState {
    return { ran: [...app.app.get<Ledger>(Ledger).ran], logs: [...app.logger.lines] };
  }

  async stop(): Promise<MercuriusAppState> {
    const app = this.started!;
    this.started = undefined;
    await app.app.close();
    return this.state(app);
  }
}

// Jest's workers have process.send too: only this file run as the entry point serves.
if (process.send && process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href && process.argv[2] === 'mercurius') serveChildApps(new MercuriusApps());
