import { createHmac, hash, randomUUID, type KeyObject } from 'node:crypto';
import { canonicalJson, type CanonicalJsonOptions } from './canonical-json.js';
import { RESERVED_DEDUP_PREFIX } from '../client/trigger-approval.input.js';

const KEY_PREFIX = `${RESERVED_DEDUP_PREFIX}v2:`;

/**
 * What an approval is bound to: the action, the method, its arguments and the requester. The gate puts
 * an HMAC of it (keyed with a server-side secret, so no caller can compute it) into the dedup key of
 * every approval it creates, and runs a call on an approval only when the approval's key carries
 * this call's binding and its content is what this call would have shown the human.
 */
export interface ApprovalBinding {
  action: string;
  /** `Class.method`: one action may gate several methods (a class-level decorator); an approval runs only the one it was asked for. */
  method: string;
  args: readonly unknown[];
  /** The authenticated user, when there is one. */
  requester: string | undefined;
}

/** HMAC-SHA256 over the canonical JSON of the binding, base64url (43 characters). Throws NotCanonicalError (path `args[i]...`). */
export function bindingDigest(key: KeyObject, binding: ApprovalBinding, options?: CanonicalJsonOptions): string {
  const args = canonicalJson([...binding.args], 'args', options);
  // Concatenated rather than stringified again: the canonical arguments are JSON already.
  const canonical = `["sesame-approval-binding",3,${JSON.stringify(binding.action)},${JSON.stringify(binding.method)},${args},${JSON.stringify(binding.requester ?? null)}]`;
  return createHmac('sha256', key).update(canonical).digest('base64url');
}

/**
 * The dedup key of an approval for this binding. `discriminator` tells apart approvals of identical
 * calls that are distinct operations: none (async mode: a repeat finds the same approval), a hash of
 * the caller's own dedup key, a hash of the approval used before, or a random one.
 */
export function bindingDedupKey(digest: string, discriminator?: string): string {
  return discriminator === undefined ? `${KEY_PREFIX}${digest}` : `${KEY_PREFIX}${digest}:${discriminator}`;
}

/**
 * A discriminator derived from `text` (a caller's dedup key, a used approval's id). Unkeyed: it only tells
 * apart operations of one binding, whose keyed digest stands beside it in the key.
 */
export function discriminatorFor(kind: string, text: string): string {
  return hash('sha256', `${kind}\u0000${text}`, 'base64url').slice(0, 22);
}

/** A discriminator no other call shares: a call that wants its own approval. */
export function randomDiscriminator(): string {
  return randomUUID();
}

/** True when the dedup key was derived from this digest by bindingDedupKey (compared in constant time). */
export function dedupKeyMatches(dedupKey: string | null, digest: string): boolean {
  if (dedupKey === null || !dedupKey.startsWith(KEY_PREFIX) || dedupKey.length < KEY_PREFIX.length + digest.length) return false;
  const end = KEY_PREFIX.length + digest.length;
  if (dedupKey.length > end && dedupKey.charCodeAt(end) !== 0x3a /* ':' */) return false;
  let difference = 0;
  for (let i = 0; i < digest.length; i++) difference |= dedupKey.charCodeAt(KEY_PREFIX.length + i) ^ digest.charCodeAt(i);
  return difference === 0;
}

/** The fields the human reads on an approval, in the TypeScript API's shape. */
export interface ShownContent {
  action: string;
  summary: string;
  reason?: string | null;
  context?: unknown;
}

/**
 * One string for what the human saw (action, summary, reason, context as the broker stores them: after
 * a JSON round trip, key order aside). A dedup key can be read off the broker and copied onto a new
 * approval with a harmless summary; comparing this makes such a copy useless.
 */
export function shownContent(content: ShownContent): string {
  let context: string;
  if (content.context === undefined || content.context === null) context = 'null';
  else {
    try {
      context = canonicalJson(JSON.parse(JSON.stringify(content.context)));
    } catch {
      // Not JSON at all: it matches nothing the broker could hold.
      context = `unrepresentable:${randomUUID()}`;
    }
  }
  return `${JSON.stringify(content.action)},${JSON.stringify(content.summary)},${JSON.stringify(content.reason ?? null)},${context}`;
}
