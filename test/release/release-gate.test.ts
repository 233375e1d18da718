// Which changes go through a canary, decided on compiled configurations: the served one's policy
// rules; a first configuration, an ungoverned source, a change nothing can observe and a change of
// listeners or TLS go live at once. And the per-request split keeps its share exactly.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { compileYaml } from '../support/compile-yaml.js';
import { frontKey, observableHash, policyFor, releaseGate, releaseNote } from '../../src/release/release-gate.js';
import { RevisionSplit } from '../../src/serve/revision-split.js';

const LISTENER = `apiVersion: getambassador.io/v3alpha1
kind: Listener
metadata: {name: http}
spec: {port: 8080, protocol: HTTP, securityModel: XFP, hostBinding: {namespace: {from: ALL}}}
---
`;

const POLICIES = `apiVersion: portico.dev/v1alpha1
kind: ReleasePolicy
metadata: {name: shop}
spec: {sources: [shop], steps: [5, 25, 50], window: 1m}
---
apiVersion: portico.dev/v1alpha1
kind: ReleasePolicy
metadata: {name: everything}
spec: {}
---
`;

function mapping(service: string, extra = ''): string {
  return `apiVersion: getambassador.io/v3alpha1
kind: Mapping
metadata: {name: shop}
spec: {hostname: "*", prefix: /shop/, service: ${service}${extra}}
---
`;
}

describe('the release gate', () => {
  const served = compileYaml(LISTENER + POLICIES + mapping('shop-v1'));

  it('finds the policy for a source: one that names it, else the global one', () => {
    assert.equal(policyFor(served.ir.fleet, 'shop')?.name, 'shop');
    assert.deepEqual(policyFor(served.ir.fleet, 'shop')?.steps, [5, 25, 50]);
    assert.equal(policyFor(served.ir.fleet, 'search')?.name, 'everything');
    assert.deepEqual(policyFor(served.ir.fleet, 'search')?.steps, [10, 50]);
    assert.equal(policyFor(undefined, 'shop'), undefined);
  });

  const cases: Record<string, { candidate: string; changed: string[]; served?: boolean; release: 'now' | 'canary'; why?: RegExp; policy?: string }> = {
    'a first configuration goes live at once': { candidate: LISTENER + POLICIES + mapping('shop-v2'), changed: ['shop'], served: false, release: 'now', why: /first configuration/ },
    'a new upstream for a governed source goes through its policy': { candidate: LISTENER + POLICIES + mapping('shop-v2'), changed: ['shop'], release: 'canary', policy: 'shop' },
    'a change no policy governs goes live at once': { candidate: LISTENER + mapping('shop-v2'), changed: [], release: 'now', why: /no ReleasePolicy governs/ },
    'the same routes written elsewhere change nothing observable': { candidate: `# moved\n${LISTENER}${POLICIES}${mapping('shop-v1')}`, changed: ['shop'], release: 'now', why: /changes nothing traffic can observe/ },
    'a policy change alone changes nothing observable': { candidate: LISTENER + POLICIES.replace('[5, 25, 50]', '[1, 2]') + mapping('shop-v1'), changed: ['shop'], release: 'now', why: /changes nothing traffic can observe/ },
    'a listener change cannot be tried on a share of requests': { candidate: LISTENER.replace('8080', '8081') + POLICIES + mapping('shop-v2'), changed: ['shop'], release: 'now', why: /listeners, TLS or connection limits/ },
  };
  for (const [name, c] of Object.entries(cases)) {
    it(name, () => {
      const candidate = compileYaml(c.candidate);
      const d = releaseGate(c.served === false ? undefined : { ir: served.ir, secrets: served.secrets }, { ir: candidate.ir, secrets: candidate.secrets }, c.changed);
      assert.equal(d.release, c.release);
      if (d.release === 'now') assert.match(d.why, c.why!);
      else assert.equal(d.policy.name, c.policy);
    });
  }

  it('hashes what traffic sees, not where it was written', () => {
    const a = compileYaml(LISTENER + mapping('shop-v1'));
    const b = compileYaml(`\n\n${LISTENER}${mapping('shop-v1')}`);
    assert.notEqual(a.hash, b.hash, 'origins differ');
    assert.equal(observableHash(a.ir), observableHash(b.ir));
    assert.equal(frontKey(a.ir, a.secrets), frontKey(b.ir, b.secrets));
  });

  it('says in explain which share a new revision of the route’s source would get', () => {
    assert.match(releaseNote(served.ir.fleet, ['shop']) ?? '', /a new revision of source 'shop' first serves 5 % of requests \(ReleasePolicy default\/shop: 5 → 25 → 50 → 100 %, 60 s per step\)/);
    assert.equal(releaseNote(undefined, ['shop']), undefined);
  });
});

describe('the per-request split', () => {
  it('gives the candidate exactly its share, evenly spread', () => {
    for (const share of [1, 10, 20, 33, 50, 99]) {
      const split = new RevisionSplit(share);
      let n = 0;
      for (let i = 0; i < 1000; i++) if (split.pick()) n++;
      assert.equal(n, share * 10, `${share} %`);
    }
    const ten = new RevisionSplit(10);
    const picks = Array.from({ length: 20 }, () => ten.pick());
    assert.deepEqual(picks.map((p, i) => (p ? i : -1)).filter((i) => i >= 0), [9, 19]);
  });

  it('moves to a new share at once', () => {
    const split = new RevisionSplit(10);
    split.share = 50;
    let n = 0;
    for (let i = 0; i < 100; i++) if (split.pick()) n++;
    assert.equal(n, 50);
    split.share = 0;
    assert.equal(Array.from({ length: 100 }, () => split.pick()).filter(Boolean).length, 0);
  });
});
