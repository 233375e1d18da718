// The diagnostics page in a real browser (headless Chromium) against a live `serve` on git
// repositories: every page loads, an error leads to its source object, explain runs, the routes
// table follows a git change, upstream health reaches status, and no page logs a console error.
// A restore from the last-known-good state reads as applied, and a refused commit undone (by a
// revert commit, or by moving the branch back) leaves the overview saying the source is Ready.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { startEcho, type EchoUpstream } from '../support/echo-upstream.js';
import { freePort } from '../support/free-port.js';
import { cleartextGatewayYaml, mappingYaml } from '../support/policy-yaml.js';
import { ARTEFACTS, launchBrowser, rendered, type TestBrowser } from '../support/browser.js';
import { git, removeDir, tempDir, TestRepo } from '../sources/git-fixture.js';
import { ServeProcess } from '../serve/serve-harness.js';
import { eventually, request } from '../serve/http-client.js';

const root = tempDir('diag-page');
const echoes: EchoUpstream[] = [];
let proc: ServeProcess;
let browser: TestBrowser;
let central: TestRepo;
let port: number;

/** The /flaky/ upstream answers 503 to everything, health checks included. */
const FLAKY_CHECK = `  health_checks:
  - interval: 200ms
    timeout: 1s
    unhealthy_threshold: 2
    health_check:
      http:
        path: /health
`;

function gatewayFiles(good: EchoUpstream, flaky: EchoUpstream, extra = ''): string {
  return [cleartextGatewayYaml(port), mappingYaml('orders', '/orders/', good.port), mappingYaml('flaky', '/flaky/', flaky.port, FLAKY_CHECK), extra].filter((x) => x !== '').join('---\n');
}

async function status(): Promise<{ allReady: boolean; sources: { name: string; state: string }[]; upstreams: { state: string; failing: { cluster: string }[] } }> {
  return JSON.parse((await request(`${proc.admin}/api/v1/status`)).body);
}

/** A colour class of diag.css as the browser computes it (the page's code runs in the browser, as a string). */
function colourOf(page: Page, className: string): Promise<string> {
  return page.evaluate(`(() => {
    const probe = document.createElement('span');
    probe.className = ${JSON.stringify(className)};
    document.body.append(probe);
    const colour = getComputedStyle(probe).color;
    probe.remove();
    return colour;
  })()`);
}

async function open(page: Page, path: string, name: string, admin = proc.admin): Promise<void> {
  await page.goto(`${admin}${path}`);
  await rendered(page, name);
}

before(async () => {
  const good = await startEcho('good');
  const flaky = await startEcho('flaky', () => ({ status: 503 }));
  echoes.push(good, flaky);
  port = await freePort();
  central = new TestRepo(root, 'central');
  central.write('gateway.yaml', gatewayFiles(good, flaky)).commit('gateway with orders and flaky');
  proc = new ServeProcess(['--source', `ops=${central.bare}#main`, '--state', join(root, 'state'), '--admin', '127.0.0.1:0', '--workers', '0', '--access-log', 'off']);
  await proc.ready();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await proc?.stop();
  for (const e of echoes) await e.close();
  removeDir(root);
});

describe('the diagnostics page', () => {
  it('shows every page, leads from an error to its object, explains, follows git, and logs no console error', async (t) => {
    const [good, flaky] = echoes as [EchoUpstream, EchoUpstream];
    // Traffic for the routes table: /orders/ answers, /flaky/ fails.
    for (let i = 0; i < 5; i++) {
      assert.equal((await request(`http://127.0.0.1:${port}/orders/${i}`, { headers: { host: 'edge.example.com' } })).status, 200);
      assert.equal((await request(`http://127.0.0.1:${port}/flaky/${i}`, { headers: { host: 'edge.example.com' } })).status, 503);
    }
    const page = await browser.newPage();

    // Overview: version, generation, the source with its revision.
    await open(page, '/diag/overview', 'overview');
    assert.match((await page.textContent('header')) ?? '', /Portico/);
    const sourceRow = await page.textContent('#sources tr[data-source="ops"]');
    assert.match(sourceRow ?? '', /Ready/);
    assert.match(sourceRow ?? '', new RegExp(central.head().slice(0, 12)));
    assert.match((await page.textContent('#generation')) ?? '', /^[1-9]\d*$/);
    await browser.screenshot(page, '01-overview');

    // Routes: evaluation order, the failing route red, timing reported.
    await open(page, '/diag/routes', 'routes');
    const renderMs = await page.evaluate(() => performance.getEntriesByName('diag-rendered-routes')[0]!.startTime);
    t.diagnostic(`routes page first render: ${renderMs.toFixed(0)} ms after navigation start (3 routes)`);
    assert.ok(await page.isVisible('tr[data-route="default/orders"]'));
    await page.waitForSelector('tr.red[data-route="default/flaky"]');
    await browser.screenshot(page, '02-routes');

    // Upstreams: the health check takes the flaky endpoint out; status stops saying allReady.
    await open(page, '/diag/upstreams', 'upstreams');
    await page.waitForFunction(`[...document.querySelectorAll('[data-cluster] .badge')].some((b) => b.textContent === 'Unhealthy')`);
    const flakyCard = await page.textContent('[data-cluster*="127_0_0_1_' + flaky.port + '"]');
    assert.match(flakyCard ?? '', /unhealthy/);
    assert.match(flakyCard ?? '', /status 503/);
    await browser.screenshot(page, '03-upstreams');
    const s = await status();
    assert.equal(s.allReady, false, 'an upstream answering 503 keeps allReady false');
    assert.ok(s.upstreams.failing.some((f) => f.cluster.includes(String(flaky.port))));
    assert.equal((await request(`${proc.admin}/readyz`)).status, 200, 'readiness stays about the gateway itself');

    // A refused revision: its error on the overview links to the Mapping's page.
    central.write('gateway.yaml', gatewayFiles(good, flaky, mappingYaml('broken', '/broken/([', good.port, '  prefix_regex: true\n'))).commit('a broken regex');
    proc.signal('SIGHUP');
    await eventually('the broken revision refused', async () => (await status()).sources.find((x) => x.name === 'ops')?.state === 'Refused');
    const errorPairs = JSON.parse((await request(`${proc.admin}/ambassador/v0/diag/?json=true&filter=errors`)).body) as [string, string][];
    assert.ok(errorPairs.some(([key, message]) => key === 'Mapping/default/broken@ops' && /RE2/.test(message)), JSON.stringify(errorPairs));
    const diagJSON = JSON.parse((await request(`${proc.admin}/ambassador/v0/diag/?json=true`)).body) as { route_info: { key: string }[]; system: { version: string } };
    assert.deepEqual(diagJSON.route_info.map((r) => r.key).sort(), ['default/flaky', 'default/orders']);
    const ids = async (path: string) => (JSON.parse((await request(`${proc.admin}${path}`)).body) as { routes: { id: string }[] }).routes.map((r) => r.id);
    assert.deepEqual(await ids('/diag/routes?json=true'), await ids('/api/v1/diag/routes'), 'a page with ?json=true is its JSON');
    assert.equal((await request(`${proc.admin}/diag/overview`, { method: 'POST', body: '{}' })).status, 405, 'nothing on the page changes configuration');
    await open(page, '/diag/overview', 'overview');
    const link = page.locator('#errors a.object-link', { hasText: 'Mapping/default/broken' }).first();
    await browser.screenshot(page, '04-overview-refused');
    await link.click();
    await rendered(page, 'object');
    assert.equal(await page.textContent('#object-title'), 'Mapping/default/broken');
    assert.match((await page.textContent('#object-origin')) ?? '', /gateway\.yaml:\d+/);
    assert.match((await page.textContent('#object-problems')) ?? '', /Invalid|regex/i);
    await browser.screenshot(page, '05-object');

    // The routes table follows a git change without a reload.
    await open(page, '/diag/routes', 'routes');
    central.write('gateway.yaml', gatewayFiles(good, flaky, mappingYaml('added', '/added/', good.port)).replace('prefix: /orders/', 'prefix: /orders/\n  timeout_ms: 7000')).commit('add /added/, orders timeout 7s');
    proc.signal('SIGHUP');
    await page.waitForSelector('tr[data-route="default/added"]');
    await browser.screenshot(page, '06-routes-after-change');

    // History: the change as a plan-style diff, field by field.
    await open(page, '/diag/history', 'history');
    const historyText = (await page.textContent('main')) ?? '';
    assert.match(historyText, /\+1 added/);
    assert.match(historyText, /default\/orders/);
    assert.match(historyText, /timeouts\.requestMs/);
    assert.match(historyText, /Rejected/);
    await browser.screenshot(page, '07-history');

    // Explain: a request through the form.
    await open(page, '/diag/explain', 'explain');
    await page.fill('input[name=url]', 'http://edge.example.com/orders/42');
    await page.fill('textarea[name=headers]', 'x-user: alice');
    await page.click('#explain-run');
    await page.waitForSelector('#explain-outcome');
    assert.match((await page.textContent('#explain-outcome')) ?? '', /forward/);
    assert.equal(await page.textContent('#explain-route'), 'default/orders');
    assert.match(page.url(), /\/diag\/explain\?method=GET&url=/);
    await browser.screenshot(page, '08-explain');

    // Emissary's address, and the admin address itself, redirect to the page.
    await page.goto(`${proc.admin}/ambassador/v0/diag/`);
    await rendered(page, 'overview');
    assert.match(page.url(), /\/diag\/overview$/);
    await page.goto(`${proc.admin}/`);
    await rendered(page, 'overview');
    assert.match(page.url(), /\/diag\/overview$/);

    assert.deepEqual(browser.errors, [], 'no console errors on any page');
  });

  it('a restored history entry reads as applied, and a refused commit undone leaves the source Ready on the overview', async () => {
    const [good] = echoes as [EchoUpstream];
    const repo = new TestRepo(root, 'undo');
    const base = [cleartextGatewayYaml(await freePort()), mappingYaml('orders', '/orders/', good.port)].join('---\n');
    const broken = mappingYaml('broken', '/broken/([', good.port, '  prefix_regex: true\n');
    repo.write('gateway.yaml', base).commit('orders');
    const args = ['--source', `undo=${repo.bare}#main`, '--state', join(root, 'undo-state'), '--admin', '127.0.0.1:0', '--workers', '0', '--access-log', 'off'];
    // The first run leaves a last-known-good state; the second starts from it.
    const first = new ServeProcess(args);
    try {
      await first.ready();
    } finally {
      first.signal('SIGTERM');
      await first.exited;
    }
    const again = new ServeProcess(args);
    // Closed before the process stops: an open overview polls, and would log a refused connection.
    const page = await browser.newPage();
    try {
      await again.ready();
      type Row = { state: string; verdict: string | null; refusal: unknown; appliedRevision: string | null; desiredRevision: string | null };
      const overview = async (): Promise<{ row: Row; problems: unknown[] }> => {
        const o = JSON.parse((await request(`${again.admin}/api/v1/diag/overview`)).body) as { sources: (Row & { name: string })[]; problems: unknown[] };
        return { row: o.sources.find((x) => x.name === 'undo')!, problems: o.problems };
      };
      // History: the restore's entry has the applied colour, and nothing in it is red.
      await open(page, '/diag/history', 'history', again.admin);
      const restored = page.locator('.entry.Restored').first();
      assert.match((await restored.textContent()) ?? '', /Restored.*LastKnownGood/s);
      const red = await colourOf(page, 'red');
      const look = await page.evaluate<{ border: string; colours: string[]; applied: string }>(`(() => {
        const entry = document.querySelector('.entry.Restored');
        return {
          border: getComputedStyle(entry).borderLeftColor,
          colours: [...entry.querySelectorAll('*')].map((c) => getComputedStyle(c).color),
          // The first run's entry, to compare with.
          applied: getComputedStyle(document.querySelector('.entry.Applied')).borderLeftColor,
        };
      })()`);
      assert.equal(look.border, look.applied, 'bordered as an applied entry');
      assert.ok(!look.colours.includes(red), `no red in a restored entry: ${JSON.stringify(look)}`);
      await browser.screenshot(page, '10-history-restored');

      const refused = async (extra: string, message: string): Promise<void> => {
        repo.write('gateway.yaml', base + '---\n' + extra).commit(message);
        again.signal('SIGHUP');
        const { row } = await again.poll('the broken revision refused', async () => {
          const o = await overview();
          return o.row.state === 'Refused' && o.row.desiredRevision === repo.head() ? o : undefined;
        });
        assert.equal(row.verdict, 'Rejected');
      };
      const backToReady = async (what: string): Promise<void> => {
        again.signal('SIGHUP');
        const { row, problems } = await again.poll(what, async () => {
          const o = await overview();
          // Settled: the pass that fetched it has decided (Pending while it runs).
          return o.row.desiredRevision === repo.head() && o.row.state !== 'Pending' ? o : undefined;
        });
        assert.equal(row.state, 'Ready');
        assert.equal(row.appliedRevision, repo.head(), 'serving what the branch holds');
        assert.equal(row.verdict, 'Applied');
        assert.equal(row.refusal, null);
        assert.deepEqual(problems, [], 'the refused revision\'s errors are gone');
        await open(page, '/diag/overview', 'overview', again.admin);
        const text = (await page.textContent('#sources tr[data-source="undo"]')) ?? '';
        assert.match(text, /Ready/);
        assert.match(text, /Applied/);
        assert.doesNotMatch(text, /Rejected|Refused/);
      };

      // A broken commit, then a commit reverting it: the revert is applied.
      await refused(broken, 'a broken regex');
      git(repo.work, ['revert', '--no-edit', 'HEAD']);
      repo.push();
      await backToReady('the revert applied');

      // A broken commit, then the branch moved back to the served commit (reset and force-push):
      // nothing new is applied, and the refusal no longer speaks for the source.
      const served = repo.head();
      await refused(broken, 'a broken regex again');
      git(repo.work, ['reset', '-q', '--hard', served]);
      repo.push(true);
      await backToReady('the branch back on the served commit');
      await browser.screenshot(page, '11-overview-undone');
      assert.deepEqual(browser.errors, []);
    } finally {
      await page.close();
      again.signal('SIGTERM');
      await again.exited;
    }
  });

  it('pages 10,000 routes: the first page renders from the server-side page, and the filter reaches the last route', async (t) => {
    const [good] = echoes as [EchoUpstream];
    const dir = join(root, 'many');
    mkdirSync(dir);
    const many = await freePort();
    writeFileSync(join(dir, 'gateway.yaml'), cleartextGatewayYaml(many));
    // Ten files of a thousand: one file stays under the loader's size cap.
    for (let f = 0; f < 10; f++) {
      const docs: string[] = [];
      for (let i = f * 1000; i < (f + 1) * 1000; i++) docs.push(mappingYaml(`m${i}`, `/svc-${i}/`, good.port));
      writeFileSync(join(dir, `mappings-${f}.yaml`), docs.join('---\n'));
    }
    const big = new ServeProcess(['--config', dir, '--admin', '127.0.0.1:0', '--workers', '0', '--access-log', 'off']);
    try {
      await big.ready();
      const page = await browser.newPage();
      await page.goto(`${big.admin}/diag/routes`);
      await rendered(page, 'routes');
      const renderMs = await page.evaluate(() => performance.getEntriesByName('diag-rendered-routes')[0]!.startTime);
      t.diagnostic(`routes page first render with 10,000 routes: ${renderMs.toFixed(0)} ms after navigation start`);
      writeFileSync(join(ARTEFACTS, 'routes-10000-first-render.json'), JSON.stringify({ routes: 10_000, firstRenderMs: Math.round(renderMs) }) + '\n');
      assert.equal(await page.locator('#routes-body tr').count(), 100, 'one page of rows, not ten thousand');
      assert.match((await page.textContent('#routes-count')) ?? '', /1–100 of 10000 routes/);
      await page.fill('input[type=search]', '/svc-9999/');
      await page.waitForSelector('tr[data-route="default/m9999"]');
      assert.equal(await page.locator('#routes-body tr').count(), 1);
      await browser.screenshot(page, '09-routes-10000-filtered');
      assert.deepEqual(browser.errors, []);
    } finally {
      big.signal('SIGTERM');
      await big.exited;
    }
  });
});
