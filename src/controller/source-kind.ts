// The `Source` kind (portico.dev/v1alpha1): how a root repository declares team sources, their claims
// and verification policy. Source documents are taken out of a snapshot before the loader sees it.

import { Type, type Static } from '@sinclair/typebox';
import { TypeCompiler, ValueErrorType } from '@sinclair/typebox/compiler';
import { LineCounter, parseAllDocuments, isMap } from 'yaml';
import { dirname } from 'node:path';
import { problem, type Problem } from '../api/problems.js';
import type { Origin } from '../api/origin.js';
import type { Claim } from '../compile/options.js';
import type { VerifyPolicy } from '../sources/commit-signatures.js';
import { makeSourceSpec, normaliseUrl, validateSourceName, type GitSourceSpec } from '../sources/source-spec.js';

export const SOURCE_API_VERSION = 'portico.dev/v1alpha1';
export const SOURCE_KIND = 'Source';

const Duration = Type.Union([Type.String({ pattern: '^[0-9]+(\\.[0-9]+)?(ms|s|m|h)$' }), Type.Number({ minimum: 1 })], {
  description: 'a duration like "30s", "500ms", "2m", or a number of seconds',
});

export const SourceSpecSchema = Type.Object(
  {
    url: Type.String({ minLength: 1 }),
    branch: Type.Optional(Type.String({ minLength: 1 })),
    path: Type.Optional(Type.String()),
    interval: Type.Optional(Duration),
    claims: Type.Object(
      {
        kinds: Type.Array(Type.String({ minLength: 1 })),
        hostnames: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
        pathPrefixes: Type.Optional(Type.Array(Type.String({ minLength: 1, pattern: '^/' }))),
        ports: Type.Optional(Type.Array(Type.Integer({ minimum: 1, maximum: 65535 }))),
      },
      { additionalProperties: false },
    ),
    verify: Type.Optional(
      Type.Object(
        {
          mode: Type.Union([Type.Literal('head'), Type.Literal('strict')]),
          allowedSigners: Type.Optional(Type.String({ minLength: 1 })),
          gpgKeys: Type.Optional(Type.String({ minLength: 1 })),
          gpgFingerprints: Type.Optional(Type.Array(Type.String({ pattern: '^[0-9A-Fa-f ]{40,}$' }))),
        },
        { additionalProperties: false },
      ),
    ),
    onForcePush: Type.Optional(Type.Union([Type.Literal('refuse'), Type.Literal('accept-with-strict')])),
  },
  { additionalProperties: false },
);
export type SourceSpecInput = Static<typeof SourceSpecSchema>;

const checkSpec = TypeCompiler.Compile(SourceSpecSchema);

export type ForcePushPolicy = 'refuse' | 'accept-with-strict';

/** A source as the controller runs it: where to fetch, what it may configure, how it is verified. */
export interface DeclaredSource {
  readonly spec: GitSourceSpec;
  readonly intervalMs: number;
  /** Absent for root sources (named on the command line): they may configure anything. */
  readonly claim?: Claim;
  readonly verify?: VerifyPolicy;
  readonly onForcePush: ForcePushPolicy;
  /** The root source that declared it. */
  readonly declaredBy?: string;
  /** Where the Source object was declared. */
  readonly origin?: Origin;
}

export function parseDuration(d: string | number): number {
  if (typeof d === 'number') return Math.round(d * 1000);
  const m = /^([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)$/.exec(d);
  if (!m) return NaN;
  const n = Number(m[1]);
  return Math.round(n * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h']);
}

export interface ExtractResult {
  /** The files with every Source document blanked out (line and column of the rest unchanged). */
  readonly files: { path: string; content: string | Buffer }[];
  readonly sources: DeclaredSource[];
  readonly problems: Problem[];
}

export interface ExtractContext {
  readonly source: string;
  readonly revision: string;
  /** URL of the declaring source: relative local paths in a Source are resolved next to it. */
  readonly declaringUrl: string;
  readonly defaultIntervalMs: number;
}

const MIN_INTERVAL_MS = 1000;

/**
 * Takes Source documents out of a snapshot's files. Their text is replaced by blanks of the same
 * shape so the loader still reports every other object at its true line and column.
 */
export function extractSources(files: readonly { path: string; content: Buffer | string }[], ctx: ExtractContext): ExtractResult {
  const out: { path: string; content: string | Buffer }[] = [];
  const sources: DeclaredSource[] = [];
  const problems: Problem[] = [];
  for (const f of files) {
    const text = typeof f.content === 'string' ? f.content : f.content.toString('utf8');
    if (!text.includes(SOURCE_KIND) || !text.includes('portico.dev')) {
      out.push(f);
      continue;
    }
    const lc = new LineCounter();
    let docs;
    try {
      docs = parseAllDocuments(text, { lineCounter: lc, uniqueKeys: true });
    } catch {
      out.push(f); // the loader reports the parse error with its position
      continue;
    }
    if (!Array.isArray(docs)) {
      out.push(f);
      continue;
    }
    let blanked = text;
    for (const doc of docs) {
      const node = doc.contents;
      if (!isMap(node) || doc.errors.length > 0) continue;
      const kind = node.get('kind') as unknown;
      const apiVersion = node.get('apiVersion') as unknown;
      if (kind !== SOURCE_KIND || typeof apiVersion !== 'string' || !apiVersion.startsWith('portico.dev/')) continue;
      const start = node.range?.[0] ?? 0;
      const end = node.range?.[2] ?? start;
      const pos = lc.linePos(start);
      const origin = { source: ctx.source, revision: ctx.revision, path: f.path, line: pos.line, col: pos.col };
      blanked = blanked.slice(0, start) + blanked.slice(start, end).replace(/[^\n]/g, ' ') + blanked.slice(end);
      const obj = doc.toJS({ maxAliasCount: 100 }) as Record<string, unknown>;
      const decl = decodeSource(obj, origin, ctx, (path) => {
        // The field itself, or its nearest parent that exists (a missing field has no position).
        const parts = path.split('.');
        for (let n = parts.length; n > 0; n--) {
          const found = node.getIn(parts.slice(0, n), true) as { range?: [number, number, number] } | undefined;
          if (found?.range) {
            const p = lc.linePos(found.range[0]);
            return { ...origin, line: p.line, col: p.col };
          }
        }
        return origin;
      });
      if ('problems' in decl) problems.push(...decl.problems);
      else sources.push(decl.source);
    }
    out.push({ path: f.path, content: blanked });
  }
  return { files: out, sources, problems };
}

type OriginOf = (fieldPath: string) => Problem['origin'];

function decodeSource(obj: Record<string, unknown>, origin: Problem['origin'], ctx: ExtractContext, at: OriginOf): { source: DeclaredSource } | { problems: Problem[] } {
  const meta = (obj.metadata ?? {}) as Record<string, unknown>;
  const name = typeof meta.name === 'string' ? meta.name : '';
  const ref = { kind: SOURCE_KIND, name, namespace: typeof meta.namespace === 'string' ? meta.namespace : 'default' };
  const problems: Problem[] = [];
  if (!name) return { problems: [problem('MissingName', 'Source has no metadata.name', origin, { field: 'metadata.name' })] };
  const nameErr = validateSourceName(name);
  if (nameErr) return { problems: [problem('InvalidName', nameErr, at('metadata.name'), { resource: ref, field: 'metadata.name' })] };
  for (const k of Object.keys(obj)) {
    if (!['apiVersion', 'kind', 'metadata', 'spec'].includes(k)) problems.push(problem('UnknownField', `Source ${name}: unknown field '${k}'`, at(k), { resource: ref, field: k, severity: 'error' }));
  }
  const spec = obj.spec;
  for (const e of checkSpec.Errors(spec)) {
    const field = 'spec' + e.path.replace(/\//g, '.');
    const code = e.type === ValueErrorType.ObjectAdditionalProperties ? 'UnknownField' : 'SchemaViolation';
    // A Source grants claims: unlike Emissary's kinds, a field it does not have refuses it.
    problems.push(problem(code, `Source ${name}: ${field}: ${e.message}`, at(field), { resource: ref, field, severity: 'error' }));
    if (problems.length > 20) break;
  }
  if (problems.length > 0) return { problems };
  const s = spec as SourceSpecInput;
  let url = s.url;
  const declaringLocal = ctx.declaringUrl.startsWith('/') ? ctx.declaringUrl : ctx.declaringUrl.startsWith('file://') ? ctx.declaringUrl.slice(7) : undefined;
  const isRelativePath = !/^[a-z][a-z0-9+.-]*:/i.test(url) && !url.startsWith('/');
  if (isRelativePath) {
    if (!declaringLocal) {
      return { problems: [problem('SchemaViolation', `Source ${name}: relative url '${url}' is only allowed when the declaring source is a local repository`, at('spec.url'), { resource: ref, field: 'spec.url' })] };
    }
    const resolved = normaliseUrl(url, dirname(declaringLocal));
    if (typeof resolved !== 'string') return { problems: [problem('SchemaViolation', `Source ${name}: ${resolved.error}`, at('spec.url'), { resource: ref, field: 'spec.url' })] };
    url = resolved;
  }
  let gitSpec: GitSourceSpec;
  try {
    gitSpec = makeSourceSpec({ name, url, branch: s.branch ?? 'main', path: s.path ?? '' }, '/', `Source ${name}`);
  } catch (err) {
    return { problems: [problem('SchemaViolation', (err as Error).message, at('spec'), { resource: ref, field: 'spec' })] };
  }
  const intervalMs = s.interval !== undefined ? parseDuration(s.interval) : ctx.defaultIntervalMs;
  if (!(intervalMs >= MIN_INTERVAL_MS)) {
    return { problems: [problem('SchemaViolation', `Source ${name}: spec.interval must be at least 1s`, at('spec.interval'), { resource: ref, field: 'spec.interval' })] };
  }
  if (s.verify && !s.verify.allowedSigners && !s.verify.gpgKeys) {
    return { problems: [problem('SchemaViolation', `Source ${name}: spec.verify needs allowedSigners or gpgKeys`, at('spec.verify'), { resource: ref, field: 'spec.verify' })] };
  }
  if (s.verify?.gpgKeys && !(s.verify.gpgFingerprints && s.verify.gpgFingerprints.length > 0)) {
    return { problems: [problem('SchemaViolation', `Source ${name}: spec.verify.gpgKeys needs gpgFingerprints (the keys allowed to sign)`, at('spec.verify'), { resource: ref, field: 'spec.verify.gpgFingerprints' })] };
  }
  const claim: Claim = {
    kinds: s.claims.kinds,
    hostnames: s.claims.hostnames ?? [],
    pathPrefixes: s.claims.pathPrefixes ?? [],
    ...(s.claims.ports ? { ports: s.claims.ports } : {}),
  };
  const verify: VerifyPolicy | undefined = s.verify
    ? {
        mode: s.verify.mode,
        ...(s.verify.allowedSigners ? { allowedSigners: s.verify.allowedSigners } : {}),
        ...(s.verify.gpgKeys ? { gpgKeys: s.verify.gpgKeys } : {}),
        ...(s.verify.gpgFingerprints ? { gpgFingerprints: s.verify.gpgFingerprints } : {}),
      }
    : undefined;
  return {
    source: {
      spec: gitSpec,
      intervalMs,
      claim,
      ...(verify ? { verify } : {}),
      onForcePush: s.onForcePush ?? 'refuse',
      declaredBy: ctx.source,
      origin,
    },
  };
}
