import { Injectable, Logger } from '@nestjs/common';
import type { Approval } from '../client/approval.js';
import type { TriggerApprovalInput } from '../client/approval.types.js';
import { SesameClient } from '../client/sesame-client.js';
import { ApprovalDenied, ApprovalTimeout } from '../errors.js';
import { SesameConfig } from '../module/sesame.config.js';
import { ApprovalRequestContext } from './approval-request.context.js';
import type { ApprovalGateRunner, GatedCall } from './gated-method.js';
import type { Resolvable } from './require-approval.options.js';

/**
 * The one place that decides whether a gated call runs: trigger, wait, then run only if approved.
 * The interceptor, the provider wrapper and tests all go through `run()`. Subclass to change how
 * requests are built or decisions logged.
 */
@Injectable()
export class ApprovalGate implements ApprovalGateRunner {
  protected readonly logger = new Logger('SesameApproval');

  constructor(
    protected readonly client: SesameClient,
    protected readonly config: SesameConfig,
    protected readonly requestContext: ApprovalRequestContext,
  ) {}

  async run(call: GatedCall): Promise<unknown> {
    const timeout = call.metadata.timeout ?? this.config.defaultTimeout;
    const input = await this.buildRequest(call, timeout);
    const signal = this.requestContext.currentSignal();
    const started = Date.now();
    const approval = await this.client.approvals.trigger(input, { signal });
    this.logger.log(`Approval requested: action=${input.action} id=${approval.id} for ${call.className}.${call.methodName}`);

    let decided: Approval;
    try {
      decided = await approval.wait({ timeout, signal });
    } catch (error) {
      if (error instanceof ApprovalTimeout) {
        this.logger.warn(`Approval undecided: action=${input.action} id=${approval.id} timed out after ${Date.now() - started} ms`);
      }
      throw error;
    }
    this.onDecision(decided, Date.now() - started);
    if (!decided.approved) throw new ApprovalDenied(decided.id, decided.status as 'denied' | 'expired');
    return call.method.apply(call.instance, call.args);
  }

  /** Turns the decorator's options and the call's arguments into the approval request. */
  protected async buildRequest(call: GatedCall, timeout: number): Promise<TriggerApprovalInput> {
    const { metadata } = call;
    const resolve = <T>(value: Resolvable<T> | undefined) =>
      typeof value === 'function' ? (value as (...a: unknown[]) => T | Promise<T>).apply(call.instance, call.args) : value;
    const [summary, reason, context, dedupKey] = await Promise.all([
      resolve(metadata.summary),
      resolve(metadata.reason),
      resolve(metadata.context),
      resolve(metadata.dedupKey),
    ]);
    return {
      action: metadata.action,
      summary: summary ?? `Approve ${metadata.action} (${call.className}.${call.methodName})`,
      ...(reason !== undefined && { reason }),
      ...(context !== undefined && { context }),
      ...(dedupKey !== undefined && { dedupKey }),
      expiresIn: metadata.expiresIn ?? Math.max(1_000, timeout),
    };
  }

  protected onDecision(approval: Approval, elapsedMs: number): void {
    const line = `Approval decided: action=${approval.action} id=${approval.id} status=${approval.status} after ${elapsedMs} ms`;
    if (approval.approved) this.logger.log(line);
    else this.logger.warn(line);
  }
}
