import { types } from 'node:util';
import { BadRequestException, Inject, Injectable, InternalServerErrorException, Logger, Optional, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { SesameConfigError, WebhookVerificationError } from '../errors.js';
import type { WebhookHeadersInput } from '../webhooks/webhook-headers.js';
import type { ApprovalDecisionPayload } from '../webhooks/webhook-payload.js';
import { SesameWebhookVerifier } from './sesame-webhook.verifier.js';
import { ApprovalTelemetry } from '../telemetry/approval-telemetry.js';

/**
 * Where the guard stores the verified ApprovalDecisionPayload on the request; read it with
 * @SesameWebhookPayload(). Symbol.for: the ESM and CommonJS builds of this package agree on it.
 */
export const SESAME_WEBHOOK_PAYLOAD = Symbol.for('nestjs-sesame.webhook-payload');

/** The request as the guard sees it: Express and Fastify requests both fit. */
export interface SesameWebhookRequest {
  headers: Record<string, string | string[] | undefined>;
  rawBody?: unknown;
  [SESAME_WEBHOOK_PAYLOAD]?: ApprovalDecisionPayload;
}

const JSON_CONTENT_TYPE = /^\s*application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;

/**
 * Lets a request through only if it is a decision webhook signed with the module's secret(s):
 *
 *   @Post('sesame/webhook') @UseGuards(SesameWebhookGuard)
 *   handle(@SesameWebhookPayload() decision: ApprovalDecisionPayload) { ... }
 *
 * Verifies the exact bytes received, so the app must be created with `{ rawBody: true }`.
 * Untrusted webhook: 400 `{ statusCode, error, message, code }`. Misconfiguration: 500 plus an error log.
 * Subclass to adapt: override getRawBody(), getHeaders() or onVerificationFailed().
 */
@Injectable()
export class SesameWebhookGuard implements CanActivate {
  protected readonly logger = new Logger('SesameWebhook');
  /** Counts verifications (a no-op without an OpenTelemetry SDK); a property, so subclasses' constructors need not pass it on. */
  @Optional() @Inject(ApprovalTelemetry) protected readonly telemetry?: ApprovalTelemetry;

  constructor(protected readonly verifier: SesameWebhookVerifier) {}

  canActivate(context: ExecutionContext): boolean {
    if (context.getType() !== 'http') {
      // Fail closed: there is no signed HTTP webhook to verify in RPC or WebSocket contexts.
      this.logger.error(`SesameWebhookGuard only guards HTTP routes; refused a "${context.getType()}" call`);
      return false;
    }
    const request = context.switchToHttp().getRequest<SesameWebhookRequest>();
    if (!this.verifier.configured) {
      this.logger.error('Rejected a decision webhook: no webhook secret is configured. Set the webhookSecret option of SesameModule or SESAME_WEBHOOK_SECRET.');
      throw misconfigured();
    }

    const rawBody = this.getRawBody(request);
    if (rawBody === undefined) {
      // No parser runs for other content types or an absent body: the sender's fault, not the setup's.
      if (!hasJsonBody(request)) {
        this.refuse(new WebhookVerificationError('invalid_body', 'A decision webhook must have a JSON body (content-type: application/json)'));
      }
      // A JSON body was parsed but its bytes were not kept; re-serialising req.body would not match the signature.
      this.logger.error(
        'Cannot verify a decision webhook: the raw request body is not available. ' +
          'Create the app with raw bodies enabled: NestFactory.create(AppModule, { rawBody: true }) ' +
          '(works with both the Express and the Fastify adapter).',
      );
      throw misconfigured();
    }

    let payload: ApprovalDecisionPayload;
    try {
      payload = this.verifier.verify(this.getHeaders(request), rawBody);
    } catch (error) {
      if (error instanceof WebhookVerificationError) this.refuse(error);
      if (error instanceof SesameConfigError) {
        this.logger.error(`Cannot verify a decision webhook: ${error.message}`);
        throw misconfigured();
      }
      throw error;
    }
    request[SESAME_WEBHOOK_PAYLOAD] = payload;
    this.telemetry?.webhookVerified('ok');
    return true;
  }

  /** The exact request bytes. Default: `request.rawBody`, set by Nest when the app has `{ rawBody: true }`. */
  protected getRawBody(request: SesameWebhookRequest): Buffer | string | undefined {
    const { rawBody } = request;
    // Never fall back to the parsed request.body: its JSON re-serialisation is not the signed bytes.
    if (typeof rawBody === 'string') return rawBody;
    if (types.isUint8Array(rawBody)) return Buffer.isBuffer(rawBody) ? rawBody : Buffer.from(rawBody.buffer, rawBody.byteOffset, rawBody.byteLength);
    return undefined;
  }

  /** The request headers. Default: `request.headers` (Node's IncomingHttpHeaders on both adapters). */
  protected getHeaders(request: SesameWebhookRequest): WebhookHeadersInput {
    return request.headers;
  }

  private refuse(error: WebhookVerificationError): never {
    // Code and message only: neither ever holds a secret or a signature.
    this.logger.warn(`Rejected a decision webhook (${error.code}): ${error.message}`);
    this.telemetry?.webhookVerified('failed', error.code);
    this.onVerificationFailed(error);
  }

  /** Turns a failed verification into the HTTP answer. Default: 400 `{ statusCode, error, message, code }`. */
  protected onVerificationFailed(error: WebhookVerificationError): never {
    throw new BadRequestException({ statusCode: 400, error: 'Bad Request', message: error.message, code: error.code });
  }
}

function misconfigured(): InternalServerErrorException {
  // The sender learns nothing about the setup; the operator reads the error log.
  return new InternalServerErrorException('The decision webhook endpoint is misconfigured: see the server log');
}

function hasJsonBody(request: SesameWebhookRequest): boolean {
  const { headers } = request;
  const contentType = headers['content-type'];
  if (typeof contentType !== 'string' || !JSON_CONTENT_TYPE.test(contentType)) return false;
  return headers['transfer-encoding'] !== undefined || Number(headers['content-length']) > 0;
}
