import { createParamDecorator, InternalServerErrorException, Logger, type ExecutionContext } from '@nestjs/common';
import type { ApprovalDecisionPayload } from '../webhooks/webhook-payload.js';
import { SESAME_WEBHOOK_PAYLOAD, type SesameWebhookRequest } from './sesame-webhook.guard.js';

const logger = new Logger('SesameWebhook');

/**
 * The ApprovalDecisionPayload that SesameWebhookGuard verified:
 *
 *   @Post() @UseGuards(SesameWebhookGuard)
 *   handle(@SesameWebhookPayload() decision: ApprovalDecisionPayload) { ... }
 */
export const SesameWebhookPayload = createParamDecorator((_data: unknown, context: ExecutionContext): ApprovalDecisionPayload => {
  const payload = context.switchToHttp().getRequest<SesameWebhookRequest>()[SESAME_WEBHOOK_PAYLOAD];
  if (payload === undefined) {
    // Fail closed: without the guard the body was never verified, and must not reach the handler.
    const message = '@SesameWebhookPayload() needs a verified webhook: add @UseGuards(SesameWebhookGuard) to the route or its controller';
    logger.error(`${message} (in ${context.getClass().name}.${context.getHandler().name}())`);
    throw new InternalServerErrorException(message);
  }
  return payload;
});
