// Load stage, step 2: one parsed document → Resources. Recognises the shape (Kubernetes object,
// flattened form, Service annotation, top-level list, `kind: List`), the apiVersion and the kind,
// applies ambassador_id filtering, normalises v2, validates, and reports every problem with its origin.

import type { Origin } from '../api/origin.js';
import { PROBLEM_CODES, problem, type Problem, type ProblemCode, type ResourceRef, type Severity } from '../api/problems.js';
import type { Kind, Position, Resource } from '../api/resource.js';
import { KIND_SCHEMAS, specAccepts } from '../api/schemas.js';
import { closestName } from './closest-name.js';
import { nullRecord } from './null-record.js';
import { LOAD_LIMITS } from './limits.js';
import { isObject, normaliseSpec, normaliseV2 } from './spec-normalise.js';
import { crossFieldIssues, pruneUnknownFields, validateSpec, valueAt, type SpecIssue } from './spec-validation.js';
import { headerRuleIssues } from './header-rules.js';
import { specAdvice } from './spec-advice.js';
import { UNENFORCED_KINDS, unenforcedFieldIssues, unenforcedTLSModule } from './unenforced-protections.js';
import { ingressParts, isAmbassadorIngress } from './ingress.js';
import {
  readDocuments,
  RecordedSources,
  type ReaderCaches,
  type NodeSource,
  type ParsedDocument,
  type PositionMap,
  type SourceMap,
  type TextPosition,
} from './yaml-documents.js';

type Obj = Record<string, unknown>;

/** Everything one load shares: where files come from, which instance we are, and the output. */
export interface LoadContext {
  readonly source?: string;
  readonly revision?: string;
  readonly ambassadorId: string;
  /** The namespace of a resource that names none: Portico's own (LoadOptions.ambassadorNamespace). */
  readonly ambassadorNamespace: string;
  readonly resources: Resource[];
  readonly problems: Problem[];
  objects: number;
  /** Field paths built so far in this load (see collectPositions). */
  fieldPaths: FieldPaths;
  /** The fast reader's caches, shared by the files of this load. */
  readerCaches: ReaderCaches;
  /** The last document read by the fast reader whose positions were taken, and their paths (see recordedPositions). */
  lastShape: DocumentShape;
}

/** Dotted field paths by parent path and key. Most resources share their paths: one string each, built once. */
type FieldPaths = Map<string, Map<string | number, string>>;

/** A document read by the fast reader and the field paths of its entries. */
interface DocumentShape {
  readonly sources: RecordedSources;
  readonly paths: readonly string[];
}

/** No document yet: its empty lists match no document that has an entry. */
export const NO_SHAPE: DocumentShape = Object.freeze({ sources: new RecordedSources(undefined), paths: Object.freeze([]) as readonly string[] });

const ANNOTATION = 'getambassador.io/config';

/** Kinds Portico loads from getambassador.io/*. */
const EMISSARY_LOADED = new Set<string>([
  'Mapping', 'Host', 'Listener', 'TLSContext', 'TCPMapping', 'Module', 'AuthService', 'RateLimitService', 'RateLimit', 'TracingService', 'Filter', 'FilterPolicy',
]);

/** Emissary and Edge Stack kinds Portico recognises but does not implement yet. */
export const EMISSARY_NOT_IMPLEMENTED_KINDS = [
  'LogService',
  'DevPortal',
  'KubernetesServiceResolver',
  'KubernetesEndpointResolver',
  'ConsulResolver',
  'WebApplicationFirewall',
  'WebApplicationFirewallPolicy',
] as const;

const ALL_EMISSARY_KINDS = [...EMISSARY_LOADED, ...EMISSARY_NOT_IMPLEMENTED_KINDS];

/** Versions of getambassador.io that load: v3alpha1 as is; v2 and v1 (the same shape) normalised. */
const EMISSARY_VERSIONS: Record<string, 'v3' | 'v2'> = { v3alpha1: 'v3', v2: 'v2', v1: 'v2' };

const METADATA_FIELDS = new Set([
  'name',
  'namespace',
  'labels',
  'annotations',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'generation',
  'generateName',
  'resourceVersion',
  'uid',
  'selfLink',
  'managedFields',
  'ownerReferences',
  'finalizers',
]);

const SECRET_FIELDS = ['type', 'data', 'stringData', 'immutable'];
const TOP_LEVEL = new Set(['apiVersion', 'kind', 'metadata', 'spec', 'status']);
const SECRET_TOP_LEVEL = new Set([...TOP_LEVEL, ...SECRET_FIELDS]);
const NAME_RE = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const NAMESPACE_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const BASE64_RE = /^[A-Za-z0-9+/]*={0,2}$/;

/** Decode the text of one file (or one Service annotation) into resources and problems. */
export function decodeText(
  ctx: LoadContext,
  path: string,
  text: string,
  opts: { mapPos?: PositionMap; namespace?: string; inAnnotation?: boolean } = {},
): void {
  const file = new FileDecoder(ctx, path, opts.namespace, opts.inAnnotation ?? false);
  // Each document is decoded as soon as it is read, so its positions die young.
  const decodeDocument = (doc: ParsedDocument): void => {
    if (ctx.objects <= LOAD_LIMITS.maxObjects) file.document(doc);
  };
  const issues = readDocuments(text, decodeDocument, { mapPos: opts.mapPos, caches: ctx.readerCaches });
  for (const i of issues) file.report(i.code, i.message, i.at, i.field ? { field: i.field } : {});
}

class FileDecoder {
  /** Positions of the document being decoded. */
  private sources: SourceMap = new Map();

  constructor(
    private readonly ctx: LoadContext,
    private readonly path: string,
    private readonly inheritedNamespace: string | undefined,
    private readonly inAnnotation: boolean,
  ) {}

  origin(at: TextPosition): Origin {
    const o: { -readonly [K in keyof Origin]: Origin[K] } = { path: this.path, line: at.line, col: at.col };
    if (this.ctx.source !== undefined) o.source = this.ctx.source;
    if (this.ctx.revision !== undefined) o.revision = this.ctx.revision;
    return o;
  }

  report(code: ProblemCode, message: string, at: TextPosition, extra: { resource?: ResourceRef; field?: string; severity?: Severity } = {}): void {
    this.ctx.problems.push(problem(code, message, this.origin(at), extra));
  }

  private sourceOf(value: object): NodeSource | undefined {
    return this.sources.get(value);
  }

  /** Where value starts; from the fast reader, without building every position of the document. */
  private startOf(value: object): TextPosition | undefined {
    const sources = this.sources;
    return sources instanceof RecordedSources ? sources.startOf(value) : sources.get(value)?.start;
  }

  document(doc: ParsedDocument): void {
    this.sources = doc.sources;
    const v = doc.value;
    // An empty document (a stray `---`) carries nothing; it is skipped the same way everywhere.
    if (v === null || v === undefined) return;
    // Most documents spoil nothing: a plain object goes straight on.
    if (doc.spoiled.length === 0 && !Array.isArray(v) && !(isObject(v) && v.kind === 'List')) {
      this.object(v, doc.start);
      return;
    }
    const spoiled = (prefix: (string | number)[]): boolean =>
      doc.spoiled.some((p) => {
        const n = Math.min(p.length, prefix.length);
        for (let i = 0; i < n; i++) if (p[i] !== prefix[i]) return false;
        return true;
      });
    if (Array.isArray(v)) {
      this.items(v, doc.start, [], spoiled);
      return;
    }
    if (isObject(v) && v.kind === 'List' && Array.isArray(v.items)) {
      this.items(v.items, this.startOf(v) ?? doc.start, ['items'], spoiled);
      return;
    }
    if (spoiled([])) return;
    this.object(v, doc.start);
  }

  private items(list: unknown[], start: TextPosition, prefix: (string | number)[], spoiled: (p: (string | number)[]) => boolean): void {
    if (list.length > LOAD_LIMITS.maxItemsPerDocument) {
      this.report('TooManyDocuments', `more than ${LOAD_LIMITS.maxItemsPerDocument} objects in one list`, start);
      return;
    }
    const src = this.sourceOf(list);
    list.forEach((item, i) => {
      if (spoiled([...prefix, i])) return;
      this.object(item, src?.entries.get(i) ?? start);
    });
  }

  private object(value: unknown, at: TextPosition): void {
    if (++this.ctx.objects > LOAD_LIMITS.maxObjects) {
      if (this.ctx.objects === LOAD_LIMITS.maxObjects + 1) {
        this.report('TooManyDocuments', `more than ${LOAD_LIMITS.maxObjects} objects in one load; the rest is not read`, at);
      }
      return;
    }
    if (!isObject(value)) {
      this.report('NotAnObject', `expected a mapping with apiVersion and kind, found ${Array.isArray(value) ? 'a list' : typeof value}`, at);
      return;
    }
    const start = this.startOf(value) ?? at;
    // Only problems need a key's position, so the document's positions are looked up only then.
    const pos = (key: string): TextPosition => this.sourceOf(value)?.entries.get(key) ?? start;
    const { apiVersion, kind } = value;
    if (typeof kind !== 'string' || kind === '') {
      this.report('UnknownKind', 'object has no "kind"', start, { field: 'kind' });
      return;
    }
    const refOpt = (field: string): { resource?: ResourceRef; field: string } => {
      const ref = this.looseRef(value, kind);
      return ref ? { resource: ref, field } : { field };
    };
    if (typeof apiVersion !== 'string' || apiVersion === '') {
      this.report('UnknownAPIVersion', `${kind} has no "apiVersion"`, start, refOpt('apiVersion'));
      return;
    }
    const [group, version] = splitApiVersion(apiVersion);

    if (group === 'getambassador.io') {
      const flavour = EMISSARY_VERSIONS[version];
      if (!flavour) {
        this.report('UnknownAPIVersion', `unknown apiVersion "${apiVersion}" (use getambassador.io/v3alpha1, or v2)`, pos('apiVersion'), refOpt('apiVersion'));
        return;
      }
      if (EMISSARY_LOADED.has(kind)) {
        this.resource(value, kind as Kind, apiVersion, flavour);
      } else if ((EMISSARY_NOT_IMPLEMENTED_KINDS as readonly string[]).includes(kind)) {
        this.notImplementedKind(value, kind, pos('kind'), refOpt('kind'));
      } else {
        const guess = closestName(kind, ALL_EMISSARY_KINDS);
        this.report('UnknownKind', `unknown kind "${kind}" for ${apiVersion}${guess ? ` (did you mean "${guess}"?)` : ''}`, pos('kind'), refOpt('kind'));
      }
      return;
    }
    if (group === 'portico.dev') {
      if (version !== 'v1alpha1') {
        this.report('UnknownAPIVersion', `unknown apiVersion "${apiVersion}" (use portico.dev/v1alpha1)`, pos('apiVersion'), refOpt('apiVersion'));
      } else if (kind === 'Resolver') {
        this.resource(value, 'Resolver', apiVersion, 'v3');
      } else if (kind === 'Source') {
        // Declares team sources; loaded like any kind, then taken by the reconcile (never compiled).
        this.resource(value, 'Source', apiVersion, 'v3');
      } else if (kind === 'ReleasePolicy') {
        this.resource(value, 'ReleasePolicy', apiVersion, 'v3');
      } else {
        const guess = closestName(kind, ['Resolver', 'Source', 'ReleasePolicy']);
        this.report('UnknownKind', `unknown kind "${kind}" for ${apiVersion}${guess ? ` (did you mean "${guess}"?)` : ''}`, pos('kind'), refOpt('kind'));
      }
      return;
    }
    if (group === '' && version === 'v1' && kind === 'Secret') {
      this.resource(value, 'Secret', apiVersion, 'v3');
      return;
    }
    if (group === '' && version === 'v1' && kind === 'Service' && !this.inAnnotation) {
      const metadata = value.metadata;
      const annotations = isObject(metadata) ? metadata.annotations : undefined;
      if (isObject(annotations) && annotations[ANNOTATION] !== undefined) {
        this.annotation(value, annotations);
        return;
      }
    }
    // Near-misses of our groups are typos, not someone else's resources: reject rather than skip.
    const groupGuess = group ? closestName(group, ['getambassador.io', 'portico.dev']) : undefined;
    if (groupGuess || group === 'ambassador' || group === 'x.getambassador.io') {
      this.report(
        'UnknownAPIVersion',
        `unknown apiVersion "${apiVersion}"${groupGuess ? ` (did you mean "${groupGuess}/…"?)` : ' (use getambassador.io/v3alpha1)'}`,
        pos('apiVersion'),
        refOpt('apiVersion'),
      );
      return;
    }
    const ref = this.looseRef(value, kind);
    if ((group === 'networking.k8s.io' || group === 'extensions') && kind === 'Ingress' && isAmbassadorIngress(value)) {
      this.ingress(value, start);
      return;
    }
    this.report('NonEmissaryKind', `${apiVersion} ${kind}${ref ? ` ${ref.name}` : ''} is not a gateway resource; skipped`, start, refOpt('kind'));
  }

  /**
   * A kind Portico does not load. One that guards routes is refused (fail closed, see
   * unenforced-protections.ts); the others are a warning. Another instance's objects are not ours
   * to judge, as for the kinds that load.
   */
  private notImplementedKind(value: Obj, kind: string, at: TextPosition, extra: { resource?: ResourceRef; field: string }): void {
    const k8s = 'metadata' in value || 'spec' in value;
    const spec = k8s ? (isObject(value.spec) ? value.spec : nullRecord()) : value;
    const ids = spec.ambassador_id;
    const list = typeof ids === 'string' ? [ids] : Array.isArray(ids) && ids.length > 0 ? ids : ['default'];
    if (!list.includes(this.ctx.ambassadorId) && !list.includes('_automatic_')) return;
    const who = extra.resource ? `${kind} ${extra.resource.namespace}/${extra.resource.name}` : kind;
    const unenforced = UNENFORCED_KINDS[kind];
    if (unenforced && !unenforced.guardsNothing?.(spec)) {
      this.report('NotEnforced', `${who} is refused: Portico does not enforce ${unenforced.guards}`, at, extra);
      return;
    }
    this.report('NotImplemented', `kind ${kind} is valid Emissary configuration but not implemented by Portico yet; not loaded`, at, extra);
  }

  /** The identity an object claims, for problems raised before it is fully decoded. */
  private looseRef(value: Obj, kind: string): ResourceRef | undefined {
    const meta = isObject(value.metadata) ? value.metadata : value;
    if (typeof meta.name !== 'string' || meta.name === '') return undefined;
    const namespace = typeof meta.namespace === 'string' ? meta.namespace : (this.inheritedNamespace ?? this.ctx.ambassadorNamespace);
    return { kind, name: meta.name, namespace };
  }

  /** A v1 Service carrying Emissary objects in its getambassador.io/config annotation. */
  private annotation(service: Obj, annotations: Obj): void {
    const metadata = service.metadata as Obj;
    const text = annotations[ANNOTATION];
    const annSrc = this.sourceOf(annotations);
    const keyAt = annSrc?.entries.get(ANNOTATION) ?? this.sourceOf(service)?.start ?? { line: 0, col: 0 };
    if (typeof text !== 'string') {
      this.report('AnnotationInvalid', `annotation ${ANNOTATION} must be a string of YAML`, keyAt, {
        field: `metadata.annotations.${ANNOTATION}`,
      });
      return;
    }
    const namespace = typeof metadata.namespace === 'string' ? metadata.namespace : this.inheritedNamespace;
    const block = annSrc?.blocks?.get(ANNOTATION);
    // A literal block keeps its lines, so positions inside it map back onto the file; any other
    // scalar style folds lines, and every position falls back to the annotation itself.
    const mapPos: PositionMap = block
      ? (p) => ({ line: block.firstLine + p.line - 1, col: block.indent + p.col })
      : () => keyAt;
    const before = this.ctx.problems.length;
    const sub: { mapPos: PositionMap; inAnnotation: boolean; namespace?: string } = { mapPos, inAnnotation: true };
    if (namespace !== undefined) sub.namespace = namespace;
    decodeText(this.ctx, this.path, text, sub);
    for (let i = before; i < this.ctx.problems.length; i++) {
      const p = this.ctx.problems[i] as Problem;
      if (!p.message.includes(ANNOTATION)) {
        this.ctx.problems[i] = { ...p, message: `${p.message} (in the ${ANNOTATION} annotation)` };
      }
    }
  }

  /**
   * An Ingress of class ambassador: the Mappings and Hosts it stands for (ingress.ts), each decoded
   * as if written out, placed at the part of the Ingress it comes from; what it says is said of the Ingress.
   */
  private ingress(value: Obj, start: TextPosition): void {
    const metadata = isObject(value.metadata) ? value.metadata : nullRecord();
    const namespace = typeof metadata.namespace === 'string' ? metadata.namespace : (this.inheritedNamespace ?? this.ctx.ambassadorNamespace);
    const who = `Ingress ${namespace}/${typeof metadata.name === 'string' ? metadata.name : '?'}`;
    const { parts, skipped } = ingressParts(value, namespace);
    const before = this.ctx.problems.length;
    for (const part of parts) this.resource(part.value, part.kind, 'getambassador.io/v3alpha1', 'v3', this.startOf(part.from) ?? start);
    const made: Problem[] = [];
    for (const p of this.ctx.problems.splice(before)) {
      // A wildcard rule host is matched as Emissary matches it, by a host regex written here, not by the user.
      if (p.code === 'Deprecated' && p.field === 'spec.host') continue;
      made.push({ ...p, message: `${p.message} (made from ${who})` });
    }
    this.ctx.problems.push(...made);
    for (const s of skipped) this.report('NotImplemented', `${who}: ${s.message}`, this.startOf(s.from) ?? start, { field: s.field });
  }

  private resource(value: Obj, kind: Kind, apiVersion: string, flavour: 'v3' | 'v2', at?: TextPosition): void {
    const start = at ?? this.startOf(value) ?? { line: 0, col: 0 };
    // Keys are dotted paths of keys that passed the prototype-key check.
    // Set for a Kubernetes-shaped document read by the fast reader, built as the object is walked otherwise.
    let positions: FieldPositions;
    let failed = false;
    // Emissary ignores fields its kinds do not have; Portico's own kinds are strict: a Source grants
    // claims, and a field it does not have must never pass unnoticed.
    const strict = kind === 'Source' || kind === 'Resolver' || kind === 'ReleasePolicy';
    const severityOf = (code: ProblemCode): Severity => (strict && code === 'UnknownField' ? 'error' : PROBLEM_CODES[code]);
    const errorAt = (code: ProblemCode, message: string, field: string, ref?: ResourceRef): void => {
      const at = positions.get(field) ?? start;
      const severity = severityOf(code);
      this.report(code, strict ? message.replace(/; ignored$/, '') : message, at, ref ? { resource: ref, field, severity } : { field, severity });
      if (severity === 'error') failed = true;
    };

    // Shape: a Kubernetes object has metadata (or spec); the flattened form has a top-level name.
    const k8s = 'metadata' in value || 'spec' in value || kind === 'Secret';
    let metadata: Obj;
    let spec: Obj;
    if (k8s) {
      const sources = this.sources;
      if (sources instanceof RecordedSources && sources.nodes[0] === value) {
        const shape = recordedPositions(sources, this.ctx.fieldPaths, this.ctx.lastShape);
        positions = shape.positions;
        this.ctx.lastShape = shape.paths === this.ctx.lastShape.paths ? this.ctx.lastShape : { sources, paths: shape.paths };
      } else {
        positions = new FieldPositions();
        collectPositions(sources, this.ctx.fieldPaths, value, '', positions);
      }
      if (kind === 'Secret') remapSecretPositions(positions);
      const allowed = kind === 'Secret' ? SECRET_TOP_LEVEL : TOP_LEVEL;
      for (const key in value) {
        if (!allowed.has(key)) {
          const guess = closestName(key, allowed);
          errorAt('UnknownField', `unknown top-level field "${key}"${guess ? ` (did you mean "${guess}"?)` : ''}; ignored`, key);
        }
      }
      metadata = isObject(value.metadata) ? value.metadata : nullRecord();
      if (value.metadata !== undefined && !isObject(value.metadata)) errorAt('SchemaViolation', 'metadata must be a mapping', 'metadata');
      if (kind === 'Secret') {
        spec = nullRecord();
        for (const f of SECRET_FIELDS) if (value[f] !== undefined) spec[f] = value[f];
        if (value.spec !== undefined) errorAt('UnknownField', 'a Secret has no "spec" (ignored); write type and data at the top level', 'spec');
      } else if (value.spec === undefined || value.spec === null) {
        spec = nullRecord();
      } else if (isObject(value.spec)) {
        spec = value.spec;
      } else {
        errorAt('SchemaViolation', 'spec must be a mapping', 'spec');
        spec = nullRecord();
      }
      for (const key in metadata) {
        if (!METADATA_FIELDS.has(key)) {
          const guess = closestName(key, METADATA_FIELDS);
          errorAt('UnknownField', `unknown metadata field "${key}"${guess ? ` (did you mean "${guess}"?)` : ''}; ignored`, `metadata.${key}`);
        }
      }
    } else {
      // Filled from keys that passed the prototype-key check.
      const src = this.sourceOf(value);
      positions = new FieldPositions();
      metadata = nullRecord();
      spec = nullRecord();
      for (const [key, v] of Object.entries(value)) {
        if (key === 'apiVersion' || key === 'kind') {
          const at = src?.entries.get(key);
          if (at) positions.set(key, at);
        } else if (key === 'name' || key === 'namespace') {
          metadata[key] = v;
          const at = src?.entries.get(key);
          if (at) positions.set(`metadata.${key}`, at);
        } else if (key === 'metadata_labels') {
          metadata.labels = v;
          const at = src?.entries.get(key);
          if (at) positions.set('metadata.labels', at);
          collectPositions(this.sources, this.ctx.fieldPaths, v, 'metadata.labels', positions);
        } else {
          spec[key] = v;
          const at = src?.entries.get(key);
          if (at) positions.set(`spec.${key}`, at);
          collectPositions(this.sources, this.ctx.fieldPaths, v, `spec.${key}`, positions);
        }
      }
    }

    // Identity.
    const name = metadata.name;
    if (name === undefined || name === null || name === '') {
      errorAt('MissingName', `${kind} has no name`, 'metadata.name');
      return;
    }
    if (typeof name !== 'string' || name.length > 253 || !NAME_RE.test(name)) {
      errorAt('InvalidName', `${kind} name ${JSON.stringify(name)} is not a valid name (letters, digits, "-", "_", "."; at most 253)`, 'metadata.name');
      return;
    }
    let namespace = this.inheritedNamespace ?? this.ctx.ambassadorNamespace;
    if (metadata.namespace !== undefined && metadata.namespace !== null) {
      if (typeof metadata.namespace !== 'string' || metadata.namespace.length > 63 || !NAMESPACE_RE.test(metadata.namespace)) {
        errorAt('InvalidName', `namespace ${JSON.stringify(metadata.namespace)} is not a valid namespace name`, 'metadata.namespace');
        return;
      }
      namespace = metadata.namespace;
    }
    const ref: ResourceRef = { kind, name, namespace };
    const fail = (code: ProblemCode, message: string, field: string): void => errorAt(code, message, field, ref);

    const labels = checkStringMap(metadata.labels, 'metadata.labels', fail);
    checkStringMap(metadata.annotations, 'metadata.annotations', fail);

    // ambassador_id filtering comes before validation: another instance's resources are not ours to judge.
    const idField = spec.ambassador_id;
    let ambassadorIds: string[] = [];
    if (typeof idField === 'string') ambassadorIds = [idField];
    else if (Array.isArray(idField) && idField.every((x) => typeof x === 'string')) ambassadorIds = idField as string[];
    const effective = ambassadorIds.length > 0 ? ambassadorIds : ['default'];
    // A Source declares a repository for every instance that reads the central one: it has no ambassador_id.
    if (kind !== 'Source' && !effective.includes(this.ctx.ambassadorId) && !effective.includes('_automatic_')) return;

    if (kind === 'Module' && name !== 'ambassador') {
      const unenforced = name === 'tls' ? unenforcedTLSModule(spec) : undefined;
      if (unenforced) {
        fail('NotEnforced', `Module ${namespace}/tls is refused: ${unenforced}`, 'spec.config.client');
      } else if (name === 'tls') {
        this.report('NotImplemented', 'the "tls" Module is deprecated in Emissary and not implemented by Portico; use TLSContext or Host', start, {
          resource: ref,
          field: 'metadata.name',
        });
      } else {
        fail('ModuleNameInvalid', `a Module must be named "ambassador" (found "${name}")`, 'metadata.name');
      }
      return;
    }
    if (kind === 'Secret' && spec.type !== undefined && spec.type !== 'kubernetes.io/tls' && spec.type !== 'Opaque') {
      this.report('NonEmissaryKind', `Secret ${name} of type ${String(spec.type)} is not used by the gateway; skipped`, start, {
        resource: ref,
        field: 'type',
      });
      return;
    }

    // Normalise to v3alpha1.
    const note = (code: 'Deprecated', message: string, field: string): void =>
      this.report(code, message, positions.get(`spec.${field}`) ?? start, { resource: ref, field: `spec.${field}` });
    if (flavour === 'v2') normaliseV2(kind, spec, note);
    // Only a Host renames fields (selector → mappingSpec).
    const renamed = kind === 'Host' ? new Map<string, string>() : undefined;
    normaliseSpec(kind, spec, note, renamed);
    if (renamed) for (const [from, to] of renamed) movePositions(positions, `spec.${from}`, `spec.${to}`);

    // Validate. A field the kind does not have is ignored with a warning, as Emissary ignores it.
    const echoValues = kind !== 'Secret';
    let issues = validateSpec(kind, spec, { echoValues });
    if (issues.length > 0 && !strict) {
      // A union reports only its own failure, so an unknown key inside one is found by pruning too.
      // What is still unknown after pruning sits in a union no key decides: the value has the wrong shape.
      const remaining = (i: SpecIssue): SpecIssue => (i.code === 'UnknownField' ? { ...i, code: 'SchemaViolation' } : i);
      issues = [...pruneUnknownFields(kind, spec), ...validateSpec(kind, spec, { echoValues }).map(remaining)];
    }
    // The Module is many independent settings: a bad one is reported and dropped, the rest still apply.
    const droppedKeys = kind === 'Module' ? new Set<string>() : undefined;
    const reportIssues = (list: readonly SpecIssue[]): void => {
      for (const issue of list) {
        const key = issue.positionKeys.find((k) => positions.get(k));
        const at = key ? (positions.get(key) as Position) : start;
        const severity = severityOf(issue.code);
        this.report(issue.code, `${kind} ${namespace}/${name}: ${issue.message}`, at, { resource: ref, field: issue.field, severity });
        if (severity !== 'error') continue;
        const configKey = droppedKeys && /^spec\.config\.([^.[]+)/.exec(issue.field)?.[1];
        if (configKey) droppedKeys.add(configKey);
        else failed = true;
      }
      if (droppedKeys && droppedKeys.size > 0 && isObject(spec.config)) {
        for (const k of droppedKeys) delete spec.config[k];
        droppedKeys.clear();
        if (!specAccepts(kind, spec)) failed = true;
      }
    };
    if (issues.length > 0) reportIssues(issues);
    if (kind === 'Secret' && isObject(spec.data)) {
      // Only `data` is base64; `stringData` holds plain text, as in Kubernetes.
      for (const [k, v] of Object.entries(spec.data)) {
        if (typeof v === 'string' && (v.length % 4 !== 0 || !BASE64_RE.test(v))) {
          fail('SchemaViolation', `Secret ${namespace}/${name}: data key "${k}" is not valid base64`, `spec.data.${k}`);
        }
      }
    }
    if (failed) return;
    const checks = crossFieldIssues(kind, spec, flavour);
    unenforcedFieldIssues(kind, spec, checks);
    headerRuleIssues(kind, spec, checks);
    specAdvice(kind, spec, checks);
    if (checks.length > 0) reportIssues(checks);
    if (failed) return;

    // Valid fields Portico does not act on: a warning each, never a silent no-op. The spec's few
    // keys are looked up among those fields, rather than each field (of twenty) in the spec.
    const notImplemented = KIND_SCHEMAS[kind].notImplemented;
    const byFirstSegment = notImplementedIndex(kind);
    let present: number[] | undefined;
    for (const key in spec) {
      const fields = byFirstSegment.get(key);
      if (fields === undefined) continue;
      for (const i of fields) if (valueAt(spec, notImplemented[i] as string) !== undefined) (present ??= []).push(i);
    }
    if (present !== undefined && present.length > 1) present.sort((a, b) => a - b);
    for (const i of present ?? NO_FIELDS) {
      const field = notImplemented[i] as string;
      const v = valueAt(spec, field);
      if (kind === 'Host' && field === 'acmeProvider' && isObject(v) && typeof v.authority === 'string' && v.authority.toLowerCase() === 'none') {
        continue;
      }
      // Set to what Portico does anyway: nothing is lost, so nothing to warn about (nor to fail --strict).
      if (AS_PORTICO_DOES.get(`${kind}:${field}`) === v) continue;
      this.report(
        'NotImplemented',
        `${kind} ${namespace}/${name}: field "${field}" is valid Emissary configuration but not implemented by Portico yet; it has no effect`,
        positions.get(`spec.${field}`) ?? start,
        { resource: ref, field: `spec.${field}` },
      );
    }

    const resource = {
      kind,
      apiVersion,
      name,
      namespace,
      // Most resources have no labels and no ambassador_id: they share one frozen empty record and list.
      labels: hasKeys(labels) ? Object.freeze(labels) : NO_LABELS,
      ambassadorIds: ambassadorIds.length > 0 ? Object.freeze([...ambassadorIds]) : DEFAULT_AMBASSADOR_IDS,
      spec: deepFreeze(spec),
      origin: this.origin(start),
    };
    // An enumerable getter, so the resource reads (and compares, and serialises) as before; the one
    // shared getter and a hidden slot keep every resource on V8's shared fast layout.
    Object.defineProperty(resource, FIELD_POSITIONS, { value: positions });
    Object.defineProperty(resource, 'positions', { enumerable: true, get: readPositions });
    this.ctx.resources.push(Object.freeze(resource) as Resource);
  }
}

const NO_FIELDS: readonly number[] = [];

/** The last apiVersion split: thousands of objects in a row name the same one. */
let lastApiVersion: { readonly text: string; readonly parts: readonly [string, string] } | undefined;

/** "group/version" as [group, version]; a bare "v1" as ["", "v1"]. */
function splitApiVersion(apiVersion: string): readonly [string, string] {
  if (lastApiVersion?.text !== apiVersion) {
    const parts: [string, string] = apiVersion.includes('/') ? (apiVersion.split('/', 2) as [string, string]) : ['', apiVersion];
    lastApiVersion = { text: apiVersion, parts };
  }
  return lastApiVersion.parts;
}
const NO_LABELS: Readonly<Record<string, string>> = Object.freeze(nullRecord<string>());
const DEFAULT_AMBASSADOR_IDS: readonly string[] = Object.freeze(['default']);

function hasKeys(o: object): boolean {
  for (const _ in o) return true;
  return false;
}

/** Not-implemented fields at the value that describes what Portico does without them. */
const AS_PORTICO_DOES: ReadonlyMap<string, unknown> = new Map<string, unknown>([
  ['Module:config.x_forwarded_proto_redirect', false],
  ['Module:config.allow_chunked_length', false],
  ['Module:config.enable_ipv4', true],
  ['Module:config.enable_http10', true],
  ['Module:config.enable_grpc_web', false],
  ['Module:config.enable_grpc_http11_bridge', false],
  ['Module:config.add_linkerd_headers', false],
  ['Mapping:add_linkerd_headers', false],
  ['Mapping:enable_ipv4', true],
]);

const notImplementedIndexes = new Map<Kind, Map<string, number[]>>();

/** A kind's not-implemented fields (their indexes in its list) by the spec key they start with. */
function notImplementedIndex(kind: Kind): Map<string, number[]> {
  let index = notImplementedIndexes.get(kind);
  if (!index) {
    index = new Map();
    KIND_SCHEMAS[kind].notImplemented.forEach((field, i) => {
      const first = field.split('.')[0] as string;
      const list = (index as Map<string, number[]>).get(first);
      if (list) list.push(i);
      else (index as Map<string, number[]>).set(first, [i]);
    });
    notImplementedIndexes.set(kind, index);
  }
  return index;
}

/**
 * A resource's field positions. While the resource is decoded they are a list of paths and a list
 * of places (line and column in one number); the prototype-free record of {line, col} objects (a
 * hash table past a dozen keys) is built only when something reads it — to place a problem, which
 * most resources never have. Resources of one shape share one list of paths, so each keeps only
 * its numbers: the positions of every resource are a large part of the loaded heap.
 */
class FieldPositions {
  private paths: readonly string[];
  /** Set at construction (and cleared by a copy): `paths` may be another resource's list too, so it is copied before a write. */
  private sharedPaths: boolean;
  private places: number[];
  private record: Record<string, Position> | undefined;

  constructor(paths: readonly string[] = [], places: number[] = [], sharedPaths = false) {
    this.paths = paths;
    this.places = places;
    this.sharedPaths = sharedPaths;
    this.record = undefined;
  }

  set(path: string, at: Position): void {
    this.push(path, at.line, at.col);
  }

  /** set(), for a position not yet made an object. */
  push(path: string, line: number, col: number): void {
    if (!this.record && (col >= PLACE_COLUMNS || col < 0 || line < 0)) this.read();
    if (this.record) {
      this.record[path] = { line, col };
      return;
    }
    if (this.sharedPaths) {
      this.paths = this.paths.slice();
      this.sharedPaths = false;
    }
    (this.paths as string[]).push(path);
    this.places.push(line * PLACE_COLUMNS + col);
  }

  get(path: string): Position | undefined {
    return this.read()[path];
  }

  keys(): string[] {
    return Object.keys(this.read());
  }

  /** The record, replaying every write in order (so the last write to a path wins, as in a record). */
  read(): Record<string, Position> {
    if (this.record) return this.record;
    const record = nullRecord<Position>();
    const { paths, places } = this;
    for (let i = 0; i < paths.length; i++) {
      const place = places[i] as number;
      const col = place % PLACE_COLUMNS;
      record[paths[i] as string] = { line: (place - col) / PLACE_COLUMNS, col };
    }
    this.paths = [];
    this.places = [];
    this.sharedPaths = false;
    this.record = record;
    return record;
  }
}

/**
 * A place is line * PLACE_COLUMNS + column: exact in a double for any line of a file within the
 * size limit; a column past it (impossible within that limit) makes the positions a record at once.
 */
const PLACE_COLUMNS = 2 ** 21;

/** Where a resource keeps its FieldPositions: a symbol, not enumerable, so no one else sees it. */
const FIELD_POSITIONS = Symbol('fieldPositions');

/** The getter of every resource's `positions`: one frozen record, built on the first read. */
function readPositions(this: { readonly [FIELD_POSITIONS]: FieldPositions }): Readonly<Record<string, Position>> {
  return Object.freeze(this[FIELD_POSITIONS].read());
}

/** Positions of every key and item under `value`, keyed by dotted path with [i] for list items. */
function collectPositions(sources: SourceMap, paths: FieldPaths, value: unknown, prefix: string, out: FieldPositions): void {
  if (typeof value !== 'object' || value === null) return;
  const src = sources.get(value);
  if (!src) return;
  const isList = Array.isArray(value);
  let byKey = paths.get(prefix);
  if (!byKey) paths.set(prefix, (byKey = new Map()));
  for (const [key, at] of src.entries) {
    let path = byKey.get(key);
    if (path === undefined) {
      path = isList ? `${prefix}[${key}]` : prefix ? `${prefix}.${key}` : String(key);
      byKey.set(key, path);
    }
    out.set(path, at);
    const child = (value as Record<string | number, unknown>)[key];
    if (typeof child === 'object' && child !== null) collectPositions(sources, paths, child, path, out);
  }
}

/**
 * The positions of a whole document read by the fast reader, from its flat lists: the paths and
 * order collectPositions gives (both are depth-first), without a map per node. Most documents have
 * the shape of the one before (the same keys under the same nodes): they share its list of paths,
 * and only their places are new.
 */
function recordedPositions(sources: RecordedSources, paths: FieldPaths, last: DocumentShape): { positions: FieldPositions; paths: readonly string[] } {
  const { entryInfo, mapPos } = sources;
  const n = sources.entryKeys.length;
  const shapePaths = sameShape(sources, last.sources) ? last.paths : pathsOf(sources, paths);
  const places = new Array<number>(n);
  for (let e = 0; e < n; e++) {
    let line = entryInfo[3 * e + 1] as number;
    let col = entryInfo[3 * e + 2] as number;
    if (mapPos) ({ line, col } = mapPos({ line, col }));
    if (col >= PLACE_COLUMNS || col < 0 || line < 0) return { positions: slowRecordedPositions(sources, paths), paths: last.paths };
    places[e] = line * PLACE_COLUMNS + col;
  }
  // The list goes on to the next document of this shape: it is shared from the start.
  return { positions: new FieldPositions(shapePaths, places, true), paths: shapePaths };
}

/** Whether two documents have the same keys under the same maps and lists, so the same field paths. */
function sameShape(a: RecordedSources, b: RecordedSources): boolean {
  const ka = a.entryKeys;
  const kb = b.entryKeys;
  if (ka.length !== kb.length || a.nodes.length !== b.nodes.length) return false;
  const ea = a.entryInfo;
  const eb = b.entryInfo;
  for (let e = 0; e < ka.length; e++) if (ka[e] !== kb[e] || ea[3 * e] !== eb[3 * e]) return false;
  const na = a.nodeInfo;
  const nb = b.nodeInfo;
  for (let i = 0; i < a.nodes.length; i++) {
    if (na[3 * i + 2] !== nb[3 * i + 2] || Array.isArray(a.nodes[i]) !== Array.isArray(b.nodes[i])) return false;
  }
  return true;
}

/** The field path of every entry of a document, in order. */
function pathsOf(sources: RecordedSources, paths: FieldPaths): string[] {
  const { nodes, nodeInfo, entryKeys, entryInfo } = sources;
  const out: string[] = [];
  // The field path of each node: that of the entry whose value it is (a node follows its entry).
  const nodePaths: string[] = [''];
  const nodeByKeys: Map<string | number, string>[] = [];
  let next = 1;
  for (let e = 0; e < entryKeys.length; e++) {
    const node = entryInfo[3 * e] as number;
    const key = entryKeys[e] as string | number;
    let byKey = nodeByKeys[node];
    if (byKey === undefined) {
      const prefix = nodePaths[node] as string;
      byKey = paths.get(prefix);
      if (!byKey) paths.set(prefix, (byKey = new Map()));
      nodeByKeys[node] = byKey;
    }
    let path = byKey.get(key);
    if (path === undefined) {
      const prefix = nodePaths[node] as string;
      path = Array.isArray(nodes[node]) ? `${prefix}[${key}]` : prefix ? `${prefix}.${key}` : String(key);
      byKey.set(key, path);
    }
    out.push(path);
    if (next < nodes.length && nodeInfo[3 * next + 2] === e) nodePaths[next++] = path;
  }
  return out;
}

/** recordedPositions for a document with a place that does not fit in a number. */
function slowRecordedPositions(sources: RecordedSources, paths: FieldPaths): FieldPositions {
  const out = new FieldPositions();
  collectPositions(sources, paths, sources.nodes[0], '', out);
  return out;
}

function remapSecretPositions(positions: FieldPositions): void {
  for (const f of SECRET_FIELDS) movePositions(positions, f, `spec.${f}`);
}

function movePositions(positions: FieldPositions, from: string, to: string): void {
  for (const key of positions.keys()) {
    if (key === from || key.startsWith(from + '.') || key.startsWith(from + '[')) {
      positions.set(to + key.slice(from.length), positions.get(key) as Position);
    }
  }
}

function checkStringMap(
  v: unknown,
  field: string,
  fail: (code: ProblemCode, message: string, field: string) => void,
): Record<string, string> {
  const out = nullRecord<string>();
  if (v === undefined || v === null) return out;
  if (!isObject(v)) {
    fail('SchemaViolation', `${field} must be a mapping of strings`, field);
    return out;
  }
  for (const [k, val] of Object.entries(v)) {
    if (typeof val !== 'string') fail('SchemaViolation', `${field}.${k} must be a string`, `${field}.${k}`);
    else out[k] = val;
  }
  return out;
}

function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) {
    Object.freeze(v);
    if (Array.isArray(v)) {
      for (const child of v) deepFreeze(child);
    } else {
      // Specs have no prototype (or a plain one), so for-in sees exactly their own keys.
      for (const k in v) deepFreeze((v as Record<string, unknown>)[k]);
    }
  }
  return v;
}
