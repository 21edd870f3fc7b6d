import { SetMetadata } from '@nestjs/common';
import { SesameConfigError } from '../errors.js';

/** Metadata key written by @OnApprovalDecision on the decorated method. */
export const ON_APPROVAL_DECISION_METADATA = 'sesame:on-approval-decision';

/** What @OnApprovalDecision records: the actions to receive, or null for every decision. */
export interface OnApprovalDecisionMetadata {
  readonly actions: readonly string[] | null;
}

/**
 * Marks a provider or controller method as a handler of verified decision webhooks. It receives the
 * ApprovalDecisionPayload (approved, denied or expired); with no `action`, every decision.
 *
 *   @OnApprovalDecision('payments.refund')
 *   async onRefundDecision(decision: ApprovalDecisionPayload) { ... }
 *
 * Handlers run when a webhook arrives at the built-in endpoint (`webhookPath`) or through
 * `ApprovalDecisionDispatcher.dispatch()`. A handler that throws makes the endpoint answer 500, so the
 * broker redelivers: handlers should be idempotent (`decision.webhookId` is stable across redeliveries).
 */
export function OnApprovalDecision(action?: string | readonly string[]): MethodDecorator {
  const actions = normalizeActions(action);
  return (target, propertyKey, descriptor) => {
    if (typeof descriptor.value !== 'function') {
      throw new SesameConfigError(`@OnApprovalDecision() applies to methods, not accessors (${String(propertyKey)})`);
    }
    // Stacked decorators add up (SetMetadata alone would keep only the last one); "every decision" wins.
    const previous = Reflect.getMetadata(ON_APPROVAL_DECISION_METADATA, descriptor.value) as OnApprovalDecisionMetadata | undefined;
    const merged: OnApprovalDecisionMetadata =
      previous === undefined ? { actions } : { actions: previous.actions === null || actions === null ? null : [...new Set([...previous.actions, ...actions])] };
    return SetMetadata(ON_APPROVAL_DECISION_METADATA, merged)(target, propertyKey, descriptor);
  };
}

function normalizeActions(action: string | readonly string[] | undefined): readonly string[] | null {
  if (action === undefined) return null;
  const list: readonly unknown[] = typeof action === 'string' ? [action] : Array.isArray(action) ? action : [undefined];
  // An empty list would silently match nothing: refuse it rather than guess "all" or "none".
  if (list.length === 0 || list.some((a) => typeof a !== 'string' || a.trim() === '')) {
    throw new SesameConfigError(
      '@OnApprovalDecision(action): action must be a non-empty string such as "payments.refund", or a non-empty array of them; omit it for every decision',
    );
  }
  return Object.freeze([...new Set(list as string[])]);
}
