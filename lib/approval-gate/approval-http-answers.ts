import { SESAME_APPROVAL_ID_HEADER } from './approval-id.header.js';
import type { RequireApprovalMetadata } from './require-approval.options.js';

/*
 * The HTTP answers a gated route gives besides its own, as OpenAPI 3.0 objects: what approval-api-docs.ts
 * writes for @nestjs/swagger. The bodies are the ones transports/http.transport.ts (errors) and
 * approval-pending.exception.ts (202) send, from the table in approval-outcome.ts;
 * test/approval-gate/openapi.e2e-spec.ts checks real answers against these schemas. 500
 * `approval_gate_error`, 502 `approval_broker_error` and 499 are faults of the server, left out as for any route.
 */

/** The part of an OpenAPI 3.0 schema object these answers use. */
export interface ApprovalAnswerSchema {
  type: 'object' | 'string' | 'integer';
  required?: string[];
  properties?: Record<string, ApprovalAnswerSchema>;
  enum?: (string | number)[];
  format?: string;
  nullable?: boolean;
  minimum?: number;
  description?: string;
}

export interface ApprovalAnswerHeader {
  description: string;
  required?: boolean;
  schema: ApprovalAnswerSchema;
}

/** An OpenAPI response object, as @ApiResponse records it (less its status). */
export interface ApprovalAnswer {
  description: string;
  headers?: Record<string, ApprovalAnswerHeader>;
  content: { 'application/json': { schema: ApprovalAnswerSchema } };
}

/** An OpenAPI header parameter, as @ApiHeader records it. */
export interface ApprovalAnswerParameter {
  name: string;
  in: 'header';
  required: boolean;
  description: string;
  schema: ApprovalAnswerSchema;
}

export interface ApprovalHttpAnswers {
  /** By status. */
  responses: Record<string, ApprovalAnswer>;
  /** The request header a route takes for its approval (async mode). */
  requestHeader?: ApprovalAnswerParameter;
}

/** The error `code`s a gated route may answer, by status and mode. */
export const APPROVAL_ERROR_CODES = {
  blocking: {
    403: ['approval_denied', 'approval_expired', 'approval_policy_denied', 'approval_mismatch', 'approval_action_mismatch'],
    // Only with a dedupKey: calls sharing one approval, of which one runs.
    409: ['approval_already_used', 'approval_in_use'],
    503: ['approval_broker_unavailable', 'approval_store_unavailable', 'approval_capacity_exceeded', 'approval_aborted_shutdown'],
    504: ['approval_timeout'],
  },
  async: {
    400: ['approval_id_invalid'],
    403: ['approval_denied', 'approval_expired', 'approval_policy_denied', 'approval_mismatch', 'approval_action_mismatch', 'approval_not_found'],
    409: ['approval_already_used', 'approval_in_use'],
    503: ['approval_broker_unavailable', 'approval_store_unavailable', 'approval_aborted_shutdown'],
  },
} as const;

const REFUSED_403 =
  'Refused by the approval gate; the handler did not run. `approval_denied` / `approval_expired`: the approver denied it, or it expired ' +
  '(`status` says which); `approval_policy_denied`: the approval policy refused it, nobody was asked (`reason` says why); ' +
  '`approval_mismatch` / `approval_action_mismatch`: the approval is not bound to this very call';
const DESCRIPTIONS = {
  400: 'Malformed `Sesame-Approval-Id` header (empty, repeated, too long, or not printable ASCII); the handler did not run.',
  blocking403: `${REFUSED_403}.`,
  async403: `${REFUSED_403}; \`approval_not_found\`: the \`Sesame-Approval-Id\` names no approval.`,
  409:
    'The approval already ran its call once (`approval_already_used`: ask for a new one), or another attempt is taking its single use ' +
    'right now (`approval_in_use`: ask again after `Retry-After`); the handler did not run here.',
  503: 'The approval service or store is unavailable, too many approvals are pending, or the server is shutting down; nothing was run. Retry later.',
  504: 'Nobody decided before the timeout; the handler did not run, and this approval will not run it.',
  202:
    'Waiting for a human to approve; the handler did not run. Repeat this very request (same arguments, same user) with the ' +
    '`Sesame-Approval-Id` header after `Retry-After` seconds: once approved, it runs once.',
};

/**
 * What a route gated with these options answers besides its own responses; undefined for a mode it
 * does not know (better undocumented than documented wrong).
 */
export function approvalHttpAnswers(metadata: RequireApprovalMetadata): ApprovalHttpAnswers | undefined {
  const mode = metadata.mode ?? 'blocking';
  switch (mode) {
    case 'blocking': {
      const codes = APPROVAL_ERROR_CODES.blocking;
      return {
        responses: {
          403: errorAnswer(403, codes[403], DESCRIPTIONS.blocking403),
          ...(metadata.dedupKey !== undefined && { 409: errorAnswer(409, codes[409], DESCRIPTIONS[409], retryAfterHeader(false)) }),
          503: errorAnswer(503, codes[503], DESCRIPTIONS[503]),
          504: errorAnswer(504, codes[504], DESCRIPTIONS[504]),
        },
      };
    }
    case 'async': {
      const codes = APPROVAL_ERROR_CODES.async;
      return {
        responses: {
          202: pendingAnswer(),
          400: errorAnswer(400, codes[400], DESCRIPTIONS[400]),
          403: errorAnswer(403, codes[403], DESCRIPTIONS.async403),
          409: errorAnswer(409, codes[409], DESCRIPTIONS[409], retryAfterHeader(false)),
          503: errorAnswer(503, codes[503], DESCRIPTIONS[503]),
        },
        requestHeader: {
          name: SESAME_APPROVAL_ID_HEADER,
          in: 'header',
          required: false,
          description: 'The `approvalId` of a `202` answer to this request: repeats the request for that approval, which runs it once approved.',
          schema: { type: 'string' },
        },
      };
    }
    case 'deferred':
      // A queue processor's job: no route, no HTTP answer.
      return undefined;
    default: {
      const unknown: never = mode;
      return unknown;
    }
  }
}

type ErrorStatus = 400 | 403 | 409 | 503 | 504;

/** `{ statusCode, code, message, approvalId?, status?, reason? }`: the body approvalHttpException() builds. */
function errorAnswer(status: ErrorStatus, codes: readonly string[], description: string, headers?: Record<string, ApprovalAnswerHeader>): ApprovalAnswer {
  const properties: Record<string, ApprovalAnswerSchema> = {
    statusCode: { type: 'integer', enum: [status] },
    code: { type: 'string', enum: [...codes] },
    message: { type: 'string' },
  };
  const required = ['statusCode', 'code', 'message'];
  if (status === 403 || status === 409 || status === 504) properties.approvalId = { type: 'string', description: 'The approval this answer is about.' };
  if (status === 403) {
    properties.status = { type: 'string', enum: ['denied', 'expired'], description: 'With `approval_denied` and `approval_expired`.' };
    properties.reason = { type: 'string', description: "With `approval_policy_denied`: the policy's reason." };
  }
  if (status === 504) properties.status = { type: 'string', enum: ['pending'], description: 'The approval is still undecided.' };
  if (status === 409 || status === 504) required.push('approvalId');
  if (status === 504) required.push('status');
  return { description, ...(headers && { headers }), content: { 'application/json': { schema: { type: 'object', required, properties } } } };
}

/** The body of ApprovalPendingException, and its headers (setApprovalHeaders()). */
function pendingAnswer(): ApprovalAnswer {
  return {
    description: DESCRIPTIONS[202],
    headers: {
      [SESAME_APPROVAL_ID_HEADER]: { description: 'The approval id: send it back in the `Sesame-Approval-Id` request header.', required: true, schema: { type: 'string' } },
      ...retryAfterHeader(true),
      'Cache-Control': { description: 'The answer must not be cached.', required: true, schema: { type: 'string', enum: ['no-store'] } },
    },
    content: {
      'application/json': {
        schema: {
          type: 'object',
          required: ['statusCode', 'code', 'message', 'approvalId', 'status', 'expiresAt'],
          properties: {
            statusCode: { type: 'integer', enum: [202] },
            code: { type: 'string', enum: ['approval_pending'] },
            message: { type: 'string' },
            approvalId: { type: 'string', description: 'Send it back in the `Sesame-Approval-Id` request header.' },
            status: { type: 'string', enum: ['pending'] },
            expiresAt: { type: 'string', format: 'date-time', nullable: true, description: 'When the approval expires; null if never.' },
          },
        },
      },
    },
  };
}

/** `Retry-After`, whole seconds: always on a 202, on a 409 only with `approval_in_use`. */
function retryAfterHeader(always: boolean): Record<string, ApprovalAnswerHeader> {
  return {
    'Retry-After': {
      description: always ? 'Seconds to wait before repeating the request.' : 'With `approval_in_use`: seconds after which asking again tells the outcome.',
      required: always,
      schema: { type: 'integer', minimum: 1 },
    },
  };
}
