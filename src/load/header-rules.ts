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

/** Adds to `out` the problems with the header names and values of one spec (after schema validation). */
export function headerRuleIssues(kind: Kind, spec: Obj, out: SpecIssue[]): void {
  // Thousands of Mappings pass: field paths are built only for a problem.
  if (kind === 'Mapping') {
    headerRules(spec, 'spec', out);
    if (spec.cors !== undefined) cors(spec.cors, 'spec.cors', out);
    checkValue(spec.host_rewrite, 'spec.host_rewrite', out);
    checkValue(spec.path_redirect, 'spec.path_redirect', out);
    checkValue(spec.prefix_redirect, 'spec.prefix_redirect', out);
  } else if (kind === 'Module' && isObject(spec.config)) {
    const config = spec.config;
    const defaults = config.defaults;
    if (isObject(defaults)) {
      headerRules(defaults, 'spec.config.defaults', out);
      if (isObject(defaults.httpmapping)) headerRules(defaults.httpmapping, 'spec.config.defaults.httpmapping', out);
    }
    cors(config.cors, 'spec.config.cors', out);
    checkValue(config.server_name, 'spec.config.server_name', out);
  }
}

function headerRules(o: Obj, base: string, out: SpecIssue[]): void {
  for (const f of RULE_FIELDS) {
    const v = o[f];
    if (v === undefined || v === null) continue;
    if (f === 'add_request_headers' || f === 'add_response_headers') {
      if (!isObject(v)) continue;
      for (const name in v) {
        const nameWhy = badName(name);
        if (nameWhy) out.push(issue(`header name ${JSON.stringify(name)} ${nameWhy}`, `${base}.${f}.${name}`));
        const added = v[name];
        const text = isObject(added) ? added.value : added;
        const valueWhy = badValue(text);
        if (valueWhy) out.push(issue(valueWhy, isObject(added) ? `${base}.${f}.${name}.value` : `${base}.${f}.${name}`, `${base}.${f}.${name}`));
      }
    } else if (Array.isArray(v)) {
      // Names are trimmed, and a blank one is dropped, when compiled: only what is left is checked.
      for (let i = 0; i < v.length; i++) {
        const name: unknown = v[i];
        if (typeof name !== 'string' || TOKEN_RE.test(name)) continue;
        const trimmed = name.trim();
        const why = trimmed === '' ? undefined : badName(trimmed);
        if (why) out.push(issue(`header name ${JSON.stringify(trimmed)} ${why}`, `${base}.${f}[${i}]`));
      }
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
      const why = typeof item === 'string' ? badName(item) : undefined;
      if (why) out.push(issue(`${JSON.stringify(item)} ${why}`, `${base}.${f}[${i}]`));
    });
  }
  checkValue(c.max_age, `${base}.max_age`, out);
}

function checkValue(v: unknown, field: string, out: SpecIssue[]): void {
  const why = badValue(v);
  if (why) out.push(issue(why, field));
}

/** Why a header name cannot be sent, or undefined. */
function badName(name: string): string | undefined {
  if (TOKEN_RE.test(name)) return undefined;
  if (INJECTION_RE.test(name)) return 'contains CR, LF or NUL (header injection)';
  if (name === '') return 'is empty';
  return `is not a valid header name (letters, digits and !#$%&'*+-.^_\`|~ only; found ${firstOutside(name, TOKEN_CHAR_RE)})`;
}

/** Why a header value cannot be sent, or undefined (also for what is not a string). */
function badValue(v: unknown): string | undefined {
  if (typeof v !== 'string' || !NOT_SENDABLE_RE.test(v)) return undefined;
  if (INJECTION_RE.test(v)) return 'the value contains CR, LF or NUL: that would be header injection';
  return `the value contains ${firstOutside(v, SENDABLE_CHAR_RE)}, which cannot be sent in a header (control characters and characters beyond Latin-1 are refused)`;
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
