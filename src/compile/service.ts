// Parses Emissary's `service` string ([scheme://]name[.namespace][:port][/ignored]) and names clusters
// the way Emissary does (cluster_<service>_<namespace>), so route tables read the same.

export interface ParsedService {
  readonly scheme: 'http' | 'https';
  readonly host: string;
  readonly port: number;
  /** Was the port given explicitly? */
  readonly explicitPort: boolean;
  readonly isIP: boolean;
}

const HOST_RE = /^(?:[a-z0-9](?:[a-z0-9_-]{0,61}[a-z0-9])?)(?:\.(?:[a-z0-9](?:[a-z0-9_-]{0,61}[a-z0-9])?))*$/i;
const IPV4_RE = /^(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

export function parseService(raw: string, forceTLS = false): ParsedService | string {
  let s = raw.trim();
  if (s === '') return 'service is empty';
  let scheme: 'http' | 'https' = forceTLS ? 'https' : 'http';
  const m = /^([a-z][a-z0-9+.-]*):\/\//i.exec(s);
  if (m) {
    const sc = m[1]!.toLowerCase();
    if (sc !== 'http' && sc !== 'https') return `unsupported scheme '${sc}' in service (use http:// or https://)`;
    scheme = sc;
    s = s.slice(m[0].length);
  }
  // Emissary parses the service as a URL and uses only its host and port: a path, query or
  // fragment is ignored (the loader warns, ServicePathIgnored).
  s = withoutPath(s);
  let host: string;
  let portStr: string | undefined;
  if (s.startsWith('[')) {
    const end = s.indexOf(']');
    if (end < 0) return `service '${raw}' has an unterminated IPv6 literal`;
    host = s.slice(1, end);
    const rest = s.slice(end + 1);
    if (rest !== '' && !rest.startsWith(':')) return `service '${raw}' is malformed`;
    portStr = rest ? rest.slice(1) : undefined;
  } else {
    const i = s.lastIndexOf(':');
    if (i >= 0) {
      host = s.slice(0, i);
      portStr = s.slice(i + 1);
    } else host = s;
  }
  let port = scheme === 'https' ? 443 : 80;
  if (portStr !== undefined) {
    if (!/^\d{1,5}$/.test(portStr)) return `service '${raw}' has an invalid port '${portStr}'`;
    port = Number(portStr);
    if (port < 1 || port > 65535) return `service '${raw}' has a port out of range`;
  }
  const isIP = IPV4_RE.test(host) || host.includes(':');
  if (!isIP && !HOST_RE.test(host)) return `service '${raw}' has an invalid host name '${host}'`;
  return { scheme, host: host.toLowerCase(), port, explicitPort: portStr !== undefined, isIP };
}

/**
 * Whether Emissary takes a service's host as naming its namespace already: a dot (`quote.shop`, a
 * domain, an IPv4 address), a colon (an IPv6 address) or `localhost`.
 */
export function isQualifiedHost(host: string): boolean {
  return host.includes('.') || host.includes(':') || host.toLowerCase() === 'localhost';
}

/**
 * `raw` with `.NAMESPACE` after a bare host, as Emissary rewrites a Mapping's service
 * (`http://quote:8080` → `http://quote.shop:8080`): scheme, port and an ignored path stay as written.
 * A qualified host, or a service parseService refuses, comes back unchanged (its problem is then
 * reported on what the user wrote).
 */
export function qualifiedService(raw: string, namespace: string): string {
  const p = parseService(raw);
  if (typeof p === 'string' || isQualifiedHost(p.host)) return raw;
  const s = raw.trim();
  const start = /^[a-z][a-z0-9+.-]*:\/\//i.exec(s)?.[0].length ?? 0;
  // parseService accepted it and its host has no colon: the host ends at the port or the path.
  const cut = s.slice(start).search(/[:/?#]/);
  const end = cut < 0 ? s.length : start + cut;
  return `${s.slice(0, end)}.${namespace}${s.slice(end)}`;
}

/** The service's authority: what precedes the first "/", "?" or "#". */
function withoutPath(s: string): string {
  const cut = s.search(/[/?#]/);
  return cut < 0 ? s : s.slice(0, cut);
}

export function clusterBaseName(service: string, namespace: string): string {
  const clean = withoutPath(service.trim().replace(/^[a-z]+:\/\//i, '')).replace(/[^A-Za-z0-9]+/g, '_').replace(/^_+|_+$/g, '');
  return `cluster_${clean}_${namespace.replace(/[^A-Za-z0-9]+/g, '_')}`;
}

/** Parses Envoy/Emissary durations: "1s", "500ms", "0.5s", "1m", "2h", "3us". Returns ms or an error string. */
export function parseDurationMs(raw: string | number): number | string {
  if (typeof raw === 'number') return raw < 0 ? 'duration must not be negative' : raw * 1000;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|us|ns)$/.exec(raw.trim());
  if (!m) return `invalid duration '${raw}' (use e.g. "500ms", "1.5s", "1m")`;
  const n = Number(m[1]);
  const unit = m[2];
  const factor = unit === 'ms' ? 1 : unit === 's' ? 1000 : unit === 'm' ? 60000 : unit === 'h' ? 3600000 : unit === 'us' ? 0.001 : 0.000001;
  return Math.round(n * factor);
}
