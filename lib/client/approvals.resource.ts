import { randomUUID } from 'node:crypto';
import { ApprovalAborted, ApprovalTimeout, BrokerProtocolError, RequestRejectedError } from '../errors.js';
import { Approval, type ApprovalWaiter } from './approval.js';
import type { TriggerApprovalInput, WaitOptions } from './approval.types.js';
import { DeadlineReached, type BrokerTransport } from './broker-transport.js';
import { MAX_WAIT_SECONDS, wire, type WireRequest } from './broker-wire.js';
import { Cancellation } from './cancellation.js';
import { assertValidTriggerInput } from './trigger-approval.input.js';

/** Extra time a long-poll request gets beyond the seconds it asked the broker to hold it. */
const LONG_POLL_GRACE_MS = 5_000;

/** `client.approvals`: trigger, read and wait. */
export class ApprovalsResource implements ApprovalWaiter {
  readonly #transport: BrokerTransport;
  readonly #defaultTimeout: number;

  constructor(transport: BrokerTransport, defaultTimeout: number) {
    this.#transport = transport;
    this.#defaultTimeout = defaultTimeout;
  }

  async trigger(input: TriggerApprovalInput, options: { signal?: AbortSignal } = {}): Promise<Approval> {
    assertValidTriggerInput(input);
    // A generated key makes the client's own retries of this POST idempotent: never two pages for one call.
    const dedupKey = input.dedupKey ?? `auto_${randomUUID()}`;
    const body = await this.#send(wire.trigger(input, dedupKey), options.signal);
    return this.toApproval(body);
  }

  async get(id: string, options: { signal?: AbortSignal } = {}): Promise<Approval> {
    assertId(id);
    return this.toApproval(await this.#send(wire.get(id), options.signal, id), id);
  }

  /** Long-polls (at most 60 s per request) until the approval is decided or the deadline passes. */
  async wait(id: string, options: WaitOptions = {}): Promise<Approval> {
    assertId(id);
    const timeout = options.timeout ?? this.#defaultTimeout;
    if (!Number.isFinite(timeout) || timeout < 0) {
      throw new RequestRejectedError(null, 'invalid_input', `wait timeout must be a finite number of milliseconds >= 0 (got ${timeout})`);
    }
    const { signal } = options;
    if (signal?.aborted) throw new ApprovalAborted(id, signal.reason);
    if (timeout === 0) {
      const approval = await this.get(id, { signal });
      if (approval.pending) throw new ApprovalTimeout(id, timeout);
      return approval;
    }

    // The deadline ends whatever is in flight (a long-poll, a retry's backoff) without a timer of its own.
    const deadline = Date.now() + timeout;
    const cancellation = Cancellation.following(signal);
    try {
      for (;;) {
        const seconds = Math.min(MAX_WAIT_SECONDS, (deadline - Date.now()) / 1000);
        const body = await this.#transport.send(wire.wait(id, seconds), {
          cancellation,
          deadline,
          timeout: Math.ceil(Math.max(1, seconds)) * 1000 + LONG_POLL_GRACE_MS,
          approvalId: id,
        });
        const approval = this.toApproval(body, id);
        if (!approval.pending) return approval;
        if (Date.now() >= deadline) throw new ApprovalTimeout(id, timeout);
      }
    } catch (error) {
      if (error instanceof DeadlineReached) throw new ApprovalTimeout(id, timeout);
      throw error;
    } finally {
      cancellation?.dispose();
    }
  }

  #send(request: WireRequest, signal: AbortSignal | undefined, approvalId?: string): Promise<unknown> {
    const cancellation = Cancellation.following(signal);
    const sent = this.#transport.send(request, { cancellation, approvalId });
    return cancellation ? sent.finally(() => cancellation.dispose()) : sent;
  }

  /** `expectedId`: the approval asked about; an answer about another one must never pass for its decision. */
  private toApproval(body: unknown, expectedId?: string): Approval {
    const data = wire.parseApproval(body);
    if (expectedId !== undefined && data.id !== expectedId) {
      throw new BrokerProtocolError(`Broker answered about approval ${clip(data.id)} when asked about ${clip(expectedId)}`);
    }
    return new Approval(data, this);
  }
}

/** Ids come from the broker: bound what one can push into our messages. */
function clip(id: string): string {
  return id.length > 100 ? `${id.slice(0, 100)}...` : id;
}

function assertId(id: string): void {
  if (typeof id !== 'string' || id.length === 0) throw new RequestRejectedError(null, 'invalid_input', 'approval id must be a non-empty string');
}
