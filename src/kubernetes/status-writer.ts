// Writes each cluster object's status after every controller pass: conditions Accepted and Programmed,
// observedGeneration, the serving revision (resource-status.ts decides them). Only the replica that
// holds the Lease writes (lease.ts); the others compute the same statuses and stay silent, and a new
// holder writes whatever differs at once. A status equal to the one the object has is not written
// again, so a write (which the watch reports back) settles instead of looping.

import type { CompileResult } from '../compile/index.js';
import type { PassView } from '../controller/controller.js';
import type { Decision } from '../controller/reconcile.js';
import type { KubernetesCluster, ObjectRecord } from './cluster.js';
import type { LeaseElector } from './lease.js';
import { sourceStatuses, type CompiledView, type ConditionView, type StatusView } from './resource-status.js';

type Obj = Record<string, unknown>;

interface SourceState {
  revision: string;
  judged: CompiledView;
  refused?: { reason: string; message: string };
}

export interface StatusWriterOptions {
  readonly cluster: KubernetesCluster;
  /** Absent: this process always writes (a single replica with --lease off). */
  readonly lease?: LeaseElector;
  readonly now?: () => number;
  readonly log?: { info(o: object, m: string): void; warn(o: object, m: string): void };
  /** Writes in flight at once. */
  readonly concurrency?: number;
  /**
   * The load balancer status of the Service in front of the gateway (`status.loadBalancer`), written
   * into every Ingress served, as Emissary writes it; undefined while there is no such Service.
   */
  readonly loadBalancer?: () => Obj | undefined;
}

function filtered(c: CompileResult, source: string): CompiledView {
  return { conditions: c.report.conditions.filter((x) => x.source === source), problems: c.report.problems.filter((p) => p.origin.source === source && p.resource !== undefined) };
}

export class StatusWriter {
  private readonly states = new Map<string, SourceState>();
  private served: PassView['served'] = new Map();
  private servedCompiled: Map<string, CompiledView> = new Map();
  private writing: Promise<void> | undefined;
  private again = false;
  /** Counters for tests and the admin log: statuses written, skipped as equal, failed. */
  readonly stats = { written: 0, unchanged: 0, failed: 0 };

  constructor(private readonly opts: StatusWriterOptions) {}

  /** Takes the outcome of a pass and writes the statuses that changed (when holding the lease). */
  publish(view: PassView): void {
    this.served = view.served;
    this.servedCompiled = new Map();
    for (const [name, s] of view.served) if (s.decl.kind === 'kubernetes') this.servedCompiled.set(name, filtered(view.compiled, name));
    const decided = new Set<string>();
    for (const d of view.decisions) if (this.take(d, view)) decided.add(d.source);
    // A source with no decision this pass whose newest revision is the served one (nothing moved, or
    // a bad change was undone): judged by the new served compile, since another source's change can
    // make its objects conflict, or stop conflicting.
    for (const [name, s] of view.served) {
      if (s.decl.kind !== 'kubernetes' || decided.has(name)) continue;
      const st = this.states.get(name);
      const newest = this.opts.cluster.currentRevision(name) ?? s.snapshot.revision;
      if (!st || newest === s.snapshot.revision) this.states.set(name, { revision: s.snapshot.revision, judged: this.servedCompiled.get(name)! });
    }
    for (const name of [...this.states.keys()]) if (!view.served.has(name) && !view.decisions.some((d) => d.source === name)) this.states.delete(name);
    this.flush();
  }

  /** Whether the decision settles the source's state. */
  private take(d: Decision, view: PassView): boolean {
    const s = view.served.get(d.source);
    const isKube = s?.decl.kind === 'kubernetes' || this.opts.cluster.objectsOf(d.source, d.revision) !== undefined;
    if (!isKube) return false;
    if (d.verdict === 'accepted') {
      this.states.set(d.source, { revision: d.revision, judged: filtered(view.compiled, d.source) });
      return true;
    }
    if (d.verdict === 'refused' && d.candidate) {
      this.states.set(d.source, { revision: d.revision, judged: filtered(d.candidate, d.source), refused: { reason: d.reason ?? 'Refused', message: d.message ?? '' } });
      return true;
    }
    // A refusal remembered from an earlier pass: the state it left stands.
    return d.verdict === 'refused' && this.states.get(d.source)?.revision === d.revision;
  }

  /** Writes everything that differs, once a holder (called by the lease when this replica takes it). */
  flush(): void {
    if (this.opts.lease && !this.opts.lease.leader) return;
    if (this.writing) {
      this.again = true;
      return;
    }
    this.writing = this.writeAll()
      .catch((err: unknown) => this.opts.log?.warn({ err: (err as Error).message }, 'status write-back failed'))
      .finally(() => {
        this.writing = undefined;
        if (this.again) {
          this.again = false;
          this.flush();
        }
      });
  }

  /** Resolves when no write is in flight (tests). */
  async idle(): Promise<void> {
    while (this.writing) await this.writing;
  }

  private desired(): { rec: ObjectRecord; status: StatusView }[] {
    const out: { rec: ObjectRecord; status: StatusView }[] = [];
    for (const [name, st] of this.states) {
      const objects = this.opts.cluster.objectsOf(name, st.revision);
      if (!objects) continue;
      const s = this.served.get(name);
      const servedObjects = s ? this.opts.cluster.objectsOf(name, s.snapshot.revision) : undefined;
      const statuses = sourceStatuses({
        source: name,
        revision: st.revision,
        objects,
        judged: st.judged,
        ...(st.refused ? { refused: st.refused } : {}),
        ...(s && servedObjects ? { served: { revision: s.snapshot.revision, objects: servedObjects, compiled: this.servedCompiled.get(name) ?? st.judged } } : {}),
      });
      for (const [path, status] of statuses) out.push({ rec: objects.get(path)!, status });
    }
    return out;
  }

  private async writeAll(): Promise<void> {
    await this.eachWhileLeader(this.desired(), ({ rec, status }) => this.writeOne(rec, status));
    await this.writeIngresses();
  }

  /** Runs `write` on each item, `concurrency` at a time, and stops taking items once this replica is no longer the holder. */
  private async eachWhileLeader<T>(items: readonly T[], write: (item: T) => Promise<void>): Promise<void> {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < items.length) {
        if (this.opts.lease && !this.opts.lease.leader) return;
        await write(items[next++]!);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.opts.concurrency ?? 8, items.length) }, worker));
  }

  /** A merge patch of an object's status subresource, counted; a 404 or 409 (gone, or changed since) waits for the next pass. */
  private async patchStatus(rec: ObjectRecord, path: string, status: Obj): Promise<void> {
    try {
      await this.opts.cluster.client.request('PATCH', path, { body: { status }, contentType: 'application/merge-patch+json', timeoutMs: 10_000 });
      this.stats.written++;
    } catch (err) {
      this.stats.failed++;
      const code = (err as { status?: number }).status;
      if (code !== 404 && code !== 409) this.opts.log?.warn({ object: `${rec.kind} ${rec.namespace}/${rec.name}`, err: (err as Error).message }, 'cannot write status');
    }
  }

  /**
   * Each served Ingress (one that made resources of a served revision) gets the gateway Service's
   * load balancer as its status, so that what reads Ingress status (external-dns, Argo CD's health,
   * `kubectl get ingress`) sees where it is served. Ingresses of other classes are not touched.
   */
  private async writeIngresses(): Promise<void> {
    const lb = this.opts.loadBalancer?.();
    if (lb === undefined) return;
    const wanted = Array.isArray(lb.ingress) ? (lb.ingress as unknown[]) : [];
    const work: ObjectRecord[] = [];
    for (const [name, s] of this.served) {
      if (s.decl.kind !== 'kubernetes') continue;
      const objects = this.opts.cluster.objectsOf(name, s.snapshot.revision);
      const served = new Set((this.servedCompiled.get(name)?.conditions ?? []).map((c) => c.origin.path).filter((p) => p.startsWith('Ingress ')));
      for (const path of served) {
        const rec = objects?.get(path);
        const current = rec ? this.opts.cluster.current(rec) : undefined;
        if (!rec || !current) continue;
        const had = (((current.status ?? {}) as Obj).loadBalancer ?? {}) as Obj;
        if (JSON.stringify(Array.isArray(had.ingress) ? had.ingress : []) === JSON.stringify(wanted)) this.stats.unchanged++;
        else work.push(rec);
      }
    }
    // A merge patch replaces a list whole; null removes one the Service no longer has.
    const status = { loadBalancer: { ingress: wanted.length > 0 ? wanted : null } };
    await this.eachWhileLeader(work, (rec) =>
      this.patchStatus(rec, `/apis/networking.k8s.io/v1/namespaces/${encodeURIComponent(rec.namespace)}/ingresses/${encodeURIComponent(rec.name)}/status`, status),
    );
  }

  private async writeOne(rec: ObjectRecord, status: StatusView): Promise<void> {
    const k = rec.clusterKind;
    if (!k) return;
    const current = this.opts.cluster.current(rec);
    // Gone, or changed since (its generation moved on): the next pass writes its status.
    if (!current) return;
    const meta = (current.metadata ?? {}) as Obj;
    if (typeof meta.generation === 'number' && meta.generation !== rec.generation) return;
    const had = (current.status ?? {}) as Obj;
    const wanted = this.withTimes(status, had);
    if (sameStatus(had, wanted)) {
      this.stats.unchanged++;
      return;
    }
    await this.patchStatus(rec, `/apis/${k.group}/${k.version}/namespaces/${encodeURIComponent(rec.namespace)}/${k.plural}/${encodeURIComponent(rec.name)}/status`, wanted);
  }

  /** The status to write, keeping each condition's lastTransitionTime while its status stays the same. */
  private withTimes(s: StatusView, had: Obj): Obj {
    const now = new Date((this.opts.now ?? Date.now)()).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const before = Array.isArray(had.conditions) ? (had.conditions as Obj[]) : [];
    const conditions = s.conditions.map((c: ConditionView) => {
      const prev = before.find((b) => b.type === c.type);
      return { type: c.type, status: c.status, reason: c.reason, message: c.message, observedGeneration: c.observedGeneration, lastTransitionTime: prev && prev.status === c.status && typeof prev.lastTransitionTime === 'string' ? prev.lastTransitionTime : now };
    });
    return {
      observedGeneration: s.observedGeneration,
      source: s.source,
      // null removes a field an earlier status had (merge patch).
      revision: s.revision ?? null,
      servedGeneration: s.servedGeneration ?? null,
      conditions,
    };
  }
}

function sameStatus(had: Obj, wanted: Obj): boolean {
  for (const k of ['observedGeneration', 'source', 'revision', 'servedGeneration']) if ((had[k] ?? null) !== (wanted[k] ?? null)) return false;
  const a = Array.isArray(had.conditions) ? (had.conditions as Obj[]) : [];
  const b = wanted.conditions as Obj[];
  if (a.length !== b.length) return false;
  return b.every((c) => {
    const o = a.find((x) => x.type === c.type);
    return o !== undefined && o.status === c.status && o.reason === c.reason && o.message === c.message && o.observedGeneration === c.observedGeneration;
  });
}
