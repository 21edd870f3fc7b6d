import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ApprovalStatus } from '../client/approval.types.js';
import { NotFoundError } from '../errors.js';
import { ApprovalRegistry, type DecisionDetail, type DecisionSource } from './approval-registry.js';
import { DASHBOARD_PATH, DashboardHandler } from './dashboard/dashboard.handler.js';
import { HttpError, readJsonBody, sendError, sendJson } from './http-io.js';
import { ApprovalAlreadyDecidedError, LocalBrokerStoppedError, WaitForApprovalTimeoutError } from './local-broker.errors.js';
import {
  resolveLocalBrokerOptions,
  type LocalBrokerDecision,
  type LocalBrokerOptions,
  type ResolvedLocalBrokerOptions,
} from './local-broker.options.js';
import {
  formatListCursor,
  parseCreateApprovalBody,
  parseDecisionBody,
  parseListCursor,
  parseListLimit,
  parseStatusFilter,
  parseWaitTimeout,
} from './request-validation.js';
import { WebhookDelivery, type WebhookDeliveryRecord } from './webhook-delivery.js';
import { copyApproval, webhookPayloadFor, type WireApproval } from './wire-approval.js';

/** The events a LocalBroker emits; listeners get detached copies. */
export type LocalBrokerEvents = {
  'approval.created': [approval: WireApproval];
  'approval.decided': [approval: WireApproval, detail: DecisionDetail];
  /** One successful (2xx) delivery attempt. */
  'webhook.delivered': [record: WebhookDeliveryRecord];
  /** One failed attempt; `record.willRetry` is false when the broker gave up on that event. */
  'webhook.failed': [record: WebhookDeliveryRecord];
};

export interface WaitForApprovalOptions {
  /** Reject with WaitForApprovalTimeoutError after this many ms. Default 5000; `Infinity` waits forever. */
  timeoutMs?: number;
}

export type ApprovalPredicate = (approval: WireApproval) => boolean;

interface Matcher {
  check: (approval: WireApproval) => void;
  fail: (error: Error) => void;
}

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
  private readonly webhooks: WebhookDelivery;
  private readonly keyDigests: ReadonlyMap<string, string>;
  private readonly dashboard: DashboardHandler | undefined;
  private readonly matchers = new Set<Matcher>();
  private readonly heldWaitWatchers = new Set<{ reached: (held: number) => boolean; resolve: () => void; fail: (error: Error) => void }>();
  private stopping: Promise<void> | undefined;

  private constructor(
    private readonly server: http.Server,
    private readonly options: ResolvedLocalBrokerOptions,
  ) {
    super();
    const address = server.address() as AddressInfo;
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    this.port = address.port;
    this.url = `http://${host}:${address.port}`;
    this.apiKey = options.apiKeys.keys().next().value as string;
    this.webhookSecrets = Object.freeze([...options.webhookSecrets]);
    this.webhookSecretGenerated = options.webhookSecretGenerated;
    this.keyDigests = new Map([...options.apiKeys].map(([key, label]) => [digest(key), label]));
    this.registry = new ApprovalRegistry(
      {
        onCreated: (approval) => this.onCreated(approval),
        onDecided: (approval, detail) => this.onDecided(approval, detail),
        onWaitersChanged: (held) => {
          for (const watcher of [...this.heldWaitWatchers]) if (watcher.reached(held)) watcher.resolve();
        },
      },
      options.retention,
    );
    this.webhooks = new WebhookDelivery(options.webhookSecrets, options.webhookRetry, {
      onAttempt: (record) => this.onWebhookAttempt(record),
    });
    this.dashboard = options.dashboard
      ? new DashboardHandler({
          list: () => this.registry.list(),
          decide: (id, decision, note) => {
            try {
              return copyApproval(this.registry.decide(id, decision === 'approve' ? 'approved' : 'denied', { note, source: 'dashboard' }));
            } catch (error) {
              throw toHttpError(error, id);
            }
          },
        })
      : undefined;
    this.dashboardUrl = this.dashboard ? `${this.url}${DASHBOARD_PATH}` : null;
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      this.handle(req, res).catch((error: unknown) => {
        if (!(error instanceof HttpError)) this.log(`internal error: ${errorMessage(error)}`);
        sendError(res, error instanceof HttpError ? error : new HttpError(500, 'internal_error', 'Internal error in the local broker'));
      });
    });
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
    return copyApproval(this.registry.decide(id, 'approved', { note: note ?? null, source: 'api' }));
  }

  /** Denies a pending approval. Rejects with NotFoundError or ApprovalAlreadyDecidedError. */
  async deny(id: string, note?: string): Promise<WireApproval> {
    return copyApproval(this.registry.decide(id, 'denied', { note: note ?? null, source: 'api' }));
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
    if (this.stopped) return Promise.reject(new LocalBrokerStoppedError());
    const timeoutMs = options.timeoutMs ?? 5000;
    try {
      for (const approval of this.registry.all()) {
        const copy = copyApproval(approval);
        if (predicate(copy)) return Promise.resolve(copy);
      }
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise((resolve, reject) => {
      const timer = Number.isFinite(timeoutMs)
        ? setTimeout(() => matcher.fail(new WaitForApprovalTimeoutError(timeoutMs)), timeoutMs)
        : undefined;
      const matcher: Matcher = {
        check: (approval) => {
          const copy = copyApproval(approval);
          let matches: boolean;
          try {
            matches = predicate(copy);
          } catch (error) {
            matcher.fail(error as Error);
            return;
          }
          if (!matches) return;
          clearTimeout(timer);
          this.matchers.delete(matcher);
          resolve(copy);
        },
        fail: (error) => {
          clearTimeout(timer);
          this.matchers.delete(matcher);
          reject(error);
        },
      };
      this.matchers.add(matcher);
    });
  }

  /**
   * Resolves once the number of waits (long-polls) held open reaches `count`, without polling: above the
   * current number, once at least `count` are held (decide only after the clients really wait); below it,
   * once at most `count` remain (e.g. `0`: every client went away). Rejects with
   * WaitForApprovalTimeoutError after `timeoutMs` (default 5000).
   */
  waitForHeldWaits(count: number, options: WaitForApprovalOptions = {}): Promise<void> {
    if (this.stopped) return Promise.reject(new LocalBrokerStoppedError());
    const current = this.registry.waiterCount;
    if (current === count) return Promise.resolve();
    const reached = current < count ? (held: number) => held >= count : (held: number) => held <= count;
    const timeoutMs = options.timeoutMs ?? 5000;
    return new Promise((resolve, reject) => {
      const timer = Number.isFinite(timeoutMs)
        ? setTimeout(() => watcher.fail(new WaitForApprovalTimeoutError(timeoutMs, `${count} held wait(s)`)), timeoutMs)
        : undefined;
      const watcher = {
        reached,
        resolve: () => {
          clearTimeout(timer);
          this.heldWaitWatchers.delete(watcher);
          resolve();
        },
        fail: (error: Error) => {
          clearTimeout(timer);
          this.heldWaitWatchers.delete(watcher);
          reject(error);
        },
      };
      this.heldWaitWatchers.add(watcher);
    });
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
      for (const matcher of [...this.matchers]) matcher.fail(new LocalBrokerStoppedError());
      for (const watcher of [...this.heldWaitWatchers]) watcher.fail(new LocalBrokerStoppedError());
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
    return this.stopping;
  }

  // ---- HTTP -------------------------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    const url = new URL(req.url ?? '/', 'http://local-broker');
    const path = url.pathname;

    if (path === '/healthz') {
      if (method !== 'GET' && method !== 'HEAD') throw methodNotAllowed(method, path, 'GET, HEAD');
      return sendJson(res, 200, { ok: true });
    }
    // The dashboard authenticates by being local (see dashboard-request.checks.ts), not by API key.
    if (this.dashboard?.matches(path)) return this.dashboard.handle(req, res, path);

    const label = this.authenticate(req);
    const segments = path.split('/');
    // ['', 'v1', 'approvals', id?, sub?]
    if (segments.length < 3 || segments.length > 5 || segments[0] !== '' || segments[1] !== 'v1' || segments[2] !== 'approvals') {
      throw notFoundRoute(method, path);
    }

    if (segments.length === 3) {
      if (method === 'POST') return this.createApproval(req, res, label);
      if (method === 'GET') return this.listApprovals(res, url);
      throw methodNotAllowed(method, path, 'GET, POST');
    }

    const id = decodeSegment(segments[3]);
    if (id === undefined) throw notFoundRoute(method, path);
    const sub = segments[4];
    if (sub === undefined) {
      if (method !== 'GET') throw methodNotAllowed(method, path, 'GET');
      return sendJson(res, 200, this.mustGet(id));
    }
    if (sub === 'wait') {
      if (method !== 'GET') throw methodNotAllowed(method, path, 'GET');
      return this.waitForDecision(res, id, url);
    }
    if (sub === 'decision') {
      if (method !== 'POST') throw methodNotAllowed(method, path, 'POST');
      return this.decideOverHttp(req, res, id);
    }
    throw notFoundRoute(method, path);
  }

  private authenticate(req: IncomingMessage): string {
    const header = req.headers.authorization;
    const match = typeof header === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    const label = match ? this.keyDigests.get(digest(match[1])) : undefined;
    if (label === undefined) {
      throw new HttpError(401, 'unauthorized', 'Missing or unknown API key: send "Authorization: Bearer <api key>"', {
        'www-authenticate': 'Bearer realm="sesame"',
      });
    }
    return label;
  }

  private async createApproval(req: IncomingMessage, res: ServerResponse, label: string): Promise<void> {
    const body = parseCreateApprovalBody(await readJsonBody(req));
    const { approval, created } = this.registry.create({ ...body, requesterLabel: label });
    if (created) this.runDecidePolicy(approval);
    sendJson(res, created ? 201 : 200, approval);
  }

  private listApprovals(res: ServerResponse, url: URL): void {
    const status = parseStatusFilter(url.searchParams.get('status'));
    const limit = parseListLimit(url.searchParams.get('limit'));
    const before = parseListCursor(url.searchParams.get('cursor'));
    const page = this.registry.page({ status, limit, before });
    sendJson(res, 200, { approvals: page.approvals, next_cursor: page.next === null ? null : formatListCursor(page.next) });
  }

  private waitForDecision(res: ServerResponse, id: string, url: URL): void {
    const seconds = parseWaitTimeout(url.searchParams.get('timeout'));
    const approval = this.mustGet(id);
    if (approval.status !== 'pending') return sendJson(res, 200, approval);
    const cancel = this.registry.wait(id, seconds * 1000, (current) => {
      res.off('close', cancel);
      sendJson(res, 200, current);
    });
    // The client went away (or the broker is stopping): drop the listener and its timer now.
    res.once('close', cancel);
  }

  private async decideOverHttp(req: IncomingMessage, res: ServerResponse, id: string): Promise<void> {
    const body = parseDecisionBody(await readJsonBody(req));
    try {
      const status = body.decision === 'approve' ? 'approved' : 'denied';
      sendJson(res, 200, this.registry.decide(id, status, { note: body.note, source: 'http' }));
    } catch (error) {
      throw toHttpError(error, id);
    }
  }

  private mustGet(id: string): WireApproval {
    const approval = this.registry.get(id);
    if (!approval) throw new HttpError(404, 'not_found', `Approval ${clip(id)} not found`);
    return approval;
  }

  // ---- policy, events, webhooks ------------------------------------------------------------------

  private runDecidePolicy(approval: WireApproval): void {
    const policy = this.options.decide;
    if (!policy) return;
    let outcome: LocalBrokerDecision | Promise<LocalBrokerDecision>;
    try {
      outcome = policy(copyApproval(approval));
    } catch (error) {
      this.log(`decide policy threw for ${approval.id}, left pending: ${errorMessage(error)}`);
      return;
    }
    if (isThenable(outcome)) {
      Promise.resolve(outcome).then(
        (decision) => this.applyPolicyDecision(approval.id, decision),
        (error: unknown) => this.log(`decide policy rejected for ${approval.id}, left pending: ${errorMessage(error)}`),
      );
    } else {
      this.applyPolicyDecision(approval.id, outcome);
    }
  }

  private applyPolicyDecision(id: string, decision: LocalBrokerDecision): void {
    if (decision === undefined || this.stopped) return;
    if (decision !== 'approve' && decision !== 'deny') {
      this.log(`decide policy returned ${JSON.stringify(decision)} for ${id}; expected 'approve', 'deny' or undefined`);
      return;
    }
    const approval = this.registry.get(id);
    if (approval?.status !== 'pending') return; // decided meanwhile: the first decision wins
    this.registry.decide(id, decision === 'approve' ? 'approved' : 'denied', { note: null, source: 'policy' });
  }

  /*
   * onCreated / onDecided run after the registry committed the change, so they must not throw: a throw
   * would answer 500 for an approval that exists, or for a decision that stands, and skip the effects
   * after it (the webhook among them). Each effect is isolated; the webhook, the one that leaves the
   * process, is queued first.
   */
  private onCreated(approval: WireApproval): void {
    this.log(
      `approval ${approval.id} created: ${approval.action} - ${JSON.stringify(approval.summary)} ` +
        `(requester ${approval.requester_label ?? 'unknown'}, expires ${approval.expires_at})`,
    );
    this.isolated('created', 'waitForApproval() matching', () => this.notify(approval));
    this.isolated('created', 'dashboard event', () => this.dashboard?.events.publish('created', approval));
    this.isolated('created', '"approval.created" event', () => this.safeEmit('approval.created', copyApproval(approval)));
  }

  private onDecided(approval: WireApproval, detail: DecisionDetail): void {
    const callbackUrl = approval.callback_url;
    if (callbackUrl !== null) this.isolated('decided', 'webhook', () => this.webhooks.send(callbackUrl, webhookPayloadFor(approval)));
    this.log(`approval ${approval.id} ${approval.status} (${describeSource(detail.source)})${detail.note ? `: ${JSON.stringify(detail.note)}` : ''}`);
    this.isolated('decided', 'waitForApproval() matching', () => this.notify(approval));
    this.isolated('decided', 'dashboard event', () => this.dashboard?.events.publish('decided', approval));
    this.isolated('decided', '"approval.decided" event', () => this.safeEmit('approval.decided', copyApproval(approval), detail));
  }

  private isolated(change: 'created' | 'decided', effect: string, run: () => void): void {
    try {
      run();
    } catch (error) {
      this.log(`${effect} failed after an approval was ${change} (the ${change === 'created' ? 'approval' : 'decision'} stands): ${errorMessage(error)}`);
    }
  }

  private onWebhookAttempt(record: WebhookDeliveryRecord): void {
    if (record.ok) {
      this.log(`webhook ${record.webhookId} for ${record.approvalId} delivered (HTTP ${record.statusCode}, attempt ${record.attempt})`);
      this.safeEmit('webhook.delivered', record);
    } else {
      const why = record.statusCode !== null ? `HTTP ${record.statusCode}` : (record.error ?? 'unknown error');
      this.log(
        `webhook ${record.webhookId} for ${record.approvalId} failed (${why}, attempt ${record.attempt})` +
          (record.willRetry ? ', will retry' : ', giving up'),
      );
      this.safeEmit('webhook.failed', record);
    }
  }

  /** Each matcher gets its own copy (made in check), so one predicate cannot change what the next sees. */
  private notify(approval: WireApproval): void {
    for (const matcher of [...this.matchers]) matcher.check(approval);
  }

  /** A throwing listener must not break a decision (or crash the process from a timer). */
  private safeEmit<K extends keyof LocalBrokerEvents>(event: K, ...args: LocalBrokerEvents[K]): void {
    try {
      (this.emit as (event: K, ...args: LocalBrokerEvents[K]) => boolean)(event, ...args);
    } catch (error) {
      this.log(`a "${event}" listener threw: ${errorMessage(error)}`);
    }
  }

  /** Never throws: the logger is the caller's code, and logging runs after a change was committed. */
  private log(message: string): void {
    try {
      this.options.logger?.log(`[sesame-local-broker] ${message}`);
    } catch {
      // nowhere left to report a broken logger; the broker's behaviour must not depend on it
    }
  }
}

function digest(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

function decodeSegment(segment: string): string | undefined {
  try {
    const id = decodeURIComponent(segment);
    return id.length > 0 ? id : undefined;
  } catch {
    return undefined;
  }
}

function notFoundRoute(method: string, path: string): HttpError {
  return new HttpError(404, 'not_found', `No route for ${clip(method)} ${clip(path)}`);
}

function methodNotAllowed(method: string, path: string, allow: string): HttpError {
  return new HttpError(405, 'method_not_allowed', `${clip(method)} is not allowed on ${clip(path)} (allowed: ${allow})`, { allow });
}

function toHttpError(error: unknown, id: string): unknown {
  if (error instanceof NotFoundError) return new HttpError(404, 'not_found', `Approval ${clip(id)} not found`);
  if (error instanceof ApprovalAlreadyDecidedError) return new HttpError(409, 'already_decided', error.message);
  return error;
}

function describeSource(source: DecisionSource): string {
  return { http: 'via the decision endpoint', dashboard: 'on the dashboard', api: 'via the LocalBroker API', policy: 'by the decide policy', expiry: 'expiry time reached' }[source];
}

/** Request text quoted back in error messages is bounded. */
function clip(text: string): string {
  return text.length > 100 ? `${text.slice(0, 100)}...` : text;
}

function errorMessage(error: unknown): string {
  const message = (error as { message?: unknown } | null)?.message;
  return typeof message === 'string' ? message : String(error);
}

function isThenable<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}
