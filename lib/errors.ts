/**
 * The error hierarchy. Names mirror the Python sesame-sdk so a polyglot team recognises them.
 * No error ever carries the API key or a webhook secret.
 */
/** Defined with the other statuses in lib/protocol; public here beside the errors that carry it. */
export type { TerminalStatus } from './protocol/approval-status.js';

export class ApprovalError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The human denied the approval, or it expired undecided. */
export class ApprovalDenied extends ApprovalError {
  constructor(
    readonly approvalId: string,
    readonly status: 'denied' | 'expired',
  ) {
    super(`Approval ${approvalId} was ${status}`);
  }
}

/** Still pending when the caller's timeout ran out. The approval itself may still be decided later. */
export class ApprovalTimeout extends ApprovalError {
  constructor(
    readonly approvalId: string,
    readonly timeoutMs: number,
  ) {
    super(`Approval ${approvalId} was not decided within ${timeoutMs} ms`);
  }
}

/** The caller's AbortSignal stopped a wait (for example: the HTTP client disconnected). */
export class ApprovalAborted extends ApprovalError {
  constructor(
    readonly approvalId: string | undefined,
    reason?: unknown,
  ) {
    super(approvalId ? `Waiting for approval ${approvalId} was aborted` : 'Broker request was aborted', { cause: reason });
  }
}

/** `SesameClient.close()` was called (the app is shutting down): the cause of the ApprovalAborted it ends waits with. */
export class SesameClientClosedError extends ApprovalError {
  constructor() {
    super('The Sesame client was closed');
  }
}

/** The broker rejected the API key (HTTP 401). */
export class SesameAuthError extends ApprovalError {
  readonly status = 401;
  constructor(message = 'The Sesame broker rejected the API key (HTTP 401). Check SESAME_API_KEY.') {
    super(message);
  }
}

/** Unknown approval id (HTTP 404). */
export class NotFoundError extends ApprovalError {
  readonly status = 404;
  constructor(
    readonly approvalId: string | undefined,
    message?: string,
  ) {
    super(message ?? (approvalId ? `Approval ${approvalId} not found` : 'Not found'));
  }
}

/**
 * The request is invalid: refused by the broker (HTTP 400/422, with its code and message),
 * or refused by the client before sending (`status` null, code `invalid_input`).
 */
export class RequestRejectedError extends ApprovalError {
  constructor(
    readonly status: number | null,
    readonly code: string,
    readonly detail: string,
  ) {
    super(status === null ? `Invalid approval request: ${detail}` : `The Sesame broker rejected the request (HTTP ${status} ${code}): ${detail}`);
  }
}

/** 429, 5xx or network failures persisted through every retry. */
export class BrokerUnavailableError extends ApprovalError {
  constructor(
    readonly attempts: number,
    readonly lastFailure: string,
    readonly lastStatus?: number,
  ) {
    super(`The Sesame broker is unavailable after ${attempts} attempt(s); last failure: ${lastFailure}`);
  }
}

/** The broker answered something that is not protocol v1 (bad JSON, wrong types, unknown status). */
export class BrokerProtocolError extends ApprovalError {}

/**
 * A @RequireApproval method was called on an instance no SesameModule has bound (for example one
 * created with `new` outside Nest, or a request-scoped provider). It fails closed: the method did not run.
 */
export class ApprovalGateNotBoundError extends ApprovalError {
  constructor(
    readonly className: string,
    readonly methodName: string,
  ) {
    super(
      `${className}.${methodName}() requires approval, but no SesameModule has bound an approval gate to this instance, so it did not run. ` +
        'Let Nest create the instance (a provider or controller in a module that imports SesameModule), or bind one with bindApprovalGate().',
    );
  }
}

/** Invalid client or module options: the message names the option and how to fix it. */
export class SesameConfigError extends ApprovalError {}

export type WebhookVerificationErrorCode =
  | 'missing_header'
  /** webhook-id repeated with different values, or not a string. */
  | 'invalid_header'
  | 'invalid_timestamp'
  | 'timestamp_too_old'
  | 'timestamp_too_new'
  | 'invalid_signature_header'
  | 'signature_mismatch'
  | 'invalid_body'
  | 'invalid_payload'
  | 'invalid_secret'
  /** verifyWebhook's `tolerance` or `now` is not a usable number: refused rather than silently skipping the replay check. */
  | 'invalid_options';

/** A webhook that must not be trusted: bad or missing signature, stale timestamp, bad JSON. */
export class WebhookVerificationError extends ApprovalError {
  constructor(
    readonly code: WebhookVerificationErrorCode,
    message: string,
  ) {
    super(message);
  }
}
