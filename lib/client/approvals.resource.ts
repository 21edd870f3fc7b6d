import { randomUUID } from 'node:crypto';
import { ApprovalAborted, ApprovalTimeout, BrokerProtocolError, RequestRejectedError } from '../errors.js';
import { Approval, type ApprovalWaiter } from './approval.js';
import type { TriggerApprovalInput, WaitOptions } from './approval.types.js';
import { DeadlineReached, type BrokerTransport } from './broker-transport.js';
import { MAX_WAIT_SECONDS, wire, type WireRequest } from './broker-wire.js';
import { Cancellation } from './cancellation.js';
import { assertValidTriggerInput } from './trigger-approval.input.js';

/** Names the gate's trigger method: not part of the public API, so callers cannot reach the reserved namespace by accident. */
export const TRIGGER_BOUND = Symbol.for('nestjs-sesame.trigger-bound');

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
    return this.#trigger(input, options.signal, false);
  }

  /** The approval gate's trigger: the only caller allowed dedup keys in the reserved `sesame:` namespace. */
  [TRIGGER_BOUND](input: TriggerApprovalInput, options: { signal?: AbortSignal } = {}): Promise<Approval> {
    return this.#trigger(input, options.signal, true);
  }

  async #trigger(input: TriggerApprovalInput, signal: AbortSignal | undefined, reserved: boolean): Promise<Approval> {
    assertValidTriggerInput(input, reserved);
    // A generated key makes the client's own retries of this POST idempotent: never two pages for one call.
    const dedupKey = input.dedupKey ?? `auto_${randomUUID()}`;
    const body = await this.#send(wire.trigger(input, dedupKey), signal);
    return this.toApproval(body);
  }

  async get(id: string, options: { signal?: AbortSignal } = {}): Promise<Approval> {
    assertId(id);
    return this.toApproval(await this.#send(wire.get(id), options.signal, id), id);
  }

  /** Long-polls (at most 60 s per request) until the approval is decided or the deadline passes. */
  wait(id: string, options: WaitOptions = {}): Promise<Approval> {
    // Not an async function: its promise would wrap the one below, one more layer per waiting call.
    let timeout: number;
    try {
      assertId(id);
      timeout = options.timeout ?? this.#defaultTimeout;
      if (!Number.isFinite(timeout) || timeout < 0) {
        throw new RequestRejectedError(null, 'invalid_input', `wait timeout must be a finite number of milliseconds >= 0 (got ${timeout})`);
      }
      if (options.signal?.aborted) throw new ApprovalAborted(id, options.signal.reason);
    } catch (error) {
      return Promise.reject(error as Error);
    }
    const { signal } = options;
    if (timeout === 0) return this.#decidedNow(id, signal);
    return new Promise((resolve, reject) => this.#poll(id, timeout, Date.now() + timeout, Cancellation.following(signal), resolve, reject));
  }

  /** wait() with a timeout of 0: one read, no long-poll. */
  async #decidedNow(id: string, signal: AbortSignal | undefined): Promise<Approval> {
    const approval = await this.get(id, { signal });
    if (approval.pending) throw new ApprovalTimeout(id, 0);
    return approval;
  }

  /**
   * One long-poll, then the next until the approval is decided or `deadline` passes. The deadline ends
   * whatever is in flight (a long-poll, a retry's backoff) without a timer of its own. Callbacks rather
   * than an async loop: a wait held for minutes, thousands at once, keeps no suspended frame.
   */
  #poll(id: string, timeout: number, deadline: number, cancellation: Cancellation | undefined, resolve: (approval: Approval) => void, reject: (error: unknown) => void): void {
    const fail = (error: unknown) => {
      cancellation?.dispose();
      reject(error instanceof DeadlineReached ? new ApprovalTimeout(id, timeout) : error);
    };
    const seconds = Math.min(MAX_WAIT_SECONDS, (deadline - Date.now()) / 1000);
    const request = wire.wait(id, seconds);
    const attemptTimeout = Math.ceil(Math.max(1, seconds)) * 1000 + LONG_POLL_GRACE_MS;
    this.#transport.request(request, { cancellation, deadline, timeout: attemptTimeout, approvalId: id }, (error, body) => {
      if (error) return fail(error);
      let approval: Approval;
      try {
        approval = this.toApproval(body, id);
      } catch (parseError) {
        return fail(parseError);
      }
      if (!approval.pending) {
        cancellation?.dispose();
        return resolve(approval);
      }
      if (Date.now() >= deadline) return fail(new ApprovalTimeout(id, timeout));
      this.#poll(id, timeout, deadline, cancellation, resolve, reject);
    });
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
