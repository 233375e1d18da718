// The diagnostics page's script: reads the admin address's JSON (/api/v1/diag/*) and renders it.
// Read-only: every request is a GET. Text goes into the page as text nodes, never as HTML.

const API = '/api/v1/diag/';
const POLL_MS = 2000;
const PAGE_SIZE = 100;
const TOKEN_KEY = 'portico-admin-token';

const main = document.getElementById('main');
const statusLine = document.getElementById('status');
let pollTimer;
let generationShown;

/** h('td', {class: 'x'}, 'text', child): an element with attributes and text or element children. */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'onclick' || k === 'onsubmit' || k === 'oninput') el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** Replaces the page's content; absent parts (null, false) are left out. */
function fill(...children) {
  main.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
}

class AuthNeeded extends Error {}

async function getJSON(path) {
  const headers = { accept: 'application/json' };
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(path, { headers, cache: 'no-store' });
  if (res.status === 401) throw new AuthNeeded();
  const body = await res.json();
  if (!res.ok && res.status !== 404) throw new Error(body.error || `HTTP ${res.status}`);
  return { status: res.status, body };
}

function tokenForm(retry) {
  const input = h('input', { type: 'password', autocomplete: 'off', 'aria-label': 'admin token' });
  fill(
    h('h1', {}, 'This admin address needs a token'),
    h('form', {
      class: 'card',
      onsubmit: (e) => {
        e.preventDefault();
        sessionStorage.setItem(TOKEN_KEY, input.value.trim());
        retry();
      },
    }, h('p', {}, 'Give the bearer token (kept in this tab only).'), input, ' ', h('button', { type: 'submit' }, 'Continue')),
  );
}

function age(seconds) {
  if (seconds === null || seconds === undefined) return '—';
  if (seconds < 90) return `${seconds}s ago`;
  if (seconds < 5400) return `${Math.round(seconds / 60)}m ago`;
  return `${Math.round(seconds / 3600)}h ago`;
}

function duration(seconds) {
  const d = Math.floor(seconds / 86400);
  const hh = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  return d > 0 ? `${d}d ${hh}h` : hh > 0 ? `${hh}h ${m}m` : `${m}m ${seconds % 60}s`;
}

function pct(x) {
  return `${(x * 100).toFixed(x > 0 && x < 0.01 ? 2 : 1)} %`;
}

function objectLinkOf(p) {
  return h('a', { href: p.link, class: 'object-link' }, p.resource || p.origin);
}

function rendered(name) {
  main.dataset.state = 'ready';
  main.dataset.page = name;
  performance.mark(`diag-rendered-${name}`);
}

// ───────────── Overview ─────────────

function problemItem(p) {
  return h('li', { class: `problem sev-${p.severity}` },
    h('span', { class: `badge sev-${p.severity}` }, p.severity), ' ',
    h('code', {}, p.code), ' ', objectLinkOf(p), ' ',
    h('span', { class: 'muted mono' }, p.origin), h('br'),
    p.message, p.field ? h('span', { class: 'muted' }, ` (field ${p.field})`) : null,
    p.where === 'refused' ? h('span', { class: 'muted' }, ' — in a refused revision') : p.where === 'not-served' ? h('span', { class: 'muted' }, ' — left out of the served revision') : null);
}

async function renderOverview() {
  const { body: o } = await getJSON(`${API}overview`);
  generationShown = o.generation;
  const sources = h('table', { id: 'sources' },
    h('thead', {}, h('tr', {}, ['Source', 'State', 'Revision', 'Signer / signature', 'Verdict', 'Last fetch', 'Refusal', 'Remedy'].map((t) => h('th', {}, t)))),
    h('tbody', {}, o.sources.map((s) => h('tr', { 'data-source': s.name },
      h('td', {}, h('strong', {}, s.name), h('br'), h('span', { class: 'muted mono' }, `${s.kind} ${s.url}${s.kind === 'git' ? `#${s.branch}` : ''}`)),
      h('td', { class: `state-${s.state}` }, s.state),
      h('td', { class: 'mono', title: s.appliedRevision || '' }, s.revision || '—'),
      h('td', {}, s.signer || '—', h('br'), h('span', { class: 'muted' }, s.signature)),
      h('td', {}, s.verdict || '—'),
      h('td', {}, age(s.lastFetchAgeSeconds)),
      h('td', {}, s.refusal ? [s.refusal.message, h('br'), s.refusal.link ? h('a', { href: s.refusal.link, class: 'object-link mono' }, s.refusal.at) : null] : s.notServed.length > 0 ? `${s.notServed.length} resource problem(s) kept out` : '—'),
      h('td', {}, s.remedy || '—'),
    ))),
  );
  const errors = o.problems.filter((p) => p.severity === 'error');
  const warnings = o.problems.filter((p) => p.severity !== 'error');
  fill(
    h('h1', {}, 'Overview'),
    h('div', { class: 'card facts' },
      h('div', {}, h('span', {}, 'Version'), o.version),
      h('div', {}, h('span', {}, 'Uptime'), duration(o.uptimeSeconds)),
      h('div', {}, h('span', {}, 'Generation'), h('strong', { id: 'generation' }, String(o.generation))),
      h('div', {}, h('span', {}, 'IR hash'), h('code', { title: o.hash || '' }, o.hash ? o.hash.slice(0, 19) : '—')),
      h('div', {}, h('span', {}, 'Ready'), o.ready ? 'yes' : 'no'),
      h('div', {}, h('span', {}, 'Upstreams'), h('a', { href: '/diag/upstreams', class: `state-${o.upstreams.state}` }, `${o.upstreams.state} (${o.upstreams.clusters} clusters, ${o.upstreams.failing.length} failing)`)),
      o.secrets ? h('div', {}, h('span', {}, 'Secrets directory'), h('span', { class: `state-${o.secrets.state}` }, o.secrets.state), ' ', o.secrets.message) : null,
    ),
    h('h2', {}, 'Sources'), sources,
    o.release && o.release.running ? canaryCard(o.release.running) : null,
    o.release && !o.release.running && o.release.last ? h('p', { class: 'muted', id: 'last-canary' }, `Last canary: ${o.release.last.message}`) : null,
    o.fleet ? h('p', { id: 'fleet-line' }, h('a', { href: '/diag/fleet' }, 'Fleet'), ': ', h('span', { class: `state-${o.fleet.state === 'Down' ? 'Refused' : 'Ready'}` }, o.fleet.state), ' — ', o.fleet.message) : null,
    h('h2', {}, `Errors (${errors.length})`),
    errors.length > 0 ? h('ul', { class: 'problems', id: 'errors' }, errors.map(problemItem)) : h('p', { class: 'muted' }, 'None.'),
    h('h2', {}, `Warnings (${warnings.length})`),
    warnings.length > 0 ? h('ul', { class: 'problems', id: 'warnings' }, warnings.map(problemItem)) : h('p', { class: 'muted' }, 'None.'),
  );
  rendered('overview');
}

function figuresRow(label, s) {
  return h('tr', {}, h('th', {}, label), h('td', { class: 'num' }, String(s.requests)), h('td', { class: 'num' }, String(s.errors)), h('td', { class: 'num' }, `${s.errorRate.toFixed(1)} %`), h('td', { class: 'num' }, s.p95Ms === null ? '—' : `${s.p95Ms} ms`));
}

function canaryCard(c) {
  const revs = Object.entries(c.revisions).map(([s, r]) => `${s}@${r.slice(0, 12)}`).join(', ');
  return h('div', { class: 'card', id: 'canary' },
    h('h2', {}, `Canary: ${revs}`),
    h('p', {}, h('strong', { id: 'canary-share' }, `${c.share} %`), ` of requests (step ${c.step} of ${c.steps.length - 1}: ${c.steps.join(' → ')} %), ${c.stepSeconds} s of ${c.windowSeconds} s, generation ${c.generation}, ReleasePolicy ${c.policy}`),
    h('table', {}, h('thead', {}, h('tr', {}, ['This step', 'Requests', 'Errors', 'Error rate', 'p95'].map((t) => h('th', {}, t)))),
      h('tbody', {}, figuresRow('current revision', c.current), figuresRow('new revision', c.candidate))),
    h('p', { class: 'muted' }, `Rolled back when the new revision's error rate is more than ${c.thresholds.maxErrorRateIncrease} points above, or its p95 more than ${c.thresholds.maxLatencyIncrease} % above, over at least ${c.thresholds.minRequests} requests.`));
}

// ───────────── Fleet ─────────────

async function renderFleet() {
  const { status, body: f } = await getJSON(`${API}fleet`);
  if (status !== 200) {
    fill(h('h1', {}, 'Fleet'), h('p', { class: 'muted' }, f.error));
    rendered('fleet');
    return;
  }
  const rows = f.replicas.map((r) => h('tr', { 'data-replica': r.replica, class: r.flagged ? 'red' : r.stale ? 'muted' : '' },
    h('td', {}, h('strong', {}, r.replica), r.replica === f.self ? h('span', { class: 'muted' }, ' (this one)') : null, h('br'), h('span', { class: 'muted mono' }, r.admin || '')),
    h('td', {}, `${r.heartbeatAgeSeconds} s ago`, r.stale ? h('span', { class: 'badge' }, 'stale') : null),
    h('td', { class: 'num' }, String(r.generation)),
    h('td', { class: 'mono' }, Object.keys(r.revisions).sort().map((s) => h('div', {}, `${s}@${r.revisions[s].slice(0, 12)}`))),
    h('td', {}, r.canary ? `${Object.entries(r.canary.revisions).map(([s, v]) => `${s}@${v.slice(0, 12)}`).join(', ')} on ${r.canary.share} %` : '—'),
    h('td', { class: r.stale ? 'muted' : r.agrees ? 'green' : 'red' }, r.stale ? '—' : r.agrees ? 'yes' : `no, for ${r.disagreeingSeconds} s${r.flagged ? ' (flagged)' : ''}`, (r.differences || []).map((d) => h('div', { class: 'muted mono' }, d))),
    h('td', {}, r.bus.transport, r.bus.connected ? '' : h('span', { class: 'red' }, ' (down)'))));
  fill(
    h('h1', {}, 'Fleet'),
    h('p', {}, h('strong', { id: 'fleet-summary' }, `${f.live} live, ${f.stale} stale · ${f.agreed ? 'every live replica agrees' : f.consensus ? `${f.disagreeing} disagree with the majority` : 'no majority'}`),
      f.flagged > 0 ? h('span', { class: 'red' }, ` · ${f.flagged} flagged (disagreeing for more than ${f.disagreementBoundSeconds} s)`) : null),
    f.bus ? h('p', {}, h('span', { class: `state-${f.bus.state === 'Down' ? 'Refused' : 'Ready'}` }, f.bus.state), ' — ', f.bus.message) : null,
    h('table', { id: 'fleet' }, h('thead', {}, h('tr', {}, ['Replica', 'Heartbeat', 'Generation', 'Serves', 'Canary', 'Agrees', 'Bus'].map((t) => h('th', {}, t)))), h('tbody', {}, rows)),
    (f.peers || []).some((p) => p.lastError) ? h('ul', {}, f.peers.filter((p) => p.lastError).map((p) => h('li', { class: 'red' }, `peer ${p.url}: ${p.lastError}`))) : null,
  );
  rendered('fleet');
}

// ───────────── Routes ─────────────

const routeState = { offset: 0, q: '' };

function trafficCells(t) {
  if (!t) return [h('td', { class: 'num muted' }, '—'), h('td', { class: 'num muted' }, '—'), h('td', { class: 'num muted' }, '—')];
  return [
    h('td', { class: 'num' }, t.rate === undefined ? '…' : `${t.rate.toFixed(t.rate < 10 ? 2 : 0)}/s`),
    h('td', { class: `num ${t.health}` }, pct(t.share5xx)),
    h('td', { class: 'num' }, t.p99ms === undefined ? '>30 s' : `${t.p99ms} ms`),
  ];
}

function routeRow(r) {
  const ups = r.redirect ? [`redirect ${r.redirect}`] : r.upstreams.map((u) => h('div', {}, h('span', { class: 'mono' }, u.service), r.upstreams.length > 1 ? h('span', { class: 'badge' }, `${u.weight}%`) : null));
  if (r.shadow) ups.push(h('div', { class: 'muted' }, `shadow ${r.shadow.service} ${r.shadow.weight}%`));
  return h('tr', { class: r.traffic && r.traffic.health !== 'idle' ? r.traffic.health : '', 'data-route': r.id },
    h('td', { class: 'num muted' }, String(r.index + 1)),
    h('td', {}, r.host, h('br'), h('span', { class: 'muted' }, `${r.listener}:${r.port}`)),
    h('td', { class: 'mono' }, r.match),
    h('td', {}, ups),
    h('td', {}, r.owner || '—'),
    h('td', {}, h('a', { href: r.link, class: 'mono' }, r.origin)),
    ...trafficCells(r.traffic),
  );
}

async function loadRoutes(body) {
  const q = new URLSearchParams({ offset: String(routeState.offset), limit: String(PAGE_SIZE) });
  if (routeState.q) q.set('q', routeState.q);
  const { body: page } = await getJSON(`${API}routes?${q}`);
  generationShown = page.generation;
  body.replaceChildren(...page.routes.map(routeRow));
  const from = page.matching === 0 ? 0 : page.offset + 1;
  document.getElementById('routes-count').textContent = `${from}–${page.offset + page.routes.length} of ${page.matching}${page.matching !== page.total ? ` (of ${page.total})` : ''} routes · generation ${page.generation}`;
  document.getElementById('prev').disabled = page.offset === 0;
  document.getElementById('next').disabled = page.offset + page.routes.length >= page.matching;
}

async function renderRoutes() {
  const body = h('tbody', { id: 'routes-body' });
  let searchTimer;
  const search = h('input', {
    type: 'search', placeholder: 'filter: host, path, upstream, owner…', value: routeState.q, 'aria-label': 'filter routes',
    oninput: () => {
      clearTimeout(searchTimer);
      searchTimer = setTimeout(() => {
        routeState.q = search.value.trim();
        routeState.offset = 0;
        void loadRoutes(body);
      }, 200);
    },
  });
  fill(
    h('h1', {}, 'Routes'),
    h('div', { class: 'toolbar' }, search,
      h('button', { id: 'prev', class: 'plain', type: 'button', onclick: () => { routeState.offset = Math.max(0, routeState.offset - PAGE_SIZE); void loadRoutes(body); } }, '‹ Previous'),
      h('button', { id: 'next', class: 'plain', type: 'button', onclick: () => { routeState.offset += PAGE_SIZE; void loadRoutes(body); } }, 'Next ›'),
      h('span', { id: 'routes-count', class: 'muted' })),
    h('p', { class: 'muted' }, 'In evaluation order. Rate, 5xx share and p99 over the last seconds; rows are red below 70 % success, yellow below 90 %.'),
    h('table', { id: 'routes' },
      h('thead', {}, h('tr', {}, ['#', 'Host', 'Match', 'Upstream(s)', 'Owner', 'Origin', 'Rate', '5xx', 'p99'].map((t) => h('th', {}, t)))),
      body),
  );
  await loadRoutes(body);
  rendered('routes');
  return () => loadRoutes(body);
}

// ───────────── Upstreams ─────────────

function endpointRow(e) {
  const active = e.active ? h('span', { class: e.active.state === 'unhealthy' ? 'red' : e.active.state === 'healthy' ? 'green' : 'muted' }, e.active.state) : h('span', { class: 'muted' }, 'no checks');
  const last = e.active && e.active.lastFailure && (!e.lastError || e.active.lastFailure.at > e.lastError.at) ? e.active.lastFailure : e.lastError;
  return h('tr', { 'data-endpoint': `${e.address}:${e.port}` },
    h('td', { class: 'mono' }, `${e.address}:${e.port}`, e.hostname !== e.address ? h('span', { class: 'muted' }, ` (${e.hostname})`) : null),
    h('td', { class: e.usable ? 'green' : 'red' }, e.usable ? 'in' : 'out'),
    h('td', {}, active, e.active && e.active.lastResult ? h('span', { class: 'muted' }, ` · last ${e.active.lastResult}`) : null),
    h('td', { class: e.ejected ? 'red' : '' }, e.ejected ? `ejected until ${e.ejectedUntil}` : 'no', e.ejections > 0 ? h('span', { class: 'muted' }, ` (${e.ejections} ejection(s))`) : null),
    h('td', {}, last ? [h('span', { class: 'mono' }, last.message), h('br'), h('span', { class: 'muted' }, last.at)] : '—'),
  );
}

async function renderUpstreams() {
  const { body: u } = await getJSON(`${API}upstreams`);
  fill(
    h('h1', {}, 'Upstreams'),
    h('p', {}, 'Overall: ', h('strong', { class: `state-${u.summary.state}`, id: 'upstreams-state' }, u.summary.state), ` · ${u.summary.clusters} clusters`),
    ...u.clusters.map((c) => h('div', { class: 'card', 'data-cluster': c.name },
      h('h2', {}, h('span', { class: `state-${c.state}` }, '● '), c.name, ' ', h('span', { class: 'muted' }, c.service), ' ', h('span', { class: `badge state-${c.state}` }, c.state)),
      h('p', { class: 'muted' }, `Circuit breaker ${c.circuitBreaker.state}: ${c.circuitBreaker.active} in flight of ${c.circuitBreaker.maxRequests}, ${c.circuitBreaker.retriesActive} retries of ${c.circuitBreaker.maxRetries}`),
      c.healthChecks.length > 0 ? h('p', {}, 'Active checks: ', c.healthChecks.join('; ')) : null,
      h('table', {}, h('thead', {}, h('tr', {}, ['Endpoint', 'Balanced', 'Active check', 'Passive ejection', 'Last error'].map((t) => h('th', {}, t)))), h('tbody', {}, c.endpoints.map(endpointRow))),
    )),
  );
  rendered('upstreams');
}

// ───────────── History ─────────────

function diffBlock(routes) {
  if (!routes) return null;
  const c = routes.counts;
  const parts = [h('p', {}, h('span', { class: 'diff-added' }, `+${c.added} added`), ' ', h('span', { class: 'diff-removed' }, `−${c.removed} removed`), ' ', h('span', { class: 'diff-changed' }, `~${c.changed} changed`))];
  const list = [];
  for (const k of routes.added) list.push(h('li', { class: 'diff-added mono' }, `+ ${k}`));
  for (const k of routes.removed) list.push(h('li', { class: 'diff-removed mono' }, `− ${k}`));
  const fields = new Map((routes.fields || []).map((f) => [f.key, f]));
  for (const k of routes.changed) {
    const f = fields.get(k);
    list.push(h('li', { class: 'diff-changed mono' }, `~ ${k}`, f ? h('table', { class: 'fields' }, h('tbody', {}, f.changes.map((ch) => h('tr', {}, h('td', { class: 'mono' }, ch.path), h('td', { class: 'mono diff-removed' }, ch.before ?? '(none)'), h('td', { class: 'mono diff-added' }, ch.after ?? '(none)'))))) : null));
  }
  if (list.length > 0) parts.push(h('ul', { class: 'diff' }, list));
  return parts;
}

/** Outcomes that kept a revision out: their reason is shown in red. A restore or a removal says why in plain text. */
const FAULTS = new Set(['Rejected', 'FetchFailed', 'ApplyFailed', 'RolledBack']);

async function renderHistory() {
  const { body } = await getJSON(`${API}history?limit=200`);
  fill(
    h('h1', {}, 'History'),
    body.entries.length === 0 ? h('p', { class: 'muted' }, 'No attempts recorded yet.') : null,
    ...body.entries.map((e) => h('div', { class: `entry ${e.result}` },
      h('p', {}, h('strong', {}, e.result), ' ', h('span', { class: 'mono' }, `${e.source}@${(e.revision || '').slice(0, 12)}`), ' ', h('span', { class: 'muted' }, e.at),
        e.generation !== undefined ? h('span', { class: 'muted' }, ` · generation ${e.generation}`) : null),
      e.message ? h('p', {}, h('span', { class: 'muted' }, e.author ? `${e.author}: ` : ''), e.message.split('\n')[0]) : null,
      e.signature ? h('p', { class: 'muted' }, `signature ${e.signature.status}${e.signature.signer ? ` by ${e.signature.signer}` : ''}`) : null,
      e.reason ? h('p', { class: FAULTS.has(e.result) ? 'reason red' : 'reason muted' }, e.detail ? `${e.reason}: ${e.detail}` : e.reason) : null,
      e.remedy ? h('p', {}, 'Remedy: ', e.remedy) : null,
      e.canary && e.canary.figures ? h('table', { class: 'canary-figures' }, h('thead', {}, h('tr', {}, ['Step', 'Share', 'Seconds', 'Current: requests / errors / p95', 'New: requests / errors / p95', 'Result'].map((t) => h('th', {}, t)))),
        h('tbody', {}, e.canary.figures.map((s) => h('tr', {}, h('td', { class: 'num' }, String(s.step)), h('td', { class: 'num' }, `${s.share} %`), h('td', { class: 'num' }, String(s.seconds)),
          h('td', { class: 'mono' }, `${s.current.requests} / ${s.current.errors} (${s.current.errorRate} %) / ${s.current.p95Ms ?? '—'} ms`), h('td', { class: 'mono' }, `${s.candidate.requests} / ${s.candidate.errors} (${s.candidate.errorRate} %) / ${s.candidate.p95Ms ?? '—'} ms`), h('td', { class: s.result === 'failed' ? 'red' : s.result === 'unjudged' ? '' : 'green' }, s.result))))) : null,
      e.problems && e.problems.length > 0 ? h('ul', { class: 'problems' }, e.problems.slice(0, 10).map((p) => h('li', { class: `sev-${p.severity}` }, h('code', {}, p.code), ' ', h('span', { class: 'mono' }, p.origin), ' ', p.message))) : null,
      diffBlock(e.routes),
    )),
  );
  rendered('history');
}

// ───────────── Explain ─────────────

function explainResult(r) {
  const rows = [
    ['Outcome', h('strong', { id: 'explain-outcome' }, `${r.outcome} (${r.status})`)],
    ['Why', r.reason],
    r.listener ? ['Listener', `${r.listener.name} :${r.listener.port} — ${r.listener.why}`] : null,
    r.virtualHost ? ['Host', `${r.virtualHost.hostname} (insecure: ${r.virtualHost.insecureAction})`] : null,
    r.route ? ['Route', h('span', {}, h('span', { id: 'explain-route', class: 'mono' }, r.route.id), ` #${r.route.order + 1} ${r.route.match} `, r.route.mappings.map((m) => h('a', { href: `/diag/object?${new URLSearchParams({ ...(m.source ? { source: m.source } : {}), resource: `${m.kind}/${m.namespace}/${m.name}` })}`, class: 'mono' }, m.at)))] : null,
    r.location ? ['Location', r.location] : null,
  ].filter(Boolean);
  return [
    h('table', { class: 'explain-result' }, h('tbody', {}, rows.map(([k, v]) => h('tr', {}, h('th', {}, k), h('td', {}, v))))),
    ...r.backends.map((b) => h('div', { class: 'card' },
      h('p', {}, h('strong', {}, b.service), ` weight ${b.weight} · cluster ${b.cluster} · endpoints ${b.endpoints.join(', ')}`),
      h('p', { class: 'mono' }, `upstream path ${b.path} · Host ${b.hostHeader}`),
      h('pre', { class: 'mono' }, b.headers.map(([n, v]) => `${n}: ${v}`).join('\n')),
      b.settings.length > 0 ? h('table', {}, h('tbody', {}, b.settings.map((s) => h('tr', {}, h('td', {}, s.setting), h('td', { class: 'mono' }, s.value), h('td', { class: 'muted' }, s.from, s.origin ? ` ${s.origin}` : ''))))) : null)),
    r.candidates.length > 0 ? h('div', {}, h('h2', {}, 'Routes considered'), h('ul', {}, r.candidates.map((c) => h('li', {}, h('span', { class: 'mono' }, `${c.route} ${c.match}`), ` — ${c.reason}`)))) : null,
    r.notes.length > 0 ? h('ul', {}, r.notes.map((n) => h('li', { class: 'muted' }, n))) : null,
  ];
}

async function renderExplain() {
  const params = new URLSearchParams(location.search);
  const method = h('input', { type: 'text', name: 'method', value: params.get('method') || 'GET', 'aria-label': 'method' });
  const url = h('input', { type: 'text', name: 'url', value: params.get('url') || '', placeholder: 'https://api.example.com/orders/42', 'aria-label': 'URL' });
  const headers = h('textarea', { name: 'headers', placeholder: 'x-user: alice', 'aria-label': 'headers' });
  headers.value = params.getAll('header').join('\n');
  const out = h('div', { id: 'explain-out' });
  const run = async () => {
    const q = new URLSearchParams({ method: method.value.trim() || 'GET', url: url.value.trim() });
    for (const line of headers.value.split('\n')) if (line.trim() !== '') q.append('header', line.trim());
    history.replaceState(null, '', `/diag/explain?${q}`);
    const { status, body } = await getJSON(`${API}explain?${q}`).catch((err) => {
      if (err instanceof AuthNeeded) throw err;
      return { status: 400, body: { error: err.message } };
    });
    const release = status === 200 && body.release ? [
      h('p', { id: 'explain-release', class: 'card' }, body.release.note),
      body.release.canary && !body.release.canary.same ? [h('h2', {}, `Under the canary (generation ${body.release.canary.candidate.generation}, ${body.release.canary.candidate.share} % of requests)`), ...explainResult(body.release.canary.candidate.result)] : null,
    ] : [];
    out.replaceChildren(...(status === 200 ? [...explainResult(body.result), ...release] : [h('p', { class: 'red', id: 'explain-error' }, body.error)]).flat(3).filter((c) => c !== null && c !== undefined));
    main.dataset.explained = String(Date.now());
  };
  fill(
    h('h1', {}, 'Explain'),
    h('p', { class: 'muted' }, 'What the gateway does with a request, on the served configuration (as portico explain). Nothing is sent upstream.'),
    h('form', { class: 'explain', onsubmit: (e) => { e.preventDefault(); void run(); } },
      h('label', {}, 'Method'), method, h('label', {}, 'URL'), url, h('label', {}, 'Headers'), headers, h('span'), h('button', { type: 'submit', id: 'explain-run' }, 'Explain')),
    out,
  );
  if (url.value) await run();
  rendered('explain');
}

// ───────────── One source object ─────────────

async function renderObject() {
  const params = new URLSearchParams(location.search);
  const { status, body: o } = await getJSON(`${API}object?${params}`);
  if (status !== 200) {
    fill(h('h1', {}, 'Not found'), h('p', {}, o.error));
    rendered('object');
    return;
  }
  fill(
    h('h1', { id: 'object-title' }, o.resource || o.origin),
    h('div', { class: 'card facts' },
      h('div', {}, h('span', {}, 'Source'), o.source || '—'),
      h('div', {}, h('span', {}, 'Origin'), h('code', { id: 'object-origin' }, o.origin || '—')),
      o.sourceState ? h('div', {}, h('span', {}, 'Source state'), h('span', { class: `state-${o.sourceState.state}` }, o.sourceState.state), ' ', o.sourceState.message) : null,
      o.sourceState && o.sourceState.remedy ? h('div', {}, h('span', {}, 'Remedy'), o.sourceState.remedy) : null),
    h('h2', {}, 'Conditions'),
    o.conditions.length > 0 ? h('table', {}, h('tbody', {}, o.conditions.map((c) => h('tr', {}, h('td', { class: c.status === 'Invalid' ? 'red' : c.status === 'Warnings' ? 'yellow' : 'green' }, c.status), h('td', {}, c.reason), h('td', {}, c.message), h('td', { class: 'mono' }, c.origin))))) : h('p', { class: 'muted' }, 'Not in the served configuration.'),
    h('h2', {}, `Problems (${o.problems.length})`),
    o.problems.length > 0 ? h('ul', { class: 'problems', id: 'object-problems' }, o.problems.map(problemItem)) : h('p', { class: 'muted' }, 'None.'),
    h('h2', {}, `Routes it serves (${o.routes.length})`),
    o.routes.length > 0 ? h('table', {}, h('tbody', {}, o.routes.map(routeRow))) : h('p', { class: 'muted' }, 'None.'),
  );
  rendered('object');
}

// ───────────── Page loop ─────────────

const PAGES = { overview: renderOverview, routes: renderRoutes, upstreams: renderUpstreams, fleet: renderFleet, history: renderHistory, explain: renderExplain, object: renderObject };
/** Pages whose figures move on their own: refreshed while the tab is visible. */
const LIVE = new Set(['overview', 'routes', 'upstreams', 'fleet']);

function pageName() {
  const p = location.pathname.replace(/^\/diag\/?/, '').split('/')[0];
  return PAGES[p] ? p : 'overview';
}

async function show() {
  const name = pageName();
  for (const a of document.querySelectorAll('header nav a')) a.classList.toggle('active', a.dataset.page === name);
  clearTimeout(pollTimer);
  try {
    const refresh = await PAGES[name]();
    statusLine.textContent = `${generationShown !== undefined ? `generation ${generationShown} · ` : ''}updated ${new Date().toLocaleTimeString()}`;
    if (LIVE.has(name)) schedule(name, refresh);
  } catch (err) {
    if (err instanceof AuthNeeded) return tokenForm(show);
    fill(h('h1', {}, 'Cannot load this page'), h('p', { class: 'red' }, err.message));
    main.dataset.state = 'error';
  }
}

function schedule(name, refresh) {
  pollTimer = setTimeout(async () => {
    if (document.visibilityState === 'visible' && pageName() === name) {
      try {
        // The routes page keeps its filter box and position: only its rows are fetched again.
        if (refresh) await refresh();
        else await PAGES[name]();
        statusLine.textContent = `${generationShown !== undefined ? `generation ${generationShown} · ` : ''}updated ${new Date().toLocaleTimeString()}`;
        main.dataset.refreshed = String(Date.now());
      } catch (err) {
        if (err instanceof AuthNeeded) return tokenForm(show);
        statusLine.textContent = `update failed: ${err.message}`;
      }
    }
    schedule(name, refresh);
  }, POLL_MS);
}

void show();
