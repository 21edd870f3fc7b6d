import { ApprovalError } from '../errors.js';

/**
 * The approval store (Redis) could not be reached or did not answer in time. Callers fail closed:
 * a gated route answers 503 without running, a decision webhook answers 503 so the broker redelivers.
 */
export class ApprovalStoreUnavailableError extends ApprovalError {
  constructor(
    readonly operation: string,
    reason: string,
  ) {
    // No `cause`: a Redis client error can carry the command's arguments (an AUTH password among them).
    super(`The approval store is unavailable (${operation}): ${reason}`);
  }
}
