import type { ServerResponse } from 'node:http';
import type { WireApproval } from '../protocol/wire-approval.js';
import type { ApprovalRegistry } from './approval-registry.js';
import { sendJson } from './http-io.js';

/**
 * The long-poll of `GET /v1/approvals/{id}/wait`: answers with the approval as soon as it is decided,
 * or still pending after `seconds`. A held wait costs one waiter on its approval plus one timer, both
 * released on decision, timeout or client disconnect, so tens of thousands can be held at once.
 */
export function answerWhenDecided(registry: ApprovalRegistry, res: ServerResponse, approval: WireApproval, seconds: number): void {
  if (approval.status !== 'pending') return sendJson(res, 200, approval);
  const cancel = registry.wait(approval.id, seconds * 1000, (current) => {
    res.off('close', cancel);
    sendJson(res, 200, current);
  });
  // The client went away (or the broker is stopping): drop the waiter and its timer now.
  res.once('close', cancel);
}
