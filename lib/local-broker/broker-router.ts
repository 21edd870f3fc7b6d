import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ApprovalsApi } from './approvals-api.js';
import type { BrokerAuth } from './broker-auth.js';
import { clip } from './broker-log.js';
import type { DashboardHandler } from './dashboard/dashboard.handler.js';
import { HttpError, sendJson } from './http-io.js';

/**
 * Maps each request to its handler: `/healthz`, the dashboard (which authenticates by being local, see
 * dashboard-request.checks.ts), then the API-key-checked `/v1/approvals` endpoints. Unknown paths
 * answer 404, known paths with another method 405 with `Allow`.
 */
export class BrokerRouter {
  constructor(
    private readonly auth: BrokerAuth,
    private readonly api: ApprovalsApi,
    private readonly dashboard: DashboardHandler | undefined,
  ) {}

  async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    const url = new URL(req.url ?? '/', 'http://local-broker');
    const path = url.pathname;

    if (path === '/healthz') {
      if (method !== 'GET' && method !== 'HEAD') throw methodNotAllowed(method, path, 'GET, HEAD');
      return sendJson(res, 200, { ok: true });
    }
    if (this.dashboard?.matches(path)) return this.dashboard.handle(req, res, path);

    const label = this.auth.requesterLabel(req);
    const segments = path.split('/');
    // ['', 'v1', 'approvals', id?, sub?]
    if (segments.length < 3 || segments.length > 5 || segments[0] !== '' || segments[1] !== 'v1' || segments[2] !== 'approvals') {
      throw notFoundRoute(method, path);
    }

    if (segments.length === 3) {
      if (method === 'POST') return this.api.create(req, res, label);
      if (method === 'GET') return this.api.list(res, url.searchParams);
      throw methodNotAllowed(method, path, 'GET, POST');
    }

    const id = decodeSegment(segments[3]);
    if (id === undefined) throw notFoundRoute(method, path);
    const sub = segments[4];
    if (sub === undefined) {
      if (method !== 'GET') throw methodNotAllowed(method, path, 'GET');
      return this.api.get(res, id);
    }
    if (sub === 'wait') {
      if (method !== 'GET') throw methodNotAllowed(method, path, 'GET');
      return this.api.wait(res, id, url.searchParams);
    }
    if (sub === 'decision') {
      if (method !== 'POST') throw methodNotAllowed(method, path, 'POST');
      return this.api.decide(req, res, id);
    }
    throw notFoundRoute(method, path);
  }
}

function decodeSegment(segment: string): string | undefined {
  try {
    const id = decodeURIComponent(segment);
    return id.length > 0 ? id : undefined;
  } catch {
    return undefined;
  }
}

function notFoundRoute(method: string, path: string): HttpError {
  return new HttpError(404, 'not_found', `No route for ${clip(method)} ${clip(path)}`);
}

function methodNotAllowed(method: string, path: string, allow: string): HttpError {
  return new HttpError(405, 'method_not_allowed', `${clip(method)} is not allowed on ${clip(path)} (allowed: ${allow})`, { allow });
}
