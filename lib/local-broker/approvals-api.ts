import type { IncomingMessage, ServerResponse } from 'node:http';
import type { WireApproval, WireApprovalPage } from '../protocol/wire-approval.js';
import type { ApprovalDecisions } from './approval-decisions.js';
import type { ApprovalRegistry } from './approval-registry.js';
import { answerWhenDecided } from './approval-waits.js';
import { clip } from './broker-log.js';
import { HttpError, readJsonBody, sendJson } from './http-io.js';
import { formatListCursor, parseCreateApprovalBody, parseDecisionBody, parseListCursor, parseListLimit, parseStatusFilter, parseWaitTimeout } from './request-validation.js';

/** The `/v1/approvals` endpoints of broker protocol v1, once routed and authenticated. */
export class ApprovalsApi {
  constructor(
    private readonly registry: ApprovalRegistry,
    private readonly decisions: ApprovalDecisions,
  ) {}

  /** `POST /v1/approvals`: 201 with a new approval, 200 with the one holding the dedup key. */
  async create(req: IncomingMessage, res: ServerResponse, requesterLabel: string): Promise<void> {
    const body = parseCreateApprovalBody(await readJsonBody(req));
    const { approval, created } = this.registry.create({ ...body, requesterLabel });
    if (created) this.decisions.runPolicy(approval);
    sendJson(res, created ? 201 : 200, approval);
  }

  /** `GET /v1/approvals?status&limit&cursor`: one page, newest first. */
  list(res: ServerResponse, query: URLSearchParams): void {
    const status = parseStatusFilter(query.get('status'));
    const limit = parseListLimit(query.get('limit'));
    const before = parseListCursor(query.get('cursor'));
    const page = this.registry.page({ status, limit, before });
    const body: WireApprovalPage = { approvals: page.approvals, next_cursor: page.next === null ? null : formatListCursor(page.next) };
    sendJson(res, 200, body);
  }

  /** `GET /v1/approvals/{id}`. */
  get(res: ServerResponse, id: string): void {
    sendJson(res, 200, this.mustGet(id));
  }

  /** `GET /v1/approvals/{id}/wait?timeout`: the long-poll. */
  wait(res: ServerResponse, id: string, query: URLSearchParams): void {
    const seconds = parseWaitTimeout(query.get('timeout'));
    answerWhenDecided(this.registry, res, this.mustGet(id), seconds);
  }

  /** `POST /v1/approvals/{id}/decision` (local broker only). */
  async decide(req: IncomingMessage, res: ServerResponse, id: string): Promise<void> {
    const body = parseDecisionBody(await readJsonBody(req));
    sendJson(res, 200, this.decisions.decideForHttp(id, body.decision, body.note, 'http'));
  }

  private mustGet(id: string): WireApproval {
    const approval = this.registry.get(id);
    if (!approval) throw new HttpError(404, 'not_found', `Approval ${clip(id)} not found`);
    return approval;
  }
}
