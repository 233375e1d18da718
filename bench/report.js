// Turns one benchmark run (the JSON written to bench/results/) into the Markdown report and the
// ratio lines printed at the end of `npm run bench`, including the issues' performance targets.

const f = (x, d = 0) => (x === null || x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(d));
const mr = (s, d = 0) => (s ? `${f(s.median, d)} (${f(s.min, d)}–${f(s.max, d)})` : '–');
const ratio = (x) => (x === null || x === undefined || !Number.isFinite(x) ? '–' : `${x.toFixed(2)}×`);

/** The issues' performance targets, checked against this run. */
export function targets(r) {
  const out = [];
  const h = r.sections.http1;
  const c50 = h?.variants?.['portico-1w']?.byConnections?.[50];
  const nginx50 = h?.variants?.nginx?.byConnections?.[50];
  const fastify50 = h?.variants?.['fastify-http-proxy']?.byConnections?.[50];
  const direct50 = h?.variants?.direct?.byConnections?.[50];
  const add = (issue, what, measured, met) => out.push({ issue, what, measured, met });
  if (c50 && fastify50) add(3, 'Portico 1 worker ≥ 2× @fastify/http-proxy (50 connections)', ratio(c50.rps.median / fastify50.rps.median), c50.rps.median >= 2 * fastify50.rps.median);
  if (c50 && nginx50) add(3, 'Portico 1 worker ≥ 0.4× nginx 1 worker, one core (50 connections)', ratio(c50.rps.median / nginx50.rps.median), c50.rps.median >= 0.4 * nginx50.rps.median);
  const pacedAdded = h?.paced?.addedP99Ms?.['portico-1w'];
  if (pacedAdded !== undefined) {
    const rate = h.paced.variants['portico-1w']?.rps.median;
    add(3, `p99 added latency < 1 ms at 50 connections, paced (${f(rate)} req/s; Portico p99 − direct p99)`, `${f(pacedAdded, 2)} ms`, pacedAdded < 1);
  }
  if (c50 && direct50) {
    const added = c50.p99Ms.median - direct50.p99Ms.median;
    add(3, 'p99 added latency < 1 ms at 50 connections, saturated (Portico p99 − direct p99; mostly queueing)', `${f(added, 2)} ms`, added < 1);
  }
  const rs = r.sections.routes?.vsSmallest?.portico;
  if (rs && rs[10000] !== null && rs[10000] !== undefined) add(3, 'Portico at 10,000 routes ≥ 0.9× its 10-route throughput', ratio(rs[10000]), rs[10000] >= 0.9);
  const t = r.sections.config?.target;
  if (t) {
    add(2, '10,000 Mappings: validate + compile < 500 ms, pinned to one core', `${f(t.measuredValidateCompileMs)} ms`, t.measuredValidateCompileMs < 500);
    if (t.wholeMachineValidateCompileMs !== undefined) add(2, '10,000 Mappings: validate + compile < 500 ms, on the whole machine (as `portico validate` runs)', `${f(t.wholeMachineValidateCompileMs)} ms`, t.wholeMachineValidateCompileMs < 500);
    add(2, '10,000 Mappings: peak RSS < 150 MiB', `${f(t.measuredPeakRssMiB)} MiB`, t.measuredPeakRssMiB < 150);
  }
  // Tracing's cost from the interleaved slices when the run has them (steadier on a shared machine), else the rounds' medians.
  const ti = h?.tracingInterleaved?.ratios;
  const tr = h?.ratios?.[50]?.tracing;
  for (const [name, pct, goal] of [['portico-1w-trace0', 0, 0.97], ['portico-1w-trace100', 100, 0.8]]) {
    const paired = ti?.[name];
    const value = paired?.median ?? tr?.[name];
    if (value === undefined || value === null) continue;
    const how = paired ? `${ratio(value)} (paired slices, quartiles ${ratio(paired.q1)}–${ratio(paired.q3)}; rounds' medians ${ratio(tr?.[name])})` : ratio(value);
    add(18, `tracing on, ${pct} % sampling ≥ ${goal}× tracing off (50 connections)`, how, value >= goal);
  }
  const rl = r.sections.reload?.variants?.['portico-1w'];
  if (rl) add(3, '30 configuration changes under load: 0 failed requests', String(rl.failedRequests), rl.failedRequests === 0);
  const g = r.sections.gitops?.result;
  if (g?.webhook?.p95Ms !== undefined) add(5, 'merge → live p95 < 1 s with webhook', `${f(g.webhook.p95Ms)} ms`, g.webhook.p95Ms < 1000);
  const pr = r.sections.policies?.ratiosToUnprotected;
  if (pr?.['portico-authservice'] && pr['nginx-auth_request']) {
    add(17, "behind an allow-all HTTP AuthService, Portico keeps at least nginx auth_request's share of its own unprotected throughput", `${ratio(pr['portico-authservice'])} against nginx ${ratio(pr['nginx-auth_request'])}`, pr['portico-authservice'] >= pr['nginx-auth_request']);
  }
  const fl = r.sections.filters?.ratios;
  if (fl?.jwtVsPlain !== null && fl?.jwtVsPlain !== undefined) add(17, 'a JWT filter with its key cached ≥ 0.8× the unprotected route (one core)', ratio(fl.jwtVsPlain), fl.jwtVsPlain >= 0.8);
  const limited = pr?.['portico-ratelimit-redis'];
  const limitedCpu = r.sections.policies?.cpuRatiosToUnprotected?.['portico-ratelimit-redis'];
  if (typeof limited === 'number') add(17, 'the Redis-backed limiter far below its limit keeps ≥ 0.7× of the unprotected route on one core', `${ratio(limited)} by req/s, ${ratio(limitedCpu)} by CPU per request`, limited >= 0.7);
  const gr = r.sections.grpc;
  const unary = gr?.porticoVsNginx?.unary;
  if (typeof unary === 'number') add(21, 'gRPC unary ≥ 0.5× nginx grpc_pass (one core each)', `${ratio(unary)} by calls/s, ${ratio(gr.porticoVsNginxCpu?.unary)} by CPU per call`, unary >= 0.5);
  return out;
}

export function renderMarkdown(r) {
  const L = [];
  const m = r.machine;
  L.push(`# Portico benchmarks (${r.mode} run, ${r.startedAt.slice(0, 16).replace('T', ' ')} UTC)`, '');
  L.push('Generated by `npm run bench` (bench/run.js); the raw figures are in the JSON file beside this one.', '');
  L.push('## Machine and method', '');
  L.push(`- ${m.cores} cores (${m.cpuModel}), ${m.memoryGiB} GiB, Linux ${m.kernel}; ${m.note}.`);
  L.push(`- CPU placement: ${m.layout}. Every benchmark process ran at nice ${m.niceness ?? 0}${m.niceness < 0 ? ' (ahead of other work sharing the machine)' : ''}.`);
  L.push(`- Upstream: ${r.upstream}.`);
  L.push(`- Load: ${m.wrk}, 1 thread; HTTP/2 and TLS: ${m.h2load}. ${r.plan.rounds} rounds of ${r.plan.seconds} s per cell after a ${r.plan.warmupSeconds} s warm-up; the order of variants alternates between rounds (forward, reversed, rotated). Figures are medians with min–max over rounds.`);
  L.push(`- Versions: Node.js ${m.node}; ${m.nginx}; ${m.haproxy}; fastify ${m.peers.fastify}, @fastify/http-proxy ${m.peers['@fastify/http-proxy']}, http-proxy ${m.peers['http-proxy']}, fast-gateway ${m.peers['fast-gateway']} (restana ${m.peers.restana}, fast-proxy-lite ${m.peers['fast-proxy-lite']}); Portico at ${m.porticoCommit}.`);
  L.push('- CPU per request = (utime + stime of the server\'s whole process tree, from /proc/PID/stat) ÷ successful requests; RSS = peak of the tree\'s summed VmRSS, sampled every 100 ms. "bg CPU" is CPU used meanwhile by processes outside the benchmark (100 = one core): high values mark noisy rounds.' + (r.plan.quietWaitMs ? ` Before each measured cell the run waited up to ${r.plan.quietWaitMs / 1000} s for the machine to be under 40% busy.` : '') + ' The servers of the other cells in a section were stopped (SIGSTOP) while one was measured.');
  for (const n of r.notes) L.push(`- ${n}`);
  L.push('');

  const tg = targets(r);
  if (tg.length) {
    L.push('## Targets from the issues', '', '| issue | target | measured | met |', '|---|---|---|---|');
    for (const t of tg) L.push(`| ${t.issue} | ${t.what} | ${t.measured} | ${t.met ? 'yes' : '**no**'} |`);
    L.push('');
  }

  const h = r.sections.http1;
  L.push('## 1. HTTP/1.1 proxy throughput and latency', '');
  if (h?.variants) {
    L.push(`Request: \`GET ${h.request.path}\` with \`Host: ${h.request.host}\` (Mapping ${h.request.route}: prefix, rewrite, request and response header rules).`, '');
    for (const conns of r.plan.connections) {
      L.push(`### ${conns} connections`, '', '| variant | req/s | p50 ms | p99 ms | CPU µs/req | CPU % | peak RSS MiB | errors | bg CPU % | setup |', '|---|---|---|---|---|---|---|---|---|---|');
      for (const [name, v] of Object.entries(h.variants)) {
        const c = v.byConnections[conns];
        if (!c) continue;
        L.push(`| ${name} | ${mr(c.rps)} | ${mr(c.p50Ms, 2)} | ${mr(c.p99Ms, 2)} | ${mr(c.cpuUsPerReq, 1)} | ${f(c.cpuUtilPct?.median)} | ${f(c.peakRssMiB?.median)} | ${c.errors} | ${f(c.backgroundCpuPct?.median)} | ${v.note ?? ''} |`);
      }
      const rt = h.ratios?.[conns];
      if (rt) {
        L.push('');
        for (const p of ['portico-1w', 'portico-all']) {
          if (!rt[p]) continue;
          L.push(`- ${p}: ${ratio(rt[p].rpsVsNginx)} nginx, ${ratio(rt[p].rpsVsBestNodePeer)} the best Node.js peer (${rt.bestNodePeer}), ${ratio(rt[p].rpsVsDirect)} direct; CPU per request ${ratio(rt[p].cpuPerReqVsNginx)} nginx's; p99 added over direct ${f(rt[p].addedP99Ms, 2)} ms.`);
        }
        if (rt.bestNodePeerVsNginx) L.push(`- best Node.js peer (${rt.bestNodePeer}): ${ratio(rt.bestNodePeerVsNginx)} nginx.`);
        if (rt.tracing) L.push(`- tracing on against portico-1w (tracing off), medians of the rounds: 0 % sampling ${ratio(rt.tracing['portico-1w-trace0'])}, 100 % sampling ${ratio(rt.tracing['portico-1w-trace100'])}.`);
        const ti = Number(conns) === 50 ? h.tracingInterleaved : undefined;
        if (ti) L.push(`- tracing on against portico-1w, ${ti.slices} interleaved slices of ${ti.sliceSeconds} s (median of the paired ratios, quartiles): ${['portico-1w-trace0', 'portico-1w-trace100'].filter((n) => ti.ratios[n]).map((n) => `${n.endsWith('trace0') ? '0' : '100'} % sampling ${ratio(ti.ratios[n].median)} (${ratio(ti.ratios[n].q1)}–${ratio(ti.ratios[n].q3)})`).join(', ')}.`);
        const sink = Number(conns) === 50 ? h.traceSink : undefined;
        if (sink?.spansPerRequest !== undefined) L.push(`- the trace collector received ${sink.spans} spans in ${sink.requests} export requests: ${sink.spansPerRequest.toFixed(3)} a request wrk counted at 100 % sampling (2 expected, a SERVER and a CLIENT span; fewer would mean spans dropped).`);
      }
      L.push('');
    }
    if (h.paced) {
      L.push(`### Latency at a moderate load: ${h.paced.connections} connections, each pausing a random 0–${2 * h.paced.delayMs} ms between requests`, '',
        'At saturation, latency at a fixed connection count is mostly queueing (connections ÷ throughput); paced, every variant runs well below its capacity and the added latency is the proxy\'s own. The pauses are random so that connections do not arrive in step.', '',
        '| variant | req/s | p50 ms | p99 ms | p99 added over direct ms | CPU µs/req |', '|---|---|---|---|---|---|');
      for (const [name, c] of Object.entries(h.paced.variants)) {
        L.push(`| ${name} | ${mr(c.rps)} | ${mr(c.p50Ms, 2)} | ${mr(c.p99Ms, 2)} | ${name === 'direct' ? '–' : f(h.paced.addedP99Ms[name], 2)} | ${mr(c.cpuUsPerReq, 1)} |`);
      }
      L.push('');
    }
  }
  skippedLines(L, h);

  const rsec = r.sections.routes;
  L.push('## 2. Route-count scaling', '');
  if (rsec?.table) {
    L.push(`${rsec.connections} connections; wrk cycles through ${rsec.pathsCycled} paths spread over the whole route table (first and last route included). One Host; prefix routes, one header rule each.`, '');
    L.push('| routes | Portico req/s | vs 10 routes | p99 ms | CPU µs/req | peak RSS MiB | start → ready ms | one added Mapping live after ms | nginx req/s | vs 10 routes | nginx p99 ms | nginx RSS MiB |', '|---|---|---|---|---|---|---|---|---|---|---|---|');
    for (const n of r.plan.routeCounts) {
      const p = rsec.table.portico?.[n] ?? {};
      const ng = rsec.table.nginx?.[n] ?? {};
      L.push(`| ${n} | ${mr(p.rps)} | ${ratio(rsec.vsSmallest.portico?.[n])} | ${mr(p.p99Ms, 2)} | ${f(p.cpuUsPerReq?.median, 1)} | ${f(p.peakRssMiB?.median)} | ${f(p.startupToReadyMs)} | ${mr(p.applyOneMappingMs)} | ${mr(ng.rps)} | ${ratio(rsec.vsSmallest.nginx?.[n])} | ${mr(ng.p99Ms, 2)} | ${f(ng.peakRssMiB?.median)} |`);
    }
    L.push('');
  }
  skippedLines(L, rsec);

  const cs = r.sections.config;
  L.push('## 3. Configuration scale', '');
  if (cs?.sizes) {
    L.push('Generated Mappings over 50 Hosts (header rules, rewrites, regex rewrites, header and method matches). In-process: a fresh Node.js process imports dist/src/load and dist/src/compile (not timed), then loads and compiles once, cold ("validate + compile"; peak RSS is the process\'s maxRSS at that point), computes the IR hash (serve needs it, validate does not), builds the request-path runtime ("apply"), and loads and compiles the same folder again ("warm", as a serving process re-applying a change does). CLI: `portico validate DIR` under /usr/bin/time -v (includes Node.js start-up and module loading), pinned to the server\'s core and on all cores.', '');
    L.push('| Mappings | load ms | compile ms | validate + compile ms | again, warm ms | hash ms | runtime build ms | peak RSS MiB | with runtime MiB | routes | errors | `validate` wall ms | `validate` max RSS MiB | `validate` all cores, wall ms |', '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
    for (const [n, s] of Object.entries(cs.sizes)) {
      if (s.failed) { L.push(`| ${n} | failed: ${s.failed} |`); continue; }
      L.push(`| ${n} | ${mr(s.loadMs)} | ${mr(s.compileMs)} | ${mr(s.validateCompileMs)} | ${mr(s.warmValidateCompileMs)} | ${mr(s.hashMs)} | ${mr(s.buildRuntimeMs)} | ${mr(s.peakRssMiB)} | ${mr(s.peakRssWithRuntimeMiB)} | ${s.routes} | ${s.errors} | ${mr(s.cli?.wallMs)} | ${f(s.cli?.maxRssMiB?.median)} | ${mr(s.cliAllCores?.wallMs)} |`);
    }
    L.push('');
    const whole = Object.entries(cs.sizes).filter(([, s]) => s.wholeMachine);
    if (whole.length) {
      L.push('The same probe, not pinned (all cores, as `portico validate` runs for a user or in CI; V8 compiles and collects on the other core):', '');
      L.push('| Mappings | load ms | compile ms | validate + compile ms | peak RSS MiB |', '|---|---|---|---|---|');
      for (const [n, s] of whole) L.push(`| ${n} | ${mr(s.wholeMachine.loadMs)} | ${mr(s.wholeMachine.compileMs)} | ${mr(s.wholeMachine.validateCompileMs)} | ${mr(s.wholeMachine.peakRssMiB)} |`);
      L.push('');
    }
  }
  skippedLines(L, cs);

  const rl = r.sections.reload;
  L.push('## 4. Reload under load', '');
  if (rl?.variants) {
    L.push(`${rl.changes} configuration changes spread over ${rl.seconds} s while wrk drives an unchanged route with ${rl.connections} connections; each change adds a route, polled until it answers 2xx ("live"). Baseline: the same load without changes, just before.`, '');
    L.push('| variant | change | baseline req/s | baseline p99 ms | during req/s | during p99 ms | failed requests | change live after ms | never live |', '|---|---|---|---|---|---|---|---|---|');
    for (const [name, v] of Object.entries(rl.variants)) {
      L.push(`| ${name} | ${v.how} | ${f(v.baseline.rps)} | ${f(v.baseline.p99Ms, 2)} | ${f(v.duringChanges.rps)} | ${f(v.duringChanges.p99Ms, 2)} | ${v.failedRequests} of ${v.duringChanges.requests} ${v.failedRequests ? JSON.stringify(v.errorDetail) : ''} | ${mr(v.changeLiveMs)} | ${v.changesNeverLive} |`);
    }
    L.push('');
  }
  skippedLines(L, rl);

  const h2 = r.sections.h2;
  L.push('## 5. HTTP/2 and TLS (h2load)', '');
  if (h2?.variants) {
    L.push(`h2load, ${h2.connections} connections (HTTP/2: ${h2.streamsPerConnection} concurrent streams each), TLS with an ${h2.certificate}; both proxies 1 worker, same upstream.`, '');
    L.push('| mode | variant | protocol | req/s | p50 ms | p99 ms | CPU µs/req | peak RSS MiB | failed |', '|---|---|---|---|---|---|---|---|---|');
    for (const mode of ['h2', 'https-h1', 'https-h1-new', 'https-h1-resumed']) {
      for (const [name, v] of Object.entries(h2.variants)) {
        const x = v[mode];
        if (!x) continue;
        L.push(`| ${mode} | ${name} | ${x.protocol}${x.resumed !== undefined ? ` (${x.resumed} of ${x.requests} resumed)` : ''} | ${mr(x.rps)} | ${mr(x.p50Ms, 2)} | ${mr(x.p99Ms, 2)} | ${f(x.cpuUsPerReq?.median, 1)} | ${f(x.peakRssMiB?.median)} | ${x.failed} |`);
      }
    }
    L.push('', '`https-h1-new` and `https-h1-resumed`: 10 clients (bench/lib/tls-connect-load.js, Node.js, on the load core) each opening a new TLS connection per request, with a full handshake or presenting the session ticket of the previous one; the load client limits the rate, so CPU µs per request (per connection) is the figure to compare.', '');
    L.push(`Portico vs nginx: HTTP/2 ${ratio(h2.porticoVsNginx?.h2)}, HTTP/1.1 over TLS ${ratio(h2.porticoVsNginx?.['https-h1'])}; CPU per new connection, nginx's over Portico's: full ${ratio(cpuRatio(h2, 'https-h1-new'))}, resumed ${ratio(cpuRatio(h2, 'https-h1-resumed'))}.`, '');
  }
  skippedLines(L, h2);

  const g = r.sections.gitops;
  L.push('## 6. GitOps merge → live', '');
  if (g?.result) L.push('```json', JSON.stringify(g.result, null, 2), '```', '');
  skippedLines(L, g);
  const pol = r.sections.policies;
  L.push('## 7. Edge policies', '');
  if (pol?.variants) {
    L.push(`wrk, ${pol.connections} connections, \`${pol.request.path}\`; each protected variant as a ratio of its own unprotected route, same run. The allow-all auth service is the upstream nginx (200 on every path).`, '');
    L.push('| variant | req/s | p99 ms | CPU µs/req | ratio to unprotected | by CPU/req | |', '|---|---|---|---|---|---|---|');
    for (const [name, v] of Object.entries(pol.variants)) {
      const rt = pol.ratiosToUnprotected?.[name];
      const cr = pol.cpuRatiosToUnprotected?.[name];
      L.push(`| ${name} | ${mr(v.rps)} | ${mr(v.p99Ms, 2)} | ${f(v.cpuUsPerReq?.median, 1)} | ${rt === undefined ? '' : ratio(rt)} | ${cr === undefined ? '' : ratio(cr)} | ${v.note ?? ''} |`);
    }
    L.push('');
  }
  skippedLines(L, pol);
  const fs = r.sections.filters;
  L.push('## 8. Filters and compression', '');
  if (fs?.table) {
    L.push(`wrk, ${fs.connections} connections, Portico --workers 1 on one core; each cell a separate server.`, '');
    L.push('| cell | what | req/s | p99 ms | CPU µs/req | bg CPU % |', '|---|---|---|---|---|---|');
    for (const [name, c] of Object.entries(fs.table)) L.push(`| ${name} | ${c.note} | ${mr(c.rps)} | ${mr(c.p99Ms, 2)} | ${mr(c.cpuUsPerReq, 1)} | ${mr(c.backgroundCpuPct)} |`);
    L.push('', `JWT / unprotected: ${ratio(fs.ratios?.jwtVsPlain)} (goal ≥ 0.8×); gzip on 10 KiB JSON / the same route uncompressed: ${ratio(fs.ratios?.gzipVsUncompressed)}.`, '');
  }
  skippedLines(L, fs);
  const gr = r.sections.grpc;
  L.push('## 9. gRPC (Portico against nginx grpc_pass)', '');
  if (gr?.variants) {
    L.push(`${gr.load}; upstream: ${gr.upstream}. Both proxies 1 worker on the server core; \`direct\` is the client straight to the upstream (moved to the server core while measured). A call counts when it ends with grpc-status 0 and every message. "upstream CPU %" is the upstream's use of the load core (100 = all of it) while a proxy was measured: near its limit, the load side, not the proxy, sets the pace.`, '');
    L.push('| kind | variant | calls/s | messages/s | p50 ms | p99 ms | CPU µs/call | peak RSS MiB | upstream CPU % | failed |', '|---|---|---|---|---|---|---|---|---|---|');
    for (const kind of ['unary', 'stream']) {
      for (const [name, v] of Object.entries(gr.variants)) {
        const x = v[kind];
        if (!x) continue;
        L.push(`| ${kind} | ${name} | ${mr(x.rps)} | ${f(x.messagesPerSec?.median)} | ${mr(x.p50Ms, 2)} | ${mr(x.p99Ms, 2)} | ${mr(x.cpuUsPerReq, 1)} | ${f(x.peakRssMiB?.median)} | ${f(x.upstreamCpuPct?.median)} | ${x.failed} |`);
      }
    }
    L.push('', `Portico vs nginx grpc_pass: unary ${ratio(gr.porticoVsNginx?.unary)} (by CPU per call ${ratio(gr.porticoVsNginxCpu?.unary)}), server streaming ${ratio(gr.porticoVsNginx?.stream)} (by CPU per call ${ratio(gr.porticoVsNginxCpu?.stream)}).`, '');
  }
  skippedLines(L, gr);
  L.push(`Total run time: ${f(r.totalSeconds)} s (per section: ${Object.entries(r.sections).map(([k, v]) => `${k} ${f(v.sectionSeconds)} s`).join(', ')}).`, '');
  return L.join('\n');
}

/** nginx's CPU per request over Portico's in one mode of the HTTP/2 and TLS section. */
function cpuRatio(h2, mode) {
  const p = h2.variants?.['portico-1w']?.[mode]?.cpuUsPerReq?.median;
  const n = h2.variants?.nginx?.[mode]?.cpuUsPerReq?.median;
  return p && n ? n / p : null;
}

function skippedLines(L, s) {
  if (!s) {
    L.push('Not run (see `--only`).', '');
    return;
  }
  if (typeof s.skipped === 'string') L.push(`Skipped: ${s.skipped}`, '');
  else if (s.skipped && Object.keys(s.skipped).length) {
    for (const [k, v] of Object.entries(s.skipped)) L.push(`- skipped ${k}: ${v}`);
    L.push('');
  }
  if (s.failed) L.push(`Failed: ${s.failed}`, '');
}

export function printRatios(r, log) {
  log('== Ratios (medians of this run)');
  const h = r.sections.http1;
  for (const [conns, rt] of Object.entries(h?.ratios ?? {})) {
    for (const p of ['portico-1w', 'portico-all']) {
      if (rt[p]) log(`  c=${conns} ${p}: ${ratio(rt[p].rpsVsNginx)} nginx, ${ratio(rt[p].rpsVsBestNodePeer)} best Node.js peer (${rt.bestNodePeer}), CPU/request ${ratio(rt[p].cpuPerReqVsNginx)} nginx's, p99 +${f(rt[p].addedP99Ms, 2)} ms over direct`);
    }
    if (rt.bestNodePeerVsNginx) log(`  c=${conns} best Node.js peer ${rt.bestNodePeer}: ${ratio(rt.bestNodePeerVsNginx)} nginx`);
    if (rt.tracing) log(`  c=${conns} tracing vs off (rounds' medians): 0 % sampling ${ratio(rt.tracing['portico-1w-trace0'])}, 100 % ${ratio(rt.tracing['portico-1w-trace100'])}`);
    const ti = Number(conns) === 50 ? h.tracingInterleaved?.ratios : undefined;
    if (ti) log(`  c=${conns} tracing vs off (interleaved slices, paired): 0 % sampling ${ratio(ti['portico-1w-trace0']?.median)}, 100 % ${ratio(ti['portico-1w-trace100']?.median)}`);
  }
  if (h?.skipped) for (const [k, v] of Object.entries(h.skipped)) log(`  skipped ${k}: ${v}`);
  const rs = r.sections.routes?.vsSmallest;
  if (rs) log(`  routes 10 → 1,000 → 10,000: Portico ${['10', '1000', '10000'].map((n) => ratio(rs.portico?.[n])).join(' / ')}, nginx ${['10', '1000', '10000'].map((n) => ratio(rs.nginx?.[n])).join(' / ')}`);
  const h2 = r.sections.h2?.porticoVsNginx;
  if (h2) log(`  TLS: Portico vs nginx HTTP/2 ${ratio(h2.h2)}, HTTP/1.1 over TLS ${ratio(h2['https-h1'])}`);
  const pol = r.sections.policies?.ratiosToUnprotected;
  if (pol) for (const [name, x] of Object.entries(pol)) log(`  policies: ${name} ${ratio(x)} of its unprotected route`);
  const fl = r.sections.filters?.ratios;
  if (fl) log(`  filters: JWT ${ratio(fl.jwtVsPlain)} of the unprotected route, gzip 10 KiB ${ratio(fl.gzipVsUncompressed)} of uncompressed`);
  const gr = r.sections.grpc;
  if (gr?.porticoVsNginx) log(`  gRPC: Portico vs nginx grpc_pass unary ${ratio(gr.porticoVsNginx.unary)} (CPU/call ${ratio(gr.porticoVsNginxCpu?.unary)}), streaming ${ratio(gr.porticoVsNginx.stream)} (CPU/call ${ratio(gr.porticoVsNginxCpu?.stream)})`);
  const tg = targets(r);
  if (tg.length) {
    log('== Targets');
    for (const t of tg) log(`  [${t.met ? 'met' : 'NOT met'}] issue ${t.issue}: ${t.what}: ${t.measured}`);
  }
}

// `node bench/report.js bench/results/latest.json` rewrites the Markdown beside a results file.
if (process.argv[1] && process.argv[1].endsWith('report.js') && process.argv[2]) {
  const { readFileSync, writeFileSync } = await import('node:fs');
  const file = process.argv[2];
  writeFileSync(file.replace(/\.json$/, '.md'), renderMarkdown(JSON.parse(readFileSync(file, 'utf8'))));
}
