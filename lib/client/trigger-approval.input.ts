import { RequestRejectedError } from '../errors.js';
import { WIRE_LIMITS } from '../protocol/wire-limits.js';
import type { TriggerApprovalInput } from './approval.types.js';

/**
 * Dedup keys starting with this belong to the approval gate, which derives them from a keyed binding of
 * the call: trigger() refuses them from anyone else, so no caller-chosen key lands in the gate's namespace.
 */
export const RESERVED_DEDUP_PREFIX = 'sesame:';

/** The refusal of a caller's dedup key in the gate's namespace, or undefined; one wording for every path. */
export function reservedDedupKeyProblem(dedupKey: string): string | undefined {
  return dedupKey.startsWith(RESERVED_DEDUP_PREFIX)
    ? `dedupKey: keys starting with "${RESERVED_DEDUP_PREFIX}" are reserved for the approval gate; choose another key`
    : undefined;
}

/** Broker maximum lifetime of an approval (7 days), in the TypeScript API's ms. */
const MAX_EXPIRES_IN_MS = WIRE_LIMITS.expiresInMax * 1000;

/**
 * The checks `approvals.trigger()` runs before anything is sent, so a bad call fails fast and typed.
 * Written out rather than with class-validator: this runs on every gated call, and the decorator
 * machinery allocated about 15 KB per call (measured), which thousands of concurrent calls pay in GC.
 * Values are never echoed in messages.
 */
export function assertValidTriggerInput(input: TriggerApprovalInput, allowReservedDedupKey = false): void {
  if (typeof input !== 'object' || input === null) {
    throw new RequestRejectedError(null, 'invalid_input', 'trigger() takes an object with at least action and summary');
  }
  const problems: string[] = [];
  const { action, summary, reason, context, callbackUrl, dedupKey, expiresIn } = input as unknown as Record<string, unknown>;
  if (!isText(action, WIRE_LIMITS.actionMaxLength)) problems.push(`action: must be a string of 1 to ${WIRE_LIMITS.actionMaxLength} characters`);
  if (!isText(summary, WIRE_LIMITS.summaryMaxLength)) problems.push(`summary: must be a string of 1 to ${WIRE_LIMITS.summaryMaxLength} characters`);
  if (reason !== undefined && reason !== null && typeof reason !== 'string') problems.push('reason: must be a string');
  if (context !== undefined && context !== null && (typeof context !== 'object' || Array.isArray(context))) {
    problems.push('context: must be an object');
  }
  if (callbackUrl !== undefined && callbackUrl !== null && !isHttpUrl(callbackUrl)) {
    problems.push('callbackUrl: must be an absolute http(s) URL');
  }
  if (dedupKey !== undefined && dedupKey !== null && !isText(dedupKey, WIRE_LIMITS.dedupKeyMaxLength)) {
    problems.push(`dedupKey: must be a string of 1 to ${WIRE_LIMITS.dedupKeyMaxLength} characters`);
  } else if (typeof dedupKey === 'string' && !allowReservedDedupKey) {
    const reserved = reservedDedupKeyProblem(dedupKey);
    if (reserved) problems.push(reserved);
  }
  if (expiresIn !== undefined && expiresIn !== null && !(Number.isInteger(expiresIn) && (expiresIn as number) >= 1 && (expiresIn as number) <= MAX_EXPIRES_IN_MS)) {
    problems.push(`expiresIn: must be a whole number of ms from 1 to ${MAX_EXPIRES_IN_MS} (7 days)`);
  }
  if (problems.length > 0) throw new RequestRejectedError(null, 'invalid_input', problems.join('; '));
}

function isText(value: unknown, maxLength: number): boolean {
  return typeof value === 'string' && value.length >= 1 && value.length <= maxLength;
}

function isHttpUrl(value: unknown): boolean {
  if (typeof value !== 'string' || !URL.canParse(value)) return false;
  const url = new URL(value);
  return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '';
}
