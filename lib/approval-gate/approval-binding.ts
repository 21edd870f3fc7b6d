import { createHash } from 'node:crypto';
import { canonicalJson } from './canonical-json.js';

/** Every dedup key the gate derives starts with this; the rest is the binding digest. */
export const BINDING_DEDUP_PREFIX = 'sesame:v1:';

/**
 * What an async-mode approval is bound to: the action, the handler's arguments and the requester.
 * The digest goes into the approval's dedup key, so the broker keeps it and a repeat can be checked
 * against what was approved, on any replica, without any state of ours.
 */
export interface ApprovalBinding {
  action: string;
  args: readonly unknown[];
  /** The authenticated user, when there is one. */
  requester: string | undefined;
}

/** sha256 over the canonical JSON of the binding, base64url (43 characters). Throws NotCanonicalError (path `args[i]...`). */
export function bindingDigest(binding: ApprovalBinding): string {
  const args = canonicalJson([...binding.args], 'args');
  const canonical = JSON.stringify(['sesame-approval-binding', 1, binding.action, args, binding.requester ?? null]);
  return createHash('sha256').update(canonical).digest('base64url');
}

/**
 * The dedup key of the approval for this binding. `after` is the id of an approval of the same binding
 * that was already used: the same request made again then gets a fresh approval (a new operation),
 * and every replica derives the same key for it, so retries still find one approval.
 */
export function bindingDedupKey(digest: string, after?: string): string {
  if (after === undefined) return `${BINDING_DEDUP_PREFIX}${digest}`;
  return `${BINDING_DEDUP_PREFIX}${digest}:${createHash('sha256').update(after).digest('base64url').slice(0, 22)}`;
}

/** True when the approval's dedup key was derived from this digest (by bindingDedupKey). */
export function dedupKeyMatches(dedupKey: string | null, digest: string): boolean {
  if (dedupKey === null) return false;
  const base = `${BINDING_DEDUP_PREFIX}${digest}`;
  return dedupKey === base || dedupKey.startsWith(`${base}:`);
}
