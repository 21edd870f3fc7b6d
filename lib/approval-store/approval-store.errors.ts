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
    // The Redis store scrubs its own secrets from `reason`; URL credentials are dropped here for any store.
    super(`The approval store is unavailable (${operation}): ${redactCredentials(reason)}`);
  }
}

const REPLACEMENT = '***';
/** The userinfo of any `scheme://user:password@` in a text. */
const URL_USERINFO = /([a-z][a-z0-9+.-]*:\/\/)[^\s/?#@]*@/gi;

/**
 * `text` without URL credentials nor any of `secrets` (pass every spelling that could appear: see
 * redisSecrets). For text that comes from outside the package, such as a Redis client's error messages.
 */
export function redactCredentials(text: string, secrets: readonly string[] = []): string {
  let redacted = text.replace(URL_USERINFO, `$1${REPLACEMENT}@`);
  // Longest first, so a secret that contains another is replaced whole.
  for (const secret of [...secrets].sort((a, b) => b.length - a.length)) {
    if (secret.length > 0) redacted = redacted.split(secret).join(REPLACEMENT);
  }
  return redacted;
}
