import { HttpStatus, RequestMethod } from '@nestjs/common';
import { approvalHttpAnswers } from './approval-http-answers.js';
import { SESAME_APPROVAL_ID_HEADER } from './approval-id.header.js';
import type { RequireApprovalMetadata } from './require-approval.options.js';

/**
 * The metadata keys read and written here: @nestjs/swagger's (its `DECORATORS.API_RESPONSE`, which
 * @ApiResponse writes, and `DECORATORS.API_PARAMETERS`, which a method's @ApiHeader writes) and Nest's
 * route keys (`PATH_METADATA`, `METHOD_METADATA`, `HTTP_CODE_METADATA`). Spelled out: @nestjs/swagger is
 * an optional peer, never loaded, and @nestjs/common does not export its constants from its root.
 * test/approval-gate/openapi.e2e-spec.ts pins them to the installed packages' own constants.
 */
export const API_DOCS_METADATA_KEYS = {
  apiResponse: 'swagger/apiResponse',
  apiParameters: 'swagger/apiParameters',
  path: 'path',
  method: 'method',
  httpCode: '__httpCode__',
} as const;

const KEYS = API_DOCS_METADATA_KEYS;

/**
 * Documents a gated route's approval answers (approval-http-answers.ts) the way @ApiResponse and
 * @ApiHeader would, so @nestjs/swagger lists them when the app uses it, and nothing of it is loaded
 * when it does not. Only on routes: provider methods, resolvers, message and socket handlers have no
 * HTTP answers. What the app declares itself wins: its own response for a status replaces ours, its own
 * `Sesame-Approval-Id` header parameter ours; the route's own success response stays as Swagger would
 * list it without the gate.
 *
 * In a microtask: decorators run bottom-up, so @Post(), @HttpCode() and an @ApiResponse() written above
 * @RequireApproval come after it; by then the whole class is decorated, whatever the decorator order,
 * and no app (let alone its document) can exist yet.
 */
export function documentApprovalAnswers(handler: object, metadata: RequireApprovalMetadata): void {
  queueMicrotask(() => writeApprovalAnswers(handler, metadata));
}

function writeApprovalAnswers(handler: object, metadata: RequireApprovalMetadata): void {
  if (!Reflect.hasOwnMetadata(KEYS.path, handler) || !Reflect.hasOwnMetadata(KEYS.method, handler)) return;
  const answers = approvalHttpAnswers(metadata);
  if (!answers) return;

  const declared: unknown = Reflect.getMetadata(KEYS.apiResponse, handler);
  if (declared === undefined) {
    // Swagger lists the route's own status only when no response is declared: keep it as it would.
    const own = { [successStatus(handler)]: { description: '' } };
    Reflect.defineMetadata(KEYS.apiResponse, { ...own, ...answers.responses }, handler);
  } else if (isRecord(declared)) {
    Reflect.defineMetadata(KEYS.apiResponse, { ...answers.responses, ...declared }, handler);
  }

  const { requestHeader } = answers;
  if (!requestHeader) return;
  const parameters: unknown = Reflect.getMetadata(KEYS.apiParameters, handler);
  if (parameters !== undefined && !Array.isArray(parameters)) return;
  const list: unknown[] = parameters ?? [];
  if (!list.some(isApprovalIdHeader)) Reflect.defineMetadata(KEYS.apiParameters, [...list, requestHeader], handler);
}

/** The status Swagger gives a route with no declared response: @HttpCode(), else 201 for POST, else 200. */
function successStatus(handler: object): number {
  const code: unknown = Reflect.getMetadata(KEYS.httpCode, handler);
  if (typeof code === 'number' && code) return code;
  return Reflect.getMetadata(KEYS.method, handler) === RequestMethod.POST ? HttpStatus.CREATED : HttpStatus.OK;
}

function isApprovalIdHeader(parameter: unknown): boolean {
  if (!isRecord(parameter) || parameter.in !== 'header' || typeof parameter.name !== 'string') return false;
  return parameter.name.toLowerCase() === SESAME_APPROVAL_ID_HEADER.toLowerCase();
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}
