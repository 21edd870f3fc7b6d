// README: "Webhooks: raw body on Express and Fastify", the guarded controller. Type-checked by `npm test`.
import { Controller, HttpCode, Post, UseGuards } from '@nestjs/common';
import { SesameWebhookGuard, SesameWebhookPayload, type ApprovalDecisionPayload } from 'nestjs-sesame';

@Controller('sesame')
export class SesameWebhookController {
  @Post('webhook')
  @HttpCode(204)
  @UseGuards(SesameWebhookGuard)
  receive(@SesameWebhookPayload() decision: ApprovalDecisionPayload) {
    // decision: { approvalId, action, status, decidedAt: Date, requesterLabel, dedupKey, webhookId }
  }
}
