import type { AddressInfo, Server as NetServer } from 'node:net';
import { Body, Controller, Injectable, Post, type INestApplication, type INestMicroservice } from '@nestjs/common';
import { ClientProxyFactory, EventPattern, MessagePattern, Payload, Transport, type ClientProxy, type MicroserviceOptions } from '@nestjs/microservices';
import { Test } from '@nestjs/testing';
import { firstValueFrom } from 'rxjs';
import { RequireApproval, SesameModule, type ApprovalPolicy, type ApprovalPolicyCall, type ApprovalPolicyDecision } from '../../../lib/index.js';
import { CapturingLogger } from '../../support/nest-apps.js';
import { Ledger } from '../../support/ledger.js';
import { startMicroserviceApp } from '../../support/microservice-apps.js';

export interface RefundMessage {
  amount: number;
  customerId: string;
}

/** Amounts the policy decides alone (the broker is never asked): below 5 allowed, 9000 and over refused. */
export const POLICY_ALLOWS_BELOW = 5;
export const POLICY_DENIES_FROM = 9_000;
export const POLICY_REASON = 'refunds of 9000 or more go through finance';

/** Only payments.refund is judged by amount; every other action asks a human. */
@Injectable()
export class RefundPolicy implements ApprovalPolicy {
  evaluate(call: ApprovalPolicyCall): ApprovalPolicyDecision {
    if (call.action !== 'payments.refund') return 'ask';
    const { amount } = call.args[0] as RefundMessage;
    if (amount < POLICY_ALLOWS_BELOW) return 'allow';
    if (amount >= POLICY_DENIES_FROM) return { deny: POLICY_REASON };
    return 'ask';
  }
}

const summary = (data: RefundMessage) => `Refund ${data.amount} to ${data.customerId}`;
const context = (data: RefundMessage) => ({ amount: data.amount, customerId: data.customerId });

/** The gated handlers of every microservice here; what ran is recorded in the Ledger. */
@Controller()
export class RefundHandlers {
  constructor(private readonly ledger: Ledger) {}

  @MessagePattern('refund')
  @RequireApproval('payments.refund', { summary, context })
  refund(@Payload() data: RefundMessage) {
    this.ledger.ran.push(`refund:${data.amount}`);
    return { refunded: data.amount, to: data.customerId };
  }

  @MessagePattern('refund.quick')
  @RequireApproval('payments.quick-refund', { summary, context, timeout: 300 })
  quickRefund(@Payload() data: RefundMessage) {
    this.ledger.ran.push(`quick:${data.amount}`);
    return { refunded: data.amount };
  }

  // A message has no way to be repeated with an approval id: refused, whatever the data.
  @MessagePattern('refund.async')
  @RequireApproval('payments.async-refund', { mode: 'async' })
  asyncRefund(@Payload() data: RefundMessage) {
    this.ledger.ran.push(`async:${data.amount}`);
    return { refunded: data.amount };
  }

  @EventPattern('refund.requested')
  @RequireApproval('payments.refund-requested', { summary, context })
  refundRequested(@Payload() data: RefundMessage) {
    this.ledger.ran.push(`event:${data.amount}`);
  }

  @MessagePattern('ping')
  ping(@Payload() data: { n: number }) {
    this.ledger.ran.push(`ping:${data.n}`);
    return { pong: data.n };
  }
}

/** The HTTP side of the hybrid app. */
@Controller()
export class RefundsHttpController {
  constructor(private readonly ledger: Ledger) {}

  @Post('refunds')
  @RequireApproval('payments.http-refund', { summary, context })
  refund(@Body() data: RefundMessage) {
    this.ledger.ran.push(`http:${data.amount}`);
    return { refunded: data.amount };
  }
}

/** The local broker's auto-decision: 42 approved, 13 denied, anything else left to the test. */
export function decideByAmount(approval: { context: Record<string, unknown> | null }): 'approve' | 'deny' | undefined {
  const amount = approval.context?.amount;
  return amount === 42 ? 'approve' : amount === 13 ? 'deny' : undefined;
}

export type TransportName = 'tcp' | 'redis';

export interface MicroserviceSetup {
  transport: TransportName;
  apiKey: string;
  baseUrl: string;
  /** The Redis server's port, for the Redis transport. */
  redisPort?: number;
}

export interface StartedMicroservice {
  app: INestMicroservice;
  client: ClientProxy;
  ledger: Ledger;
  logger: CapturingLogger;
  /** A fresh client to the same server (the caller closes it). */
  newClient(): ClientProxy;
}

const RETRY = { retries: 1, minDelay: 1, maxDelay: 2 };

/** A real microservice (TCP on a free loopback port, or Redis pub/sub) gated through SesameModule, and a connected ClientProxy. */
export async function startMicroservice({ transport, apiKey, baseUrl, redisPort }: MicroserviceSetup): Promise<StartedMicroservice> {
  const started = await startMicroserviceApp(
    transport,
    { imports: [SesameModule.forRoot({ apiKey, baseUrl, env: {}, retry: RETRY, policy: RefundPolicy })], controllers: [RefundHandlers], providers: [Ledger] },
    redisPort,
  );
  return { ...started, ledger: started.app.get(Ledger) };
}

export interface StartedHybridApp {
  app: INestApplication;
  url: string;
  client: ClientProxy;
  ledger: Ledger;
  logger: CapturingLogger;
}

/** One Nest app serving HTTP and a TCP microservice, connected without inheritAppConfig. */
export async function startHybridApp({ apiKey, baseUrl }: { apiKey: string; baseUrl: string }): Promise<StartedHybridApp> {
  const logger = new CapturingLogger();
  const moduleRef = await Test.createTestingModule({
    imports: [SesameModule.forRoot({ apiKey, baseUrl, env: {}, retry: RETRY })],
    controllers: [RefundHandlers, RefundsHttpController],
    providers: [Ledger],
  })
    .setLogger(logger)
    .compile();
  const app = moduleRef.createNestApplication({ logger });
  const microservice = app.connectMicroservice<MicroserviceOptions>({ transport: Transport.TCP, options: { host: '127.0.0.1', port: 0 } });
  await app.startAllMicroservices();
  await app.listen(0, '127.0.0.1');
  const url = (await app.getUrl()).replace('[::1]', '127.0.0.1').replace('localhost', '127.0.0.1');
  const port = (microservice.unwrap<NetServer>().address() as AddressInfo).port;
  const client = ClientProxyFactory.create({ transport: Transport.TCP, options: { host: '127.0.0.1', port } });
  await client.connect();
  return { app, url, client, ledger: app.get(Ledger), logger };
}

/** What the ClientProxy's request ended with: its reply, or the error it received. */
export async function sendFor(client: ClientProxy, pattern: string, data: unknown): Promise<{ reply?: unknown; error?: unknown }> {
  try {
    return { reply: await firstValueFrom(client.send(pattern, data)) };
  } catch (error) {
    return { error };
  }
}

/** Polls until `condition` holds (bounded: fails instead of hanging), for what an event's handler does with no reply. */
export async function until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
