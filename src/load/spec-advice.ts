// Warnings where Portico would choose differently from Emissary but keeps Emissary's behaviour, so
// that configuration Emissary accepts still loads: CORS origins no browser sends, retry counts
// above 10, and a path in a service URL. `validate --strict` makes them errors for CI.

import type { Kind } from '../api/resource.js';
import type { SpecIssue } from './spec-validation.js';
import { isObject } from './spec-normalise.js';
import { isFilledIn, splitHeaderValue } from '../api/header-operators.js';

type Obj = Record<string, unknown>;

/** An origin as a browser sends it: scheme://host[:port], nothing after. */
const ORIGIN_RE = /^[a-z][a-z0-9+.-]*:\/\/[^/\s?#]+$/i;

/** Above this, one failed request may be sent many times over; Emissary sets no limit. */
export const ADVISED_MAX_RETRIES = 10;

/** Adds to `out` the advice for one spec (after schema validation). */
export function specAdvice(kind: Kind, spec: Obj, out: SpecIssue[]): void {
  if (kind === 'Mapping') {
    corsAdvice(spec.cors, 'spec.cors', out);
    retryAdvice(spec.retry_policy, 'spec.retry_policy', out);
    serviceAdvice(spec.service, out);
    dynamicValueAdvice(spec, 'spec', out);
  } else if (kind === 'TCPMapping') {
    serviceAdvice(spec.service, out);
  } else if (kind === 'Module' && isObject(spec.config)) {
    corsAdvice(spec.config.cors, 'spec.config.cors', out);
    retryAdvice(spec.config.retry_policy, 'spec.config.retry_policy', out);
    const defaults = spec.config.defaults;
    if (isObject(defaults)) {
      dynamicValueAdvice(defaults, 'spec.config.defaults', out);
      if (isObject(defaults.httpmapping)) dynamicValueAdvice(defaults.httpmapping, 'spec.config.defaults.httpmapping', out);
    }
  }
}

/**
 * Emissary passes header values to Envoy, which fills in its command operators (%PROTOCOL%,
 * %REQ(x-user)%, ...). Portico fills in those api/header-operators.ts lists; any other is sent as written.
 */
function dynamicValueAdvice(o: Obj, base: string, out: SpecIssue[]): void {
  for (const f of ['add_request_headers', 'add_response_headers'] as const) {
    const rules = o[f];
    if (!isObject(rules)) continue;
    for (const name in rules) {
      const rule = rules[name];
      const text = isObject(rule) ? rule.value : rule;
      if (typeof text !== 'string' || !text.includes('%')) continue;
      const found = splitHeaderValue(text).find((p) => typeof p !== 'string' && !isFilledIn(p));
      if (found === undefined || typeof found === 'string') continue;
      const field = isObject(rule) ? `${base}.${f}.${name}.value` : `${base}.${f}.${name}`;
      out.push(advice('NotImplemented', `${field.replace(/^spec\./, '')}: ${found.text} is one of Envoy's dynamic values, which Emissary fills in; Portico does not fill it in and sends it as written`, field));
    }
  }
}

function corsAdvice(c: unknown, base: string, out: SpecIssue[]): void {
  if (!isObject(c) || !Array.isArray(c.origins)) return;
  c.origins.forEach((o, i) => {
    if (typeof o !== 'string' || o === '*' || o === 'null' || ORIGIN_RE.test(o)) return;
    const field = `${base}.origins[${i}]`;
    const fixed = /^[a-z][a-z0-9+.-]*:\/\//i.test(o) ? o.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/\s?#]+).*$/i, '$1') : `https://${o.replace(/\/.*$/, '')}`;
    out.push(advice('InvalidCORS', `${field.replace(/^spec\./, '')}: "${o}" is not an origin as browsers send it (scheme://host[:port], no path), so it never matches, as in Emissary (did you mean "${fixed}"?)`, field));
  });
  if (c.credentials === true && c.origins.includes('*')) {
    out.push(
      advice(
        'InvalidCORS',
        `${base.replace(/^spec\./, '')}: origins "*" with credentials: true would let any site read responses with its users' cookies (Emissary echoes every origin with credentials); Portico does not: only origins listed by name get CORS headers`,
        `${base}.origins[${c.origins.indexOf('*')}]`,
      ),
    );
  }
}

function retryAdvice(r: unknown, base: string, out: SpecIssue[]): void {
  if (!isObject(r) || typeof r.num_retries !== 'number' || r.num_retries <= ADVISED_MAX_RETRIES) return;
  const n = r.num_retries;
  out.push(
    advice(
      'AboveLimit',
      `${base.replace(/^spec\./, '')}.num_retries: ${n} is above ${ADVISED_MAX_RETRIES}: one failing request may reach the upstream ${n + 1} times; kept, as Emissary keeps it`,
      `${base}.num_retries`,
    ),
  );
}

/** A service with something after its host and port. */
const SERVICE_WITH_PATH_RE = /^\s*(?:[a-z][a-z0-9+.-]*:\/\/)?[^/?#]*[/?#]/i;

function serviceAdvice(service: unknown, out: SpecIssue[]): void {
  if (typeof service !== 'string' || !SERVICE_WITH_PATH_RE.test(service)) return;
  const rest = service.trim().replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
  const cut = rest.search(/[/?#]/);
  if (cut < 0) return;
  out.push(
    advice(
      'ServicePathIgnored',
      `service: "${rest.slice(cut)}" in "${service}" is ignored, as Emissary ignores it: only scheme, host and port are used (use rewrite to change the path)`,
      'spec.service',
    ),
  );
}

function advice(code: SpecIssue['code'], message: string, field: string): SpecIssue {
  // A list written as one string ("a,b,*") has no position per item: the field's own is next best.
  return { code, message, field, positionKeys: [field, field.replace(/\[\d+\]$/, '')] };
}
