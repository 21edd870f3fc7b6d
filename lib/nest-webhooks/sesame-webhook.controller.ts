import { Controller, HttpCode, Inject, Post, UseGuards, type OnModuleInit, type Type } from '@nestjs/common';
import { SesameConfigError } from '../errors.js';
import type { ApprovalDecisionPayload } from '../webhooks/webhook-payload.js';
import { ApprovalDecisionDispatcher } from './approval-decision.dispatcher.js';
import { SesameWebhookPayload } from './sesame-webhook-payload.decorator.js';
import { SesameWebhookGuard } from './sesame-webhook.guard.js';
import { SesameWebhookVerifier } from './sesame-webhook.verifier.js';

/**
 * The built-in decision webhook endpoint, mounted by `SesameModule.forRoot({ webhookPath })`:
 * `POST <path>` verifies the webhook (SesameWebhookGuard), runs the @OnApprovalDecision handlers and
 * answers 204; 400 for an untrusted webhook; 500 when a handler failed, so the broker redelivers.
 */
export function createSesameWebhookController(path: string): Type<unknown> {
  if (typeof path !== 'string' || path.trim() === '') {
    throw new SesameConfigError('SesameModule: webhookPath must be a non-empty string such as "/sesame/webhook"');
  }

  // A new class per call: two apps (or two forRoot() calls) never share a controller or its routes.
  @Controller(path)
  class SesameWebhookController implements OnModuleInit {
    // Explicit tokens: no reliance on emitted design metadata for a class built at runtime.
    constructor(
      @Inject(ApprovalDecisionDispatcher) private readonly dispatcher: ApprovalDecisionDispatcher,
      @Inject(SesameWebhookVerifier) private readonly verifier: SesameWebhookVerifier,
    ) {}

    /** An endpoint that would answer every delivery with 500 is a boot error, not a runtime surprise. */
    onModuleInit(): void {
      if (!this.verifier.configured) {
        throw new SesameConfigError(
          `SesameModule: webhookPath "${path}" is set but no webhook secret is configured: set webhookSecret or SESAME_WEBHOOK_SECRET`,
        );
      }
    }

    @Post()
    @HttpCode(204)
    @UseGuards(SesameWebhookGuard)
    async receive(@SesameWebhookPayload() payload: ApprovalDecisionPayload): Promise<void> {
      await this.dispatcher.dispatch(payload);
    }
  }
  return SesameWebhookController;
}
