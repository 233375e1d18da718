// A request as written on the command line or in a route test ('GET https://api.example.com/x',
// 'name: value' headers), split without WHATWG URL parsing so the path reaches routing as typed.

export interface RequestSpec {
  readonly method: string;
  readonly scheme: 'http' | 'https';
  /** host[:port] as written. */
  readonly authority: string;
  /** Origin-form request target: path plus query, as written. */
  readonly target: string;
  /** Request headers in order (names as written). */
  readonly headers: readonly (readonly [string, string])[];
}

export class RequestSpecError extends Error {
  readonly code = 'PORTICO_ERR_REQUEST_SPEC';
}

const METHOD_RE = /^[A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]{0,31}$/;
const HEADER_NAME_RE = /^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,256}$/;

/** 'https://host[:port]/path?q' → scheme, authority, target. Each refusal says what to change. */
export function splitUrl(url: string): { scheme: 'http' | 'https'; authority: string; target: string } {
  const u = url.trim();
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(u);
  if (!scheme) {
    // A path alone ('/shop/cart') routes nowhere: the host picks the virtual host, the scheme the listener.
    const example = u.startsWith('//') ? `https:${u}` : u.startsWith('/') ? `https://api.example.com${u}` : `https://${u}`;
    throw new RequestSpecError(`'${url}' is not an absolute URL: give the scheme and host, e.g. '${example}'`);
  }
  const s = (scheme[1] as string).toLowerCase();
  if (s !== 'http' && s !== 'https') throw new RequestSpecError(`'${url}': the scheme must be http or https, not '${scheme[1]}'`);
  const m = /^([^/?#\s]*)(.*)$/.exec(u.slice(scheme[0].length)) as RegExpExecArray;
  const authority = m[1] as string;
  const rest = m[2] as string;
  if (authority === '') throw new RequestSpecError(`'${url}' has no host`);
  // No connection is made to port 0 or 99999: refused here rather than explained as if one were.
  const port = /^(?:\[[^\]]*\]|[^:]*):(.*)$/.exec(authority.slice(authority.lastIndexOf('@') + 1))?.[1];
  if (port !== undefined && port !== '' && !(/^[0-9]{1,5}$/.test(port) && Number(port) >= 1 && Number(port) <= 65535)) {
    throw new RequestSpecError(`'${url}': the port must be a number from 1 to 65535, not '${port}'`);
  }
  if (/\s/.test(rest)) throw new RequestSpecError(`'${url}': the path contains whitespace`);
  return { scheme: s, authority, target: rest === '' ? '/' : rest.startsWith('/') ? rest : `/${rest}` };
}

/** 'GET https://api.example.com/orders/42' or just 'https://…' (GET). */
export function parseRequestLine(line: string, headers: readonly (readonly [string, string])[] = []): RequestSpec {
  const parts = line.trim().split(/\s+/);
  let method = 'GET';
  let url: string;
  if (parts.length === 1) url = parts[0] as string;
  else if (parts.length === 2) {
    method = parts[0] as string;
    url = parts[1] as string;
  } else throw new RequestSpecError(`'${line}': expected 'METHOD URL'`);
  return requestSpec(method, url, headers);
}

export function requestSpec(method: string, url: string, headers: readonly (readonly [string, string])[] = []): RequestSpec {
  if (!METHOD_RE.test(method)) throw new RequestSpecError(`'${method}' is not an HTTP method`);
  const u = splitUrl(url);
  for (const [n, v] of headers) {
    if (!HEADER_NAME_RE.test(n)) throw new RequestSpecError(`'${n}' is not a valid header name`);
    if (/[\r\n\0]/.test(v)) throw new RequestSpecError(`header '${n}' has a control character in its value`);
  }
  return { method: method.toUpperCase(), ...u, headers };
}

/** '-H "name: value"' → [name, value]. */
export function parseHeaderArg(h: string): [string, string] {
  const colon = h.indexOf(':');
  if (colon <= 0) throw new RequestSpecError(`header '${h}': expected 'name: value'`);
  const name = h.slice(0, colon).trim();
  if (!HEADER_NAME_RE.test(name)) throw new RequestSpecError(`header '${h}': '${name}' is not a valid header name`);
  return [name, h.slice(colon + 1).trim()];
}
