import { createHash } from 'node:crypto';
import type { DashboardAssets } from './dashboard-assets.js';
import { DASHBOARD_CSRF_HEADER } from './dashboard-request.checks.js';

/** The dashboard page as served: its HTML and the Content-Security-Policy that goes with it. */
export interface DashboardPage {
  html: string;
  contentSecurityPolicy: string;
}

function sha256(text: string): string {
  return `'sha256-${createHash('sha256').update(text).digest('base64')}'`;
}

/**
 * One static page with the stylesheet and script inlined. The Content-Security-Policy admits only
 * those two by hash, so even a mistake in the script could not run injected code; the page may talk to
 * its own origin only, and never be framed.
 */
export function renderDashboardPage({ css, script }: DashboardAssets): DashboardPage {
  const contentSecurityPolicy = [
    "default-src 'none'",
    `script-src ${sha256(script)}`,
    `style-src ${sha256(css)}`,
    "connect-src 'self'",
    "img-src 'self' data:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Sesame approvals</title>
<link rel="icon" href="data:,">
<style>${css}</style>
</head>
<body data-csrf-header="${DASHBOARD_CSRF_HEADER}">
<header>
  <h1>Sesame approvals</h1>
  <p>Local broker for development: approvals live in memory, and anyone on this machine can decide them.</p>
  <span id="conn" class="conn" data-state="connecting" role="status">Connecting...</span>
</header>
<main>
  <section aria-labelledby="pending-heading">
    <h2 id="pending-heading" tabindex="-1">Waiting for a decision <span id="pending-count" class="count">0</span></h2>
    <p id="pending-empty" class="empty">Nothing is waiting. A gated request shows up here the moment it asks for approval.</p>
    <ol id="pending-list" class="cards"></ol>
    <p id="pending-more" class="empty" hidden></p>
  </section>
  <section aria-labelledby="history-heading">
    <h2 id="history-heading">Decided <span id="history-count" class="count">0</span></h2>
    <p id="history-empty" class="empty">No decisions yet.</p>
    <table id="history-table" hidden>
      <thead><tr><th scope="col">Status</th><th scope="col">Action</th><th scope="col">Summary</th><th scope="col">Requester</th><th scope="col">Decided</th></tr></thead>
      <tbody id="history-body"></tbody>
    </table>
  </section>
  <div id="announcer" class="visually-hidden" aria-live="polite"></div>
</main>
<script>${script}</script>
</body>
</html>
`;
  return { html, contentSecurityPolicy };
}
