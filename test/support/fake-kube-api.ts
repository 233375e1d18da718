// A fake Kubernetes API server for tests (no real one can run on these machines): the part Portico's
// Kubernetes source uses, over real HTTP on 127.0.0.1 — list with resourceVersion, streamed watch with
// ADDED / MODIFIED / DELETED / BOOKMARK, 410 Gone for a compacted resourceVersion, create / update /
// delete, merge-patch of the status subresource, Leases with optimistic concurrency — and it validates
// every custom object it accepts against the generated CRDs' OpenAPI schemas (422 otherwise).

import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFileSync } from 'node:fs';
import { customResourceDefinitions } from '../../src/kubernetes/crds.js';
import { matchesLabels, parseLabelSelector } from '../../src/kubernetes/label-selector.js';
import { CrdValidator, type CrdLike } from './crd-validator.js';

type Obj = Record<string, unknown>;

interface ResourceType {
  readonly group: string;
  readonly version: string;
  readonly plural: string;
  readonly kind: string;
  readonly statusSubresource: boolean;
}

interface StoredEvent {
  readonly rv: number;
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED';
  readonly object: Obj;
}

interface Watcher {
  readonly type: ResourceType;
  readonly namespace?: string;
  readonly match: (o: Obj) => boolean;
  readonly res: http.ServerResponse;
}

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly userAgent: string;
}

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function clone<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}

/** RFC 7386 JSON merge patch. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObj(patch)) return clone(patch);
  const out: Obj = isObj(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

function status(code: number, reason: string, message: string, details?: Obj): Obj {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code, ...(details ? { details } : {}) };
}

export class FakeKubeApi {
  private readonly server: http.Server;
  private readonly types: ResourceType[];
  private readonly validator: CrdValidator;
  private readonly store = new Map<ResourceType, Map<string, Obj>>();
  private readonly events = new Map<ResourceType, StoredEvent[]>();
  private readonly watchers = new Set<Watcher>();
  private rv = 100;
  /** Events at or below this resourceVersion are gone: a watch from there gets 410. */
  private compactedRv = 0;
  readonly requests: RecordedRequest[] = [];
  /** 'watch' when a watch opens. */
  readonly changes = new EventEmitter();
  /** Answer every request with 503 while set (an API server outage). */
  unavailable = false;
  /** Resources (plurals) the caller's role does not grant: 403, as RBAC answers. */
  readonly forbidden = new Set<string>();
  port = 0;

  constructor(readonly token = 'fake-token') {
    const crds = customResourceDefinitions() as unknown as CrdLike[];
    this.validator = new CrdValidator(crds);
    this.types = crds.map((c) => ({ group: c.spec.group, version: c.spec.versions[0]!.name, plural: c.spec.names.plural, kind: c.spec.names.kind, statusSubresource: true }));
    this.types.push({ group: '', version: 'v1', plural: 'secrets', kind: 'Secret', statusSubresource: false });
    this.types.push({ group: 'coordination.k8s.io', version: 'v1', plural: 'leases', kind: 'Lease', statusSubresource: false });
    this.types.push({ group: 'networking.k8s.io', version: 'v1', plural: 'ingresses', kind: 'Ingress', statusSubresource: true });
    this.types.push({ group: '', version: 'v1', plural: 'services', kind: 'Service', statusSubresource: true });
    for (const t of this.types) {
      this.store.set(t, new Map());
      this.events.set(t, []);
    }
    this.server = http.createServer((req, res) => this.handle(req, res));
  }

  async start(): Promise<this> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  async close(): Promise<void> {
    this.dropWatches();
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Writes a kubeconfig that reaches this server with its token. */
  writeKubeconfig(file: string, namespace = 'default'): string {
    writeFileSync(
      file,
      [
        'apiVersion: v1',
        'kind: Config',
        'current-context: fake',
        'clusters:',
        `- name: fake\n  cluster:\n    server: ${this.url}`,
        'contexts:',
        `- name: fake\n  context:\n    cluster: fake\n    user: tester\n    namespace: ${namespace}`,
        'users:',
        `- name: tester\n  user:\n    token: ${this.token}`,
        '',
      ].join('\n'),
    );
    return file;
  }

  // ───────────── test controls ─────────────

  /** Ends every open watch stream abruptly (a dropped connection). */
  dropWatches(): void {
    for (const w of this.watchers) w.res.destroy();
    this.watchers.clear();
  }

  get openWatches(): number {
    return this.watchers.size;
  }

  /** Open watches of one namespace: what a test waits for before it changes that namespace, not a global count other clients' reconnects also move. */
  openWatchesIn(namespace: string): number {
    let n = 0;
    for (const w of this.watchers) if (w.namespace === namespace) n++;
    return n;
  }

  /** Forgets every event so far: a watch from an older resourceVersion gets 410 Gone. */
  compact(): void {
    this.compactedRv = this.rv;
    for (const list of this.events.values()) list.length = 0;
  }

  /** Sends a BOOKMARK with the current resourceVersion on every open watch. */
  bookmark(): void {
    for (const w of this.watchers) this.send(w, { type: 'BOOKMARK', object: { kind: w.type.kind, apiVersion: this.apiVersion(w.type), metadata: { resourceVersion: String(this.rv) } } });
  }

  /** The stored object (a copy), or undefined. */
  get(kind: string, namespace: string, name: string): Obj | undefined {
    const t = this.types.find((x) => x.kind === kind);
    const o = t ? this.store.get(t)!.get(`${namespace}/${name}`) : undefined;
    return o ? clone(o) : undefined;
  }

  list(kind: string): Obj[] {
    const t = this.types.find((x) => x.kind === kind)!;
    return [...this.store.get(t)!.values()].map(clone);
  }

  /** Creates or replaces an object as `kubectl apply` would (spec changes bump the generation); throws on 4xx. */
  apply(obj: Obj): Obj {
    const t = this.typeOf(obj);
    const m = (obj.metadata ?? {}) as Obj;
    const key = `${String(m.namespace ?? 'default')}/${String(m.name)}`;
    const existing = this.store.get(t)!.get(key);
    const r = existing ? this.update(t, String(m.namespace ?? 'default'), String(m.name), { ...obj, metadata: { ...m, resourceVersion: undefined } }) : this.create(t, String(m.namespace ?? 'default'), obj);
    if (r.code >= 300) throw new Error(`apply ${String(obj.kind)} ${key}: ${r.code} ${JSON.stringify(r.body)}`);
    return r.body;
  }

  /** Sets an object's status as a controller of the cluster would (a Service's load balancer); throws when it does not exist. */
  setStatus(kind: string, namespace: string, name: string, status: Obj): Obj {
    const t = this.types.find((x) => x.kind === kind)!;
    const r = this.patchStatus(t, namespace, name, { status });
    if (r.code >= 300) throw new Error(`status of ${kind} ${namespace}/${name}: ${r.code} ${JSON.stringify(r.body)}`);
    return r.body;
  }

  /** Deletes an object; throws when it does not exist. */
  remove(kind: string, namespace: string, name: string): void {
    const t = this.types.find((x) => x.kind === kind)!;
    const r = this.delete(t, namespace, name);
    if (r.code >= 300) throw new Error(`delete ${kind} ${namespace}/${name}: ${r.code}`);
  }

  /** Status writes seen, by User-Agent. */
  statusWriters(): Map<string, number> {
    const m = new Map<string, number>();
    for (const r of this.requests) if (r.method === 'PATCH' && r.path.endsWith('/status')) m.set(r.userAgent, (m.get(r.userAgent) ?? 0) + 1);
    return m;
  }

  // ───────────── the API ─────────────

  private apiVersion(t: ResourceType): string {
    return t.group === '' ? t.version : `${t.group}/${t.version}`;
  }

  private typeOf(obj: Obj): ResourceType {
    const t = this.types.find((x) => x.kind === obj.kind && this.apiVersion(x) === obj.apiVersion);
    if (!t) throw new Error(`the fake API server does not serve ${String(obj.apiVersion)} ${String(obj.kind)}`);
    return t;
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    this.requests.push({ method: req.method ?? '', path: url.pathname, userAgent: String(req.headers['user-agent'] ?? '') });
    const reply = (code: number, body: Obj): void => {
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.headers.authorization !== `Bearer ${this.token}`) return reply(401, status(401, 'Unauthorized', 'Unauthorized'));
    if (this.unavailable) return reply(503, status(503, 'ServiceUnavailable', 'the fake API server is down'));
    const route = this.route(url.pathname);
    if (!route) return reply(404, status(404, 'NotFound', `the server could not find the requested resource (${url.pathname})`));
    const { type, namespace, name, sub } = route;
    if (this.forbidden.has(type.plural)) return reply(403, status(403, 'Forbidden', `${type.plural}.${type.group} is forbidden: the caller cannot ${req.method === 'GET' ? 'list' : 'change'} it`));
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      let input: Obj = {};
      if (body !== '') {
        try {
          input = JSON.parse(body) as Obj;
        } catch {
          return reply(400, status(400, 'BadRequest', 'body is not JSON'));
        }
      }
      const method = req.method ?? 'GET';
      if (method === 'GET' && name === undefined) {
        if (url.searchParams.get('watch') === '1' || url.searchParams.get('watch') === 'true') return this.watch(type, namespace, url.searchParams, res);
        return reply(200, this.listBody(type, namespace, url.searchParams));
      }
      if (method === 'GET') {
        const o = this.store.get(type)!.get(`${namespace}/${name}`);
        return o ? reply(200, o) : reply(404, status(404, 'NotFound', `${type.plural} "${name}" not found`));
      }
      let r: { code: number; body: Obj };
      if (method === 'POST' && name === undefined && namespace !== undefined) r = this.create(type, namespace, input);
      else if (method === 'PUT' && name !== undefined && namespace !== undefined && sub === undefined) r = this.update(type, namespace, name, input);
      else if (method === 'PATCH' && name !== undefined && namespace !== undefined && sub === 'status') {
        if (req.headers['content-type'] !== 'application/merge-patch+json') r = { code: 415, body: status(415, 'UnsupportedMediaType', 'only merge patch') };
        else r = this.patchStatus(type, namespace, name, input);
      } else if (method === 'DELETE' && name !== undefined && namespace !== undefined) r = this.delete(type, namespace, name);
      else r = { code: 405, body: status(405, 'MethodNotAllowed', `${method} ${url.pathname}`) };
      reply(r.code, r.body);
    });
  }

  private route(path: string): { type: ResourceType; namespace?: string; name?: string; sub?: string } | undefined {
    const parts = path.split('/').filter((p) => p !== '');
    let group = '';
    let version: string;
    let rest: string[];
    if (parts[0] === 'api') {
      version = parts[1] ?? '';
      rest = parts.slice(2);
    } else if (parts[0] === 'apis') {
      group = parts[1] ?? '';
      version = parts[2] ?? '';
      rest = parts.slice(3);
    } else return undefined;
    let namespace: string | undefined;
    if (rest[0] === 'namespaces' && rest.length >= 3) {
      namespace = decodeURIComponent(rest[1]!);
      rest = rest.slice(2);
    }
    const type = this.types.find((t) => t.group === group && t.version === version && t.plural === rest[0]);
    if (!type || rest.length > 3) return undefined;
    return { type, ...(namespace !== undefined ? { namespace } : {}), ...(rest[1] !== undefined ? { name: decodeURIComponent(rest[1]) } : {}), ...(rest[2] !== undefined ? { sub: rest[2] } : {}) };
  }

  private matcher(type: ResourceType, namespace: string | undefined, q: URLSearchParams): ((o: Obj) => boolean) | string {
    const ls = parseLabelSelector(q.get('labelSelector') ?? '');
    if (typeof ls === 'string') return ls;
    const fields: [string, string][] = [];
    for (const term of (q.get('fieldSelector') ?? '').split(',').filter((t) => t !== '')) {
      const m = /^([a-zA-Z.]+)==?(.*)$/.exec(term);
      if (!m) return `bad field selector ${term}`;
      fields.push([m[1]!, m[2]!]);
    }
    return (o: Obj) => {
      const m = (o.metadata ?? {}) as Obj;
      if (namespace !== undefined && m.namespace !== namespace) return false;
      if (!matchesLabels(ls, m.labels as Record<string, string> | undefined)) return false;
      return fields.every(([k, v]) => (k === 'type' ? o.type : k === 'metadata.name' ? m.name : k === 'metadata.namespace' ? m.namespace : undefined) === v);
    };
  }

  private listBody(type: ResourceType, namespace: string | undefined, q: URLSearchParams): Obj {
    const match = this.matcher(type, namespace, q);
    if (typeof match === 'string') return status(400, 'BadRequest', match);
    const items = [...this.store.get(type)!.values()].filter(match);
    return { kind: `${type.kind}List`, apiVersion: this.apiVersion(type), metadata: { resourceVersion: String(this.rv) }, items };
  }

  private send(w: Watcher, event: Obj): void {
    if (!w.res.writableEnded && !w.res.destroyed) w.res.write(`${JSON.stringify(event)}\n`);
  }

  private watch(type: ResourceType, namespace: string | undefined, q: URLSearchParams, res: http.ServerResponse): void {
    const match = this.matcher(type, namespace, q);
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    if (typeof match === 'string') {
      res.end(JSON.stringify({ type: 'ERROR', object: status(400, 'BadRequest', match) }) + '\n');
      return;
    }
    const from = Number(q.get('resourceVersion') ?? '0');
    const w: Watcher = { type, ...(namespace !== undefined ? { namespace } : {}), match, res };
    if (from !== 0 && from < this.compactedRv) {
      res.end(JSON.stringify({ type: 'ERROR', object: status(410, 'Expired', `too old resource version: ${from} (${this.compactedRv})`) }) + '\n');
      return;
    }
    this.watchers.add(w);
    res.on('close', () => this.watchers.delete(w));
    this.changes.emit('watch');
    // Replays what happened after `from` (resourceVersion 0 or none: the current objects as ADDED).
    if (from === 0) for (const o of this.store.get(type)!.values()) if (match(o)) this.send(w, { type: 'ADDED', object: o });
    for (const e of this.events.get(type)!) if (e.rv > from && match(e.object)) this.send(w, { type: e.type, object: e.object });
    const timeout = Number(q.get('timeoutSeconds') ?? '0');
    if (timeout > 0) {
      const t = setTimeout(() => res.end(), timeout * 1000);
      t.unref();
      res.on('close', () => clearTimeout(t));
    }
  }

  private record(type: ResourceType, kind: StoredEvent['type'], o: Obj): void {
    const e = { rv: this.rv, type: kind, object: clone(o) };
    this.events.get(type)!.push(e);
    for (const w of this.watchers) if (w.type === type && w.match(e.object)) this.send(w, { type: e.type, object: e.object });
  }

  private validate(type: ResourceType, o: Obj): string[] {
    if (this.validator.has(this.apiVersion(type), type.kind)) return this.validator.validate(o).errors;
    if (type.kind === 'Secret') {
      const data = o.data;
      if (data !== undefined && (!isObj(data) || Object.values(data).some((v) => typeof v !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(v)))) return ['/data: values must be base64 strings'];
    }
    if (type.kind === 'Lease') {
      const spec = (o.spec ?? {}) as Obj;
      if (spec.leaseDurationSeconds !== undefined && !Number.isInteger(spec.leaseDurationSeconds)) return ['/spec/leaseDurationSeconds: must be an integer'];
    }
    return [];
  }

  private invalid(type: ResourceType, name: string, errors: string[]): { code: number; body: Obj } {
    return { code: 422, body: status(422, 'Invalid', `${type.kind} "${name}" is invalid: ${errors.join('; ')}`, { name, kind: type.kind, causes: errors.map((e) => ({ message: e })) }) };
  }

  private create(type: ResourceType, namespace: string, input: Obj): { code: number; body: Obj } {
    const m = { ...((input.metadata ?? {}) as Obj) };
    const name = String(m.name ?? '');
    if (name === '') return { code: 422, body: status(422, 'Invalid', 'metadata.name: Required value') };
    const key = `${namespace}/${name}`;
    if (this.store.get(type)!.has(key)) return { code: 409, body: status(409, 'AlreadyExists', `${type.plural} "${name}" already exists`) };
    const obj: Obj = { ...clone(input), apiVersion: this.apiVersion(type), kind: type.kind };
    if (type.statusSubresource) delete obj.status;
    const errors = this.validate(type, obj);
    if (errors.length > 0) return this.invalid(type, name, errors);
    this.rv++;
    obj.metadata = { ...m, name, namespace, uid: randomUUID(), resourceVersion: String(this.rv), generation: 1, creationTimestamp: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z') };
    const stored = this.validator.has(this.apiVersion(type), type.kind) ? this.validator.validate(obj).pruned : obj;
    this.store.get(type)!.set(key, stored);
    this.record(type, 'ADDED', stored);
    return { code: 201, body: stored };
  }

  private update(type: ResourceType, namespace: string, name: string, input: Obj): { code: number; body: Obj } {
    const key = `${namespace}/${name}`;
    const old = this.store.get(type)!.get(key);
    if (!old) return { code: 404, body: status(404, 'NotFound', `${type.plural} "${name}" not found`) };
    const om = old.metadata as Obj;
    const im = (input.metadata ?? {}) as Obj;
    if (im.resourceVersion !== undefined && im.resourceVersion !== om.resourceVersion) {
      return { code: 409, body: status(409, 'Conflict', `Operation cannot be fulfilled on ${type.plural} "${name}": the object has been modified; please apply your changes to the latest version and try again`) };
    }
    const obj: Obj = { ...clone(input), apiVersion: this.apiVersion(type), kind: type.kind };
    // With a status subresource, the main resource ignores status; spec changes move the generation.
    if (type.statusSubresource) obj.status = old.status;
    if (obj.status === undefined) delete obj.status;
    const errors = this.validate(type, obj);
    if (errors.length > 0) return this.invalid(type, name, errors);
    const strip = (o: Obj): string => JSON.stringify({ ...o, metadata: undefined, status: undefined });
    const specChanged = strip(obj) !== strip(old);
    const labelsChanged = JSON.stringify(im.labels ?? {}) !== JSON.stringify(om.labels ?? {});
    if (!specChanged && !labelsChanged) return { code: 200, body: old };
    this.rv++;
    obj.metadata = { ...im, name, namespace, uid: om.uid, creationTimestamp: om.creationTimestamp, resourceVersion: String(this.rv), generation: (om.generation as number) + (specChanged ? 1 : 0) };
    const stored = this.validator.has(this.apiVersion(type), type.kind) ? this.validator.validate(obj).pruned : obj;
    this.store.get(type)!.set(key, stored);
    this.record(type, 'MODIFIED', stored);
    return { code: 200, body: stored };
  }

  private patchStatus(type: ResourceType, namespace: string, name: string, patch: Obj): { code: number; body: Obj } {
    const key = `${namespace}/${name}`;
    const old = this.store.get(type)!.get(key);
    if (!old) return { code: 404, body: status(404, 'NotFound', `${type.plural} "${name}" not found`) };
    if (!type.statusSubresource) return { code: 404, body: status(404, 'NotFound', `${type.plural} has no status subresource`) };
    const merged = mergePatch(old, { status: patch.status ?? null }) as Obj;
    const errors = this.validate(type, merged);
    if (errors.length > 0) return this.invalid(type, name, errors);
    this.rv++;
    merged.metadata = { ...(old.metadata as Obj), resourceVersion: String(this.rv) };
    this.store.get(type)!.set(key, merged);
    this.record(type, 'MODIFIED', merged);
    return { code: 200, body: merged };
  }

  private delete(type: ResourceType, namespace: string, name: string): { code: number; body: Obj } {
    const key = `${namespace}/${name}`;
    const old = this.store.get(type)!.get(key);
    if (!old) return { code: 404, body: status(404, 'NotFound', `${type.plural} "${name}" not found`) };
    this.store.get(type)!.delete(key);
    this.rv++;
    const gone = { ...old, metadata: { ...(old.metadata as Obj), resourceVersion: String(this.rv) } };
    this.record(type, 'DELETED', gone);
    return { code: 200, body: gone };
  }
}
