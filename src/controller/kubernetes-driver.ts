// The Kubernetes source driver: a namespace (or a label selection) of a cluster, read through shared
// informers, handed to the reconcile like any source — a revision and a whole snapshot of files.
//
// Each object becomes one file named after it ("Mapping shop/orders"), holding its apiVersion, kind,
// name, namespace, labels and spec (a Secret: its type and data), so that origins name the object, not
// a line. The revision is the SHA-256 of those files: equal objects give the same revision on every
// replica and after a restart, and a status write (which changes an object's resourceVersion but not
// its content) does not make a new revision — which is why the revision is not the resourceVersion
// itself; the resourceVersion and uid only decide which files must be written again.

import { createHash } from 'node:crypto';
import { FetchError } from '../sources/git-source.js';
import { KubeApiError, KubeConfigError } from '../kubernetes/kube-errors.js';
import type { Collection, KubernetesCluster, ObjectRecord } from '../kubernetes/cluster.js';
import { objectYaml } from '../kubernetes/object-yaml.js';
import type { RevisionFacts, Snapshot } from './reconcile.js';
import type { DriverOptions, SourceDriver } from './source-drivers.js';
import { newestStateSnapshot } from './newest-state.js';
import type { DeclaredSource } from './source-kind.js';

type Obj = Record<string, unknown>;

interface ObjectFile {
  readonly resourceVersion: string;
  /** The same object while the cluster object is unchanged: the reconcile keeps its load by it. */
  readonly file: { readonly path: string; readonly content: string };
  readonly path: string;
  readonly digest: string;
  readonly record: ObjectRecord;
}

const KEPT_SNAPSHOTS = 3;

export class KubernetesDriver implements SourceDriver {
  private collections: Collection[] | undefined;
  /** The file of each object, by collection and namespace/name. */
  private readonly files = new Map<Collection, Map<string, ObjectFile>>();
  /** What changed since the last build, by collection: some objects, or anything (after a list). */
  private readonly changes = new Map<Collection, Set<string> | 'all'>();
  private readonly snapshots = new Map<string, Snapshot>();
  private dirty = true;
  private current: string | undefined;
  private readonly unsubscribe: (() => void)[] = [];
  private onChangeFn: (() => void) | undefined;

  constructor(
    readonly decl: DeclaredSource,
    private readonly opts: DriverOptions,
  ) {}

  private get cluster(): KubernetesCluster {
    const c = this.opts.kubernetes?.();
    if (!c) {
      const name = this.decl.spec.name;
      throw new FetchError('AuthenticationFailed', `source '${name}' reads a Kubernetes cluster (${this.decl.spec.url}), but none is configured: serve reads it with --kubeconfig FILE or in a cluster; elsewhere give its objects as a folder, --local ${name}=DIR`);
    }
    return c;
  }

  private ensureStarted(): Collection[] {
    if (this.collections) return this.collections;
    const cluster = this.cluster;
    this.collections = cluster.acquire(this.decl.kubernetes ?? {});
    for (const c of this.collections) {
      this.changes.set(c, 'all');
      this.unsubscribe.push(
        c.informer.onChange((key) => {
          this.dirty = true;
          const had = this.changes.get(c);
          if (key === undefined) this.changes.set(c, 'all');
          else if (had === undefined) this.changes.set(c, new Set([key]));
          else if (had !== 'all') had.add(key);
          this.onChangeFn?.();
        }),
      );
    }
    return this.collections;
  }

  /** Waits for every collection's first list (bounded by the fetch timeout), then computes the revision. */
  async fetch(signal: AbortSignal): Promise<string> {
    let collections: Collection[];
    try {
      collections = this.ensureStarted();
    } catch (err) {
      if (err instanceof KubeConfigError) throw new FetchError('AuthenticationFailed', err.message);
      throw err;
    }
    const unsynced = collections.filter((c) => !c.informer.synced);
    if (unsynced.length > 0) await this.waitSynced(unsynced, signal);
    if (!this.dirty && this.current !== undefined) return this.current;
    this.dirty = false;
    const snap = this.build(collections);
    this.current = snap.revision;
    return snap.revision;
  }

  private waitSynced(unsynced: Collection[], signal: AbortSignal): Promise<void> {
    const timeoutMs = this.opts.fetchTimeoutMs ?? 60_000;
    return new Promise<void>((resolve, reject) => {
      const offs: (() => void)[] = [];
      const timer = setTimeout(() => done(new FetchError('Timeout', `the cluster did not list ${unsynced.map((c) => c.kind).join(', ')} within ${timeoutMs} ms`)), timeoutMs);
      timer.unref();
      const done = (err?: Error): void => {
        for (const off of offs) off();
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        if (err) reject(err);
        else resolve();
      };
      const onAbort = (): void => done(new FetchError('Aborted', 'the gateway stopped while the cluster was being read'));
      signal.addEventListener('abort', onAbort);
      // A first list that fails is a fetch failure at once (the informer keeps retrying on its own),
      // except an optional collection the server refuses or does not serve: it is read as empty.
      const excused = (c: Collection, e: Error | undefined): boolean => c.optional === true && e instanceof KubeApiError && (e.status === 403 || e.status === 404);
      const already = unsynced.find((c) => c.informer.lastError !== undefined && !excused(c, c.informer.lastError));
      if (already) return done(fetchErrorOf(already.informer.lastError!, already));
      const each = unsynced.map((c) => new Promise<void>((settled) => {
        if (excused(c, c.informer.lastError)) return settled();
        offs.push(c.informer.onError((e) => (excused(c, e) ? settled() : done(fetchErrorOf(e, c)))));
        void c.informer.whenSynced().then(() => settled());
      }));
      void Promise.all(each).then(() => done());
    });
  }

  /** The snapshot of what the informers hold now; files are rewritten only for objects that changed. */
  private build(collections: Collection[]): Snapshot {
    for (const c of collections) {
      const changed = this.changes.get(c);
      if (changed === undefined) continue;
      this.changes.delete(c);
      let files = this.files.get(c);
      if (!files) this.files.set(c, (files = new Map()));
      const keys = changed === 'all' ? new Set([...files.keys(), ...c.informer.store.keys()]) : changed;
      for (const key of keys) {
        const o = c.informer.store.get(key);
        if (!o) {
          files.delete(key);
          continue;
        }
        const rv = String(((o.metadata ?? {}) as Obj).resourceVersion ?? '');
        const had = files.get(key);
        if (had && had.resourceVersion === rv && rv !== '') continue;
        files.set(key, objectFile(o, c, rv));
      }
    }
    const list: ObjectFile[] = [];
    for (const files of this.files.values()) for (const f of files.values()) list.push(f);
    list.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    const revision = `sha256:${createHash('sha256').update(list.map((f) => `${f.path}\0${f.digest}`).join('\n')).digest('hex')}`;
    let snap = this.snapshots.get(revision);
    if (!snap) {
      snap = { source: this.decl.spec.name, revision, files: list.map((f) => f.file), problems: [] };
      this.snapshots.set(revision, snap);
      while (this.snapshots.size > KEPT_SNAPSHOTS) this.snapshots.delete(this.snapshots.keys().next().value!);
      this.cluster.recordRevision(this.decl.spec.name, revision, new Map(list.map((f) => [f.path, f.record])));
    }
    this.cluster.noteCurrent(this.decl.spec.name, revision);
    return snap;
  }

  async snapshot(revision: string): Promise<Snapshot> {
    // Like a folder, only the newest state of a cluster can be read.
    return newestStateSnapshot(this.snapshots, revision, () => this.fetch(new AbortController().signal), `the objects of ${this.decl.spec.url} changed while they were being read`);
  }

  async cachedRevision(): Promise<string | undefined> {
    return undefined;
  }

  async facts(): Promise<RevisionFacts> {
    return { rewritten: false, anchored: false };
  }

  watch(onChange: () => void): void {
    this.onChangeFn = onChange;
  }

  close(): void {
    for (const off of this.unsubscribe.splice(0)) off();
    if (this.collections) this.opts.kubernetes?.()?.release(this.collections);
    this.collections = undefined;
    this.files.clear();
    this.changes.clear();
    this.onChangeFn = undefined;
  }
}

const INGRESS_ANNOTATIONS = ['kubernetes.io/ingress.class', 'getambassador.io/ambassador-id'] as const;

/** The file of one object: what the loader needs, nothing the API server adds (status, managed fields). */
function objectFile(o: Obj, c: Collection, resourceVersion: string): ObjectFile {
  const m = (o.metadata ?? {}) as Obj;
  const name = String(m.name ?? '');
  const namespace = String(m.namespace ?? '');
  const metadata: Obj = { name, namespace };
  if (m.labels && typeof m.labels === 'object' && Object.keys(m.labels).length > 0) metadata.labels = m.labels;
  // An Ingress's class and instance are annotations; only those two are kept (others can be large).
  if (c.kind === 'Ingress' && m.annotations && typeof m.annotations === 'object') {
    const kept: Obj = {};
    for (const k of INGRESS_ANNOTATIONS) if ((m.annotations as Obj)[k] !== undefined) kept[k] = (m.annotations as Obj)[k];
    if (Object.keys(kept).length > 0) metadata.annotations = kept;
  }
  const body: Obj = { apiVersion: c.apiVersion, kind: c.kind, metadata };
  if (c.kind === 'Secret') {
    if (o.type !== undefined) body.type = o.type;
    if (o.data !== undefined) body.data = o.data;
  } else if (o.spec !== undefined) body.spec = o.spec;
  const content = objectYaml(body);
  const generation = typeof m.generation === 'number' ? m.generation : 0;
  const path = `${c.kind} ${namespace}/${name}`;
  return {
    resourceVersion,
    file: { path, content },
    path,
    digest: createHash('sha256').update(content).digest('hex'),
    record: { kind: c.kind, apiVersion: c.apiVersion, namespace, name, uid: String(m.uid ?? ''), generation, ...(c.clusterKind ? { clusterKind: c.clusterKind } : {}) },
  };
}

function fetchErrorOf(e: Error, c: Collection): FetchError {
  if (e instanceof FetchError) return e;
  if (e instanceof KubeApiError) {
    if (e.status === 401 || e.status === 403) return new FetchError('AuthenticationFailed', `cannot list ${c.kind}: ${e.message}`);
    if (e.status === 404) {
      if (!c.clusterKind) return new FetchError('RepositoryNotFound', `cannot list ${c.kind}: the API server does not serve ${c.apiVersion} ${c.kind}: ${e.message}`);
      const crd = `${c.clusterKind.plural}.${c.clusterKind.group}`;
      return new FetchError('RepositoryNotFound', `cannot list ${c.kind}: the API server does not know it (is the CRD ${crd} installed? portico crds | kubectl apply -f -): ${e.message}`);
    }
    return new FetchError('Unreachable', `cannot list ${c.kind}: ${e.message}`);
  }
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ETIMEDOUT') return new FetchError('Timeout', `cannot list ${c.kind}: ${e.message}`);
  return new FetchError('Unreachable', `cannot list ${c.kind}: ${code ?? ''} ${e.message}`.replace(/\s+/g, ' '));
}
