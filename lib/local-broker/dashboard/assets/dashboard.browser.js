/*
 * The approval dashboard's script: no framework, no build step. Every value that comes from an app
 * (summary, reason, context, action, requester) reaches the DOM through textContent or setAttribute,
 * never as markup. The page inlines this file and its Content-Security-Policy admits only its hash.
 */
(function () {
  'use strict';
  var HISTORY_LIMIT = 100;
  var pending = new Map();
  var historyIds = new Set();
  var clockOffset = 0;
  var source = null;
  var $ = function (id) {
    return document.getElementById(id);
  };
  // The header name lives with the server's check (dashboard-request.checks.ts), handed over by the page.
  var csrfHeader = document.body.getAttribute('data-csrf-header');
  var pendingList = $('pending-list');
  var historyBody = $('history-body');

  function h(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      node.setAttribute(name, attrs[name]);
    });
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

  function now() {
    return Date.now() + clockOffset;
  }
  function label(a) {
    return a.summary + ' (' + a.action + ', ' + a.id + ')';
  }
  function announce(text) {
    $('announcer').textContent = text;
  }

  function card(a) {
    var age = h('dd', { 'data-field': 'age' });
    var left = h('dd', { 'data-field': 'time-left' });
    var facts = h('dl', { class: 'facts' }, [
      h('dt', {}, ['Reason']),
      h('dd', {}, [a.reason === null ? '(none given)' : a.reason]),
      h('dt', {}, ['Requester']),
      h('dd', {}, [a.requester_label === null ? 'unknown' : a.requester_label]),
      h('dt', {}, ['Age']),
      age,
      h('dt', {}, ['Time left']),
      left,
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
    approve.addEventListener('click', function () {
      decide(entry, 'approve');
    });
    deny.addEventListener('click', function () {
      decide(entry, 'deny');
    });
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
    if (atEnd) historyBody.appendChild(row);
    else historyBody.insertBefore(row, historyBody.firstChild);
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
    var live = new Set(
      data.pending.map(function (a) {
        return a.id;
      }),
    );
    pending.forEach(function (_entry, id) {
      if (!live.has(id)) removePending(id);
    });
    historyIds.clear();
    historyBody.textContent = '';
    data.history.forEach(function (a) {
      addHistory(a, true);
    });
    data.pending.forEach(addPending);
    var more = data.pendingTotal - data.pending.length;
    $('pending-more').hidden = more <= 0;
    $('pending-more').textContent = more > 0 ? more + ' newer pending approvals are not listed; reload the page after deciding these.' : '';
    counts();
  }

  function decide(entry, decision) {
    entry.buttons.forEach(function (b) {
      b.disabled = true;
    });
    entry.node.setAttribute('aria-busy', 'true');
    entry.error.hidden = true;
    var fail = function (message) {
      entry.node.removeAttribute('aria-busy');
      entry.buttons.forEach(function (b) {
        b.disabled = false;
      });
      entry.error.textContent = message;
      entry.error.hidden = false;
    };
    var headers = { 'content-type': 'application/json' };
    headers[csrfHeader] = '1';
    fetch('/dashboard/api/approvals/' + encodeURIComponent(entry.approval.id) + '/decision', {
      method: 'POST',
      headers: headers,
      body: JSON.stringify({ decision: decision }),
    })
      .then(function (res) {
        return res.json().then(function (body) {
          if (res.ok) return decided(body);
          fail((body && body.error && body.error.message) || 'The broker answered HTTP ' + res.status);
        });
      })
      .catch(function () {
        fail('Could not reach the broker. Is it still running?');
      });
  }

  function connection(state, text) {
    var el = $('conn');
    el.setAttribute('data-state', state);
    el.textContent = text;
  }

  function connect() {
    source = new EventSource('/dashboard/events');
    source.addEventListener('open', function () {
      connection('live', 'Live');
    });
    source.addEventListener('snapshot', function (e) {
      snapshot(JSON.parse(e.data));
    });
    source.addEventListener('created', function (e) {
      var a = JSON.parse(e.data);
      if (a.status === 'pending') {
        addPending(a);
        announce('New approval request: ' + a.summary);
      } else addHistory(a, false);
    });
    source.addEventListener('decided', function (e) {
      decided(JSON.parse(e.data));
    });
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

  setInterval(function () {
    pending.forEach(tick);
  }, 1000);
  connect();
})();
