// The informer against the fake API server: it lists, then follows the watch; a dropped watch resumes
// from the last resourceVersion without missing an event (and without listing again); 410 Gone lists
// again; a BOOKMARK moves the resourceVersion on; an outage is retried until the server answers.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { KubeClient, kubeconfigConnection } from '../../src/kubernetes/kube-client.js';
import { Informer } from '../../src/kubernetes/informer.js';
import { FakeKubeApi } from '../support/fake-kube-api.js';
import { removeDir, tempDir } from '../sources/git-fixture.js';
import { pollUntil, whenTrue } from '../support/wait-until.js';
import { join } from 'node:path';

const root = tempDir('informer');
let api: FakeKubeApi;
let client: KubeClient;
const informers: Informer[] = [];

before(async () => {
  api = await new FakeKubeApi().start();
  client = new KubeClient(kubeconfigConnection(api.writeKubeconfig(join(root, 'kubeconfig'))));
});
after(async () => {
  for (const i of informers) i.stop();
  client.close();
  await api.close();
  removeDir(root);
});

function mapping(name: string, prefix: string, namespace = 'shop'): Record<string, unknown> {
  return { apiVersion: 'getambassador.io/v3alpha1', kind: 'Mapping', metadata: { name, namespace }, spec: { hostname: '*', prefix, service: 'svc:80' } };
}

function prefixes(i: Informer): string[] {
  return [...i.store.values()].map((o) => (o.spec as { prefix: string }).prefix).sort();
}

/** Resolves once `check` holds, looked at after each change the informer reports; bounded. */
async function until(i: Informer, check: () => boolean): Promise<void> {
  const changes = new EventEmitter();
  const off = i.onChange(() => changes.emit('change'));
  try {
    await whenTrue('the informer\'s copy to match', check, [[changes, 'change']]);
  } finally {
    off();
  }
}

function newInformer(namespace: string): Informer {
  const i = new Informer(client, { path: `/apis/getambassador.io/v3alpha1/namespaces/${namespace}/mappings`, initialBackoffMs: 20, maxBackoffMs: 100 });
  informers.push(i);
  i.start();
  return i;
}

/**
 * Resolves once the informer of `namespace` has its watch open. Per namespace: the informers of earlier
 * tests reconnect on their own backoff, so a change in the global count can be theirs.
 */
async function watching(namespace: string): Promise<void> {
  await whenTrue(`the watch of ${namespace} open`, () => api.openWatchesIn(namespace) >= 1, [[api.changes, 'watch']]);
}

describe('informer', () => {
  it('lists, then applies ADDED, MODIFIED and DELETED from the watch', async () => {
    api.apply(mapping('a', '/a/', 'one'));
    const i = newInformer('one');
    await i.whenSynced();
    assert.deepEqual(prefixes(i), ['/a/']);
    await watching('one');
    api.apply(mapping('b', '/b/', 'one'));
    await until(i, () => prefixes(i).includes('/b/'));
    api.apply(mapping('a', '/a2/', 'one'));
    await until(i, () => prefixes(i).includes('/a2/'));
    api.remove('Mapping', 'one', 'b');
    await until(i, () => prefixes(i).join() === '/a2/');
    assert.equal(i.stats.lists, 1, 'one list, then the watch only');
    api.apply(mapping('other-namespace', '/x/', 'two'));
    api.apply(mapping('c', '/c/', 'one'));
    await until(i, () => prefixes(i).includes('/c/'));
    assert.ok(!prefixes(i).includes('/x/'), 'objects of another namespace are not seen');
  });

  it('a dropped watch resumes from its resourceVersion: changes made meanwhile all arrive, without a new list', async () => {
    const i = newInformer('drop');
    await i.whenSynced();
    await watching('drop');
    const lists = i.stats.lists;
    api.dropWatches();
    // Changes while the watch is down.
    api.apply(mapping('m1', '/m1/', 'drop'));
    api.apply(mapping('m2', '/m2/', 'drop'));
    api.apply(mapping('m1', '/m1-changed/', 'drop'));
    api.remove('Mapping', 'drop', 'm2');
    await until(i, () => prefixes(i).join() === '/m1-changed/');
    assert.equal(i.stats.lists, lists, 'resumed the watch, no relist');
    assert.ok(i.stats.watches >= 2);
  });

  it('410 Gone (the resourceVersion was compacted) lists again and converges', async () => {
    const i = newInformer('gone');
    api.apply(mapping('g1', '/g1/', 'gone'));
    await i.whenSynced();
    await until(i, () => prefixes(i).includes('/g1/'));
    const lists = i.stats.lists;
    api.dropWatches();
    api.apply(mapping('g2', '/g2/', 'gone'));
    api.compact();
    await until(i, () => prefixes(i).join() === '/g1/,/g2/');
    assert.ok(i.stats.relistsAfterGone >= 1, '410 seen');
    assert.ok(i.stats.lists > lists, 'listed again');
  });

  it('a BOOKMARK moves the resourceVersion on without a change', async () => {
    const i = newInformer('bookmarks');
    await i.whenSynced();
    await watching('bookmarks');
    const before = Number(i.resourceVersion);
    api.apply(mapping('elsewhere', '/e/', 'not-watched'));
    api.bookmark();
    // a bookmark changes no object, so no change is reported: the resourceVersion is polled, within a bound
    await pollUntil('the bookmark to move the resourceVersion on', async () => Number(i.resourceVersion) > before, { everyMs: 5 });
    assert.deepEqual(prefixes(i), []);
  });

  it('any number of open watches leaves requests their connections (the Lease, status writes): 24 watches, then a request answers', async () => {
    const many: Informer[] = [];
    for (let n = 0; n < 24; n++) many.push(newInformer(`many-${n}`));
    await Promise.all(many.map((i) => i.whenSynced()));
    await whenTrue('24 watches open', () => api.openWatches >= 24, [[api.changes, 'watch']]);
    const answer = await client.request<{ items?: unknown[] }>('GET', '/apis/getambassador.io/v3alpha1/namespaces/many-0/mappings', { timeoutMs: 10_000 });
    assert.deepEqual(answer.items, []);
    for (const i of many) i.stop();
  });

  it('an outage (503) is retried with backoff until the server answers, then the copy is complete', async () => {
    api.unavailable = true;
    const i = newInformer('outage');
    const failed = new Promise<Error>((r) => i.onError(r));
    assert.match((await failed).message, /503/);
    api.apply(mapping('o1', '/o1/', 'outage'));
    api.unavailable = false;
    await i.whenSynced();
    await until(i, () => prefixes(i).join() === '/o1/');
    assert.ok(i.stats.failures >= 1);
  });
});
