import { Injectable } from '@nestjs/common';
import { SesameConfigError } from '../errors.js';
import { SesameConfig } from '../module/sesame.config.js';
import { verifyWebhook } from '../webhooks/verify-webhook.js';
import type { WebhookHeadersInput } from '../webhooks/webhook-headers.js';
import type { ApprovalDecisionPayload } from '../webhooks/webhook-payload.js';

/** verifyWebhook() bound to the module's secrets and tolerance: injectable, for guards and custom endpoints. */
@Injectable()
export class SesameWebhookVerifier {
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
    return verifyWebhook(headers, rawBody, this.config.webhookSecrets, { tolerance: this.config.webhookTolerance });
  }
}
