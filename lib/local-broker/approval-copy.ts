import type { WireApproval } from '../protocol/wire-approval.js';

/** A detached copy: callers of the programmatic API can never mutate the broker's state. */
export function copyApproval(approval: WireApproval): WireApproval {
  return { ...approval, context: approval.context === null ? null : structuredClone(approval.context) };
}
