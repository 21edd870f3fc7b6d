import { ConflictException, Controller, HttpCode, Inject, Logger, Post, ServiceUnavailableException, UseGuards, type OnModuleInit, type Type } from '@nestjs/common';
import { ApprovalStoreUnavailableError } from '../approval-store/approval-store.errors.js';
import { SesameConfigError } from '../errors.js';
import type { ApprovalDecisionPayload } from '../webhooks/webhook-payload.js';
import { ApprovalDecisionDispatcher } from './approval-decision.dispatcher.js';
import { SesameWebhookPayload } from './sesame-webhook-payload.decorator.js';
import { SesameWebhookGuard } from './sesame-webhook.guard.js';
import { SesameWebhookVerifier } from './sesame-webhook.verifier.js';

/**
 * The built-in decision webhook endpoint, mounted by `SesameModule.forRoot({ webhookPath })`:
 * `POST <path>` verifies the webhook (SesameWebhookGuard), runs the @OnApprovalDecision handlers once
 * per `webhook-id` (ApprovalDecisionDispatcher.dispatchOnce) and answers 204, also for an id already
 * processed; 400 for an untrusted webhook; 409 while another request processes the same id; 500 when a
 * handler failed and 503 when the approval store is unreachable, so the broker redelivers.
 */
export function createSesameWebhookController(path: string): Type<unknown> {
  if (typeof path !== 'string' || path.trim() === '') {
    throw new SesameConfigError('SesameModule: webhookPath must be a non-empty string such as "/sesame/webhook"');
  }

  // A new class per call: two apps (or two forRoot() calls) never share a controller or its routes.
  @Controller(path)
  class SesameWebhookController implements OnModuleInit {
    private readonly logger = new Logger('SesameWebhook');

    // Explicit tokens: no reliance on emitted design metadata for a class built at runtime.
    constructor(
      @Inject(ApprovalDecisionDispatcher) private readonly dispatcher: ApprovalDecisionDispatcher,
      @Inject(SesameWebhookVerifier) private readonly verifier: SesameWebhookVerifier,
    ) {}

    /** An endpoint that would answer every delivery with 500 is a boot error, not a runtime surprise. */
    onModuleInit(): void {
      if (!this.verifier.configured) {
        throw new SesameConfigError(`SesameModule: webhookPath "${path}" is set but no webhook secret is configured: set webhookSecret or SESAME_WEBHOOK_SECRET`);
      }
    }

    @Post()
    @HttpCode(204)
    @UseGuards(SesameWebhookGuard)
    async receive(@SesameWebhookPayload() payload: ApprovalDecisionPayload): Promise<void> {
      let result;
      try {
        result = await this.dispatcher.dispatchOnce(payload);
      } catch (error) {
        if (!(error instanceof ApprovalStoreUnavailableError)) throw error;
        this.logger.warn(`Decision webhook ${payload.webhookId} refused with 503, no handler ran: ${error.message}`);
        throw new ServiceUnavailableException({
          statusCode: 503,
          code: 'approval_store_unavailable',
          message: 'The approval store is unavailable; no handler ran. Redeliver later.',
        });
      }
      if (result.status === 'in_progress') {
        throw new ConflictException({
          statusCode: 409,
          code: 'webhook_in_progress',
          message: 'This webhook is being processed by another request; redeliver later.',
        });
      }
    }
  }
  return SesameWebhookController;
}
