// Envoy's command operators in the values of add_request_headers and add_response_headers (a
// Mapping's, the Module's defaults): Emissary hands those values to Envoy, which fills the operators
// in per request. This is their syntax and the list Portico fills in (dataplane/header-values.ts);
// load's advice reports the others, which are sent as written (docs/reference/resources.md).

/** One operator as written: %NAME%, %NAME(argument)%, either with :N (at most N bytes of it). */
export interface HeaderOperator {
  /** As written, from the first % to the last. */
  readonly text: string;
  readonly name: string;
  readonly arg: string | undefined;
  readonly maxLength: number | undefined;
}

/** A header value cut into literal text (with %% already one %) and operators, in order. */
export type ValuePiece = string | HeaderOperator;

/**
 * Envoy's operator syntax; the name starts with a letter here, so that text such as "10%20%" stays
 * text (Envoy would refuse it: Portico sends it as written, as before).
 */
const OPERATOR_RE = /%([A-Z][A-Z0-9_]*)(?:\(([^)]*)\))?(?::([0-9]{1,9}))?%/y;

/**
 * The value's pieces. As in Envoy, `%%` is a literal percent sign; a `%` that starts no operator
 * is kept as text (Envoy would refuse the configuration).
 */
export function splitHeaderValue(text: string): ValuePiece[] {
  const out: ValuePiece[] = [];
  let literal = '';
  let i = 0;
  while (i < text.length) {
    const p = text.indexOf('%', i);
    if (p < 0) {
      literal += text.slice(i);
      break;
    }
    literal += text.slice(i, p);
    if (text.charCodeAt(p + 1) === 0x25) {
      literal += '%';
      i = p + 2;
      continue;
    }
    OPERATOR_RE.lastIndex = p;
    const m = OPERATOR_RE.exec(text);
    if (m === null) {
      literal += '%';
      i = p + 1;
      continue;
    }
    if (literal !== '') out.push(literal);
    literal = '';
    out.push({ text: m[0], name: m[1] as string, arg: m[2], maxLength: m[3] === undefined ? undefined : Number(m[3]) });
    i = p + m[0].length;
  }
  if (literal !== '') out.push(literal);
  return out;
}

/** Operators without an argument that Portico fills in. */
const PLAIN: ReadonlySet<string> = new Set([
  'DOWNSTREAM_REMOTE_ADDRESS', 'DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT', 'DOWNSTREAM_REMOTE_PORT',
  'DOWNSTREAM_DIRECT_REMOTE_ADDRESS', 'DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT', 'DOWNSTREAM_DIRECT_REMOTE_PORT',
  'DOWNSTREAM_LOCAL_ADDRESS', 'DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT', 'DOWNSTREAM_LOCAL_PORT',
  'PROTOCOL', 'HOSTNAME', 'REQUESTED_SERVER_NAME', 'DOWNSTREAM_TLS_VERSION', 'DOWNSTREAM_TLS_CIPHER',
  'DOWNSTREAM_PEER_SUBJECT', 'DOWNSTREAM_PEER_ISSUER', 'DOWNSTREAM_PEER_URI_SAN', 'DOWNSTREAM_PEER_DNS_SAN',
  'DOWNSTREAM_PEER_FINGERPRINT_256', 'DOWNSTREAM_PEER_SERIAL',
  // Empty in request headers, as in Envoy: the upstream is chosen after they are made.
  'UPSTREAM_REMOTE_ADDRESS', 'UPSTREAM_REMOTE_ADDRESS_WITHOUT_PORT', 'UPSTREAM_REMOTE_PORT',
]);

/** A header name REQ() and RESP() may read (a pseudo-header such as :path included). */
const HEADER_NAME = /^:?[!#$&'*+.^_`|~0-9A-Za-z-]+$/;

/** REQ(name) or REQ(name?alternative): the header names, lower-cased; undefined when malformed. */
export function headerNames(arg: string | undefined): readonly [string, string | undefined] | undefined {
  if (arg === undefined) return undefined;
  const parts = arg.split('?');
  if (parts.length > 2 || !parts.every((p) => HEADER_NAME.test(p))) return undefined;
  return [(parts[0] as string).toLowerCase(), parts[1]?.toLowerCase()];
}

/** Whether Portico fills this operator in (in request headers and response headers alike). */
export function isFilledIn(op: HeaderOperator): boolean {
  if (PLAIN.has(op.name)) return op.arg === undefined;
  switch (op.name) {
    case 'REQ':
    case 'RESP':
      return headerNames(op.arg) !== undefined;
    case 'START_TIME':
      return op.arg === undefined || parseTimeFormat(op.arg) !== undefined;
    default:
      return false;
  }
}

// ── START_TIME(format) ──

/**
 * A strftime-style format as Envoy takes it for START_TIME (in UTC): literal text and specifiers.
 * A specifier is the letter(s) after %: "Y", "m", ..., "s" (seconds since the epoch), "3f" (3
 * fractional digits; "f" alone is 9), "E3S" (seconds with 3 fractional digits).
 */
export type TimeFormat = readonly (string | { readonly spec: string })[];

/** Envoy's format when START_TIME has none: 2024-01-02T03:04:05.678Z. */
export const DEFAULT_TIME_FORMAT = '%Y-%m-%dT%H:%M:%E3SZ';

const TIME_SPECIFIERS: ReadonlySet<string> = new Set([
  'Y', 'y', 'C', 'm', 'd', 'e', 'H', 'I', 'M', 'S', 'p', 'j', 'a', 'A', 'b', 'h', 'B', 'z', 'Ez', 'Z', 's', 'T', 'D', 'F', 'R', 'u', 'w',
]);

/** The format's pieces; undefined when it holds a specifier Portico does not format. */
export function parseTimeFormat(format: string): TimeFormat | undefined {
  const out: (string | { spec: string })[] = [];
  let literal = '';
  for (let i = 0; i < format.length; i++) {
    const c = format[i] as string;
    if (c !== '%') {
      literal += c;
      continue;
    }
    const rest = format.slice(i + 1);
    if (rest.startsWith('%')) {
      literal += '%';
      i++;
      continue;
    }
    const m = /^(?:[1-9]?f|E[0-9]S|Ez|[A-Za-z])/.exec(rest);
    if (m === null || !(TIME_SPECIFIERS.has(m[0]) || /^(?:[1-9]?f|E[0-9]S)$/.test(m[0]))) return undefined;
    if (literal !== '') out.push(literal);
    literal = '';
    out.push({ spec: m[0] });
    i += m[0].length;
  }
  if (literal !== '') out.push(literal);
  return out;
}
