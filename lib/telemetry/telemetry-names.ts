/** The instrumentation scope of every span and metric (with the package version). */
export const INSTRUMENTATION_SCOPE = 'nestjs-sesame';

/** Span names: one `sesame.approval` per gated call, its trigger and its wait as children. */
export const SPAN = {
  approval: 'sesame.approval',
  trigger: 'sesame.trigger',
  wait: 'sesame.wait',
} as const;

/** Attribute keys. None ever holds an argument, a summary, a requester or a secret. */
export const ATTRIBUTE = {
  action: 'sesame.action',
  mode: 'sesame.mode',
  approvalId: 'sesame.approval_id',
  outcome: 'sesame.outcome',
  /** `Class.method` of the gated method. */
  method: 'code.function.name',
  /** OpenTelemetry's low-cardinality error identifier: the outcome code (`approval_denied`), or the error class of a method that threw. */
  errorType: 'error.type',
  /** Webhook verifications: `ok` or `failed`. */
  result: 'sesame.result',
} as const;

/** Metric names (units in the instruments: `s`, `{approval}`, `{call}`, `{webhook}`). */
export const METRIC = {
  pending: 'sesame.approval.pending',
  waitDuration: 'sesame.approval.wait.duration',
  outcomes: 'sesame.approval.outcomes',
  webhookVerifications: 'sesame.webhook.verifications',
} as const;

/**
 * How a gated call ended (`sesame.outcome`): it ran (`approved`, `policy_allowed`, `not_required`), is
 * waiting (`pending`), or did not run (the rest).
 */
export type ApprovalTelemetryOutcome =
  | 'approved'
  | 'policy_allowed'
  | 'not_required'
  | 'pending'
  | 'denied'
  | 'expired'
  | 'timeout'
  | 'policy_denied'
  | 'unavailable'
  | 'aborted'
  | 'shutdown'
  | 'mismatch'
  | 'already_used'
  | 'in_use'
  | 'invalid_request'
  | 'error';

/** The outcome of each code of the gate's outcome table (approval-outcome.ts); any other code is `error`. */
export const OUTCOME_OF_CODE: Readonly<Record<string, ApprovalTelemetryOutcome>> = {
  approval_pending: 'pending',
  approval_policy_denied: 'policy_denied',
  approval_denied: 'denied',
  approval_expired: 'expired',
  approval_timeout: 'timeout',
  approval_broker_unavailable: 'unavailable',
  approval_store_unavailable: 'unavailable',
  approval_capacity_exceeded: 'unavailable',
  approval_aborted_shutdown: 'shutdown',
  approval_aborted: 'aborted',
  approval_mismatch: 'mismatch',
  approval_action_mismatch: 'mismatch',
  approval_not_found: 'mismatch',
  approval_already_used: 'already_used',
  approval_in_use: 'in_use',
  approval_id_invalid: 'invalid_request',
};

/** Wait durations run from milliseconds (auto-approval) to a day (deferred): bucket bounds in seconds. */
export const WAIT_BUCKETS_S = [0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 600, 1_800, 3_600, 7_200, 14_400, 43_200, 86_400];
