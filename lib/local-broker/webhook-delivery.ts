import { randomUUID } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { SESAME_PACKAGE_VERSION } from '../version.js';
import { signWebhook } from '../webhooks/sign-webhook.js';
import type { TerminalStatus } from '../protocol/approval-status.js';
import type { WireApproval } from '../protocol/wire-approval.js';
import { formatWireTimestamp } from '../protocol/wire-timestamp.js';
import type { WireWebhookPayload } from '../webhooks/webhook-payload.js';
import type { WebhookRetryOptions } from './local-broker.options.js';

/** One delivery attempt of one decision webhook, as recorded in `broker.deliveries`. */
export interface WebhookDeliveryRecord {
  /** The `webhook-id` header: the same for every attempt of one event. */
  webhookId: string;
  approvalId: string;
  url: string;
  /** 1-based. */
  attempt: number;
  /** When the attempt started (ISO 8601 UTC). */
  startedAt: string;
  durationMs: number;
  /** The receiver's HTTP status, or null when it never answered. */
  statusCode: number | null;
  /** Network error or timeout, or null. */
  error: string | null;
  /** 2xx answer: delivered. */
  ok: boolean;
  /** Failed and another attempt is scheduled. */
  willRetry: boolean;
  payload: WireWebhookPayload;
}

export interface WebhookDeliveryHooks {
  onAttempt(record: WebhookDeliveryRecord): void;
}

interface Job {
  url: URL;
  body: string;
  payload: WireWebhookPayload;
  webhookId: string;
  attempt: number;
}

/** The decision webhook body for an approval that reached a terminal status. */
export function webhookPayloadFor(approval: WireApproval): WireWebhookPayload {
  return {
    approval_id: approval.id,
    action: approval.action,
    status: approval.status as TerminalStatus,
    decided_at: approval.decided_at ?? formatWireTimestamp(Date.now()),
    requester_label: approval.requester_label,
    dedup_key: approval.dedup_key,
  };
}

/** Records always kept for tests and the CLI; the oldest are dropped once twice as many piled up. */
const MAX_RECORDS = 10_000;

/**
 * Signed decision-webhook delivery for the local broker: asynchronous (never delays a decision),
 * redelivered with exponential backoff on non-2xx answers and network errors, one timeout per attempt.
 * `webhook-id` is stable across redeliveries of one event; `webhook-timestamp` and the signatures are
 * fresh at each attempt. Redirects are not followed (a 3xx is a failed attempt).
 */
export class WebhookDelivery {
  private readonly records: WebhookDeliveryRecord[] = [];
  private readonly retryTimers = new Set<NodeJS.Timeout>();
  private readonly inFlight = new Set<http.ClientRequest>();
  private readonly httpAgent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  private readonly httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 64 });
  private closed = false;

  constructor(
    private readonly secrets: readonly string[],
    private readonly retry: Required<WebhookRetryOptions>,
    private readonly hooks: WebhookDeliveryHooks,
  ) {}

  /** Every attempt so far, oldest first (past 20,000 records the oldest are dropped, keeping the last 10,000). */
  get deliveries(): readonly WebhookDeliveryRecord[] {
    return this.records;
  }

  /** Deliveries not yet finished: requests in flight plus scheduled redeliveries. */
  get outstanding(): number {
    return this.inFlight.size + this.retryTimers.size;
  }

  /** Queues the delivery of one event and returns at once. */
  send(callbackUrl: string, payload: WireWebhookPayload): void {
    if (this.closed) return;
    const job: Job = { url: new URL(callbackUrl), body: JSON.stringify(payload), payload, webhookId: `msg_${randomUUID()}`, attempt: 0 };
    this.schedule(job, 0);
  }

  /** Cancels scheduled redeliveries, aborts requests in flight, frees pooled sockets. */
  close(): void {
    this.closed = true;
    for (const timer of this.retryTimers) clearTimeout(timer);
    this.retryTimers.clear();
    for (const request of this.inFlight) request.destroy();
    this.inFlight.clear();
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }

  private schedule(job: Job, delayMs: number): void {
    const timer = setTimeout(() => {
      this.retryTimers.delete(timer);
      this.attempt(job);
    }, delayMs);
    this.retryTimers.add(timer);
  }

  private attempt(job: Job): void {
    if (this.closed) return;
    job.attempt++;
    const started = Date.now();
    const isHttps = job.url.protocol === 'https:';
    const headers = {
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(job.body)),
      'user-agent': `nestjs-sesame-local-broker/${SESAME_PACKAGE_VERSION}`,
      ...signWebhook(job.body, this.secrets, { id: job.webhookId }),
    };
    let finished = false;
    const finish = (statusCode: number | null, error: string | null): void => {
      if (finished) return;
      finished = true;
      clearTimeout(timeout);
      this.inFlight.delete(request);
      if (this.closed) return;
      const ok = statusCode !== null && statusCode >= 200 && statusCode < 300;
      const willRetry = !ok && job.attempt < this.retry.attempts;
      this.record({
        webhookId: job.webhookId,
        approvalId: job.payload.approval_id,
        url: job.url.href,
        attempt: job.attempt,
        startedAt: new Date(started).toISOString(),
        durationMs: Date.now() - started,
        statusCode,
        error,
        ok,
        willRetry,
        payload: job.payload,
      });
      if (willRetry) this.schedule(job, this.retry.baseDelayMs * 2 ** (job.attempt - 1));
    };

    const request = (isHttps ? https : http).request(job.url, { method: 'POST', headers, agent: isHttps ? this.httpsAgent : this.httpAgent }, (response) => {
      finish(response.statusCode ?? null, null);
      response.resume(); // drain, so the socket can be reused
      response.on('error', () => undefined);
    });
    const timeout = setTimeout(() => {
      request.destroy(new Error(`no answer within ${this.retry.timeoutMs} ms`));
    }, this.retry.timeoutMs);
    request.on('error', (error: NodeJS.ErrnoException) => finish(null, describeError(error)));
    this.inFlight.add(request);
    request.end(job.body);
  }

  private record(record: WebhookDeliveryRecord): void {
    this.records.push(record);
    if (this.records.length >= 2 * MAX_RECORDS) this.records.splice(0, this.records.length - MAX_RECORDS);
    this.hooks.onAttempt(record);
  }
}

function describeError(error: NodeJS.ErrnoException): string {
  return error.code && !error.message.includes(error.code) ? `${error.code}: ${error.message}` : error.message;
}
