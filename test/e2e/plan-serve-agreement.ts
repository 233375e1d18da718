// One truth, checked: for each change a team or the operators can push, `plan` (base = what is served,
// head = the change) predicts exactly what `serve`'s controller then does with it — which revisions are
// refused and why, which apply, and the configuration served afterwards. Real git repositories. The
// changes are split over three test files (teams, central, history) so that each stays short.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Controller } from '../../src/controller/controller.js';
import { readHistory } from '../../src/controller/history.js';
import { diffIR, isEmptyDiff } from '../../src/ir/diff.js';
import type { IR } from '../../src/ir/types.js';
import { planStates, withScratch } from '../../src/review/plan-states.js';
import { git, makeSshKey, removeDir, tempDir, TestRepo } from '../sources/git-fixture.js';
import { listenerYaml, mappingYaml, rootSource, sourceYaml } from '../controller/controller-fixture.js';
import { makeTestPKI, type TestPKI } from '../support/test-pki.js';

let root = '';
let trusted: ReturnType<typeof makeSshKey>;
let stranger: ReturnType<typeof makeSshKey>;
let pki: TestPKI;

interface World {
  readonly central: TestRepo;
  readonly shop: TestRepo;
  readonly search: TestRepo;
  /** Sources YAML of the central repository, with extra spec lines per team. */
  sources(opts?: { shop?: string[]; search?: string[]; shopExtra?: string; searchExtra?: string; withoutSearch?: boolean }): string;
}

const PORT = 18080;

function makeWorld(label: string, shopExtra = ''): World {
  const dir = join(root, label);
  mkdirSync(dir);
  const central = new TestRepo(dir, 'central');
  const shop = new TestRepo(dir, 'shop');
  const search = new TestRepo(dir, 'search');
  const w: World = {
    central,
    shop,
    search,
    sources: (o = {}) =>
      (sourceYaml('shop', shop.bare, o.shop ?? ['/shop/'], o.shopExtra ?? shopExtra) + (o.withoutSearch ? '' : '---\n' + sourceYaml('search', search.bare, o.search ?? ['/search/'], o.searchExtra ?? ''))).replace('__SIGNERS__', trusted.allowedSigners),
  };
  central.write('gateway.yaml', listenerYaml(PORT) + '---\n' + mappingYaml('welcome', '/', 9001)).write('sources.yaml', w.sources()).commit('central');
  shop.write('deploy/shop.yaml', mappingYaml('shop', '/shop/', 9002)).commit('shop v1', shopExtra.includes('verify') ? { config: trusted.config, sign: true } : {});
  search.write('deploy/search.yaml', mappingYaml('search', '/search/', 9003)).commit('search v1');
  return w;
}

interface Scenario {
  /** Extra spec lines of shop's Source from the start (verification policy, force-push policy). */
  readonly shopExtra?: string;
  /** Changes served before the one under test (each followed by a controller pass). */
  readonly earlier?: ((w: World) => void)[];
  /** The change under test. */
  readonly change: (w: World) => void;
  /** What serve refuses (and plan predicts), as source:reason; the central source is "ops". */
  readonly refused: string[];
  /** Sources whose new revision applies. */
  readonly applied: string[];
}

const strictSigned = `  verify:\n    mode: strict\n    allowedSigners: '__SIGNERS__'\n`;
const headSigned = `  verify:\n    mode: head\n    allowedSigners: '__SIGNERS__'\n`;

function tlsHostYaml(secret: string): string {
  return `apiVersion: getambassador.io/v3alpha1\nkind: Host\nmetadata:\n  name: edge\nspec:\n  hostname: a.example.test\n  tlsSecret:\n    name: ${secret}\n`;
}

function tlsSecretYaml(name: string): string {
  const b64 = (t: string) => Buffer.from(t).toString('base64');
  return `apiVersion: v1\nkind: Secret\ntype: kubernetes.io/tls\nmetadata:\n  name: ${name}\ndata:\n  tls.crt: ${b64(pki.a.certPem)}\n  tls.key: ${b64(pki.a.keyPem)}\n`;
}

function forcePushShop(w: World, message: string): void {
  git(w.shop.work, ['commit', '-q', '--amend', '--no-gpg-sign', '-m', message]);
  w.shop.push(true);
}

const scenarios: Record<string, Scenario> = {
  'a team adds a route inside its claim': {
    change: (w) => w.shop.write('deploy/more.yaml', mappingYaml('shop-cart', '/shop/cart/', 9004)).commit('cart'),
    refused: [],
    applied: ['shop'],
  },
  'a team adds a route outside its claimed paths': {
    change: (w) => w.shop.write('deploy/more.yaml', mappingYaml('steal', '/search/x/', 9004)).commit('steal'),
    refused: ['shop:ClaimViolation'],
    applied: [],
  },
  'a team adds a route on a hostname outside its claim': {
    shopExtra: '',
    change: (w) => {
      w.central.write('sources.yaml', w.sources().replace('hostnames: ["*"]', 'hostnames: ["shop.example.com"]')).commit('shop hostnames');
      w.shop.write('deploy/shop.yaml', mappingYaml('shop', '/shop/', 9002).replace('hostname: "*"', 'hostname: "shop.example.com"') + '---\n' + mappingYaml('other', '/shop/o/', 9002).replace('hostname: "*"', 'hostname: "other.example.com"')).commit('other host');
    },
    refused: ['shop:ClaimViolation'],
    applied: ['ops'],
  },
  'a team defines a kind its claim does not grant': {
    change: (w) => w.shop.write('deploy/tcp.yaml', 'apiVersion: getambassador.io/v3alpha1\nkind: TCPMapping\nmetadata:\n  name: db\nspec:\n  port: 5432\n  service: 127.0.0.1:5432\n').commit('tcp'),
    refused: ['shop:ClaimViolation'],
    applied: [],
  },
  'a team declares a Source of its own': {
    change: (w) => w.shop.write('deploy/source.yaml', sourceYaml('sneaky', '/tmp/x.git', ['/'])).commit('sneaky'),
    refused: ['shop:ClaimViolation'],
    applied: [],
  },
  'a team commits broken YAML': {
    change: (w) => w.shop.write('deploy/shop.yaml', 'kind: Mapping\n  bad: [indent\n').commit('broken'),
    refused: ['shop:InvalidConfiguration'],
    applied: [],
  },
  'a team commits a wrongly typed field': {
    change: (w) => w.shop.write('deploy/shop.yaml', mappingYaml('shop', '/shop/', 9002, '  timeout_ms: soon\n')).commit('typo'),
    refused: ['shop:InvalidConfiguration'],
    applied: [],
  },
  'a team commits a symbolic link': {
    change: (w) => w.shop.symlink('deploy/passwd.yaml', '/etc/passwd').commit('link'),
    refused: ['shop:InvalidContent'],
    applied: [],
  },
  'two teams claim the same path and the second to serve it collides': {
    earlier: [(w) => w.central.write('sources.yaml', w.sources({ shop: ['/shop/', '/shared/'], search: ['/search/', '/shared/'] })).commit('share'), (w) => w.search.write('deploy/shared.yaml', mappingYaml('search-shared', '/shared/', 9003)).commit('search shared')],
    change: (w) => w.shop.write('deploy/shared.yaml', mappingYaml('shop-shared', '/shared/', 9002)).commit('shop shared'),
    refused: ['shop:Conflict'],
    applied: [],
  },
  'a team reuses the name of another team resource': {
    change: (w) => w.shop.write('deploy/dup.yaml', mappingYaml('search', '/shop/dup/', 9002)).commit('same name'),
    refused: ['shop:Conflict'],
    applied: [],
  },
  'the central repository narrows a claim a team serves': {
    change: (w) => w.central.write('sources.yaml', w.sources({ shop: ['/cart/'] })).commit('narrow'),
    refused: [],
    applied: ['ops'],
  },
  'the central repository removes a team': {
    change: (w) => w.central.write('sources.yaml', w.sources({ withoutSearch: true })).commit('search leaves'),
    refused: [],
    applied: ['ops'],
  },
  'the central repository takes over a path a team serves': {
    change: (w) => w.central.write('takeover.yaml', mappingYaml('shop-maintenance', '/shop/', 9010)).commit('maintenance page'),
    refused: [],
    applied: ['ops'],
  },
  'a team tries to serve a path the central repository routes': {
    earlier: [(w) => w.central.write('sources.yaml', w.sources({ shop: ['/'] })).commit('shop may use any path')],
    change: (w) => w.shop.write('deploy/more.yaml', mappingYaml('shop-root', '/', 9004)).commit('shop takes /'),
    // A collision with a better-ranked source (docs/gitops.md, "Reasons and error codes").
    refused: ['shop:Conflict'],
    applied: [],
  },
  'the central repository commits broken YAML': {
    change: (w) => w.central.write('gateway.yaml', 'apiVersion: [\n').commit('broken central'),
    refused: ['ops:InvalidConfiguration'],
    applied: [],
  },
  'the central repository relaxes a claim a refused team commit needed': {
    earlier: [(w) => w.shop.write('deploy/more.yaml', mappingYaml('shop-admin', '/admin/', 9002)).commit('admin (refused)')],
    change: (w) => w.central.write('sources.yaml', w.sources({ shop: ['/shop/', '/admin/'] })).commit('grant /admin/'),
    refused: [],
    applied: ['ops', 'shop'],
  },
  'the central repository adds a Host whose TLS Secret does not exist yet': {
    change: (w) => w.central.write('host.yaml', tlsHostYaml('edge-cert')).commit('a Host for a certificate still to be issued'),
    refused: [],
    applied: ['ops'],
  },
  'the central repository deletes the Secret a served Host\'s certificate comes from': {
    earlier: [(w) => w.central.write('host.yaml', tlsHostYaml('edge-cert')).write('secret.yaml', tlsSecretYaml('edge-cert')).commit('a Host with its certificate')],
    change: (w) => w.central.remove('secret.yaml').commit('the Secret removed'),
    refused: ['ops:InvalidConfiguration'],
    applied: [],
  },
  'a team force-pushes under onForcePush: refuse': {
    change: (w) => forcePushShop(w, 'rewritten'),
    refused: ['shop:HistoryRewritten'],
    applied: [],
  },
  'a team force-pushes under onForcePush: accept-with-strict': {
    shopExtra: '  onForcePush: accept-with-strict\n',
    change: (w) => forcePushShop(w, 'rewritten'),
    refused: [],
    applied: ['shop'],
  },
  'a team force-pushes and the central repository anchors the new history': {
    change: (w) => {
      forcePushShop(w, 'rewritten');
      w.central.write('sources.yaml', w.sources({ shopExtra: `  anchor: ${w.shop.head()}\n` })).commit('anchor shop');
    },
    refused: [],
    applied: ['ops', 'shop'],
  },
  'a signed-commits team pushes an unsigned commit': {
    shopExtra: headSigned,
    change: (w) => w.shop.write('deploy/shop.yaml', mappingYaml('shop', '/shop/', 9005)).commit('unsigned'),
    refused: ['shop:SignatureMissing'],
    applied: [],
  },
  'a signed-commits team pushes a commit signed by a stranger': {
    shopExtra: headSigned,
    change: (w) => w.shop.write('deploy/shop.yaml', mappingYaml('shop', '/shop/', 9005)).commit('stranger', { config: stranger.config, sign: true }),
    refused: ['shop:SignatureUntrusted'],
    applied: [],
  },
  'a signed-commits team pushes a trusted signed commit': {
    shopExtra: headSigned,
    change: (w) => w.shop.write('deploy/shop.yaml', mappingYaml('shop', '/shop/', 9005)).commit('signed', { config: trusted.config, sign: true }),
    refused: [],
    applied: ['shop'],
  },
  'strict signing: a signed commit on top of an unsigned one': {
    shopExtra: strictSigned,
    earlier: [(w) => w.shop.write('deploy/shop.yaml', mappingYaml('shop', '/shop/', 9005)).commit('unsigned')],
    change: (w) => w.shop.write('deploy/shop.yaml', mappingYaml('shop', '/shop/', 9006)).commit('signed on top', { config: trusted.config, sign: true }),
    refused: ['shop:SignatureMissing'],
    applied: [],
  },
  'strict signing re-anchored by the central repository past the unsigned commit': {
    shopExtra: strictSigned,
    earlier: [(w) => w.shop.write('deploy/shop.yaml', mappingYaml('shop', '/shop/', 9005)).commit('unsigned'), (w) => w.shop.write('deploy/shop.yaml', mappingYaml('shop', '/shop/', 9006)).commit('signed on top', { config: trusted.config, sign: true })],
    change: (w) => {
      const unsigned = git(w.shop.work, ['rev-parse', 'HEAD~1']);
      w.central.write('sources.yaml', w.sources({ shopExtra: strictSigned + `  anchor: ${unsigned}\n` })).commit('re-anchor');
    },
    refused: [],
    applied: ['ops', 'shop'],
  },
  'a team reverts its refused commit': {
    earlier: [(w) => w.shop.write('deploy/shop.yaml', 'kind: [\n').commit('broken')],
    change: (w) => {
      git(w.shop.work, ['revert', '--no-edit', '--no-gpg-sign', 'HEAD']);
      w.shop.push();
    },
    refused: [],
    applied: ['shop'],
  },
  'a team changes only a comment': {
    change: (w) => w.shop.write('deploy/shop.yaml', '# owned by the shop team\n' + mappingYaml('shop', '/shop/', 9002)).commit('comment'),
    refused: [],
    applied: ['shop'],
  },
};

function capture() {
  const state: { ir?: IR } = {};
  return {
    state,
    sink: {
      apply: async (ir: IR) => {
        state.ir = ir;
        return { ok: true as const, generation: 1 };
      },
    },
  };
}

/** Defines one top-level test per named change (each with its own time budget). */
export function agreementTests(names: readonly string[]): void {
  before(() => {
    root = tempDir('agreement');
    const keys = join(root, 'keys');
    mkdirSync(keys);
    trusted = makeSshKey(keys, 'lead@example.com');
    stranger = makeSshKey(keys, 'stranger@example.com');
    pki = makeTestPKI();
  });
  after(() => {
    pki.cleanup();
    removeDir(root);
  });
  let n = 0;
  for (const name of names) {
    const sc = scenarios[name];
    if (!sc) throw new Error(`no scenario '${name}'`);
  test(`plan predicts what serve does: ${name}`, async () => {
    const shopExtra = sc.shopExtra ?? '';
    const w = makeWorld(`s${n++}`, shopExtra);
    const stateDir = join(w.central.root, 'state');
    const { state, sink } = capture();
    const controller = new Controller({ roots: [rootSource('ops', w.central.bare)], stateDir, sink, poll: false, minFetchIntervalMs: 0 });
    try {
      await controller.start();
      for (const step of sc.earlier ?? []) {
        step(w);
        controller.trigger();
        await controller.settled();
      }
      const served = controller.appliedRevisions();
      const marker = readHistory(stateDir).length;
      sc.change(w);

      const plan = await withScratch((cacheDir) =>
        planStates(
          { items: [served.ops!], sources: new Map(), pins: new Map(Object.entries(served).filter(([k]) => k !== 'ops')) },
          { items: [w.central.head()], sources: new Map(), pins: new Map() },
          { repo: w.central.work, ambassadorId: 'default', cacheDir },
        ),
      );
      controller.trigger();
      await controller.settled();

      const entries = readHistory(stateDir).slice(marker);
      const serveRefused = entries.filter((e) => e.result === 'Rejected').map((e) => `${e.source}:${e.reason}`).sort();
      const serveApplied = entries.filter((e) => e.result === 'Applied').map((e) => e.source).sort();
      const rename = (s: string) => (s === 'central' ? 'ops' : s);
      const planRefused = plan.refusals.map((d) => `${rename(d.source)}:${d.reason}`).sort();
      const planApplied = plan.accepted.map((d) => rename(d.source)).sort();

      assert.deepEqual(serveRefused, [...sc.refused].sort(), 'serve refuses what the scenario says');
      assert.deepEqual(serveApplied, [...sc.applied].sort(), 'serve applies what the scenario says');
      assert.deepEqual(planRefused, serveRefused, 'plan predicts the refusals');
      assert.deepEqual(planApplied, serveApplied, 'plan predicts what applies');
      const d = diffIR(plan.headServed.ir, state.ir);
      assert.ok(isEmptyDiff(d), `plan's configuration after the change is what serve serves: ${JSON.stringify(d).slice(0, 400)}`);
      for (const r of plan.refusals) assert.ok(r.remedy && r.remedy.length > 10, `${r.source}: the refusal names its way out`);
    } finally {
      await controller.stop();
    }
  });
}
}

/** The changes each of the three test files runs (together, every change once). */
export const GROUPS = {
  teams: [
    'a team adds a route inside its claim',
    'a team adds a route outside its claimed paths',
    'a team adds a route on a hostname outside its claim',
    'a team defines a kind its claim does not grant',
    'a team declares a Source of its own',
    'a team commits broken YAML',
    'a team commits a wrongly typed field',
    'a team commits a symbolic link',
    'two teams claim the same path and the second to serve it collides',
    'a team reuses the name of another team resource',
    'a team changes only a comment',
  ],
  central: [
    'the central repository narrows a claim a team serves',
    'the central repository removes a team',
    'the central repository takes over a path a team serves',
    'a team tries to serve a path the central repository routes',
    'the central repository commits broken YAML',
    'the central repository relaxes a claim a refused team commit needed',
    'the central repository adds a Host whose TLS Secret does not exist yet',
    'the central repository deletes the Secret a served Host\'s certificate comes from',
  ],
  history: [
    'a team force-pushes under onForcePush: refuse',
    'a team force-pushes under onForcePush: accept-with-strict',
    'a team force-pushes and the central repository anchors the new history',
    'a signed-commits team pushes an unsigned commit',
    'a signed-commits team pushes a commit signed by a stranger',
    'a signed-commits team pushes a trusted signed commit',
    'strict signing: a signed commit on top of an unsigned one',
    'strict signing re-anchored by the central repository past the unsigned commit',
    'a team reverts its refused commit',
  ],
} as const;

/** Every change, for the check that the groups leave none out. */
export const SCENARIO_NAMES = Object.keys(scenarios);
