import type { WebhookHeadersInput } from './webhook-headers.js';
import type { ApprovalDecisionPayload } from './webhook-payload.js';
import { WebhookVerifier, type WebhookVerifierOptions, type WebhookVerifyOptions } from './webhook-verifier.js';

export { DEFAULT_WEBHOOK_TOLERANCE_MS } from './webhook-verifier.js';

/** The verifier's `tolerance` and a call's `now`, in one object. */
export interface VerifyWebhookOptions extends WebhookVerifierOptions, WebhookVerifyOptions {}

/**
 * Verifies a Standard Webhooks v1 decision webhook and returns its payload.
 *
 * `rawBody` must be the exact bytes received (not re-serialized JSON). `secret` may list several
 * `whsec_` secrets during a rotation: the webhook passes when any `v1` signature matches any secret.
 * Every failure is a WebhookVerificationError; its message never contains a secret or a signature.
 * Decodes the secrets on every call: to verify many webhooks, build one WebhookVerifier instead.
 */
export function verifyWebhook(
  headers: WebhookHeadersInput,
  rawBody: string | Buffer | Uint8Array,
  secret: string | readonly string[],
  options?: VerifyWebhookOptions,
): ApprovalDecisionPayload {
  // Configuration errors (secret, then tolerance) first, so they surface on every request rather than only on well-formed ones.
  return new WebhookVerifier(secret, options).verify(headers, rawBody, options);
}
