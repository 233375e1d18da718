// Edge Stack Filters and FilterPolicies into the IR: each Filter checked (JWT settings, templates,
// API keys from Secrets or the secrets directory), each policy's rules in order, references resolved.
//
// Fail closed: a Filter that cannot run (OAuth2, Plugin, a broken spec, a missing Secret) and a
// reference to a Filter that does not exist become Invalid filters in the IR, which refuse every
// request they would have checked, besides the error that names them. API keys move to the
// SecretStore; the IR keeps their ids and digests only.

import type { Resource } from '../../api/resource.js';
import type { SecretFiles } from '../options.js';
import type { IRAPIKeyFilter, IRAuthService, IRCluster, IRFilter, IRFilterRef, IRFilterRule, IRFilters, IRGlobal, IRHeaderTemplate, IRJWTFilter, IRSourceRef, IRTLSContext } from '../../ir/types.js';
import type { CompileContext } from '../context.js';
import { cmpStr } from '../context.js';
import { sha256 } from '../../ir/canonical.js';
import { parseTemplate, TemplateError } from '../../ir/text-template.js';
import { regexProblem } from '../../ir/re2-regex.js';
import { DEFAULT_ALGORITHMS, JWKS_DEFAULT_MAX_AGE_MS } from '../../ir/jwt-defaults.js';
import { isEntrySegment } from '../secret-files.js';
import { compileAuthServices } from './auth-services.js';

type Obj = Record<string, unknown>;

const TOKEN_RE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Headers a filter must not set on the upstream request: framing and routing are not a claim's to decide. */
const UNSETTABLE = new Set(['host', ':authority', 'content-length', 'transfer-encoding', 'connection', 'upgrade', 'te', 'keep-alive', 'proxy-connection', 'trailer']);

/** A Go duration in milliseconds; undefined when it is not one. */
export function goDurationMs(s: string): number | undefined {
  if (s === '0') return 0;
  const re = /([0-9]*\.?[0-9]+|[0-9]+\.)(ns|us|µs|ms|s|m|h)/gy;
  const sign = s.startsWith('-') ? -1 : 1;
  const body = s.replace(/^[+-]/, '');
  let total = 0;
  let at = 0;
  re.lastIndex = 0;
  for (let m = re.exec(body); m !== null; m = re.exec(body)) {
    const unit = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ns'];
    total += Number(m[1]) * unit;
    at = re.lastIndex;
  }
  if (at !== body.length || body === '') return undefined;
  return sign * total;
}

const sourceRef = (r: Resource): IRSourceRef => ({ kind: r.kind, name: r.name, namespace: r.namespace, origin: r.origin });

/** The values of a Secret resource's data (base64) and stringData, each one key. */
function secretResourceValues(s: Resource): string[] {
  const spec = s.spec as Obj;
  const out: string[] = [];
  const data = spec['data'];
  if (typeof data === 'object' && data !== null) {
    for (const k of Object.keys(data).sort()) {
      const v = (data as Obj)[k];
      if (typeof v === 'string') out.push(Buffer.from(v, 'base64').toString('utf8'));
    }
  }
  const sd = spec['stringData'];
  if (typeof sd === 'object' && sd !== null) {
    for (const k of Object.keys(sd).sort()) {
      const v = (sd as Obj)[k];
      if (typeof v === 'string') out.push(v);
    }
  }
  return out;
}

/** What an External filter's AuthService check needs from the rest of the configuration. */
export interface ExternalFilterInputs {
  readonly global: IRGlobal;
  readonly tlsContexts: ReadonlyMap<string, IRTLSContext>;
}

export function compileFilters(
  filters: readonly Resource[], policies: readonly Resource[], secrets: readonly Resource[], files: SecretFiles | undefined, external: ExternalFilterInputs, ctx: CompileContext,
): { filters: IRFilters; clusters: IRCluster[] } | undefined {
  if (filters.length === 0 && policies.length === 0) return undefined;
  const byId = new Map<string, IRFilter>();
  const secretById = new Map<string, Resource>();
  const clusters: IRCluster[] = [];
  for (const s of secrets) secretById.set(`${s.namespace}/${s.name}`, s);
  for (const f of filters) {
    const ir = compileFilter(f, secretById, files, external, clusters, ctx);
    byId.set(ir.id, ir);
  }
  const rules: IRFilterRule[] = [];
  const sorted = [...policies].sort((a, b) => cmpStr(a.namespace, b.namespace) || cmpStr(a.name, b.name));
  for (const p of sorted) {
    // A rule's globs reach every host and path, beyond any claim: one exempt rule sorted first would
    // switch every filter off. Only the central repository (a source with no claim) defines them.
    if (ctx.credentials.isTeam(p.origin.source)) {
      ctx.report(p, 'ClaimViolation', `FilterPolicy ${p.namespace}/${p.name} comes from team source '${p.origin.source ?? ''}': FilterPolicy rules apply to every host and path, so only the central repository may define them`, 'kind');
      continue;
    }
    const spec = p.spec as Obj;
    const list = Array.isArray(spec['rules']) ? (spec['rules'] as Obj[]) : [];
    list.forEach((rule, i) => {
      const field = `spec.rules.${i}`;
      const refs: IRFilterRef[] = [];
      const fs = Array.isArray(rule['filters']) ? (rule['filters'] as Obj[]) : [];
      fs.forEach((ref, j) => {
        const at = `${field}.filters.${j}`;
        const ns = typeof ref['namespace'] === 'string' ? ref['namespace'] : p.namespace;
        const id = `${ns}/${String(ref['name'])}`;
        if (!byId.has(id)) {
          ctx.report(p, 'FilterNotFound', `Filter ${id} does not exist (or was refused): the requests this rule matches are refused until it does`, `${at}.name`);
          byId.set(id, { id, source: sourceRef(p), type: 'Invalid', invalid: `Filter ${id} does not exist` });
        }
        const target = byId.get(id)!;
        const cond = ref['ifRequestHeader'] as Obj | undefined;
        let ifRequestHeader: IRFilterRef['ifRequestHeader'];
        if (cond !== undefined) {
          const name = String(cond['name']);
          if (!TOKEN_RE.test(name)) ctx.report(p, 'SchemaViolation', `ifRequestHeader.name '${name}' is not a header name`, `${at}.ifRequestHeader.name`);
          if (cond['value'] !== undefined && cond['valueRegex'] !== undefined) ctx.report(p, 'SchemaViolation', 'ifRequestHeader takes value or valueRegex, not both', `${at}.ifRequestHeader`);
          if (typeof cond['valueRegex'] === 'string') {
            const rp = regexProblem(cond['valueRegex'], ctx.regexMaxSize);
            if (rp !== undefined) ctx.report(p, rp.code, rp.message, `${at}.ifRequestHeader.valueRegex`);
          }
          ifRequestHeader = {
            name: name.toLowerCase(),
            negate: cond['negate'] === true,
            ...(typeof cond['value'] === 'string' ? { value: cond['value'] } : {}),
            ...(typeof cond['valueRegex'] === 'string' ? { valueRegex: cond['valueRegex'] } : {}),
          };
        }
        const args = (ref['arguments'] ?? {}) as Obj;
        const scope = Array.isArray(args['scope']) ? (args['scope'] as string[]) : [];
        if (scope.length > 0 && target.type !== 'JWT' && target.type !== 'Invalid') {
          ctx.report(p, 'SchemaViolation', `arguments.scope applies to JWT filters; ${id} is a ${target.type} filter`, `${at}.arguments.scope`);
        }
        refs.push({
          filter: id,
          onDeny: ref['onDeny'] === 'continue' ? 'continue' : 'break',
          onAllow: ref['onAllow'] === 'break' ? 'break' : 'continue',
          ...(ifRequestHeader ? { ifRequestHeader } : {}),
          scope,
        });
      });
      rules.push({
        host: typeof rule['host'] === 'string' ? rule['host'].toLowerCase() : '*',
        path: typeof rule['path'] === 'string' ? rule['path'] : '*',
        filters: refs,
        source: sourceRef(p),
        index: i,
      });
    });
  }
  const all = [...byId.values()].sort((a, b) => cmpStr(a.id, b.id));
  return { filters: { filters: all, rules }, clusters };
}

function compileFilter(f: Resource, secrets: Map<string, Resource>, files: SecretFiles | undefined, external: ExternalFilterInputs, clusters: IRCluster[], ctx: CompileContext): IRFilter {
  const spec = f.spec as Obj;
  const id = `${f.namespace}/${f.name}`;
  const source = sourceRef(f);
  const invalid = (why: string): IRFilter => ({ id, source, type: 'Invalid', invalid: why });
  const types = ['JWT', 'APIKey', 'External', 'OAuth2', 'Plugin'].filter((t) => spec[t] !== undefined && spec[t] !== null);
  if (types.length !== 1) {
    ctx.report(f, 'SchemaViolation', types.length === 0 ? 'a Filter needs one of JWT, APIKey or External' : `a Filter has one type; this one has ${types.join(' and ')}`, 'spec');
    return invalid('the Filter has no single type');
  }
  const type = types[0]!;
  if (type === 'OAuth2' || type === 'Plugin') {
    const why = type === 'OAuth2'
      ? 'OAuth2 filters are refused: Portico does not implement OAuth2/OIDC login, and the routes the filter guards would be open (use a JWT filter for bearer tokens, or an External filter)'
      : 'Plugin filters are refused: Portico cannot run Go plugins, and the routes the filter guards would be open';
    ctx.report(f, 'NotEnforced', why, `spec.${type}`);
    return invalid(why);
  }
  if (!ctx.isValid(f)) return invalid('the Filter has errors');
  if (type === 'External') {
    const auth = externalFilter(f, spec['External'] as Obj, external, clusters, ctx);
    return auth === undefined ? invalid('its AuthService settings have errors') : { id, source, type: 'External', external: auth };
  }
  if (type === 'APIKey') {
    const apiKey = apiKeyFilter(f, spec['APIKey'] as Obj, secrets, files, ctx);
    return apiKey === undefined ? invalid('its keys could not be read') : { id, source, type: 'APIKey', apiKey };
  }
  const jwt = jwtFilter(f, spec['JWT'] as Obj, ctx);
  return jwt === undefined ? invalid('its JWT settings have errors') : { id, source, type: 'JWT', jwt };
}

function jwtFilter(f: Resource, j: Obj, ctx: CompileContext): IRJWTFilter | undefined {
  let ok = true;
  const bad = (code: 'SchemaViolation' | 'InvalidTemplate', message: string, field: string): void => {
    ctx.report(f, code, message, `spec.JWT.${field}`);
    ok = false;
  };
  const algorithms = Array.isArray(j['validAlgorithms']) && j['validAlgorithms'].length > 0 ? [...new Set(j['validAlgorithms'] as string[])] : [...DEFAULT_ALGORITHMS];
  const onlyNone = algorithms.length === 1 && algorithms[0] === 'none';
  const hmac = algorithms.filter((a) => a.startsWith('HS'));
  if (hmac.length > 0) {
    bad('SchemaViolation', `validAlgorithms ${hmac.join(', ')}: HMAC is not supported (its secret key would have to be published in the JWK Set); use RS*, PS* or ES*`, 'validAlgorithms');
  }
  const jwksURI = typeof j['jwksURI'] === 'string' ? j['jwksURI'] : undefined;
  if (jwksURI === undefined) {
    if (!onlyNone) bad('SchemaViolation', 'jwksURI is required (unless validAlgorithms is ["none"])', 'jwksURI');
  } else {
    let url: URL | undefined;
    try {
      url = new URL(jwksURI);
    } catch {
      url = undefined;
    }
    if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:')) bad('SchemaViolation', `jwksURI '${jwksURI}' is not an http:// or https:// URL`, 'jwksURI');
  }
  if (j['requireAudience'] === true && typeof j['audience'] !== 'string') bad('SchemaViolation', 'requireAudience needs audience', 'audience');
  if (j['requireIssuer'] === true && typeof j['issuer'] !== 'string') bad('SchemaViolation', 'requireIssuer needs issuer', 'issuer');
  const duration = (k: string): number => {
    const v = j[k];
    if (typeof v !== 'string') return 0;
    const ms = goDurationMs(v);
    if (ms === undefined || ms < 0) {
      bad('SchemaViolation', `${k} '${v}' is not a non-negative Go duration ("30s", "1m30s")`, k);
      return 0;
    }
    return ms;
  };
  const headerTemplates = (list: unknown, field: string, body: boolean): IRHeaderTemplate[] => {
    const out: IRHeaderTemplate[] = [];
    if (!Array.isArray(list)) return out;
    list.forEach((h: Obj, i) => {
      const name = String(h['name']);
      const value = String(h['value']);
      if (!TOKEN_RE.test(name)) bad('SchemaViolation', `'${name}' is not a header name`, `${field}.${i}.name`);
      // framing and routing fields are the gateway's, on the upstream request and on the error reply alike
      else if (UNSETTABLE.has(name.toLowerCase())) bad('SchemaViolation', `a filter may not set ${name}`, `${field}.${i}.name`);
      try {
        parseTemplate(value, body);
      } catch (err) {
        if (!(err instanceof TemplateError)) throw err;
        bad('InvalidTemplate', `${name}: ${err.message}`, `${field}.${i}.value`);
      }
      out.push({ name, value });
    });
    return out;
  };
  const inject = headerTemplates(j['injectRequestHeaders'], 'injectRequestHeaders', false);
  const er = (j['errorResponse'] ?? {}) as Obj;
  const errorHeaders = headerTemplates(er['headers'], 'errorResponse.headers', true);
  if (typeof er['contentType'] === 'string' && !errorHeaders.some((h) => h.name.toLowerCase() === 'content-type')) {
    errorHeaders.push({ name: 'Content-Type', value: er['contentType'] });
  }
  if (errorHeaders.length === 0) errorHeaders.push({ name: 'Content-Type', value: 'application/json' });
  const bodyTemplate = typeof er['bodyTemplate'] === 'string' ? er['bodyTemplate'] : undefined;
  if (bodyTemplate !== undefined) {
    try {
      parseTemplate(bodyTemplate, true);
    } catch (err) {
      if (!(err instanceof TemplateError)) throw err;
      bad('InvalidTemplate', `bodyTemplate: ${err.message}`, 'errorResponse.bodyTemplate');
    }
  }
  const realm = typeof er['realm'] === 'string' ? er['realm'] : `${f.name}.${f.namespace}`;
  if (/["\\\r\n]/.test(realm)) bad('SchemaViolation', 'realm may not contain quotes, backslashes or line breaks', 'errorResponse.realm');
  const leewayForExpiresAtMs = duration('leewayForExpiresAt');
  const leewayForNotBeforeMs = duration('leewayForNotBefore');
  const leewayForIssuedAtMs = duration('leewayForIssuedAt');
  const maxStale = duration('maxStale');
  if (!ok) return undefined;
  return {
    ...(jwksURI !== undefined ? { jwksURI } : {}),
    insecureTLS: j['insecureTLS'] === true,
    algorithms: algorithms.sort(),
    ...(typeof j['audience'] === 'string' ? { audience: j['audience'] } : {}),
    requireAudience: j['requireAudience'] === true,
    ...(typeof j['issuer'] === 'string' ? { issuer: j['issuer'] } : {}),
    requireIssuer: j['requireIssuer'] === true,
    requireExpiresAt: j['requireExpiresAt'] === true,
    leewayForExpiresAtMs,
    requireNotBefore: j['requireNotBefore'] === true,
    leewayForNotBeforeMs,
    requireIssuedAt: j['requireIssuedAt'] === true,
    leewayForIssuedAtMs,
    maxStaleMs: maxStale > 0 ? maxStale : JWKS_DEFAULT_MAX_AGE_MS,
    injectRequestHeaders: inject,
    errorResponse: { realm, headers: errorHeaders, ...(bodyTemplate !== undefined ? { bodyTemplate } : {}) },
  };
}

/**
 * The keys of an APIKey filter: every value of each named Secret, from the secrets directory's
 * entry NAME (each file NAME/KEY is one key) or else the Secret resource in the Filter's namespace.
 */
function apiKeyFilter(f: Resource, a: Obj, secrets: Map<string, Resource>, files: SecretFiles | undefined, ctx: CompileContext): IRAPIKeyFilter | undefined {
  const header = typeof a['httpHeader'] === 'string' ? a['httpHeader'].toLowerCase() : 'x-api-key';
  if (!TOKEN_RE.test(header)) {
    ctx.report(f, 'SchemaViolation', `httpHeader '${header}' is not a header name`, 'spec.APIKey.httpHeader');
    return undefined;
  }
  // The key header is a credential wherever a header rule names it (its literal values move to the store).
  ctx.credentials.names.add(header);
  const team = ctx.credentials.isTeam(f.origin.source);
  const keys: { id: string; digest: string }[] = [];
  let ok = true;
  (a['keys'] as Obj[]).forEach((k, i) => {
    const name = String(k['secretName']);
    const field = `spec.APIKey.keys.${i}.secretName`;
    const prefix = `${name}/`;
    const dirKeys = files !== undefined && isEntrySegment(name) && !team ? Object.keys(files.files).filter((p) => p.startsWith(prefix) && !p.slice(prefix.length).includes('/')).sort() : [];
    let values: { id: string; value: string }[];
    if (dirKeys.length > 0) {
      values = dirKeys.map((p) => ({ id: `apikey:secrets:${p}`, value: files!.files[p]!.replace(/\r?\n$/, '') }));
    } else {
      const s = secrets.get(`${f.namespace}/${name}`);
      if (s === undefined) {
        ctx.report(f, 'SecretNotFound', `Secret ${f.namespace}/${name} was not found${team ? '' : ' (nor an entry of the secrets directory)'}: no key would be accepted`, field);
        ok = false;
        return;
      }
      values = secretResourceValues(s).map((value, j) => ({ id: `apikey:${f.namespace}/${name}#${j}`, value }));
    }
    values = values.filter((v) => v.value !== '');
    if (values.length === 0) {
      ctx.report(f, 'SecretInvalid', `Secret ${name} holds no key`, field);
      ok = false;
      return;
    }
    for (const v of values) {
      ctx.credentials.store.set(v.id, { value: v.value });
      keys.push({ id: v.id, digest: sha256(`portico-apikey\0${v.value}`).slice(0, 16) });
    }
  });
  if (!ok) return undefined;
  return { httpHeader: header, keys };
}

/**
 * An External filter: Edge Stack's AuthService spec, compiled by the AuthService compiler as if it
 * were one (problems name the filter's fields), with Edge Stack's differences: `tls` is a boolean
 * only, `add_linkerd_headers` defaults to false, and there is no `add_auth_headers`.
 */
function externalFilter(f: Resource, spec: Obj, inputs: ExternalFilterInputs, clusters: IRCluster[], ctx: CompileContext): IRAuthService | undefined {
  if (spec['tls'] !== undefined && typeof spec['tls'] !== 'boolean') {
    ctx.report(f, 'SchemaViolation', 'External.tls is a boolean in a Filter (a TLSContext cannot be named here)', 'spec.External.tls');
    return undefined;
  }
  if (spec['tlsConfig'] !== undefined) {
    // A CA or client certificate the filter asks for and that Portico would not use: its check would not be verified.
    ctx.report(f, 'NotEnforced', 'External.tlsConfig is refused: Portico does not verify the auth service with a CA or present a client certificate from a Filter', 'spec.External.tlsConfig');
    return undefined;
  }
  if (spec['add_auth_headers'] !== undefined) ctx.report(f, 'NotImplemented', 'External filters have no add_auth_headers (an AuthService field); ignored', 'spec.External.add_auth_headers');
  const positions: Record<string, { line: number; col: number }> = {};
  for (const [k, v] of Object.entries(f.positions)) if (k.startsWith('spec.External.')) positions[`spec.${k.slice('spec.External.'.length)}`] = v;
  const asAuthService: Resource = { ...f, spec: { ...spec, add_auth_headers: undefined }, positions };
  const before = ctx.problems.length;
  const out = compileAuthServices({ authServices: [asAuthService], module: undefined, global: inputs.global, tlsContexts: inputs.tlsContexts }, ctx);
  // the AuthService compiler names fields from spec: they are the filter's spec.External fields
  for (let i = before; i < ctx.problems.length; i++) {
    const p = ctx.problems[i]!;
    if (p.field?.startsWith('spec.') === true && p.resource?.kind === 'Filter') ctx.problems[i] = { ...p, field: `spec.External.${p.field.slice(5)}` };
  }
  const auth = out.authServices[0];
  if (auth === undefined) return undefined;
  clusters.push(...out.clusters);
  return auth;
}
