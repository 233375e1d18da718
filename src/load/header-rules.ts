// Header rules checked at load: a header name or value written in configuration that cannot go on
// the wire is refused with its field, instead of failing every request on the route with a 500.
//
// A name must be an HTTP token (RFC 9110 §5.6.2). A value may hold tab, visible ASCII and the
// Latin-1 range, which is what the HTTP stack writes; CR, LF or NUL in a value would be header
// injection. Covered: added and removed headers (Mapping, Module defaults), CORS lists, and the
// fields that become a header value (host_rewrite, redirects, server_name).

import type { Kind } from '../api/resource.js';
import type { SpecIssue } from './spec-validation.js';
import { isObject } from './spec-normalise.js';

type Obj = Record<string, unknown>;

const TOKEN_RE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const INJECTION_RE = /[\r\n\0]/;
const NOT_SENDABLE_RE = /[^\t\x20-\x7e\x80-\xff]/;
const TOKEN_CHAR_RE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]$/;
const SENDABLE_CHAR_RE = /^[\t\x20-\x7e\x80-\xff]$/;

/** The four header-rule fields, as a Mapping and the Module's defaults spell them. */
const RULE_FIELDS = ['add_request_headers', 'add_response_headers', 'remove_request_headers', 'remove_response_headers'] as const;

/** Problems with the header names and values of one spec (after schema validation). */
export function headerRuleIssues(kind: Kind, spec: Obj): SpecIssue[] {
  const out: SpecIssue[] = [];
  if (kind === 'Mapping') {
    headerRules(spec, 'spec', out);
    cors(spec.cors, 'spec.cors', out);
    for (const f of ['host_rewrite', 'path_redirect', 'prefix_redirect'] as const) value(spec[f], `spec.${f}`, out);
  } else if (kind === 'Module' && isObject(spec.config)) {
    const config = spec.config;
    const defaults = config.defaults;
    if (isObject(defaults)) {
      headerRules(defaults, 'spec.config.defaults', out);
      if (isObject(defaults.httpmapping)) headerRules(defaults.httpmapping, 'spec.config.defaults.httpmapping', out);
    }
    cors(config.cors, 'spec.config.cors', out);
    value(config.server_name, 'spec.config.server_name', out);
  }
  return out;
}

function headerRules(o: Obj, base: string, out: SpecIssue[]): void {
  for (const f of RULE_FIELDS) {
    const v = o[f];
    if (v === undefined || v === null) continue;
    if (f.startsWith('add_')) {
      if (!isObject(v)) continue;
      for (const [name, added] of Object.entries(v)) {
        const field = `${base}.${f}.${name}`;
        name_(name, field, out);
        const text = isObject(added) ? added.value : added;
        value(text, isObject(added) ? `${field}.value` : field, out, field);
      }
    } else if (Array.isArray(v)) {
      // Names are trimmed, and a blank one is dropped, when compiled: only what is left is checked.
      v.forEach((name, i) => {
        if (typeof name === 'string' && name.trim() !== '') name_(name.trim(), `${base}.${f}[${i}]`, out);
      });
    }
  }
}

/** CORS lists go out as header values, and each item names a method or a header. */
function cors(c: unknown, base: string, out: SpecIssue[]): void {
  if (!isObject(c)) return;
  for (const f of ['methods', 'headers', 'exposed_headers'] as const) {
    const list = c[f];
    if (!Array.isArray(list)) continue;
    list.forEach((item, i) => {
      if (typeof item === 'string') name_(item, `${base}.${f}[${i}]`, out);
    });
  }
  value(c.max_age, `${base}.max_age`, out);
}

function name_(name: string, field: string, out: SpecIssue[]): void {
  if (TOKEN_RE.test(name)) return;
  const why = INJECTION_RE.test(name)
    ? 'contains CR, LF or NUL (header injection)'
    : name === ''
      ? 'is empty'
      : `is not a valid header name (letters, digits and !#$%&'*+-.^_\`|~ only; found ${firstOutside(name, TOKEN_CHAR_RE)})`;
  out.push(issue(`header name ${JSON.stringify(name)} ${why}`, field));
}

function value(v: unknown, field: string, out: SpecIssue[], fallback = field): void {
  if (typeof v !== 'string') return;
  if (INJECTION_RE.test(v)) {
    out.push(issue(`the value contains CR, LF or NUL: that would be header injection`, field, fallback));
  } else if (NOT_SENDABLE_RE.test(v)) {
    out.push(issue(`the value contains ${firstOutside(v, SENDABLE_CHAR_RE)}, which cannot be sent in a header (control characters and characters beyond Latin-1 are refused)`, field, fallback));
  }
}

/** The first character of s that `allowed` does not match, spelled so that it can be seen. */
function firstOutside(s: string, allowed: RegExp): string {
  const bad = [...s].find((ch) => !allowed.test(ch)) ?? '';
  const code = bad.codePointAt(0) ?? 0;
  if (bad === ' ') return 'a space';
  return code < 0x20 || code === 0x7f || code > 0xff ? `U+${code.toString(16).toUpperCase().padStart(4, '0')}` : JSON.stringify(bad);
}

/** `fallback`: where to point when the field itself has no position (a header's key, for its `.value`). */
function issue(message: string, field: string, fallback = field): SpecIssue {
  return { code: 'InvalidHeaderRule', message: `${field.replace(/^spec\./, '')}: ${message}`, field, positionKeys: [field, fallback] };
}
