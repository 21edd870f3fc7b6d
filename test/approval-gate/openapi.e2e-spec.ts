/**
 * The OpenAPI document of gated routes: @RequireApproval writes the metadata @nestjs/swagger's @ApiResponse and
 * @ApiHeader write, so `SwaggerModule.createDocument` lists a gated route's approval answers (403, 503, 504;
 * async: 202 with its headers, 400, 409, and the Sesame-Approval-Id request header) with no decorator of the
 * app's. Real apps on Express and Fastify; the real answers of a real gated route (the LocalBroker denying,
 * expiring, not deciding; a broker that is down; async mode) are checked against the schemas of the document.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Body, Controller, Get, HttpCode, HttpException, Injectable, Module, Post, RequestMethod, type INestApplication } from '@nestjs/common';
import { Mutation, Resolver } from '@nestjs/graphql';
import { MessagePattern } from '@nestjs/microservices';
import { ApiCreatedResponse, ApiForbiddenResponse, ApiHeader, ApiProperty, DECORATORS, DocumentBuilder, SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';
import {
  ApprovalAborted,
  ApprovalAlreadyUsedError,
  ApprovalCapacityError,
  ApprovalDenied,
  ApprovalInUseError,
  ApprovalMismatchError,
  ApprovalPending,
  ApprovalPolicyDenied,
  ApprovalTimeout,
  BrokerUnavailableError,
  InvalidApprovalIdHeaderError,
  RequireApproval,
  SesameClientClosedError,
  SkipApproval,
  type ApprovalError,
  type ApprovalPolicy,
  type ApprovalPolicyCall,
  type ApprovalPolicyDecision,
} from '../../lib/index.js';
import { API_DOCS_METADATA_KEYS } from '../../lib/approval-gate/approval-api-docs.js';
import { APPROVAL_ERROR_CODES, approvalHttpAnswers, type ApprovalAnswerSchema } from '../../lib/approval-gate/approval-http-answers.js';
import { REQUIRE_APPROVAL_METADATA, type RequireApprovalMetadata } from '../../lib/approval-gate/require-approval.options.js';
import { ApprovalStoreUnavailableError } from '../../lib/approval-store/approval-store.errors.js';
import { approvalHttpException } from '../../lib/approval-gate/transports/http.transport.js';
import { LocalBroker } from '../../lib/testing/index.js';
import { startGatedApp, type GatedApp } from '../support/gated-app.js';
import { postJson, type JsonAnswer } from '../support/http-requests.js';
import { ADAPTERS, createApp } from '../support/nest-apps.js';

const API_KEY = 'sk_test_SECRET_openapi_4d7a';
const SILENT = { log: () => undefined, error: () => undefined, warn: () => undefined };

class RefundResult {
  @ApiProperty() refunded!: number;
}

/** The same routes, gated or not: the gated document must be the plain one plus the approval answers. */
function refundsController(gate: boolean) {
  const gated = (action: string, options?: Parameters<typeof RequireApproval>[1]): MethodDecorator => (gate ? RequireApproval(action, options) : () => undefined);

  @Controller(gate ? 'refunds' : 'plain')
  class RefundsController {
    @Post()
    @gated('payments.refund')
    refund(@Body() body: { amount: number }) {
      return { refunded: body.amount };
    }

    @Post('quick')
    @gated('payments.quick-refund', { timeout: 300 })
    quick(@Body() body: { amount: number }) {
      return { refunded: body.amount };
    }

    @Post('shared')
    @gated('payments.shared', { dedupKey: 'nightly-payout' })
    shared() {
      return { paid: true };
    }

    @Post('exports')
    @gated('reports.export', { mode: 'async', retryAfter: 2_500 })
    export(@Body() body: { format: string }) {
      return { exported: body.format };
    }

    @Get('status')
    @HttpCode(203)
    @gated('status.read')
    status() {
      return {};
    }

    @Get('health')
    health() {
      return { ok: true };
    }

    // The app's own responses and header, above and below the gate: theirs win, in either order.
    @Post('mine-above')
    @ApiForbiddenResponse({ description: 'Not your account' })
    @ApiCreatedResponse({ type: RefundResult })
    @gated('payments.mine')
    mineAbove() {
      return { refunded: 1 };
    }

    @Post('mine-below')
    @gated('payments.mine')
    @ApiForbiddenResponse({ description: 'Not your account' })
    @ApiCreatedResponse({ type: RefundResult })
    mineBelow() {
      return { refunded: 1 };
    }

    @Post('header-above')
    @ApiHeader({ name: 'sesame-approval-id', description: 'Ours' })
    @gated('reports.export', { mode: 'async' })
    headerAbove() {
      return {};
    }

    @Post('header-below')
    @gated('reports.export', { mode: 'async' })
    @ApiHeader({ name: 'Sesame-Approval-Id', description: 'Ours' })
    headerBelow() {
      return {};
    }
  }
  return RefundsController;
}
const GatedRefundsController = refundsController(true);
const PlainRefundsController = refundsController(false);

/** A class-level gate: its routes are documented, its @SkipApproval route and its helper (not a route) are not. */
@Controller('admin')
@RequireApproval('admin.ops')
class AdminController {
  @Post('purge')
  purge() {
    return { purged: true };
  }

  @Get('overview')
  @SkipApproval()
  overview() {
    return {};
  }

  helper() {
    return 'not a route';
  }
}

/** Gated handlers that are not routes: no HTTP answers to document. */
@Controller()
class PaymentsMessagesController {
  @MessagePattern('payments.refund')
  @RequireApproval('payments.refund')
  refund(data: { amount: number }) {
    return data;
  }
}

@Resolver()
class PaymentsResolver {
  @Mutation(() => Boolean)
  @RequireApproval('payments.refund')
  refund() {
    return true;
  }
}

@Injectable()
class PayoutsService {
  @RequireApproval('payments.payout')
  payout() {
    return true;
  }
}

/** Refuses refunds of 666 (403 approval_policy_denied); everything else asks a human. */
@Injectable()
class RefundLimitPolicy implements ApprovalPolicy {
  evaluate(call: ApprovalPolicyCall): ApprovalPolicyDecision {
    const [body] = call.args as [{ amount?: number } | undefined];
    return call.action === 'payments.refund' && body?.amount === 666 ? { deny: 'over the daily limit' } : 'ask';
  }
}

@Module({ controllers: [AdminController, PaymentsMessagesController], providers: [PaymentsResolver, PayoutsService] })
class OtherHandlersModule {}

function buildDocument(app: INestApplication): OpenAPIObject {
  return SwaggerModule.createDocument(app, new DocumentBuilder().setTitle('Payments').build());
}

type Operation = NonNullable<OpenAPIObject['paths'][string]['post']>;

function operation(document: OpenAPIObject, path: string, method: 'get' | 'post' = 'post'): Operation {
  const found = document.paths[path]?.[method];
  if (!found) throw new Error(`no ${method.toUpperCase()} ${path} in the document`);
  return found;
}

/** The JSON schema a response of the document gives for a status. */
function schemaOf(document: OpenAPIObject, path: string, status: number): ApprovalAnswerSchema {
  const response = operation(document, path).responses[status] as { content?: Record<string, { schema?: ApprovalAnswerSchema }> } | undefined;
  const schema = response?.content?.['application/json']?.schema;
  if (!schema) throw new Error(`POST ${path} documents no JSON body for ${status}`);
  return schema;
}

/**
 * What is wrong with `value` against an OpenAPI 3.0 schema (type, nullable, enum, format date-time,
 * required, properties): [] when nothing. Strict: a property the schema does not declare is wrong too,
 * so a field the app sends but the document omits fails the test.
 */
function schemaProblems(schema: ApprovalAnswerSchema, value: unknown, at = 'body'): string[] {
  if (value === null) return schema.nullable ? [] : [`${at} is null`];
  const actual = Array.isArray(value) ? 'array' : Number.isInteger(value) ? 'integer' : typeof value;
  if (actual !== schema.type) return [`${at} is ${actual}, not ${schema.type}`];
  const problems: string[] = [];
  if (schema.enum && !schema.enum.includes(value as string | number)) problems.push(`${at} is ${JSON.stringify(value)}, not one of ${JSON.stringify(schema.enum)}`);
  if (schema.format === 'date-time' && Number.isNaN(Date.parse(value as string))) problems.push(`${at} is not a date-time`);
  if (schema.minimum !== undefined && (value as number) < schema.minimum) problems.push(`${at} is below ${schema.minimum}`);
  if (schema.type === 'object') {
    const record = value as Record<string, unknown>;
    for (const name of schema.required ?? []) if (!(name in record)) problems.push(`${at}.${name} is missing`);
    for (const [name, field] of Object.entries(record)) {
      const declared = schema.properties?.[name];
      problems.push(...(declared ? schemaProblems(declared, field, `${at}.${name}`) : [`${at}.${name} is not in the schema`]));
    }
  }
  return problems;
}

const BLOCKING: RequireApprovalMetadata = { action: 'payments.refund' };
const BLOCKING_SHARED: RequireApprovalMetadata = { action: 'payments.shared', dedupKey: 'nightly-payout' };
const ASYNC: RequireApprovalMetadata = { action: 'reports.export', mode: 'async' };

it('our metadata keys are the installed @nestjs/swagger and @nestjs/common keys (an upgrade that renames one fails here)', () => {
  expect({ apiResponse: API_DOCS_METADATA_KEYS.apiResponse, apiParameters: API_DOCS_METADATA_KEYS.apiParameters }).toEqual({
    apiResponse: DECORATORS.API_RESPONSE,
    apiParameters: DECORATORS.API_PARAMETERS,
  });
  // Nest keeps its constants off its root: read what its own decorators write.
  class Probe {
    @Post('probe')
    @HttpCode(203)
    @ApiHeader({ name: 'x-probe' })
    @ApiForbiddenResponse({ description: 'probe' })
    probe() {
      return {};
    }
  }
  const written = (key: string) => Reflect.getOwnMetadata(key, Probe.prototype.probe) as unknown;
  expect(written(API_DOCS_METADATA_KEYS.path)).toBe('probe');
  expect(written(API_DOCS_METADATA_KEYS.method)).toBe(RequestMethod.POST);
  expect(written(API_DOCS_METADATA_KEYS.httpCode)).toBe(203);
  expect(written(API_DOCS_METADATA_KEYS.apiResponse)).toEqual({ 403: expect.objectContaining({ description: 'probe' }) });
  expect(written(API_DOCS_METADATA_KEYS.apiParameters)).toEqual([expect.objectContaining({ name: 'x-probe', in: 'header' })]);
});

it('the schemas cover every body a gated route sends for a documented status, and list no code it never sends', () => {
  // One of each approval error a gated route turns into a documented status, through the same function the routes use.
  const errors: ApprovalError[] = [
    new ApprovalDenied('apr_1', 'denied'),
    new ApprovalDenied('apr_1', 'expired'),
    new ApprovalPolicyDenied('payments.refund', 'over the daily limit'),
    new ApprovalMismatchError('approval_mismatch', 'apr_1', 'Approval apr_1 was granted for another call'),
    new ApprovalMismatchError('approval_action_mismatch', 'apr_1', 'Approval apr_1 is for another action'),
    new ApprovalMismatchError('approval_not_found', 'apr_1', 'Approval apr_1 does not exist'),
    new ApprovalAlreadyUsedError('apr_1'),
    new ApprovalInUseError('apr_1', 30_000),
    new InvalidApprovalIdHeaderError('empty'),
    new ApprovalTimeout('apr_1', 300),
    new BrokerUnavailableError(2, 'ECONNREFUSED'),
    new ApprovalStoreUnavailableError('claim', 'connection lost'),
    new ApprovalCapacityError(10),
    new ApprovalAborted('apr_1', new SesameClientClosedError()),
  ];
  const schemas = new Map<number, ApprovalAnswerSchema[]>();
  const sent = new Map<number, Set<string>>();
  for (const metadata of [BLOCKING_SHARED, ASYNC]) {
    for (const [status, answer] of Object.entries(approvalHttpAnswers(metadata)!.responses)) {
      schemas.set(Number(status), [...(schemas.get(Number(status)) ?? []), answer.content['application/json'].schema]);
    }
  }
  for (const error of errors) {
    const exception = approvalHttpException(error, SILENT) as HttpException;
    const status = exception.getStatus();
    const body = exception.getResponse();
    const documented = schemas.get(status);
    expect({ error: error.name, status, documented: documented !== undefined }).toEqual({ error: error.name, status, documented: true });
    // Valid against one mode's schema for its status, at least.
    expect({ error: error.name, problems: documented!.map((schema) => schemaProblems(schema, body)).sort((a, b) => a.length - b.length)[0] }).toEqual({
      error: error.name,
      problems: [],
    });
    sent.set(status, new Set([...(sent.get(status) ?? []), (body as { code: string }).code]));
  }
  const listed = new Map<number, Set<string>>();
  for (const byStatus of Object.values(APPROVAL_ERROR_CODES)) {
    for (const [status, codes] of Object.entries(byStatus)) listed.set(Number(status), new Set([...(listed.get(Number(status)) ?? []), ...codes]));
  }
  expect(Object.fromEntries([...listed].map(([status, codes]) => [status, [...codes].sort()]))).toEqual(
    Object.fromEntries([...sent].map(([status, codes]) => [status, [...codes].sort()])),
  );

  const pendingSchema = approvalHttpAnswers(ASYNC)!.responses[202].content['application/json'].schema;
  for (const expiresAt of [new Date(), null]) {
    const pending = approvalHttpException(new ApprovalPending('apr_1', expiresAt, 5_000), SILENT) as HttpException;
    expect(schemaProblems(pendingSchema, pending.getResponse())).toEqual([]);
  }
});

describe.each(ADAPTERS)('the OpenAPI document of a real app (%s)', (adapter) => {
  let document: OpenAPIObject;

  beforeAll(async () => {
    const { app } = await createApp(adapter, { imports: [OtherHandlersModule], controllers: [GatedRefundsController, PlainRefundsController] }, { logger: false });
    document = buildDocument(app);
    await app.close();
  });

  const plainAnd = (path: string, method: 'get' | 'post' = 'post') => ({
    gated: operation(document, `/refunds${path}`, method),
    plain: operation(document, `/plain${path}`, method),
  });
  const without = (responses: Operation['responses'], statuses: number[]) =>
    Object.fromEntries(Object.entries(responses).filter(([status]) => !statuses.includes(Number(status))));

  it('a blocking route: 403, 503 and 504 with the error body, beside its own 201 as Swagger lists it ungated', () => {
    const { gated, plain } = plainAnd('');
    expect(Object.keys(gated.responses).sort()).toEqual(['201', '403', '503', '504']);
    expect(without(gated.responses, [403, 503, 504])).toEqual(plain.responses);
    // Swagger lists the gate's answers as written (approval-http-answers.ts), its error body schema among them.
    expect(without(gated.responses, [201])).toEqual(approvalHttpAnswers(BLOCKING)!.responses);
    expect(gated.parameters).toEqual(plain.parameters);
    expect(gated.responses[403]).toMatchObject({ description: expect.stringContaining('approval_policy_denied') });
    expect(schemaOf(document, '/refunds', 403)).toEqual({
      type: 'object',
      required: ['statusCode', 'code', 'message'],
      properties: {
        statusCode: { type: 'integer', enum: [403] },
        code: { type: 'string', enum: [...APPROVAL_ERROR_CODES.blocking[403]] },
        message: { type: 'string' },
        approvalId: expect.objectContaining({ type: 'string' }),
        status: expect.objectContaining({ type: 'string', enum: ['denied', 'expired'] }),
        reason: expect.objectContaining({ type: 'string' }),
      },
    });
    expect(schemaOf(document, '/refunds', 504)).toMatchObject({ required: ['statusCode', 'code', 'message', 'approvalId', 'status'] });
    // With a dedupKey, calls share one approval and one of them runs: the others get 409.
    expect(without(operation(document, '/refunds/shared').responses, [201])).toEqual(approvalHttpAnswers(BLOCKING_SHARED)!.responses);
    expect(Object.keys(approvalHttpAnswers(BLOCKING_SHARED)!.responses).sort()).toEqual(['403', '409', '503', '504']);
  });

  it('an async route: 202 with Sesame-Approval-Id, Retry-After and Cache-Control, 400, 403, 409, 503, and the Sesame-Approval-Id request header', () => {
    const { gated, plain } = plainAnd('/exports');
    expect(Object.keys(gated.responses).sort()).toEqual(['201', '202', '400', '403', '409', '503']);
    expect(without(gated.responses, [202, 400, 403, 409, 503])).toEqual(plain.responses);
    expect(without(gated.responses, [201])).toEqual(approvalHttpAnswers(ASYNC)!.responses);
    expect(gated.responses[202]).toMatchObject({
      headers: {
        'Sesame-Approval-Id': { required: true, schema: { type: 'string' } },
        'Retry-After': { required: true, schema: { type: 'integer', minimum: 1 } },
        'Cache-Control': { schema: { type: 'string', enum: ['no-store'] } },
      },
    });
    expect(gated.responses[409]).toMatchObject({ headers: { 'Retry-After': { required: false } } });
    expect(schemaOf(document, '/refunds/exports', 202)).toMatchObject({
      required: ['statusCode', 'code', 'message', 'approvalId', 'status', 'expiresAt'],
      properties: { expiresAt: { type: 'string', format: 'date-time', nullable: true } },
    });
    expect(gated.parameters).toEqual([
      ...(plain.parameters ?? []),
      { name: 'Sesame-Approval-Id', in: 'header', required: false, description: expect.stringContaining('202'), schema: { type: 'string' } },
    ]);
    expect(gated.requestBody).toEqual(plain.requestBody);
  });

  it("a route's own status stays: @HttpCode(203) on a GET", () => {
    const { gated, plain } = plainAnd('/status', 'get');
    expect(plain.responses).toEqual({ 203: { description: '' } });
    expect(without(gated.responses, [403, 503, 504])).toEqual(plain.responses);
  });

  it.each(['/mine-above', '/mine-below'])("the app's own @ApiResponse for a status wins over the gate's, in either decorator order (%s)", (path) => {
    const { gated, plain } = plainAnd(path);
    // As without the gate: the app declared its responses, so Swagger adds no 201 of its own.
    expect(plain.responses).toEqual({
      201: { description: '', content: { 'application/json': { schema: { $ref: '#/components/schemas/RefundResult' } } } },
      403: { description: 'Not your account' },
    });
    expect(without(gated.responses, [503, 504])).toEqual(plain.responses);
    expect(Object.keys(gated.responses).sort()).toEqual(['201', '403', '503', '504']);
  });

  it.each(['/header-above', '/header-below'])("the app's own Sesame-Approval-Id header parameter wins, in either decorator order (%s)", (path) => {
    const { gated, plain } = plainAnd(path);
    expect(gated.parameters).toEqual(plain.parameters);
    expect(gated.parameters).toEqual([expect.objectContaining({ in: 'header', description: 'Ours' })]);
  });

  it('an ungated route is left alone', () => {
    const { gated, plain } = plainAnd('/health', 'get');
    expect(gated.responses).toEqual({ 200: { description: '' } });
    expect(gated.responses).toEqual(plain.responses);
  });

  it('a class-level @RequireApproval documents its routes, not its @SkipApproval route', () => {
    expect(Object.keys(operation(document, '/admin/purge').responses).sort()).toEqual(['201', '403', '503', '504']);
    expect(operation(document, '/admin/overview', 'get').responses).toEqual({ 200: { description: '' } });
  });

  it('gated handlers that are not routes (a message pattern in a controller) are not in the document', () => {
    expect(Object.keys(document.paths).sort()).toEqual(
      [
        '/admin/overview',
        '/admin/purge',
        ...['', '/quick', '/shared', '/exports', '/status', '/health', '/mine-above', '/mine-below', '/header-above', '/header-below'].flatMap((p) => [
          `/refunds${p}`,
          `/plain${p}`,
        ]),
      ].sort(),
    );
  });
});

it('gated methods that are not routes get no Swagger metadata: provider methods, resolvers, message patterns, a class-level helper', () => {
  const methods = [PayoutsService.prototype.payout, PaymentsResolver.prototype.refund, PaymentsMessagesController.prototype.refund, AdminController.prototype.helper];
  for (const method of methods) {
    expect(Reflect.getMetadata(REQUIRE_APPROVAL_METADATA, method)).toBeDefined(); // gated all the same
    expect(Reflect.getMetadataKeys(method).filter((key) => String(key).startsWith('swagger/'))).toEqual([]);
  }
});

describe.each(ADAPTERS)('real answers of gated routes against the document (%s)', (adapter) => {
  let gated: GatedApp;
  let document: OpenAPIObject;

  beforeAll(async () => {
    gated = await startGatedApp(adapter, {
      apiKey: API_KEY,
      sesame: { retry: { retries: 1, minDelay: 1, maxDelay: 2 }, policy: RefundLimitPolicy },
      controllers: [GatedRefundsController],
      providers: [RefundLimitPolicy],
    });
    document = buildDocument(gated.started.app);
  });
  afterAll(async () => {
    await gated.started.app.close();
    await gated.broker.stop();
    for (const line of gated.started.logger.lines) expect(line).not.toContain(API_KEY);
  });

  const post = (path: string, body: unknown = {}, headers: Record<string, string> = {}) => postJson(`${gated.started.url}/refunds${path}`, body, headers);
  /** The answer, checked against what the document says of its status on that route. */
  const expectDocumented = (path: string, answer: JsonAnswer) => {
    expect(Object.keys(operation(document, `/refunds${path}`).responses)).toContain(String(answer.status));
    expect(schemaProblems(schemaOf(document, `/refunds${path}`, answer.status), answer.body)).toEqual([]);
  };
  const decideNext = async (action: string, decide: (id: string) => Promise<unknown>) => {
    const approval = await gated.broker.waitForApproval((a) => a.action === action && a.status === 'pending');
    await decide(approval.id);
  };

  it('blocking: denied and expired (403), the policy refusing (403), no decision (504)', async () => {
    const [denied] = await Promise.all([post('', { amount: 13 }), decideNext('payments.refund', (id) => gated.broker.deny(id))]);
    expect(denied.body).toMatchObject({ statusCode: 403, code: 'approval_denied', status: 'denied' });
    expectDocumented('', denied);

    const [expired] = await Promise.all([post('', { amount: 14 }), decideNext('payments.refund', (id) => gated.broker.expire(id))]);
    expect(expired.body).toMatchObject({ statusCode: 403, code: 'approval_expired', status: 'expired' });
    expectDocumented('', expired);

    const refused = await post('', { amount: 666 });
    expect(refused.body).toMatchObject({ statusCode: 403, code: 'approval_policy_denied', reason: 'over the daily limit' });
    expectDocumented('', refused);

    const undecided = await post('/quick', { amount: 15 });
    expect(undecided.body).toMatchObject({ statusCode: 504, code: 'approval_timeout', status: 'pending' });
    expectDocumented('/quick', undecided);
  });

  it('blocking with a dedupKey: of two calls sharing one approval, one runs and the other is 409', async () => {
    const both = Promise.all([post('/shared'), post('/shared')]);
    await gated.broker.waitForHeldWaits(2);
    expect(gated.broker.list().filter((a) => a.action === 'payments.shared')).toHaveLength(1);
    await decideNext('payments.shared', (id) => gated.broker.approve(id));
    const answers = await both;
    expect(answers.map((a) => a.status).sort()).toEqual([201, 409]);
    const conflict = answers.find((a) => a.status === 409)!;
    expect(conflict.body).toMatchObject({ code: 'approval_already_used' });
    expectDocumented('/shared', conflict);
  });

  it('async: 202 with its documented headers, 400, 403 for an unknown or denied approval, 409 once used', async () => {
    const pending = await post('/exports', { format: 'csv' });
    expect(pending.status).toBe(202);
    expectDocumented('/exports', pending);
    const documentedHeaders = (operation(document, '/refunds/exports').responses[202] as { headers: Record<string, unknown> }).headers;
    for (const name of Object.keys(documentedHeaders)) expect({ name, value: pending.headers.get(name) }).toEqual({ name, value: expect.any(String) });
    expect(Number(pending.headers.get('retry-after'))).toBe(3);
    const id = pending.body.approvalId as string;
    expect(pending.headers.get('sesame-approval-id')).toBe(id);

    const malformed = await post('/exports', { format: 'csv' }, { 'sesame-approval-id': 'two ids' });
    expect(malformed.body).toMatchObject({ statusCode: 400, code: 'approval_id_invalid' });
    expectDocumented('/exports', malformed);

    const unknown = await post('/exports', { format: 'csv' }, { 'sesame-approval-id': 'apr_unknown' });
    expect(unknown.body).toMatchObject({ statusCode: 403, code: 'approval_not_found' });
    expectDocumented('/exports', unknown);

    await gated.broker.approve(id);
    const ran = await post('/exports', { format: 'csv' }, { 'sesame-approval-id': id });
    expect(ran).toMatchObject({ status: 201, body: { exported: 'csv' } });
    const used = await post('/exports', { format: 'csv' }, { 'sesame-approval-id': id });
    expect(used.body).toMatchObject({ statusCode: 409, code: 'approval_already_used', approvalId: id });
    expectDocumented('/exports', used);

    const other = await post('/exports', { format: 'pdf' });
    await gated.broker.deny(other.body.approvalId as string);
    const denied = await post('/exports', { format: 'pdf' }, { 'sesame-approval-id': other.body.approvalId as string });
    expect(denied.body).toMatchObject({ statusCode: 403, code: 'approval_denied', status: 'denied' });
    expectDocumented('/exports', denied);
  });

  it('the broker down: 503, blocking and async', async () => {
    const down = await LocalBroker.start({ apiKeys: [API_KEY] });
    const url = down.url;
    await down.stop();
    const offline = await startGatedApp(adapter, {
      apiKey: API_KEY,
      sesame: { baseUrl: url, retry: { retries: 1, minDelay: 1, maxDelay: 2 } },
      controllers: [GatedRefundsController],
    });
    try {
      for (const path of ['', '/exports']) {
        const answer = await postJson(`${offline.started.url}/refunds${path}`, { amount: 16, format: 'csv' });
        expect(answer.body).toMatchObject({ statusCode: 503, code: 'approval_broker_unavailable' });
        expectDocumented(path, answer);
      }
    } finally {
      await offline.started.app.close();
      await offline.broker.stop();
    }
  });
});
