// met console: a small script of its own, no framework and no CDN. It polls the API for the view
// on screen, every POLL_MS while the tab is visible, and redraws a section only when its data
// changed (focus and open details survive). The audit charts are SVG that the API draws with
// met's report figures (Vega-Lite spec, palette); the page inlines them with a title and a
// description for screen readers.
'use strict';

const POLL_MS = 2000;
const TOKEN_KEY = 'met-console-token';
const views = { audits: renderAudits, runs: renderRuns, fleet: renderFleet };
const $ = (id) => document.getElementById(id);
let current = 'audits';
let timer;
let lastJson = '';
let firstRender = true;
let generation = 0;

// ---------------------------------------------------------------------------------------------
// DOM helpers: elements from (tag, attributes, children); text is always text, never HTML.

function h(tag, attrs, ...children) {
  const svg = ['title', 'desc'].includes(tag);
  const el = svg ? document.createElementNS('http://www.w3.org/2000/svg', tag) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const utc = (iso) => (iso ? iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '–');
const domId = (...parts) => parts.join('-').replace(/[^A-Za-z0-9_-]/g, '_');
function ago(iso) {
  if (!iso) return '–';
  const s = Math.round((Date.parse(iso) - Date.now()) / 1000);
  const a = Math.abs(s);
  const text = a < 90 ? `${a} s` : a < 5400 ? `${Math.round(a / 60)} min` : a < 172800 ? `${Math.round(a / 3600)} h` : `${Math.round(a / 86400)} d`;
  return s >= 0 ? `in ${text}` : `${text} ago`;
}
// As met prints p-values: 0 is "< 1/(b+1)" (no permutation reached the observed statistic).
const pText = (p, floor) => (p === null || p === undefined ? '–' : p === 0 ? `< ${floor}` : p < 0.001 ? p.toExponential(1) : p.toPrecision(3));
const usd = (v) => (v === null || v === undefined ? '–' : `$${v < 1 ? v.toFixed(4) : v.toFixed(2)}`);
const int = (v) => (v === null || v === undefined ? '–' : v.toLocaleString('en-US'));
function duration(s) {
  if (s === null || s === undefined || !Number.isFinite(s)) return '–';
  if (s < 90) return `${Math.round(s)} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}
const badge = (cls, text) => h('span', { class: `badge ${cls}` }, text);

// ---------------------------------------------------------------------------------------------
// The API, with the token when one was given (session storage: this tab only).

class Unauthorized extends Error {}

async function api(path, options = {}, as = 'json') {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const headers = { accept: as === 'json' ? 'application/json' : 'image/svg+xml', ...(token ? { authorization: `Bearer ${token}` } : {}) };
  const res = await fetch(path, { ...options, headers, cache: 'no-store' });
  if (res.status === 401) throw new Unauthorized('this API needs a token');
  if (as === 'text' && res.ok) return res.text();
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(body.message || `${res.status} ${res.statusText}`);
  return body;
}

function showLogin(message) {
  clearTimeout(timer);
  // A refresh still in flight must not draw data (or poll again) behind the form.
  generation++;
  charts = new Map();
  $('view').replaceChildren();
  $('login').hidden = false;
  $('forget').hidden = true;
  $('login-error').textContent = message || '';
  $('status').textContent = 'Token needed';
  $('updated').textContent = '';
  $('token').focus();
}

$('login').addEventListener('submit', (e) => {
  e.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, $('token').value.trim());
  $('token').value = '';
  $('login').hidden = true;
  lastJson = '';
  void refresh();
});
$('forget').addEventListener('click', () => {
  sessionStorage.removeItem(TOKEN_KEY);
  showLogin('');
});

/** A button that calls the API, then refreshes; its outcome is announced in the status line. */
function actionButton(id, label, path, what, cls) {
  return h(
    'button',
    {
      id,
      type: 'button',
      class: cls,
      onclick: async (e) => {
        const b = e.currentTarget;
        // A disabled button loses the focus: it is given back to the redrawn button of the same id.
        const keep = document.activeElement === b ? b.id : undefined;
        b.disabled = true;
        try {
          const body = await api(path, { method: 'POST' });
          // A run that did not stop when cancelled was terminated (as met cancel does): say so, with why.
          $('status').textContent = body.terminated ? `${what}: it did not stop, so it was terminated (${body.reason})` : `${what}: done`;
        } catch (err) {
          if (err instanceof Unauthorized) return showLogin('The token was refused.');
          $('status').textContent = `${what}: ${err.message}`;
        } finally {
          b.disabled = false;
        }
        lastJson = '';
        await refresh();
        if (keep) $(keep)?.focus();
      },
    },
    label,
  );
}

// ---------------------------------------------------------------------------------------------
// Audits

const SVG_NS = 'http://www.w3.org/2000/svg';
// Charts by audit, endpoint and newest firing: fetched once per new firing, not at every poll.
let charts = new Map();
const chartKey = (audit, endpoint, rows) => JSON.stringify([audit.name, endpoint, rows.length, rows.at(-1).firingId]);

/** The SVG of every endpoint's chart that changed since the last poll (the API renders them). */
async function loadCharts(audits) {
  const next = new Map();
  await Promise.all(
    audits.flatMap((a) =>
      a.endpoints.map(async (e) => {
        const rows = a.firings.filter((f) => f.endpoint === e.endpoint);
        if (rows.length === 0) return;
        const key = chartKey(a, e.endpoint, rows);
        // A chart that failed is asked for again at the next poll.
        if (charts.get(key)?.svg) return void next.set(key, charts.get(key));
        try {
          next.set(key, { svg: await api(`/v1/audits/${encodeURIComponent(a.name)}/chart?endpoint=${encodeURIComponent(e.endpoint)}`, {}, 'text') });
        } catch (err) {
          if (err instanceof Unauthorized) throw err;
          next.set(key, { error: err.message });
        }
      }),
    ),
  );
  charts = next;
}

/**
 * The API's SVG as a node of this page: parsed as SVG (never as HTML), with nothing kept that could
 * run or load (met draws it from numbers and escaped names; this is a second fence, the page's
 * Content-Security-Policy the third).
 */
function inlineSvg(text) {
  const doc = new DOMParser().parseFromString(text, 'image/svg+xml');
  const root = doc.documentElement;
  if (doc.getElementsByTagName('parsererror').length || root.namespaceURI !== SVG_NS || root.localName !== 'svg') return null;
  for (const el of [...root.querySelectorAll('script, foreignObject, iframe, object, embed, image, use, a, style, animate, set')]) el.remove();
  for (const el of [root, ...root.querySelectorAll('*')]) {
    for (const attr of [...el.attributes]) if (/^on/i.test(attr.name) || /href$/i.test(attr.name)) el.removeAttribute(attr.name);
  }
  return document.importNode(root, true);
}

/** The endpoint's chart (p-values over time, alpha, verdict changes) as an image with a text alternative. */
function pValueChart(audit, endpoint, rows) {
  const id = domId('chart', audit.name, endpoint);
  const chart = charts.get(chartKey(audit, endpoint, rows));
  const changes = rows.filter((r) => r.changed);
  const last = rows.at(-1);
  const desc =
    `${rows.length} firings from ${utc(rows[0].time)} to ${utc(last.time)}; last p-value ${pText(last.pValue, audit.pFloor)} (${last.verdict}); alpha ${audit.alpha}. ` +
    (changes.length
      ? `Verdict changes: ${changes.map((c) => `${utc(c.time)} to ${c.verdict} (p ${pText(c.pValue, audit.pFloor)})`).join('; ')}.`
      : 'No verdict changes.');
  const svg = chart?.svg ? inlineSvg(chart.svg) : null;
  if (!svg) return h('p', { class: 'error', id }, `Chart unavailable${chart?.error ? `: ${chart.error}` : ''}. ${desc}`);
  svg.setAttribute('class', 'chart');
  svg.setAttribute('id', id);
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-labelledby', `${id}-t ${id}-d`);
  svg.prepend(h('title', { id: `${id}-t` }, `p-value over time, ${endpoint}`), h('desc', { id: `${id}-d` }, desc));
  return svg;
}

function firingsTable(audit, rows) {
  const shown = rows.slice(-20).reverse();
  const id = domId('firings', audit.name, rows[0]?.endpoint);
  return h(
    'details',
    { id, open: true },
    h('summary', {}, `Firings (${rows.length}${rows.length > shown.length ? `, newest ${shown.length} shown` : ''})`),
    h(
      'table',
      {},
      h('caption', { class: 'meta' }, `Firings of ${rows[0]?.endpoint}, newest first`),
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ['time (UTC)', 'p-value', 'reject', 'verdict', 'n', 'requests', 'tokens in', 'tokens out', 'cost'].map((c, i) =>
            h('th', { scope: 'col', class: i === 1 || i > 3 ? 'num' : undefined }, c),
          ),
        ),
      ),
      h(
        'tbody',
        {},
        shown.map((r) =>
          h(
            'tr',
            { class: r.changed ? 'changed' : undefined },
            h('td', { class: 'time' }, utc(r.time)),
            h('td', { class: 'num' }, pText(r.pValue, audit.pFloor)),
            h('td', {}, r.reject ? 'yes' : 'no'),
            h('td', {}, badge(r.verdict, r.verdict), r.changed ? ' changed' : ''),
            h('td', { class: 'num' }, int(r.n)),
            h('td', { class: 'num' }, int(r.requests)),
            h('td', { class: 'num' }, int(r.promptTokens)),
            h('td', { class: 'num' }, int(r.completionTokens)),
            h('td', { class: 'num' }, usd(r.costUsd)),
          ),
        ),
      ),
    ),
  );
}

// 1/(b + 1) rounded up to one significant digit, as met prints a p-value of 0 (common/pvalue.ts pResolution).
function pResolution(b) {
  const r = 1 / (b + 1);
  const scale = 10 ** Math.floor(Math.log10(r));
  return Number((Math.ceil(r / scale - 1e-9) * scale).toPrecision(1));
}

// Attribution (the audit spec's identify), at the firings that turned the verdict to differs: which
// candidate slices the endpoint's fresh slice is and is not told apart from, Holm-adjusted, as met
// audit show --html shows it. Nothing for an endpoint where identify never ran.
function identifyTable(audit, rows) {
  const identified = rows.filter((r) => r.identify).reverse();
  if (identified.length === 0) return null;
  const endpoint = rows[0].endpoint;
  const candidate = (c) => `${c.candidate}: p ${c.adjusted === 0 ? pText(0, pResolution(c.b)) : `= ${pText(c.adjusted)}`}`;
  const list = (cands, rejected) =>
    cands
      .filter((c) => c.rejected === rejected)
      .sort((x, y) => (rejected ? x.adjusted - y.adjusted : y.adjusted - x.adjusted))
      .map(candidate)
      .join('; ') || 'none';
  return h(
    'table',
    { class: 'identify', 'data-identify': endpoint },
    h(
      'caption',
      { class: 'meta' },
      `Which model, where the verdict of ${endpoint} turned to differs: its slice of that firing against each candidate slice, ${audit.statistic}, Holm-adjusted p-values at α = ${audit.alpha}`,
    ),
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        ['time (UTC)', 'not rejected', 'rejected'].map((c) => h('th', { scope: 'col' }, c)),
      ),
    ),
    h(
      'tbody',
      {},
      identified.map((r) =>
        h(
          'tr',
          { 'data-firing': r.firingId },
          h('td', { class: 'time' }, utc(r.time)),
          r.identify.error
            ? h('td', { class: 'error', colspan: 2 }, `identify failed: ${r.identify.error}`)
            : [h('td', {}, list(r.identify.candidates, false)), h('td', {}, list(r.identify.candidates, true))],
        ),
      ),
    ),
  );
}

function renderAudit(a) {
  const enc = encodeURIComponent(a.name);
  const state = a.paused ? badge('paused', 'paused') : badge('active', 'active');
  return h(
    'section',
    { class: 'audit', 'aria-labelledby': `audit-${a.name}`, 'data-audit': a.name },
    h('h2', { id: `audit-${a.name}` }, a.name, ' ', state, a.running ? ' · firing now' : ''),
    h(
      'p',
      { class: 'meta' },
      `${a.schedule}; ${a.statistic} at α = ${a.alpha}; the verdict flips after ${a.confirmations === 1 ? 'one firing that disagrees' : `${a.confirmations} consecutive firings that disagree`}; b = ${a.b}; corpus ${a.corpus}. `,
      `Last firing ${a.lastFiring ? `${utc(a.lastFiring)} (${ago(a.lastFiring)})` : 'none yet'}; next firing ${a.nextFiring ? `${utc(a.nextFiring)} (${ago(a.nextFiring)})` : a.paused ? 'none while paused' : '–'}.`,
    ),
    h(
      'div',
      { class: 'actions' },
      a.paused
        ? actionButton(domId('toggle', a.name), 'Resume', `/v1/audits/${enc}/resume`, `resume ${a.name}`)
        : actionButton(domId('toggle', a.name), 'Pause', `/v1/audits/${enc}/pause`, `pause ${a.name}`),
      actionButton(domId('trigger', a.name), 'Trigger now', `/v1/audits/${enc}/trigger`, `trigger ${a.name}`),
    ),
    h(
      'table',
      {},
      h('caption', { class: 'meta' }, `Endpoints of ${a.name}`),
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ['endpoint', 'verdict', 'last p-value', 'last firing', 'firings', 'changes'].map((c, i) =>
            h('th', { scope: 'col', class: i >= 4 ? 'num' : undefined }, c),
          ),
        ),
      ),
      h(
        'tbody',
        {},
        a.endpoints.map((e) =>
          h(
            'tr',
            { 'data-endpoint': e.endpoint },
            h('th', { scope: 'row' }, e.endpoint),
            h('td', { class: 'verdict' }, e.verdict ? badge(e.verdict, e.verdict) : badge('none', 'no firing yet')),
            h('td', { class: 'num' }, pText(e.pValue, a.pFloor)),
            h('td', {}, utc(e.lastFiring)),
            h('td', { class: 'num' }, int(e.firings)),
            h('td', { class: 'num' }, int(e.changes)),
          ),
        ),
      ),
    ),
    a.endpoints.map((e) => {
      const rows = a.firings.filter((f) => f.endpoint === e.endpoint);
      if (rows.length === 0) return null;
      return h(
        'div',
        {},
        h('h3', {}, e.endpoint),
        h('div', { class: 'endpoint' }, pValueChart(a, e.endpoint, rows), h('div', {}, firingsTable(a, rows), identifyTable(a, rows))),
      );
    }),
  );
}

// Verdicts seen at the last poll: a change is announced once in the live region (screen readers).
let verdicts;
function announceChanges(audits) {
  const now = new Map(audits.flatMap((a) => a.endpoints.map((e) => [`${a.name} ${e.endpoint}`, e.verdict])));
  const changed = verdicts ? [...now].filter(([k, v]) => v && verdicts.has(k) && verdicts.get(k) !== v) : [];
  if (changed.length) $('status').textContent = changed.map(([k, v]) => `${k}: ${verdicts.get(k) ?? 'no verdict'} → ${v}`).join('; ');
  verdicts = now;
}

async function renderAudits() {
  const { audits } = await api('/v1/audits');
  await loadCharts(audits);
  // A chart that arrives after failing redraws the view, as new data does.
  return {
    data: { audits, charts: [...charts].map(([k, c]) => [k, Boolean(c.svg)]) },
    draw: () => (audits.length ? audits.map(renderAudit) : h('p', { class: 'empty' }, 'No audits yet: met audit create SPEC.')),
  };
}

// ---------------------------------------------------------------------------------------------
// Runs

function progressCell(r) {
  if (r.total === 0) return h('td', {}, r.stages.length ? '' : '–');
  const pct = Math.floor((100 * r.done) / r.total);
  return h(
    'td',
    { class: 'progress' },
    h('progress', { max: r.total, value: r.done, 'aria-label': `${r.runId}: ${r.done} of ${r.total}` }),
    ` ${int(r.done)} / ${int(r.total)}${r.unit ? ` ${r.unit}` : ''} (${pct}%)`,
  );
}

function renderRun(r) {
  const enc = encodeURIComponent(r.runId);
  const notes = [...(r.failure ? [`failed: ${r.failure}`] : []), ...r.warnings];
  const resumable = ['FAILED', 'CANCELLED', 'TERMINATED', 'TIMED_OUT'].includes(r.status);
  return h(
    'tr',
    { 'data-run': r.runId },
    h('th', { scope: 'row' }, r.runId, h('div', { class: 'meta' }, r.corpus ? `corpus ${r.corpus}` : '')),
    h('td', {}, r.job),
    h('td', {}, badge(['RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED', 'TERMINATED', 'TIMED_OUT'].includes(r.status) ? r.status : 'other', r.status)),
    progressCell(r),
    h('td', { class: 'num' }, r.ratePerSecond === null ? '–' : `${r.ratePerSecond.toFixed(1)}/s`),
    h('td', { class: 'num' }, r.status === 'RUNNING' ? duration(r.etaSeconds) : '–'),
    h('td', {}, utc(r.startTime || r.createdAt)),
    h(
      'td',
      {},
      notes.map((n) => h('p', { class: 'warn' }, n)),
      r.stages.length > 1
        ? h(
            'details',
            {},
            h('summary', {}, `${r.stages.length} stages`),
            h(
              'ul',
              {},
              r.stages.map((s) => h('li', {}, `${s.name}: ${int(s.done)} / ${int(s.total)}${s.unit ? ` ${s.unit}` : ''}`)),
            ),
          )
        : null,
      r.reportUrl ? h('a', { href: r.reportUrl, target: '_blank', rel: 'noopener', onclick: (e) => openReport(e, r.reportUrl, r.runId) }, 'report') : null,
    ),
    h(
      'td',
      { class: 'buttons' },
      r.status === 'RUNNING' ? actionButton(domId('cancel', r.runId), 'Cancel', `/v1/runs/${enc}/cancel`, `cancel ${r.runId}`, 'danger') : null,
      resumable ? actionButton(domId('resume', r.runId), 'Resume', `/v1/runs/${enc}/resume`, `resume ${r.runId}`) : null,
    ),
  );
}

/**
 * With a token a plain link would carry none: the report is fetched with it and saved as a file
 * (a copy opened in a tab would inherit this page's strict policy and lose its styles).
 */
async function openReport(e, url, runId) {
  if (!sessionStorage.getItem(TOKEN_KEY)) return;
  e.preventDefault();
  const res = await fetch(url, { headers: { authorization: `Bearer ${sessionStorage.getItem(TOKEN_KEY)}` } });
  if (!res.ok) return void ($('status').textContent = `report of ${runId}: ${res.status}`);
  const link = h('a', { href: URL.createObjectURL(new Blob([await res.text()], { type: 'text/html' })), download: `${runId}.html` });
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
  $('status').textContent = `report of ${runId} saved as ${runId}.html`;
}

async function renderRuns() {
  const { runs } = await api('/v1/runs');
  const running = runs.filter((r) => r.status === 'RUNNING').length;
  return {
    data: runs,
    draw: () =>
      runs.length === 0
        ? h('p', { class: 'empty' }, 'No runs recorded yet.')
        : [
            h('p', { class: 'meta' }, `${running} running, ${runs.length} shown (newest first).`),
            h(
              'table',
              { id: 'runs-table' },
              h('caption', { class: 'meta' }, 'Runs of every kind: progress, rate and ETA of running ones, root cause of failed ones'),
              h(
                'thead',
                {},
                h(
                  'tr',
                  {},
                  ['run', 'job', 'status', 'progress', 'rate', 'ETA', 'started (UTC)', 'notes', 'actions'].map((c) => h('th', { scope: 'col' }, c)),
                ),
              ),
              h('tbody', {}, runs.map(renderRun)),
            ),
          ],
  };
}

// ---------------------------------------------------------------------------------------------
// Fleet

async function renderFleet() {
  const { queues } = await api('/v1/fleet');
  const missing = queues.filter((q) => q.missing);
  return {
    data: queues,
    draw: () => [
      missing.length
        ? h(
            'div',
            { class: 'banner', role: 'alert' },
            h('strong', {}, 'Work waits for a worker: '),
            missing.map((q) => `${q.queue} (${q.kind}; needed by ${q.neededBy.join(', ')})`).join('; '),
          )
        : h('p', { class: 'meta' }, 'Every queue with work has a worker.'),
      h(
        'table',
        { id: 'fleet-table' },
        h('caption', { class: 'meta' }, 'What polls which task queue'),
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            ['queue', 'kind', 'host', 'pid', 'met', 'model', 'GPU', 'data', 'last poll', 'needed by'].map((c) => h('th', { scope: 'col' }, c)),
          ),
        ),
        h(
          'tbody',
          {},
          queues.flatMap((q) =>
            (q.pollers.length ? q.pollers : [null]).map((p) =>
              h(
                'tr',
                { 'data-queue': q.queue },
                h('th', { scope: 'row' }, q.queue),
                h('td', {}, q.kind),
                p
                  ? [
                      h('td', {}, p.host || p.identity),
                      h('td', { class: 'num' }, p.pid ?? ''),
                      h('td', {}, p.version || ''),
                      h('td', {}, p.model || ''),
                      h('td', {}, p.gpu ?? ''),
                      h('td', {}, p.data || ''),
                      h('td', { class: 'num' }, p.lastPollSecondsAgo === undefined ? '' : `${p.lastPollSecondsAgo} s ago`),
                    ]
                  : [h('td', { colspan: 7 }, q.missing ? badge('missing', 'no worker') : h('span', { class: 'empty' }, 'no worker'))],
                h('td', {}, q.neededBy.join(', ')),
              ),
            ),
          ),
        ),
      ),
    ],
  };
}

// ---------------------------------------------------------------------------------------------
// Routing and polling

function route() {
  const name = location.hash.replace(/^#/, '');
  current = views[name] ? name : 'audits';
  for (const v of Object.keys(views)) {
    const link = $(`nav-${v}`);
    if (v === current) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  document.title = `${current[0].toUpperCase()}${current.slice(1)} · met console`;
  lastJson = '';
  $('view').replaceChildren();
}

async function refresh() {
  clearTimeout(timer);
  // One polling loop: a refresh started later (an action, a view change) owns the next timer.
  const mine = ++generation;
  const view = current;
  try {
    const { data, draw } = await views[view]();
    if (mine !== generation || view !== current) return;
    $('login').hidden = true;
    $('forget').hidden = !sessionStorage.getItem(TOKEN_KEY);
    const json = JSON.stringify(data);
    if (json !== lastJson) {
      lastJson = json;
      // Keep the keyboard where it was and details as they were across a redraw.
      const focused = document.activeElement && document.activeElement.id;
      const closed = [...document.querySelectorAll('#view details:not([open])')].map((d) => d.id).filter(Boolean);
      const opened = [...document.querySelectorAll('#view details[open]')].map((d) => d.id).filter(Boolean);
      $('view').replaceChildren(h('h2', { class: 'view-title' }, document.title.split(' ·')[0]), ...[draw()].flat(Infinity).filter(Boolean));
      for (const id of closed) $(id)?.removeAttribute('open');
      for (const id of opened) $(id)?.setAttribute('open', '');
      if (focused && $(focused)) $(focused).focus();
    }
    $('updated').textContent = `Updated ${new Date().toISOString().slice(11, 19)} UTC`;
    if (view === 'audits') announceChanges(data.audits);
    document.body.dataset.updated = String(Date.now());
    if (firstRender) {
      firstRender = false;
      performance.mark('met-first-render');
    }
  } catch (err) {
    if (mine !== generation) return;
    if (err instanceof Unauthorized) return showLogin(sessionStorage.getItem(TOKEN_KEY) ? 'The token was refused.' : '');
    $('status').textContent = `Could not update: ${err.message}`;
  }
  if (!document.hidden) timer = setTimeout(refresh, POLL_MS);
}

window.addEventListener('hashchange', () => {
  route();
  void refresh();
  $('main').focus();
});
document.addEventListener('visibilitychange', () => {
  if (!document.hidden) void refresh();
});
route();
void refresh();
