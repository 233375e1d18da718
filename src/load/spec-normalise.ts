// Load stage, step 3: rewrite a spec into the one shape compile reads — v2 (and v1, same shape)
// spellings become v3alpha1, and list fields written as a single string become lists.

import { nullRecord } from './null-record.js';
import { exactAuthorityHeader } from '../api/kinds/mapping.js';

type Obj = Record<string, unknown>;

/** Reports a change of meaning the user should know about (code, message, field relative to spec). */
export type NormaliseNote = (code: 'Deprecated', message: string, field: string) => void;

export function isObject(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function obj(): Obj {
  return nullRecord();
}

/** Normalisation shared by every apiVersion. `renamed` records moved fields so positions can follow. */
export function normaliseSpec(kind: string, spec: Obj, note: NormaliseNote, renamed?: Map<string, string>): void {
  if (typeof spec.ambassador_id === 'string') spec.ambassador_id = [spec.ambassador_id];
  switch (kind) {
    case 'Mapping':
      stringToList(spec, 'remove_request_headers');
      stringToList(spec, 'remove_response_headers');
      if (typeof spec.allow_upgrade === 'string') spec.allow_upgrade = [spec.allow_upgrade];
      normaliseCORS(spec.cors);
      // Emissary's rule for both: it logs an error, ignores host (and host_regex, which only qualifies
      // host) and uses hostname. Kept as it is, host would add an :authority match hostname does not ask for.
      if (spec.host !== undefined && spec.hostname !== undefined) {
        const regex = spec.host_regex !== undefined ? ' and "host_regex"' : '';
        note('Deprecated', `both "hostname" (${JSON.stringify(spec.hostname)}) and "host" (${JSON.stringify(spec.host)}) are set: "host"${regex} is ignored and "hostname" is used, as in Emissary; remove "host"`, 'host');
        delete spec.host;
        delete spec.host_regex;
      }
      dropOverriddenAuthority(spec, note);
      break;
    case 'Module':
      if (isObject(spec.config)) {
        normaliseCORS(spec.config.cors);
        normaliseDefaultLabels(spec.config.default_labels);
        const defaults = spec.config.defaults;
        if (isObject(defaults) && isObject(defaults.httpmapping)) {
          stringToList(defaults.httpmapping, 'remove_request_headers');
          stringToList(defaults.httpmapping, 'remove_response_headers');
        }
      }
      break;
    case 'Host':
      if (spec.selector !== undefined) {
        // Emissary reads selector whenever mappingSelector selects nothing (irhost.py: `if not mapsel`).
        if (spec.mappingSelector === undefined || isEmptySelector(spec.mappingSelector)) {
          const empty = spec.mappingSelector !== undefined;
          spec.mappingSelector = spec.selector;
          renamed?.set('selector', 'mappingSelector');
          note('Deprecated', `"selector" is deprecated; it is read as "mappingSelector"${empty ? ' (which is set, but selects nothing: as in Emissary, the selector is used)' : ''}`, 'selector');
        } else {
          note('Deprecated', '"selector" is ignored because "mappingSelector" is set', 'selector');
        }
        delete spec.selector;
      }
      break;
    case 'TCPMapping':
      // v2 wrote TLS origination as a boolean; v3alpha1 spells it with the service scheme.
      if (typeof spec.tls === 'boolean') {
        if (spec.tls && typeof spec.service === 'string' && !/^https?:\/\//i.test(spec.service)) {
          spec.service = `https://${spec.service}`;
        }
        delete spec.tls;
      }
      break;
    case 'TracingService':
      // Emissary's deprecated spelling of a request-header tag: the same tag, written the current way.
      if (Array.isArray(spec.tag_headers)) {
        const tags = Array.isArray(spec.custom_tags) ? spec.custom_tags : [];
        for (const h of spec.tag_headers) if (typeof h === 'string') tags.push({ tag: h, request_header: { name: h } });
        spec.custom_tags = tags;
        note('Deprecated', '"tag_headers" is deprecated; each name is read as a custom_tags request_header', 'tag_headers');
        delete spec.tag_headers;
      }
      break;
    default:
      break;
  }
}

/**
 * A label selector without requirements: `{}`, or empty matchLabels and matchExpressions. Emissary
 * reads the Kubernetes object, where such a selector arrives as `{}`, and treats it as no selector.
 */
function isEmptySelector(v: unknown): boolean {
  if (!isObject(v)) return false;
  const labels = v.matchLabels;
  const expressions = v.matchExpressions;
  return (labels === undefined || labels === null || (isObject(labels) && Object.keys(labels).length === 0)) && (expressions === undefined || expressions === null || (Array.isArray(expressions) && expressions.length === 0));
}

function deleteHeader(spec: Obj, key: string): void {
  const headers = spec.headers as Obj;
  delete headers[key];
  if (Object.keys(headers).length === 0) delete spec.headers;
}

/**
 * An exact `:authority` header is the Mapping's host only when neither `hostname` nor `host` is set:
 * Emissary lets either override it and then drops it (irhttpmapping.py). One with "*" stays, for
 * compile to refuse the Mapping as Emissary does.
 */
function dropOverriddenAuthority(spec: Obj, note: NormaliseNote): void {
  const found = exactAuthorityHeader(spec.headers);
  if (found === undefined || found.value.includes('*')) return;
  const { key, value } = found;
  const by = spec.hostname !== undefined ? 'hostname' : spec.host !== undefined ? 'host' : undefined;
  if (by === undefined) return;
  note('Deprecated', `headers["${key}"] (${JSON.stringify(value)}) is ignored because "${by}" (${JSON.stringify(spec[by])}) is set: as in Emissary, the request's host is matched by "${by}" alone; remove the :authority header, or write hostname: ${JSON.stringify(value)}`, `headers.${key}`);
  deleteHeader(spec, key);
}

/** getambassador.io/v2 → v3alpha1, after Emissary's own conversion (pkg/api/getambassador.io/v2). */
export function normaliseV2(kind: string, spec: Obj, note: NormaliseNote): void {
  if (kind !== 'Mapping') return;

  // v2 had no Host association: a Mapping without host or hostname served every hostname.
  if (spec.host === undefined && spec.hostname === undefined) {
    // Emissary's conversion gives it hostname "*" even when an exact :authority header names its
    // host, and hostname then overrides that header: the Mapping serves every host. Served so here
    // too, and said, since the YAML reads as if it served one.
    const found = exactAuthorityHeader(spec.headers);
    if (found !== undefined && !found.value.includes('*')) {
      const { key, value } = found;
      note('Deprecated', `headers["${key}"] (${JSON.stringify(value)}) is ignored: a v2 Mapping without host is converted with hostname "*", as Emissary converts it, and hostname overrides an :authority header, so this Mapping serves every host; write host: ${JSON.stringify(value)} (or, in v3alpha1, hostname) to serve only that one`, `headers.${key}`);
      deleteHeader(spec, key);
    }
    spec.hostname = '*';
  }

  // `true` meant "present with any value"; v3alpha1 keeps the names aside.
  for (const [field, boolField] of [
    ['headers', 'v2BoolHeaders'],
    ['query_parameters', 'v2BoolQueryParameters'],
  ] as const) {
    const m = spec[field];
    if (!isObject(m)) continue;
    const bools: string[] = [];
    for (const [k, v] of Object.entries(m)) {
      if (v === true) {
        bools.push(k);
        delete m[k];
      } else if (v === false) {
        delete m[k];
        note('Deprecated', `"${k}: false" has no effect (Emissary ignores it) and is dropped`, `${field}.${k}`);
      }
    }
    if (bools.length > 0) spec[boolField] = bools;
    if (Object.keys(m).length === 0) delete spec[field];
  }

  // tls: true means "originate TLS" without a TLSContext: v3alpha1 writes that as an https:// service.
  if (spec.tls === true) {
    if (typeof spec.service === 'string' && !/^https?:\/\//i.test(spec.service)) spec.service = `https://${spec.service}`;
    else if (typeof spec.service === 'string' && /^http:\/\//i.test(spec.service)) spec.service = `https://${spec.service.slice(7)}`;
    delete spec.tls;
  } else if (spec.tls === false || spec.tls === null || spec.tls === '') {
    delete spec.tls;
  }

  for (const field of ['add_request_headers', 'add_response_headers']) {
    const m = spec[field];
    if (!isObject(m)) continue;
    for (const [k, v] of Object.entries(m)) if (v === null) m[k] = '';
  }

  if (isObject(spec.labels)) spec.labels = convertLabels(spec.labels);
}

function convertLabels(domains: Obj): Obj {
  const out = obj();
  for (const [domain, groups] of Object.entries(domains)) {
    if (groups === null) continue;
    if (!Array.isArray(groups)) {
      out[domain] = groups;
      continue;
    }
    out[domain] = groups
      .filter((g) => g !== null)
      .map((group: unknown) => {
        if (!isObject(group)) return group;
        const converted = obj();
        for (const [name, specifiers] of Object.entries(group)) {
          converted[name] = Array.isArray(specifiers)
            ? specifiers.filter((s) => s !== null).map(convertLabelSpecifier)
            : specifiers;
        }
        return converted;
      });
  }
  return out;
}

/** The Module's default_labels (domain → {defaults: [specifier]}): specifiers as Mappings write them, in either version. */
function normaliseDefaultLabels(labels: unknown): void {
  if (!isObject(labels)) return;
  for (const domain of Object.values(labels)) {
    if (isObject(domain) && Array.isArray(domain.defaults)) domain.defaults = domain.defaults.filter((s) => s !== null).map(convertLabelSpecifier);
  }
}

/** A v2 label specifier: a bare string, {name: {header}}, or {generic_key: value}. */
function convertLabelSpecifier(s: unknown): unknown {
  const make = (k: string, v: Obj): Obj => {
    const o = obj();
    o[k] = v;
    return o;
  };
  const fields = (entries: [string, unknown][]): Obj => {
    const o = obj();
    for (const [k, v] of entries) if (v !== undefined) o[k] = v;
    return o;
  };
  if (typeof s === 'string') {
    if (s === 'source_cluster' || s === 'destination_cluster' || s === 'remote_address') return make(s, fields([['key', s]]));
    return make('generic_key', fields([['value', s]]));
  }
  if (!isObject(s)) return s;
  const keys = Object.keys(s);
  if (keys.length !== 1) return s;
  const key = keys[0] as string;
  const value = s[key];
  if (key === 'generic_key' && typeof value === 'string') return make('generic_key', fields([['value', value]]));
  if (key === 'generic_key' && isObject(value) && typeof value.generic_key === 'string') {
    return make('generic_key', fields([['key', value.v3Key], ['value', value.generic_key]]));
  }
  if (['source_cluster', 'destination_cluster', 'remote_address', 'request_headers', 'generic_key'].includes(key)) return s;
  if (isObject(value) && typeof value.header === 'string') {
    return make(
      'request_headers',
      fields([
        ['key', key],
        ['header_name', value.header],
        ['omit_if_not_present', value.omit_if_not_present],
      ]),
    );
  }
  return s;
}

function stringToList(o: Obj, field: string): void {
  if (typeof o[field] === 'string') o[field] = [o[field]];
}

/** CORS lists may be one comma-separated string ("a.com, b.com"); max_age may be written as a number. */
function normaliseCORS(cors: unknown): void {
  if (!isObject(cors)) return;
  for (const field of ['origins', 'methods', 'headers', 'exposed_headers']) {
    const v = cors[field];
    if (typeof v === 'string') {
      cors[field] = v
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s.length > 0);
    }
  }
  if (typeof cors.max_age === 'number' && Number.isInteger(cors.max_age)) cors.max_age = String(cors.max_age);
}
