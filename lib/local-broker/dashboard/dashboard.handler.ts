import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpError, readJsonBody, sendJson } from '../http-io.js';
import { parseDecisionBody } from '../request-validation.js';
import type { WireApproval } from '../../protocol/wire-approval.js';
import { DashboardEventHub, type DashboardEventHubOptions } from './dashboard-events.hub.js';
import { assertDashboardDecisionRequest, assertLocalDashboardRequest } from './dashboard-request.checks.js';
import { readDashboardAssets } from './dashboard-assets.js';
import { renderDashboardPage, type DashboardPage } from './dashboard.page.js';

/** Where the page lives on the broker. */
export const DASHBOARD_PATH = '/dashboard';
/** At most this many pending approvals are listed, the oldest ones (newer ones still arrive live as they are created). */
export const DASHBOARD_PENDING_LIMIT = 500;
/** At most this many decided approvals are listed, newest first. */
export const DASHBOARD_HISTORY_LIMIT = 100;

/** What the dashboard needs from its broker. */
export interface DashboardSource {
  /** Every approval the broker keeps (its retention bounds the decided ones), newest first (read only: serialised, never changed). */
  list(): readonly WireApproval[];
  /** Decides a pending approval; throws an HttpError (404, 409) when it cannot. */
  decide(id: string, decision: 'approve' | 'deny', note: string | null): WireApproval;
}

/** What the page (and `GET /dashboard/api/approvals`) receives: enough to render, bounded in size. */
export interface DashboardSnapshot {
  /** The broker's clock, so the page computes ages and time left without trusting the browser's. */
  now: string;
  /** Oldest first. */
  pending: WireApproval[];
  pendingTotal: number;
  /** Newest first. */
  history: WireApproval[];
  historyTotal: number;
}

/**
 * The local broker's approval dashboard: `GET /` (redirect), `GET /dashboard` (the page),
 * `GET /dashboard/events` (server-sent events), `GET /dashboard/api/approvals` and
 * `POST /dashboard/api/approvals/{id}/decision`. No API key: only loopback clients are served
 * (see dashboard-request.checks.ts), and decisions carry CSRF protection.
 */
export class DashboardHandler {
  readonly events: DashboardEventHub;
  /** Rendered on the first visit: a broker whose dashboard nobody opens never reads the assets. */
  private page: DashboardPage | undefined;

  constructor(
    private readonly source: DashboardSource,
    eventOptions: DashboardEventHubOptions = {},
  ) {
    this.events = new DashboardEventHub(eventOptions);
  }

  /** True for the paths this handler answers (before the API's authentication). */
  matches(path: string): boolean {
    return path === '/' || path === DASHBOARD_PATH || path.startsWith(`${DASHBOARD_PATH}/`);
  }

  async handle(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const method = req.method ?? 'GET';
    assertLocalDashboardRequest(req);

    if (path === '/' || path === DASHBOARD_PATH || path === `${DASHBOARD_PATH}/`) {
      allow(method, path, 'GET, HEAD');
      if (path === '/') {
        res.writeHead(302, { location: DASHBOARD_PATH, 'cache-control': 'no-store', 'content-length': '0' });
        res.end();
        return;
      }
      return sendPage(res, (this.page ??= renderDashboardPage(readDashboardAssets())));
    }
    if (path === `${DASHBOARD_PATH}/events`) {
      allow(method, path, 'GET');
      if (!this.events.open(res, this.snapshot())) throw new HttpError(503, 'unavailable', 'The local broker is stopping');
      return;
    }
    if (path === `${DASHBOARD_PATH}/api/approvals`) {
      allow(method, path, 'GET');
      return sendJson(res, 200, this.snapshot());
    }
    const decision = /^\/dashboard\/api\/approvals\/([^/]+)\/decision$/.exec(path);
    if (decision) {
      allow(method, path, 'POST');
      assertDashboardDecisionRequest(req);
      const id = decodeId(decision[1]);
      const body = parseDecisionBody(await readJsonBody(req));
      return sendJson(res, 200, this.source.decide(id, body.decision, body.note));
    }
    throw new HttpError(404, 'not_found', `No dashboard route for ${clip(path)}`);
  }

  /** Ends every event stream (part of the broker's stop()). */
  close(): void {
    this.events.close();
  }

  snapshot(): DashboardSnapshot {
    const all = this.source.list();
    const pending: WireApproval[] = [];
    const history: WireApproval[] = [];
    for (const approval of all) {
      if (approval.status === 'pending') pending.push(approval);
      else if (history.length < DASHBOARD_HISTORY_LIMIT) history.push(approval);
    }
    return {
      now: new Date().toISOString(),
      pending: pending.slice(-DASHBOARD_PENDING_LIMIT).reverse(),
      pendingTotal: pending.length,
      history,
      historyTotal: all.length - pending.length,
    };
  }
}

function sendPage(res: ServerResponse, page: DashboardPage): void {
  res.writeHead(200, {
    'content-type': 'text/html; charset=utf-8',
    'content-length': String(Buffer.byteLength(page.html)),
    'content-security-policy': page.contentSecurityPolicy,
    'x-frame-options': 'DENY',
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'cache-control': 'no-store',
  });
  res.end(page.html);
}

function allow(method: string, path: string, allowed: string): void {
  if (!allowed.split(', ').includes(method)) {
    throw new HttpError(405, 'method_not_allowed', `${clip(method)} is not allowed on ${clip(path)} (allowed: ${allowed})`, { allow: allowed });
  }
}

function decodeId(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new HttpError(404, 'not_found', 'Approval not found');
  }
}

function clip(text: string): string {
  return text.length > 100 ? `${text.slice(0, 100)}...` : text;
}
