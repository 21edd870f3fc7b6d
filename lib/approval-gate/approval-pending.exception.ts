import { HttpException, HttpStatus } from '@nestjs/common';
import type { ApprovalPending } from './approval-gate.errors.js';

/**
 * The `202 Accepted` of an async-mode route whose approval is still pending. It travels as an
 * exception because the handler did not run (there is no result to send); exception filters that
 * reshape errors should let it through, or keep its status, body and headers.
 */
export class ApprovalPendingException extends HttpException {
  constructor(readonly pending: ApprovalPending) {
    super(
      {
        statusCode: HttpStatus.ACCEPTED,
        code: 'approval_pending',
        message: 'Waiting for a human to approve. Repeat this request with the Sesame-Approval-Id header after Retry-After seconds.',
        approvalId: pending.approvalId,
        status: 'pending',
        expiresAt: pending.expiresAt?.toISOString() ?? null,
      },
      HttpStatus.ACCEPTED,
    );
  }
}
