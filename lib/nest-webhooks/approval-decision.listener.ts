import type { ApprovalDecisionPayload } from '../webhooks/webhook-payload.js';

/**
 * Told of every verified decision the dispatcher handles, whatever its action, before the decision counts
 * as processed: the module's deferred jobs use it to resume the job an approval belongs to. Rejecting
 * fails the dispatch (the webhook is answered 500 and delivered again).
 */
export interface ApprovalDecisionListener {
  /** Whether it listens at all (the app has deferred gates). */
  readonly active: boolean;
  onDecision(decision: ApprovalDecisionPayload): Promise<unknown>;
}

/** Injection token of the module's ApprovalDecisionListener (optional: nothing listens without deferred gates). */
export const APPROVAL_DECISION_LISTENER = Symbol('ApprovalDecisionListener');
