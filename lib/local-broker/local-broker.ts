import { EventEmitter } from 'node:events';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ApprovalStatus } from '../protocol/approval-status.js';
import type { WireApproval } from '../protocol/wire-approval.js';
import { copyApproval } from './approval-copy.js';
import { ApprovalDecisions } from './approval-decisions.js';
import { ApprovalEffects } from './approval-effects.js';
import { ApprovalRegistry } from './approval-registry.js';
import { ApprovalWatchers, type ApprovalPredicate, type WaitForApprovalOptions } from './approval-watchers.js';
import { ApprovalsApi } from './approvals-api.js';
import { BrokerAuth } from './broker-auth.js';
import { brokerLog, errorMessage, type BrokerLog } from './broker-log.js';
import { BrokerRouter } from './broker-router.js';
import { createBrokerDashboard } from './dashboard/broker-dashboard.js';
import { DASHBOARD_PATH, type DashboardHandler } from './dashboard/dashboard.handler.js';
import { HttpError, sendError } from './http-io.js';
import type { LocalBrokerEvents } from './local-broker.events.js';
import { resolveLocalBrokerOptions, type LocalBrokerOptions, type ResolvedLocalBrokerOptions } from './local-broker.options.js';
import { WebhookDelivery, type WebhookDeliveryRecord } from './webhook-delivery.js';

export type { ApprovalPredicate, WaitForApprovalOptions } from './approval-watchers.js';
export type { LocalBrokerEvents } from './local-broker.events.js';

/**
 * The local Sesame broker: a real HTTP server speaking broker protocol v1 (docs/protocol.md), with
 * every approval held in memory. For development, demos and tests only: no persistence, no real
 * human notification (decide on the dashboard at `dashboardUrl`, through `approve()`/`deny()`, the
 * local-only decision endpoint, or the `decide` policy).
 *
 * Light enough to hold tens of thousands of pending long-polls: a held wait costs one listener on its
 * approval plus one timer, both released on decision, timeout or client disconnect.
 * Every broker is independent (no module-level state); `stop()` leaves no handle behind.
 *
 * ```ts
 * const broker = await LocalBroker.start({ decide: () => 'approve' });
 * // point a SesameClient at broker.url with broker.apiKey ...
 * await broker.stop();
 * ```
 */
export class LocalBroker extends EventEmitter<LocalBrokerEvents> {
  /** Base URL, e.g. `http://127.0.0.1:54321`. */
  readonly url: string;
  readonly port: number;
  /** The first accepted API key. */
  readonly apiKey: string;
  /** Active webhook signing secrets (`whsec_...`), first one first. */
  readonly webhookSecrets: readonly string[];
  /** True when the broker generated its webhook secret (no `webhookSecret` option). */
  readonly webhookSecretGenerated: boolean;
  /** The approval dashboard, e.g. `http://127.0.0.1:54321/dashboard`; null with `dashboard: false`. */
  readonly dashboardUrl: string | null;

  private readonly registry: ApprovalRegistry;
  private readonly decisions: ApprovalDecisions;
  private readonly webhooks: WebhookDelivery;
  private readonly effects: ApprovalEffects;
  private readonly watchers = new ApprovalWatchers();
  private readonly dashboard: DashboardHandler | undefined;
  private stopping: Promise<void> | undefined;

  private constructor(
    private readonly server: http.Server,
    options: ResolvedLocalBrokerOptions,
  ) {
    super();
    const address = server.address() as AddressInfo;
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    this.port = address.port;
    this.url = `http://${host}:${address.port}`;
    this.apiKey = options.apiKeys.keys().next().value as string;
    this.webhookSecrets = Object.freeze([...options.webhookSecrets]);
    this.webhookSecretGenerated = options.webhookSecretGenerated;

    const log = brokerLog(options.logger);
    // The registry and the webhooks report to the effects, which need both: the hooks read the field
    // when they fire, which is after this constructor.
    this.registry = new ApprovalRegistry(
      {
        onCreated: (approval) => this.effects.created(approval),
        onDecided: (approval, detail) => this.effects.decided(approval, detail),
        onWaitersChanged: (held) => this.watchers.heldWaitsChanged(held),
      },
      options.retention,
    );
    this.webhooks = new WebhookDelivery(options.webhookSecrets, options.webhookRetry, { onAttempt: (record) => this.effects.webhookAttempt(record) });
    this.decisions = new ApprovalDecisions(this.registry, options.decide, log, () => this.stopped);
    this.dashboard = options.dashboard ? createBrokerDashboard(this.registry, this.decisions) : undefined;
    this.dashboardUrl = this.dashboard ? `${this.url}${DASHBOARD_PATH}` : null;
    this.effects = new ApprovalEffects({
      log,
      webhooks: this.webhooks,
      watchers: this.watchers,
      dashboardEvents: this.dashboard?.events,
      // EventEmitter's typed emit() cannot take a generic key's arguments; the type above checks the call.
      emit: (event, ...args) => void (this.emit as (event: string, ...args: unknown[]) => boolean)(event, ...args),
    });
    const router = new BrokerRouter(new BrokerAuth(options.apiKeys), new ApprovalsApi(this.registry, this.decisions), this.dashboard);
    server.on('request', (req: IncomingMessage, res: ServerResponse) => answer(router, req, res, log));
  }

  /** Starts a broker and resolves once it listens. Throws SesameConfigError on bad options. */
  static async start(options: LocalBrokerOptions = {}): Promise<LocalBroker> {
    const resolved = resolveLocalBrokerOptions(options);
    const server = http.createServer({ keepAliveTimeout: 5000 });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port: resolved.port, host: resolved.host, backlog: 4096 }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return new LocalBroker(server, resolved);
  }

  /** Approvals still pending. */
  get pendingCount(): number {
    return this.registry.pendingCount;
  }

  /** Waits currently held open (long-polls). */
  get waitingCount(): number {
    return this.registry.waiterCount;
  }

  /** Every webhook delivery attempt, oldest first. */
  get deliveries(): readonly WebhookDeliveryRecord[] {
    return this.webhooks.deliveries;
  }

  get stopped(): boolean {
    return this.stopping !== undefined;
  }

  /** Approves a pending approval. Rejects with NotFoundError or ApprovalAlreadyDecidedError. */
  async approve(id: string, note?: string): Promise<WireApproval> {
    return copyApproval(this.decisions.decide(id, 'approve', note ?? null, 'api'));
  }

  /** Denies a pending approval. Rejects with NotFoundError or ApprovalAlreadyDecidedError. */
  async deny(id: string, note?: string): Promise<WireApproval> {
    return copyApproval(this.decisions.decide(id, 'deny', note ?? null, 'api'));
  }

  /** Expires a pending approval now (its `expires_at` and `decided_at` become now); waiters and webhook follow. */
  async expire(id: string): Promise<WireApproval> {
    return copyApproval(this.registry.expireNow(id, { note: null, source: 'api' }));
  }

  /** A copy of the approval, or undefined. */
  get(id: string): WireApproval | undefined {
    const approval = this.registry.get(id);
    return approval && copyApproval(approval);
  }

  /** Copies of the approvals kept (see the `retention` option), newest first, optionally one status only. */
  list(filter: { status?: ApprovalStatus } = {}): WireApproval[] {
    return this.registry.list(filter.status).map(copyApproval);
  }

  /**
   * Resolves with the oldest existing approval matching `predicate` (default: any), else with the next
   * one that matches when created or decided. Lets a test find the approval a gated route created,
   * without polling: `await broker.waitForApproval((a) => a.status === 'pending' && a.action === 'x')`.
   */
  waitForApproval(predicate: ApprovalPredicate = () => true, options: WaitForApprovalOptions = {}): Promise<WireApproval> {
    return this.watchers.waitForApproval(() => this.registry.all(), predicate, options);
  }

  /**
   * Resolves once the number of waits (long-polls) held open reaches `count`, without polling: above the
   * current number, once at least `count` are held (decide only after the clients really wait); below it,
   * once at most `count` remain (e.g. `0`: every client went away). Rejects with
   * WaitForApprovalTimeoutError after `timeoutMs` (default 5000).
   */
  waitForHeldWaits(count: number, options: WaitForApprovalOptions = {}): Promise<void> {
    return this.watchers.waitForHeldWaits(this.registry.waiterCount, count, options);
  }

  /**
   * Stops the broker: closes the server, destroys every open socket (held long-polls included), clears
   * every timer, cancels pending webhook deliveries, rejects pending `waitForApproval()` / `waitForHeldWaits()` calls.
   * Idempotent. Afterwards nothing of this broker keeps the process alive.
   */
  stop(): Promise<void> {
    this.stopping ??= new Promise<void>((resolve) => {
      this.registry.close();
      this.webhooks.close();
      this.dashboard?.close();
      this.watchers.close();
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
    return this.stopping;
  }
}

/** Routes one request; any failure becomes its protocol error answer (an unexpected one is logged, answered 500). */
function answer(router: BrokerRouter, req: IncomingMessage, res: ServerResponse, log: BrokerLog): void {
  router.route(req, res).catch((error: unknown) => {
    if (!(error instanceof HttpError)) log(`internal error: ${errorMessage(error)}`);
    sendError(res, error instanceof HttpError ? error : new HttpError(500, 'internal_error', 'Internal error in the local broker'));
  });
}
