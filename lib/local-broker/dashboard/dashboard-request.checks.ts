import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import { HttpError } from '../http-io.js';

/**
 * The header the dashboard page sends with every decision. A cross-site HTML form cannot set a custom
 * header, and a cross-site fetch() that sets one needs a CORS preflight the broker never grants.
 */
export const DASHBOARD_CSRF_HEADER = 'x-sesame-dashboard';

/**
 * The dashboard has no login: it relies on being reachable only from this machine. So every dashboard
 * request must come from a loopback peer, and name the broker by an IP literal or `localhost` in its
 * Host header (a DNS-rebinding page reaches 127.0.0.1 under its own domain name, never as an IP literal).
 */
export function assertLocalDashboardRequest(req: IncomingMessage): void {
  if (!isLoopbackAddress(req.socket.remoteAddress)) {
    throw new HttpError(403, 'forbidden', 'The dashboard is served to loopback clients only');
  }
  const host = hostnameOf(req.headers.host);
  if (host === undefined || !(isIP(host) !== 0 || host === 'localhost' || host.endsWith('.localhost'))) {
    throw new HttpError(403, 'forbidden', 'The dashboard answers only requests addressed to an IP address or localhost');
  }
}

/**
 * Decisions change state, so on top of assertLocalDashboardRequest() they need a JSON body, the custom
 * header, and (when the browser says where the request comes from) a same-origin caller.
 */
export function assertDashboardDecisionRequest(req: IncomingMessage): void {
  const contentType = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (contentType !== 'application/json') {
    throw new HttpError(415, 'unsupported_media_type', 'Send the decision as JSON (content-type: application/json)');
  }
  if (req.headers[DASHBOARD_CSRF_HEADER] === undefined) {
    throw new HttpError(403, 'forbidden', `Missing the ${DASHBOARD_CSRF_HEADER} header that the dashboard page sends`);
  }
  const fetchSite = req.headers['sec-fetch-site'];
  if (fetchSite !== undefined && fetchSite !== 'same-origin' && fetchSite !== 'none') {
    throw new HttpError(403, 'forbidden', 'Cross-site decisions are refused');
  }
  const origin = req.headers.origin;
  if (origin !== undefined && origin !== `http://${req.headers.host ?? ''}`) {
    throw new HttpError(403, 'forbidden', 'Cross-origin decisions are refused');
  }
}

export function isLoopbackAddress(address: string | undefined): boolean {
  if (address === undefined) return false;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  return address === '::1' || (isIP(v4) === 4 && v4.startsWith('127.'));
}

/** `127.0.0.1:8787` -> `127.0.0.1`, `[::1]:8787` -> `::1`, `localhost` -> `localhost`; undefined when malformed. */
function hostnameOf(header: string | undefined): string | undefined {
  if (header === undefined || header.length === 0) return undefined;
  const bracketed = /^\[([0-9a-fA-F:.]+)\](?::\d{1,5})?$/.exec(header);
  if (bracketed) return bracketed[1];
  const plain = /^([A-Za-z0-9.-]+)(?::\d{1,5})?$/.exec(header);
  return plain ? plain[1].toLowerCase() : undefined;
}
