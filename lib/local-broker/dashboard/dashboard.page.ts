import { createHash } from 'node:crypto';
import { DASHBOARD_CSRF_HEADER } from './dashboard-request.checks.js';

/*
 * The approval dashboard: one static page, no framework, no build step. Every value that comes from an
 * app (summary, reason, context, action, requester) reaches the DOM through textContent or
 * setAttribute, never as markup; the Content-Security-Policy below allows only this exact script and
 * style, so even a mistake there could not run injected code.
 */

const STYLE = String.raw`
:root { color-scheme: light dark; --bg: #f6f7f9; --card: #fff; --text: #1b1f24; --muted: #5b6470; --line: #d5d9df;
  --ok: #137333; --ok-bg: #e6f4ea; --no: #b3261e; --no-bg: #fce8e6; --warn: #8a5300; --focus: #1a5fd0; --code: #eef0f3; }
@media (prefers-color-scheme: dark) {
  :root { --bg: #15181c; --card: #1e2227; --text: #e8eaed; --muted: #a0a8b3; --line: #3a4048;
    --ok: #81c995; --ok-bg: #1f3a28; --no: #f28b82; --no-bg: #45201d; --warn: #fdd663; --focus: #8ab4f8; --code: #2a2f36; }
}
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; background: var(--bg); color: var(--text); }
header { display: flex; flex-wrap: wrap; align-items: baseline; gap: 0.25rem 1rem; padding: 1rem 1.5rem; border-bottom: 1px solid var(--line); background: var(--card); }
header h1 { margin: 0; font-size: 1.25rem; }
header p { margin: 0; color: var(--muted); font-size: 0.875rem; flex: 1 1 20rem; }
main { max-width: 64rem; margin: 0 auto; padding: 1rem 1.5rem 3rem; }
h2 { font-size: 1.05rem; margin: 1.5rem 0 0.75rem; }
h2:focus { outline: none; }
.count { display: inline-block; min-width: 1.6em; padding: 0 0.4em; border-radius: 1em; background: var(--line); text-align: center; font-size: 0.85em; }
.conn { font-size: 0.8125rem; padding: 0.15rem 0.6rem; border-radius: 1rem; border: 1px solid var(--line); white-space: nowrap; }
.conn[data-state="live"] { color: var(--ok); border-color: var(--ok); }
.conn[data-state="down"] { color: var(--no); border-color: var(--no); }
ol.cards { list-style: none; margin: 0; padding: 0; display: grid; gap: 0.75rem; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 0.5rem; padding: 0.9rem 1rem; }
.card h3 { margin: 0.35rem 0 0.5rem; font-size: 1.05rem; overflow-wrap: anywhere; }
.action { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 0.85rem; background: var(--code); padding: 0.05rem 0.4rem; border-radius: 0.25rem; }
.id { color: var(--muted); font-size: 0.8rem; font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
dl.facts { display: grid; grid-template-columns: max-content minmax(0, 1fr); gap: 0.2rem 0.9rem; margin: 0 0 0.75rem; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; overflow-wrap: anywhere; }
.urgent { color: var(--no); font-weight: 600; }
pre.context { margin: 0; padding: 0.6rem 0.75rem; background: var(--code); border-radius: 0.375rem; overflow: auto; max-height: 16rem; font-size: 0.8125rem; }
.buttons { display: flex; gap: 0.6rem; flex-wrap: wrap; }
button { font: inherit; font-weight: 600; min-height: 2.5rem; min-width: 6.5rem; padding: 0.4rem 1.1rem; border-radius: 0.375rem; cursor: pointer; border: 2px solid transparent; }
button.approve { background: var(--ok); color: var(--card); }
button.deny { background: transparent; color: var(--no); border-color: var(--no); }
button:hover:not(:disabled) { filter: brightness(1.1); }
button:focus-visible { outline: 3px solid var(--focus); outline-offset: 2px; }
button:disabled { opacity: 0.55; cursor: progress; }
.error { color: var(--no); margin: 0.5rem 0 0; }
.empty { color: var(--muted); background: var(--card); border: 1px dashed var(--line); border-radius: 0.5rem; padding: 1rem; margin: 0; }
table { width: 100%; border-collapse: collapse; background: var(--card); border: 1px solid var(--line); border-radius: 0.5rem; }
th, td { text-align: left; padding: 0.45rem 0.75rem; border-bottom: 1px solid var(--line); vertical-align: top; }
td { overflow-wrap: anywhere; }
th { font-size: 0.8125rem; color: var(--muted); font-weight: 600; white-space: nowrap; }
td.when { white-space: nowrap; }
tr:last-child td { border-bottom: none; }
.status { font-weight: 600; font-size: 0.8125rem; padding: 0.1rem 0.5rem; border-radius: 1rem; white-space: nowrap; }
.status-approved { color: var(--ok); background: var(--ok-bg); }
.status-denied { color: var(--no); background: var(--no-bg); }
.status-expired { color: var(--warn); background: var(--code); }
.visually-hidden { position: absolute; width: 1px; height: 1px; margin: -1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
`;

const SCRIPT = String.raw`
(function () {
  'use strict';
  var HISTORY_LIMIT = 100;
  var pending = new Map();
  var historyIds = new Set();
  var clockOffset = 0;
  var source = null;
  var $ = function (id) { return document.getElementById(id); };
  var pendingList = $('pending-list');
  var historyBody = $('history-body');

  function h(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) { node.setAttribute(name, attrs[name]); });
    (children || []).forEach(function (child) {
      node.appendChild(typeof child === 'string' ? document.createTextNode(child) : child);
    });
    return node;
  }

  function duration(ms) {
    var s = Math.max(0, Math.floor(ms / 1000));
    if (s < 60) return s + ' s';
    var m = Math.floor(s / 60);
    if (m < 60) return m + ' min ' + (s % 60) + ' s';
    var hrs = Math.floor(m / 60);
    if (hrs < 48) return hrs + ' h ' + (m % 60) + ' min';
    return Math.floor(hrs / 24) + ' d ' + (hrs % 24) + ' h';
  }

  function now() { return Date.now() + clockOffset; }
  function label(a) { return a.summary + ' (' + a.action + ', ' + a.id + ')'; }
  function announce(text) { $('announcer').textContent = text; }

  function card(a) {
    var age = h('dd', { 'data-field': 'age' });
    var left = h('dd', { 'data-field': 'time-left' });
    var facts = h('dl', { class: 'facts' }, [
      h('dt', {}, ['Reason']), h('dd', {}, [a.reason === null ? '(none given)' : a.reason]),
      h('dt', {}, ['Requester']), h('dd', {}, [a.requester_label === null ? 'unknown' : a.requester_label]),
      h('dt', {}, ['Age']), age,
      h('dt', {}, ['Time left']), left,
    ]);
    if (a.context !== null) {
      facts.appendChild(h('dt', {}, ['Context']));
      facts.appendChild(h('dd', {}, [h('pre', { class: 'context', tabindex: '0' }, [JSON.stringify(a.context, null, 2)])]));
    }
    var approve = h('button', { type: 'button', class: 'approve', 'aria-label': 'Approve ' + label(a) }, ['Approve']);
    var deny = h('button', { type: 'button', class: 'deny', 'aria-label': 'Deny ' + label(a) }, ['Deny']);
    var error = h('p', { class: 'error', role: 'alert', hidden: '' });
    var headingId = 'summary-' + a.id.replace(/[^A-Za-z0-9_-]/g, '_');
    var children = [
      h('div', {}, [h('span', { class: 'action' }, [a.action]), ' ', h('span', { class: 'id' }, [a.id])]),
      h('h3', { id: headingId }, [a.summary]),
      facts,
      h('div', { class: 'buttons' }, [approve, deny]),
      error,
    ];
    var node = h('li', { class: 'card', 'data-approval-id': a.id, 'aria-labelledby': headingId }, children);
    var entry = { approval: a, node: node, age: age, left: left, error: error, buttons: [approve, deny] };
    approve.addEventListener('click', function () { decide(entry, 'approve'); });
    deny.addEventListener('click', function () { decide(entry, 'deny'); });
    tick(entry);
    return entry;
  }

  function tick(entry) {
    var a = entry.approval;
    var t = now();
    entry.age.textContent = duration(t - Date.parse(a.created_at));
    var remaining = Date.parse(a.expires_at) - t;
    entry.left.textContent = remaining > 0 ? duration(remaining) : 'expiring...';
    entry.left.className = remaining < 60000 ? 'urgent' : '';
  }

  function addPending(a) {
    if (pending.has(a.id) || historyIds.has(a.id)) return;
    var entry = card(a);
    pending.set(a.id, entry);
    // Oldest first: the request that has waited longest is on top.
    var created = Date.parse(a.created_at);
    var before = pendingList.firstElementChild;
    while (before !== null && Date.parse(pending.get(before.getAttribute('data-approval-id')).approval.created_at) <= created) {
      before = before.nextElementSibling;
    }
    pendingList.insertBefore(entry.node, before);
    counts();
  }

  function removePending(id) {
    var entry = pending.get(id);
    if (!entry) return;
    var hadFocus = entry.node.contains(document.activeElement);
    var next = entry.node.nextElementSibling || entry.node.previousElementSibling;
    pending.delete(id);
    entry.node.remove();
    if (hadFocus) {
      var target = next ? next.querySelector('button.approve') : null;
      (target || $('pending-heading')).focus();
    }
    counts();
  }

  function addHistory(a, atEnd) {
    if (historyIds.has(a.id)) return;
    historyIds.add(a.id);
    var decided = a.decided_at === null ? '' : new Date(a.decided_at).toLocaleTimeString();
    var row = h('tr', { 'data-approval-id': a.id }, [
      h('td', {}, [h('span', { class: 'status status-' + a.status }, [a.status])]),
      h('td', {}, [h('span', { class: 'action' }, [a.action])]),
      h('td', {}, [a.summary]),
      h('td', {}, [a.requester_label === null ? 'unknown' : a.requester_label]),
      h('td', { class: 'when' }, [h('time', { datetime: a.decided_at || '', title: a.decided_at || '' }, [decided])]),
    ]);
    if (atEnd) historyBody.appendChild(row); else historyBody.insertBefore(row, historyBody.firstChild);
    while (historyBody.children.length > HISTORY_LIMIT) {
      historyIds.delete(historyBody.lastElementChild.getAttribute('data-approval-id'));
      historyBody.lastElementChild.remove();
    }
    counts();
  }

  function counts() {
    $('pending-count').textContent = String(pending.size);
    $('pending-empty').hidden = pending.size > 0;
    $('history-count').textContent = String(historyBody.children.length);
    $('history-empty').hidden = historyBody.children.length > 0;
    $('history-table').hidden = historyBody.children.length === 0;
    document.title = (pending.size > 0 ? '(' + pending.size + ') ' : '') + 'Sesame approvals';
  }

  function decided(a) {
    var entry = pending.get(a.id);
    removePending(a.id);
    addHistory(a, false);
    if (entry) announce(a.status + ': ' + a.summary);
  }

  function snapshot(data) {
    clockOffset = Date.parse(data.now) - Date.now();
    var live = new Set(data.pending.map(function (a) { return a.id; }));
    pending.forEach(function (_entry, id) { if (!live.has(id)) removePending(id); });
    historyIds.clear();
    historyBody.textContent = '';
    data.history.forEach(function (a) { addHistory(a, true); });
    data.pending.forEach(addPending);
    var more = data.pendingTotal - data.pending.length;
    $('pending-more').hidden = more <= 0;
    $('pending-more').textContent = more > 0 ? more + ' newer pending approvals are not listed; reload the page after deciding these.' : '';
    counts();
  }

  function decide(entry, decision) {
    entry.buttons.forEach(function (b) { b.disabled = true; });
    entry.node.setAttribute('aria-busy', 'true');
    entry.error.hidden = true;
    var fail = function (message) {
      entry.node.removeAttribute('aria-busy');
      entry.buttons.forEach(function (b) { b.disabled = false; });
      entry.error.textContent = message;
      entry.error.hidden = false;
    };
    fetch('/dashboard/api/approvals/' + encodeURIComponent(entry.approval.id) + '/decision', {
      method: 'POST',
      headers: { 'content-type': 'application/json', '${DASHBOARD_CSRF_HEADER}': '1' },
      body: JSON.stringify({ decision: decision }),
    }).then(function (res) {
      return res.json().then(function (body) {
        if (res.ok) return decided(body);
        fail((body && body.error && body.error.message) || ('The broker answered HTTP ' + res.status));
      });
    }).catch(function () { fail('Could not reach the broker. Is it still running?'); });
  }

  function connection(state, text) {
    var el = $('conn');
    el.setAttribute('data-state', state);
    el.textContent = text;
  }

  function connect() {
    source = new EventSource('/dashboard/events');
    source.addEventListener('open', function () { connection('live', 'Live'); });
    source.addEventListener('snapshot', function (e) { snapshot(JSON.parse(e.data)); });
    source.addEventListener('created', function (e) {
      var a = JSON.parse(e.data);
      if (a.status === 'pending') { addPending(a); announce('New approval request: ' + a.summary); } else addHistory(a, false);
    });
    source.addEventListener('decided', function (e) { decided(JSON.parse(e.data)); });
    source.addEventListener('error', function () {
      if (source.readyState === EventSource.CLOSED) {
        connection('down', 'Disconnected, retrying...');
        source = null;
        setTimeout(connect, 3000);
      } else {
        connection('down', 'Reconnecting...');
      }
    });
  }

  setInterval(function () { pending.forEach(tick); }, 1000);
  connect();
})();
`;

function sha256(text: string): string {
  return `'sha256-${createHash('sha256').update(text).digest('base64')}'`;
}

/** Only this page's own script and style run; it may talk to its own origin only, and never be framed. */
export const DASHBOARD_CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  `script-src ${sha256(SCRIPT)}`,
  `style-src ${sha256(STYLE)}`,
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

export const DASHBOARD_PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Sesame approvals</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
</head>
<body>
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
<script>${SCRIPT}</script>
</body>
</html>
`;
