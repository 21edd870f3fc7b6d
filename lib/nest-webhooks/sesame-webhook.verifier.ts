import { Injectable } from '@nestjs/common';
import { SesameConfigError } from '../errors.js';
import { SesameConfig } from '../config/sesame.config.js';
import type { WebhookHeadersInput } from '../webhooks/webhook-headers.js';
import type { ApprovalDecisionPayload } from '../webhooks/webhook-payload.js';
import { WebhookVerifier } from '../webhooks/webhook-verifier.js';

/** A WebhookVerifier for the module's secrets and tolerance: injectable, for guards and custom endpoints. */
@Injectable()
export class SesameWebhookVerifier {
  /** Built on first use: the config is fixed per app, so the secrets are decoded once, not per request. */
  #verifier: WebhookVerifier | undefined;

  constructor(private readonly config: SesameConfig) {}

  /** True when at least one webhook secret is configured. */
  get configured(): boolean {
    return this.config.webhookSecrets.length > 0;
  }

  /**
   * Verifies a decision webhook from its headers and exact raw body.
   * Throws WebhookVerificationError (untrusted webhook) or SesameConfigError (no secret configured).
   */
  verify(headers: WebhookHeadersInput, rawBody: Buffer | string): ApprovalDecisionPayload {
    if (!this.configured) {
      // Typed apart from WebhookVerificationError: a config problem must be a 500, not the sender's 400.
      throw new SesameConfigError('no webhook secret: set webhookSecret or SESAME_WEBHOOK_SECRET');
    }
    // A constructor that throws caches nothing, so a bad secret fails every request alike.
    this.#verifier ??= new WebhookVerifier(this.config.webhookSecrets, { tolerance: this.config.webhookTolerance });
    return this.#verifier.verify(headers, rawBody);
  }
}
