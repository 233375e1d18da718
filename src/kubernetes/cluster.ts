// One connection to a Kubernetes cluster per process, shared by every Kubernetes source: informers are
// shared by collection (two sources reading one namespace watch it once) and counted, so that a source
// the central repository drops stops its watches; and the objects behind each source's revisions are
// kept for the status writer.

import type { KubernetesSelection } from '../controller/source-kind.js';
import { CLUSTER_KINDS, type ClusterKind } from './crds.js';
import { Informer, type InformerClock } from './informer.js';
import type { KubeClient } from './kube-client.js';

/** A collection one source reads: a custom kind, TLS Secrets, or Ingresses. */
export interface Collection {
  readonly kind: string;
  readonly apiVersion: string;
  /** For custom kinds (absent for Secrets, which have no status). */
  readonly clusterKind?: ClusterKind;
  /**
   * Read as empty while the API server refuses it (403: a role written before Portico read it) or
   * does not serve it (404), instead of failing the source: Ingresses.
   */
  readonly optional?: boolean;
  readonly informer: Informer;
}

/** An object as it was read, for the status writer. */
export interface ObjectRecord {
  readonly kind: string;
  readonly apiVersion: string;
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly generation: number;
  readonly clusterKind?: ClusterKind;
}

export interface ClusterOptions {
  readonly resyncMs?: number;
  readonly clock?: InformerClock;
  readonly random?: () => number;
  readonly initialBackoffMs?: number;
  readonly maxBackoffMs?: number;
}

const TLS_SECRETS = 'type=kubernetes.io/tls';
/** The label Emissary's chart gives the Service in front of it (and `portico manifests` gives Portico's). */
export const GATEWAY_SERVICE_SELECTOR = 'app.kubernetes.io/component=ambassador-service';
const KEPT_REVISIONS = 4;

export class KubernetesCluster {
  private readonly informers = new Map<string, { informer: Informer; users: number }>();
  private readonly revisions = new Map<string, Map<string, ReadonlyMap<string, ObjectRecord>>>();
  private readonly currents = new Map<string, string>();

  constructor(
    readonly client: KubeClient,
    private readonly opts: ClusterOptions = {},
  ) {}

  /** The collections of one selection, started (shared with other sources reading the same ones). */
  acquire(sel: KubernetesSelection): Collection[] {
    const ns = sel.namespace !== undefined ? `/namespaces/${encodeURIComponent(sel.namespace)}` : '';
    const out: Collection[] = CLUSTER_KINDS.map((k) => ({
      kind: k.kind,
      apiVersion: `${k.group}/${k.version}`,
      clusterKind: k,
      informer: this.informer(`/apis/${k.group}/${k.version}${ns}/${k.plural}`, sel.labelSelector),
    }));
    out.push({ kind: 'Secret', apiVersion: 'v1', informer: this.informer(`/api/v1${ns}/secrets`, sel.labelSelector, TLS_SECRETS) });
    // Ingresses of class ambassador are served as Emissary serves them (load/ingress.ts); the loader
    // skips the others, so every one is read and the class decides there.
    out.push({ kind: 'Ingress', apiVersion: 'networking.k8s.io/v1', optional: true, informer: this.informer(`/apis/networking.k8s.io/v1${ns}/ingresses`, sel.labelSelector) });
    return out;
  }

  release(collections: readonly Collection[]): void {
    for (const c of collections) {
      for (const [key, entry] of this.informers) {
        if (entry.informer !== c.informer) continue;
        if (--entry.users === 0) {
          entry.informer.stop();
          this.informers.delete(key);
        }
      }
    }
  }

  private informer(path: string, labelSelector?: string, fieldSelector?: string): Informer {
    const key = JSON.stringify([path, labelSelector ?? '', fieldSelector ?? '']);
    let entry = this.informers.get(key);
    if (!entry) {
      const informer = new Informer(this.client, {
        path,
        ...(labelSelector !== undefined ? { labelSelector } : {}),
        ...(fieldSelector !== undefined ? { fieldSelector } : {}),
        ...(this.opts.resyncMs !== undefined ? { resyncMs: this.opts.resyncMs } : {}),
        ...(this.opts.clock ? { clock: this.opts.clock } : {}),
        ...(this.opts.random ? { random: this.opts.random } : {}),
        ...(this.opts.initialBackoffMs !== undefined ? { initialBackoffMs: this.opts.initialBackoffMs } : {}),
        ...(this.opts.maxBackoffMs !== undefined ? { maxBackoffMs: this.opts.maxBackoffMs } : {}),
      });
      entry = { informer, users: 0 };
      this.informers.set(key, entry);
      informer.start();
    }
    entry.users++;
    return entry.informer;
  }

  /**
   * The Services of `namespace` that front this gateway, as Emissary finds its own
   * (`app.kubernetes.io/component: ambassador-service`): their load balancer is written into the
   * status of the Ingresses served. Started once; stopped with the cluster.
   */
  gatewayServices(namespace: string): Informer {
    return this.informer(`/api/v1/namespaces/${encodeURIComponent(namespace)}/services`, GATEWAY_SERVICE_SELECTOR);
  }

  /** Remembers which objects a source's revision holds (by snapshot path). */
  recordRevision(source: string, revision: string, objects: ReadonlyMap<string, ObjectRecord>): void {
    let m = this.revisions.get(source);
    if (!m) this.revisions.set(source, (m = new Map()));
    m.delete(revision);
    m.set(revision, objects);
    while (m.size > KEPT_REVISIONS) m.delete(m.keys().next().value!);
  }

  /** Notes the revision a source's objects have now (its driver's newest snapshot). */
  noteCurrent(source: string, revision: string): void {
    this.currents.set(source, revision);
  }

  currentRevision(source: string): string | undefined {
    return this.currents.get(source);
  }

  objectsOf(source: string, revision: string): ReadonlyMap<string, ObjectRecord> | undefined {
    return this.revisions.get(source)?.get(revision);
  }

  /** The object as the informer holds it now (its current status included). */
  current(rec: ObjectRecord): Record<string, unknown> | undefined {
    for (const { informer } of this.informers.values()) {
      const o = informer.store.get(`${rec.namespace}/${rec.name}`);
      const m = (o?.metadata ?? {}) as Record<string, unknown>;
      if (o && m.uid === rec.uid) return o;
    }
    return undefined;
  }

  close(): void {
    for (const { informer } of this.informers.values()) informer.stop();
    this.informers.clear();
    this.client.close();
  }
}
