// An Ingress of class ambassador read as Emissary reads it: each path of each rule a Mapping, the
// default backend a Mapping for "/", each host of each `tls` entry a Host with that secret. The
// resources made here are decoded like any other (decode.ts), with their origin in the Ingress.

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const text = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/** The label that ties an Ingress's Mappings to the Hosts made from its `tls` (Emissary's name for it). */
export const INGRESS_LABEL = 'a10r-k8s-ingress';
const CLASS_ANNOTATION = 'kubernetes.io/ingress.class';
const ID_ANNOTATION = 'getambassador.io/ambassador-id';
/** The IngressClass Emissary's Helm chart creates (controller getambassador.io/ingress-controller). */
const CLASS_NAME = 'ambassador';

/** One resource made from an Ingress, and the part of the Ingress it stands for (for its origin). */
export interface IngressPart {
  readonly kind: 'Mapping' | 'Host';
  readonly value: Obj;
  readonly from: object;
}

/** A part of the Ingress that makes no resource, and why. */
export interface IngressSkip {
  readonly message: string;
  readonly from: object;
  readonly field: string;
}

/** An Ingress Emissary would serve: of class "ambassador" by ingressClassName or the older annotation. */
export function isAmbassadorIngress(value: Obj): boolean {
  const spec = value.spec;
  const metadata = value.metadata;
  const annotations = isObj(metadata) && isObj(metadata.annotations) ? metadata.annotations : undefined;
  const annotated = typeof annotations?.[CLASS_ANNOTATION] === 'string' && (annotations[CLASS_ANNOTATION] as string).toLowerCase() === CLASS_NAME;
  return (isObj(spec) && spec.ingressClassName === CLASS_NAME) || annotated;
}

/** A backend's service as Emissary writes it, `name.namespace:port`, or why there is none. */
function backendService(backend: unknown, namespace: string): string | { skip: string } | undefined {
  if (!isObj(backend)) return undefined;
  // networking.k8s.io/v1: service.name and service.port.number (or .name)
  if (isObj(backend.service)) {
    const name = text(backend.service.name);
    const port = isObj(backend.service.port) ? backend.service.port : undefined;
    if (name === undefined) return { skip: 'backend.service has no name' };
    if (typeof port?.number === 'number') return `${name}.${namespace}:${port.number}`;
    if (text(port?.name) !== undefined) {
      return { skip: `backend port "${port!.name as string}" is named; Portico does not read Service objects to find its number, so write the port's number` };
    }
    return { skip: 'backend.service has no port' };
  }
  if (backend.resource !== undefined) return { skip: 'a backend resource (not a Service) is not served by Emissary either' };
  // extensions/v1beta1 and networking.k8s.io/v1beta1: serviceName and servicePort
  const name = text(backend.serviceName);
  const port = backend.servicePort;
  if (name === undefined && port === undefined) return undefined;
  if (name === undefined) return { skip: 'backend has no serviceName' };
  if (typeof port === 'number' || (typeof port === 'string' && /^[0-9]+$/.test(port))) return `${name}.${namespace}:${port}`;
  if (typeof port === 'string' && port !== '') {
    return { skip: `backend servicePort "${port}" is named; Portico does not read Service objects to find its number, so write the port's number` };
  }
  return { skip: 'backend has no servicePort' };
}

/** An Ingress host `*.example.com`: one DNS label in front, as Ingress means it (Emissary's host regex). */
function wildcardHostRegex(host: string): string {
  return `^[a-z0-9]([-a-z0-9]*[a-z0-9])?${host.slice(1).replace(/\./g, '\\.')}$`;
}

/**
 * The resources an Ingress stands for. `namespace` is the Ingress's own (or the load's default);
 * the Mappings' services are qualified with it, as Emissary does.
 */
export function ingressParts(ingress: Obj, namespace: string): { parts: IngressPart[]; skipped: IngressSkip[] } {
  const parts: IngressPart[] = [];
  const skipped: IngressSkip[] = [];
  const metadata = isObj(ingress.metadata) ? ingress.metadata : {};
  const spec = isObj(ingress.spec) ? ingress.spec : {};
  const name = text(metadata.name) ?? 'ingress';
  const labels: Record<string, string> = {};
  if (isObj(metadata.labels)) for (const [k, v] of Object.entries(metadata.labels)) if (typeof v === 'string') labels[k] = v;
  const annotations = isObj(metadata.annotations) ? metadata.annotations : {};
  const ids = text(annotations[ID_ANNOTATION]);
  const ambassadorId = ids !== undefined ? ids.split(',').map((s) => s.trim()).filter((s) => s !== '') : undefined;
  const withId = (s: Obj): Obj => (ambassadorId !== undefined ? { ...s, ambassador_id: ambassadorId } : s);

  // TLS: a Host per host name, holding the secret; the Ingress's Mappings without a host attach to them.
  let ingressId: string | undefined;
  list(spec.tls).forEach((t, ti) => {
    if (!isObj(t)) return;
    ingressId = `a10r-ingress-${name}-${namespace}`;
    const secret = text(t.secretName);
    if (secret === undefined) return;
    const hosts = Array.isArray(t.hosts) && t.hosts.length > 0 ? t.hosts : ['*'];
    hosts.forEach((h, hi) => {
      if (typeof h !== 'string' || h === '') return;
      parts.push({
        kind: 'Host',
        from: t,
        value: {
          apiVersion: 'getambassador.io/v3alpha1',
          kind: 'Host',
          metadata: { name: `${name}-${ti}-${hi}`, namespace, labels },
          spec: withId({
            hostname: h,
            acmeProvider: { authority: 'none' },
            tlsSecret: { name: secret },
            mappingSelector: { matchLabels: { [INGRESS_LABEL]: ingressId } },
            requestPolicy: { insecure: { action: 'Route' } },
          }),
        },
      });
    });
  });
  const mappingLabels = ingressId !== undefined ? { ...labels, [INGRESS_LABEL]: ingressId } : labels;

  const defaultBackend = spec.defaultBackend ?? spec.backend;
  const fallback = backendService(defaultBackend, namespace);
  if (typeof fallback === 'string') {
    parts.push({
      kind: 'Mapping',
      from: defaultBackend as object,
      value: {
        apiVersion: 'getambassador.io/v3alpha1',
        kind: 'Mapping',
        metadata: { name: `${name}-default-backend`, namespace, labels: mappingLabels },
        spec: withId({ hostname: '*', prefix: '/', service: fallback }),
      },
    });
  } else if (fallback !== undefined) {
    skipped.push({ message: `the default backend is not served: ${fallback.skip}`, from: defaultBackend as object, field: spec.defaultBackend !== undefined ? 'spec.defaultBackend' : 'spec.backend' });
  }

  list(spec.rules).forEach((rule, ri) => {
    if (!isObj(rule)) return;
    const host = text(rule.host);
    const http = isObj(rule.http) ? rule.http : {};
    list(http.paths).forEach((p, pi) => {
      if (!isObj(p)) return;
      const service = backendService(p.backend, namespace);
      const field = `spec.rules[${ri}].http.paths[${pi}]`;
      if (service === undefined || typeof service !== 'string') {
        skipped.push({ message: `${field} is not served: ${service?.skip ?? 'it has no backend'}`, from: p, field: `${field}.backend` });
        return;
      }
      const exact = p.pathType === 'Exact';
      const m: Obj = {
        prefix: text(p.path) ?? '/',
        prefix_exact: exact,
        // exact paths before prefixes, as Emissary orders them
        precedence: exact ? 1 : 0,
        service,
      };
      if (host !== undefined && host.startsWith('*.')) {
        m.host = wildcardHostRegex(host);
        m.host_regex = true;
      } else if (host !== undefined) m.hostname = host;
      else if (ingressId === undefined) m.hostname = '*';
      parts.push({
        kind: 'Mapping',
        from: p,
        value: {
          apiVersion: 'getambassador.io/v3alpha1',
          kind: 'Mapping',
          metadata: { name: `${name}-${ri}-${pi}`, namespace, labels: mappingLabels },
          spec: withId(m),
        },
      });
    });
  });
  return { parts, skipped };
}
