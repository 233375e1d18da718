// The reconcile as a pure function: tables of snapshots, facts and policy in, decisions and the served
// set out. No git, no sockets, no clock: the rules of composition, each stated as a sentence.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { reconcile, remedyFor, type ReconcileInput, type ReconcileOutput, type RevisionFacts, type ServedSource, type Snapshot } from '../../src/controller/reconcile.js';
import type { DeclaredSource } from '../../src/controller/source-kind.js';
import { FetchSchedule, type Clock } from '../../src/controller/scheduler.js';
import { listenerYaml, mappingYaml } from '../support/policy-yaml.js';

const gitRoot: DeclaredSource = { spec: { name: 'ops', url: '/srv/central.git', branch: 'main', path: '' }, kind: 'git', intervalMs: 30_000, onForcePush: 'refuse' };
const folderRoot: DeclaredSource = { spec: { name: 'dir', url: '/etc/portico', branch: '', path: '' }, kind: 'directory', intervalMs: Infinity, onForcePush: 'refuse' };

function source(name: string, url: string, prefixes: string[], extra = ''): string {
  return `apiVersion: portico.dev/v1alpha1\nkind: Source\nmetadata:\n  name: ${name}\nspec:\n  url: ${url}\n  claims:\n    kinds: [Mapping]\n    hostnames: ["*"]\n    pathPrefixes: [${prefixes.join(', ')}]\n${extra}`;
}

function snap(name: string, revision: string, files: Record<string, string>): Snapshot {
  return { source: name, revision, files: Object.entries(files).map(([path, content]) => ({ path, content })), problems: [] };
}

const central = (rev: string, extra: Record<string, string> = {}, sources = source('shop', '/srv/shop.git', ['/shop/']) + '---\n' + source('search', '/srv/search.git', ['/search/'])) =>
  snap('ops', rev, { 'gateway.yaml': listenerYaml(8080) + '---\n' + mappingYaml('welcome', '/', 9000), 'sources.yaml': sources, ...extra });
const shop = (rev: string, yaml = mappingYaml('shop', '/shop/', 9001)) => snap('shop', rev, { 'deploy/shop.yaml': yaml });
const search = (rev: string, yaml = mappingYaml('search', '/search/', 9002)) => snap('search', rev, { 'deploy/search.yaml': yaml });

function run(input: Partial<ReconcileInput> & { snapshots: ReconcileInput['snapshots'] }): ReconcileOutput {
  return reconcile({ roots: [gitRoot], served: new Map(), facts: new Map(), options: { defaultIntervalMs: 30_000 }, ...input });
}

/** Serves everything from scratch (as a restore would), then returns the served set. */
function served(...snaps: Snapshot[]): ReadonlyMap<string, ServedSource> {
  const out = run({ snapshots: new Map(snaps.map((s) => [s.source, s])), trusted: true });
  assert.equal(out.served.size, snaps.length, `every snapshot serves: ${out.decisions.map((d) => `${d.source} ${d.verdict} ${d.message ?? ''}`).join('; ')}`);
  return out.served;
}

function verdicts(out: ReconcileOutput): string[] {
  return out.decisions.map((d) => `${d.source}@${d.revision}:${d.verdict}${d.reason ? `:${d.reason}` : ''}`).sort();
}

function routes(out: ReconcileOutput): string[] {
  return out.compiled.ir.listeners.flatMap((l) => l.virtualHosts.flatMap((v) => v.routes.map((r) => r.id))).sort();
}

const noRewrite: RevisionFacts = { rewritten: false, anchored: false };

describe('reconcile', () => {
  it('serves a first configuration: the central source, then each team it declares', () => {
    const out = run({ snapshots: new Map([['ops', central('c1')], ['shop', shop('s1')], ['search', search('q1')]]) });
    assert.deepEqual(verdicts(out), ['ops@c1:accepted', 'search@q1:accepted', 'shop@s1:accepted']);
    assert.deepEqual(routes(out), ['default/search', 'default/shop', 'default/welcome']);
    assert.deepEqual([...out.declared.keys()].sort(), ['search', 'shop']);
  });

  it('gives the same decisions and configuration whatever order the snapshots come in', () => {
    const a = run({ snapshots: new Map([['ops', central('c1')], ['shop', shop('s1')], ['search', search('q1')]]) });
    const b = run({ snapshots: new Map([['search', search('q1')], ['shop', shop('s1')], ['ops', central('c1')]]) });
    assert.deepEqual(verdicts(a), verdicts(b));
    assert.equal(a.compiled.hash, b.compiled.hash);
  });

  it('leaves a team with no snapshot yet undecided, not refused', () => {
    const out = run({ snapshots: new Map([['ops', central('c1')]]) });
    assert.deepEqual(verdicts(out), ['ops@c1:accepted']);
    assert.equal(out.served.has('shop'), false);
  });

  it('refuses a team revision outside its claim and keeps serving its last-known-good', () => {
    const base = served(central('c1'), shop('s1'), search('q1'));
    const out = run({ served: base, snapshots: new Map([['ops', central('c1')], ['shop', shop('s2', mappingYaml('shop', '/shop/', 9001) + '---\n' + mappingYaml('steal', '/search/', 9009))], ['search', search('q1')]]), facts: new Map() });
    // Git history facts are asked for first: a served revision exists.
    assert.equal(out.needs.length, 1);
    const facts = new Map(out.needs.map((n) => [n.key, noRewrite]));
    const out2 = run({ served: base, snapshots: new Map([['ops', central('c1')], ['shop', shop('s2', mappingYaml('shop', '/shop/', 9001) + '---\n' + mappingYaml('steal', '/search/', 9009))], ['search', search('q1')]]), facts });
    assert.deepEqual(verdicts(out2), ['shop@s2:refused:ClaimViolation']);
    assert.equal(out2.served.get('shop')!.snapshot.revision, 's1');
    assert.match(out2.decisions[0]!.remedy!, /inside the claim/);
  });

  it('refuses the second team to serve a shared path, and re-decides it when the first one moves', () => {
    const sharing = source('shop', '/srv/shop.git', ['/shop/', '/shared/']) + '---\n' + source('search', '/srv/search.git', ['/search/', '/shared/']);
    const base = served(central('c1', {}, sharing), shop('s1'), search('q1', mappingYaml('search', '/search/', 9002) + '---\n' + mappingYaml('search-shared', '/shared/', 9002)));
    const shop2 = shop('s2', mappingYaml('shop', '/shop/', 9001) + '---\n' + mappingYaml('shop-shared', '/shared/', 9001));
    const snaps = new Map([['ops', central('c1', {}, sharing)], ['shop', shop2], ['search', base.get('search')!.snapshot]]);
    const first = run({ served: base, snapshots: snaps, facts: new Map() });
    const facts = new Map<string, RevisionFacts>(first.needs.map((n) => [n.key, noRewrite]));
    const out = run({ served: base, snapshots: snaps, facts });
    assert.deepEqual(verdicts(out), ['shop@s2:refused:Conflict']);
    // Remembered while nothing around it changes: the same refusal, not a second compile.
    const again = run({ served: out.served, snapshots: snaps, facts, memo: out.memo });
    assert.equal(again.decisions[0]!.remembered, true);
    // search gives up /shared/: shop's refused revision is decided again, and now applies.
    const search2 = search('q2');
    const snaps2 = new Map([...snaps, ['search', search2]]);
    const pre = run({ served: out.served, snapshots: snaps2, facts, memo: out.memo });
    for (const n of pre.needs) facts.set(n.key, noRewrite);
    const moved = run({ served: out.served, snapshots: snaps2, facts, memo: out.memo });
    assert.deepEqual(verdicts(moved), ['search@q2:accepted', 'shop@s2:accepted']);
  });

  it('applies a narrowed claim from the central source and withdraws the team routes now outside it', () => {
    const base = served(central('c1'), shop('s1'), search('q1'));
    const narrowed = central('c2', {}, source('shop', '/srv/shop.git', ['/cart/']) + '---\n' + source('search', '/srv/search.git', ['/search/']));
    const snaps = new Map([['ops', narrowed], ['shop', base.get('shop')!.snapshot], ['search', base.get('search')!.snapshot]]);
    const pre = run({ served: base, snapshots: snaps });
    const out = run({ served: base, snapshots: snaps, facts: new Map(pre.needs.map((n) => [n.key, noRewrite])) });
    assert.deepEqual(verdicts(out), ['ops@c2:accepted']);
    assert.deepEqual(routes(out), ['default/search', 'default/welcome']);
    assert.match(out.notServed.get('shop')![0]!.message, /outside its claim/);
    assert.equal(out.notServed.has('ops'), false, 'the withdrawal is reported on the team, not on the central source');
  });

  it('removes the teams the central source stops declaring', () => {
    const base = served(central('c1'), shop('s1'), search('q1'));
    const snaps = new Map([['ops', central('c2', {}, source('shop', '/srv/shop.git', ['/shop/']))], ['shop', base.get('shop')!.snapshot], ['search', base.get('search')!.snapshot]]);
    const pre = run({ served: base, snapshots: snaps });
    const out = run({ served: base, snapshots: snaps, facts: new Map(pre.needs.map((n) => [n.key, noRewrite])) });
    assert.deepEqual(out.removed, ['search']);
    assert.deepEqual(routes(out), ['default/shop', 'default/welcome']);
  });

  it('never lets a folder next to git take git routes away: the folder revision is refused', () => {
    const roots = [gitRoot, folderRoot];
    const base = run({ roots, snapshots: new Map([['ops', central('c1')], ['dir', snap('dir', 'd1', { 'extra.yaml': mappingYaml('extra', '/extra/', 9005) })]]), trusted: true }).served;
    // The folder now defines the same Mapping name as git's catch-all, and a Listener on the same port.
    const bad = snap('dir', 'd2', { 'extra.yaml': mappingYaml('welcome', '/', 9006) + '---\n' + listenerYaml(8080, 'other') });
    const out = run({ roots, served: base, snapshots: new Map([['ops', base.get('ops')!.snapshot], ['dir', bad]]) });
    assert.deepEqual(verdicts(out), ['dir@d2:refused:Conflict']);
    assert.deepEqual(routes(out), ['default/extra', 'default/welcome'], "git's routes and the folder's last good ones are served");
  });

  it('lets a git change withdraw what a folder beside it defined (git ranks above folders)', () => {
    const roots = [gitRoot, folderRoot];
    const base = run({ roots, snapshots: new Map([['ops', central('c1')], ['dir', snap('dir', 'd1', { 'extra.yaml': mappingYaml('extra', '/extra/', 9005) })]]), trusted: true }).served;
    const c2 = central('c2', { 'more.yaml': mappingYaml('extra', '/extra/', 9007) });
    const snaps = new Map([['ops', c2], ['dir', base.get('dir')!.snapshot]]);
    const pre = run({ roots, served: base, snapshots: snaps });
    const out = run({ roots, served: base, snapshots: snaps, facts: new Map(pre.needs.map((n) => [n.key, noRewrite])) });
    assert.deepEqual(verdicts(out), ['ops@c2:accepted']);
    assert.ok(out.notServed.get('dir')!.some((p) => p.code === 'DuplicateResource'));
  });

  it('asks for git facts, then refuses a force-push, and accepts it once the central source anchors it', () => {
    const base = served(central('c1'), shop('s1'), search('q1'));
    const snaps = new Map([['ops', base.get('ops')!.snapshot], ['shop', shop('s2')], ['search', base.get('search')!.snapshot]]);
    const pre = run({ served: base, snapshots: snaps });
    assert.deepEqual(verdicts(pre), ['shop@s2:pending']);
    assert.equal(pre.needs[0]!.served, 's1');
    const refused = run({ served: base, snapshots: snaps, facts: new Map([[pre.needs[0]!.key, { rewritten: true, anchored: false }]]) });
    assert.deepEqual(verdicts(refused), ['shop@s2:refused:HistoryRewritten']);
    assert.match(refused.decisions[0]!.remedy!, /spec\.anchor/);
    // The central source sets an anchor: a new policy, so new facts are asked for the same revision.
    const anchored = central('c2', {}, source('shop', '/srv/shop.git', ['/shop/'], `  anchor: ${'a'.repeat(40)}\n`) + '---\n' + source('search', '/srv/search.git', ['/search/']));
    const snaps2 = new Map([...snaps, ['ops', anchored]]);
    const facts = new Map<string, RevisionFacts>([[pre.needs[0]!.key, { rewritten: true, anchored: false }]]);
    // As the controller does: answer what is asked (the central revision's facts, then shop's under the new policy) until nothing is.
    let out = run({ served: base, snapshots: snaps2, facts, memo: refused.memo });
    for (let round = 0; out.needs.length > 0 && round < 5; round++) {
      for (const n of out.needs) facts.set(n.key, n.source === 'shop' ? { rewritten: true, anchored: n.decl.anchor !== undefined } : noRewrite);
      out = run({ served: base, snapshots: snaps2, facts, memo: refused.memo });
    }
    assert.deepEqual(verdicts(out), ['ops@c2:accepted', 'shop@s2:accepted']);
  });

  it('refuses a Source document in a team repository', () => {
    const base = served(central('c1'), shop('s1'), search('q1'));
    const snaps = new Map([['ops', base.get('ops')!.snapshot], ['shop', snap('shop', 's2', { 'deploy/x.yaml': source('sneaky', '/srv/x.git', ['/']) })], ['search', base.get('search')!.snapshot]]);
    const pre = run({ served: base, snapshots: snaps });
    const out = run({ served: base, snapshots: snaps, facts: new Map(pre.needs.map((n) => [n.key, noRewrite])) });
    assert.deepEqual(verdicts(out), ['shop@s2:refused:ClaimViolation']);
    assert.equal(out.declared.has('sneaky'), false);
  });

  it('restores a persisted set with the errors it already carried, and refuses errors it did not', () => {
    const narrowed = central('c2', {}, source('shop', '/srv/shop.git', ['/cart/']) + '---\n' + source('search', '/srv/search.git', ['/search/']));
    const all = new Map([['ops', narrowed], ['shop', shop('s1')], ['search', search('q1')]]);
    const plain = run({ snapshots: all, trusted: true });
    assert.deepEqual(verdicts(plain), ['ops@c2:accepted', 'search@q1:accepted', 'shop@s1:refused:ClaimViolation'], 'without the persisted errors, the withdrawn route looks new');
    const keys = new Set([...(plain.decisions.find((d) => d.source === 'shop')!.problems ?? [])].map((p) => `${p.code}|${p.origin.source}|${p.resource!.kind}/${p.resource!.namespace}/${p.resource!.name}|${p.field}|${p.message}`));
    const restored = run({ snapshots: all, trusted: true, tolerated: keys });
    assert.deepEqual(verdicts(restored), ['ops@c2:accepted', 'search@q1:accepted', 'shop@s1:accepted']);
  });

  it('reads a declared team from a folder under the same claim (--local)', () => {
    const out = run({ snapshots: new Map([['ops', central('c1')], ['shop', shop('sha256:x', mappingYaml('steal', '/search/', 9001))]]), options: { defaultIntervalMs: 30_000, localTeams: { shop: '/home/dev/shop/deploy' } } });
    assert.equal(out.declared.get('shop')!.kind, 'directory');
    assert.deepEqual(verdicts(out), ['ops@c1:accepted', 'shop@sha256:x:refused:ClaimViolation']);
  });
});

describe('fetch schedule (a fake clock)', () => {
  function fakeClock(): Clock & { t: number } {
    const c = { t: 1_000_000, now: () => c.t, setTimeout: () => 0, clearTimeout: () => {} };
    return c;
  }

  it('applies a shorter poll interval at once, counted from the last fetch', () => {
    const clock = fakeClock();
    const s = new FetchSchedule(clock, { jitter: 0 });
    s.ensure('shop', 60_000);
    assert.deepEqual(s.takeDue(), ['shop']);
    s.succeeded('shop');
    clock.t += 5_000;
    assert.deepEqual(s.takeDue(), []);
    s.ensure('shop', 2_000);
    assert.deepEqual(s.takeDue(), ['shop'], 'due now: the new interval has already passed since the last fetch');
  });

  it('backs off exponentially after failures, bounded, and resets on success', () => {
    const clock = fakeClock();
    const s = new FetchSchedule(clock, { jitter: 0, maxBackoffMs: 40_000 });
    s.ensure('ops', 5_000);
    assert.deepEqual([s.failed('ops'), s.failed('ops'), s.failed('ops'), s.failed('ops')], [10_000, 20_000, 40_000, 40_000]);
    s.succeeded('ops');
    assert.equal(s.failures('ops'), 0);
    assert.equal(s.dueAt('ops'), clock.t + 5_000);
  });

  it('coalesces a burst of triggers into one fetch now and one after the minimum, per source', () => {
    const clock = fakeClock();
    const s = new FetchSchedule(clock, { jitter: 0, minFetchIntervalMs: 1_000 });
    s.ensure('ops', 30_000);
    s.ensure('cluster', 30_000, 100); // a Kubernetes source: read from memory
    assert.deepEqual(s.takeDue(), ['cluster', 'ops']);
    s.succeeded('cluster');
    s.succeeded('ops');
    for (let i = 0; i < 5; i++) s.force();
    clock.t += 50;
    assert.deepEqual(s.takeDue(), [], 'both fetched too recently');
    assert.equal(s.next(), clock.t + 50, 'the Kubernetes source is due first, 100 ms after its last read');
    clock.t += 50;
    assert.deepEqual(s.takeDue(), ['cluster'], 'one more read of the cluster; the git source still waits');
    s.succeeded('cluster');
    assert.deepEqual(s.takeDue(), [], 'the burst was one fetch, not five');
    clock.t += 900;
    assert.deepEqual(s.takeDue(), ['ops']);
  });

  it('spreads replicas apart with jitter from the injected randomness', () => {
    const clock = fakeClock();
    const low = new FetchSchedule(clock, { jitter: 0.1, random: () => 0 });
    const high = new FetchSchedule(clock, { jitter: 0.1, random: () => 0.999999 });
    for (const s of [low, high]) {
      s.ensure('ops', 30_000);
      s.succeeded('ops');
    }
    assert.equal(low.dueAt('ops')! - clock.t, 27_000);
    assert.equal(high.dueAt('ops')! - clock.t, 33_000);
  });
});

describe('the remedy of a refusal', () => {
  it('names the action in the source\'s own terms: push to a branch, save a folder\'s files, apply a namespace\'s objects', () => {
    const namespace: DeclaredSource = { spec: { name: 'shop', url: 'kubernetes:shop', branch: '', path: '' }, kind: 'kubernetes', kubernetes: { namespace: 'shop' }, intervalMs: Infinity, onForcePush: 'refuse', declaredBy: 'ops' };
    assert.equal(remedyFor('ClaimViolation', namespace), 'move the resources inside the claim and apply the objects in namespace shop, or have the claim widened in Source shop in the central repository (ops)');
    assert.equal(remedyFor('InvalidConfiguration', namespace), 'fix the problems named above and apply (or delete) the objects in namespace shop');
    assert.equal(remedyFor('InvalidConfiguration', gitRoot), 'fix the problems named above and push a new commit to branch main of /srv/central.git (or revert the commit)');
    assert.equal(remedyFor('InvalidConfiguration', folderRoot), 'fix the problems named above and save the files in the folder /etc/portico');
  });
});
