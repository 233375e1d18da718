// A bare service name is qualified with its Mapping's namespace, as Emissary's normalize_service_name
// does: only outside Portico's own namespace, only for Kubernetes resolvers, not when the Module asks
// for Portico's namespace, and never for a host that already says where it is. Table tests keyed by
// a sentence; each row compiles YAML the way validate and serve do.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { compileYAML, codes } from './compile-support.js';
import { compile, type CompileResult } from '../../src/compile/index.js';
import { CompileMemo } from '../../src/compile/compile-memo.js';
import { loadFiles } from '../../src/load/index.js';
import { canonicalJSON } from '../../src/ir/canonical.js';
import { isQualifiedHost, qualifiedService } from '../../src/compile/service.js';
import type { IRCluster } from '../../src/ir/types.js';

const M = (name: string, namespace: string | undefined, spec: string): string => `apiVersion: getambassador.io/v3alpha1
kind: Mapping
metadata: { name: ${name}${namespace !== undefined ? `, namespace: ${namespace}` : ''} }
spec: { hostname: "*", prefix: /${name}/, ${spec} }
---
`;
const TCP = (name: string, namespace: string, spec: string): string => `apiVersion: getambassador.io/v3alpha1
kind: TCPMapping
metadata: { name: ${name}, namespace: ${namespace} }
spec: { ${spec} }
---
`;
const MODULE = (use: boolean): string => `apiVersion: getambassador.io/v3alpha1
kind: Module
metadata: { name: ambassador, namespace: default }
spec: { config: { use_ambassador_namespace_for_service_resolution: ${use} } }
---
`;
const RESOLVER = `apiVersion: portico.dev/v1alpha1
kind: Resolver
metadata: { name: static, namespace: default }
spec: { services: { billing: ["127.0.0.1:9001"] } }
---
`;

/** The cluster a Mapping's route goes to. */
function clusterOf(r: CompileResult, mapping: string): IRCluster {
  for (const l of r.ir.listeners) {
    for (const v of l.virtualHosts) {
      const route = v.routes.find((x) => x.id.endsWith(`/${mapping}`));
      if (route) return r.ir.clusters.find((c) => c.name === route.backends[0]!.cluster)!;
    }
  }
  throw new Error(`no route for ${mapping}`);
}

/** service, cluster name and endpoint of a Mapping's cluster, one line each. */
function upstream(r: CompileResult, mapping: string): [string, string, string] {
  const c = clusterOf(r, mapping);
  return [c.service, c.name, c.endpoints.map((e) => `${c.scheme}://${e.host.includes(':') ? `[${e.host}]` : e.host}:${e.port}`).join(' ')];
}

describe('a Mapping service in another namespace than Portico’s', () => {
  const rows: Record<string, { yaml: string; options?: { ambassadorNamespace: string }; want: [string, string, string] }> = {
    'in Portico’s own namespace (default) a bare name stays bare': {
      yaml: M('q', 'default', 'service: quote'),
      want: ['quote', 'cluster_quote_default', 'http://quote:80'],
    },
    'in another namespace a bare name gets the Mapping’s namespace': {
      yaml: M('q', 'shop', 'service: quote'),
      want: ['quote.shop', 'cluster_quote_shop_shop', 'http://quote.shop:80'],
    },
    'scheme and port are kept: http://quote:8080 goes to http://quote.shop:8080': {
      yaml: M('q', 'shop', 'service: "http://quote:8080"'),
      want: ['http://quote.shop:8080', 'cluster_quote_shop_8080_shop', 'http://quote.shop:8080'],
    },
    'https:// keeps TLS and its default port 443': {
      yaml: M('q', 'shop', 'service: "https://quote"'),
      want: ['https://quote.shop', 'cluster_quote_shop_shop', 'https://quote.shop:443'],
    },
    'a port alone is kept': {
      yaml: M('q', 'shop', 'service: "quote:9000"'),
      want: ['quote.shop:9000', 'cluster_quote_shop_9000_shop', 'http://quote.shop:9000'],
    },
    'a name with a dot is already qualified (another namespace named explicitly)': {
      yaml: M('q', 'shop', 'service: quote.billing'),
      want: ['quote.billing', 'cluster_quote_billing_shop', 'http://quote.billing:80'],
    },
    'a full cluster domain name is kept': {
      yaml: M('q', 'shop', 'service: "quote.billing.svc.cluster.local:8080"'),
      want: ['quote.billing.svc.cluster.local:8080', 'cluster_quote_billing_svc_cluster_local_8080_shop', 'http://quote.billing.svc.cluster.local:8080'],
    },
    'an IPv4 address is kept': {
      yaml: M('q', 'shop', 'service: "10.0.0.7:8080"'),
      want: ['10.0.0.7:8080', 'cluster_10_0_0_7_8080_shop', 'http://10.0.0.7:8080'],
    },
    'an IPv6 address is kept': {
      yaml: M('q', 'shop', 'service: "[fe80::1]:8080"'),
      want: ['[fe80::1]:8080', 'cluster_fe80_1_8080_shop', 'http://[fe80::1]:8080'],
    },
    'localhost is kept, whatever its case': {
      yaml: M('q', 'shop', 'service: "LocalHost:8080"'),
      want: ['LocalHost:8080', 'cluster_LocalHost_8080_shop', 'http://localhost:8080'],
    },
    'with Portico in namespace shop, a Mapping in shop stays bare': {
      yaml: M('q', 'shop', 'service: quote'),
      options: { ambassadorNamespace: 'shop' },
      want: ['quote', 'cluster_quote_shop', 'http://quote:80'],
    },
    'with Portico in namespace shop, a Mapping in default gets .default': {
      yaml: M('q', 'default', 'service: quote'),
      options: { ambassadorNamespace: 'shop' },
      want: ['quote.default', 'cluster_quote_default_default', 'http://quote.default:80'],
    },
    'a Mapping that names no namespace is in Portico’s, and stays bare': {
      yaml: M('q', undefined, 'service: quote'),
      options: { ambassadorNamespace: 'portico' },
      want: ['quote', 'cluster_quote_portico', 'http://quote:80'],
    },
    'the Module’s use_ambassador_namespace_for_service_resolution: true keeps every name bare': {
      yaml: MODULE(true) + M('q', 'shop', 'service: quote'),
      want: ['quote', 'cluster_quote_shop', 'http://quote:80'],
    },
    'use_ambassador_namespace_for_service_resolution: false is Emissary’s default: qualified': {
      yaml: MODULE(false) + M('q', 'shop', 'service: quote'),
      want: ['quote.shop', 'cluster_quote_shop_shop', 'http://quote.shop:80'],
    },
    'the Kubernetes endpoint resolver qualifies (resolver: kubernetes-endpoint)': {
      yaml: M('q', 'shop', 'service: quote, resolver: kubernetes-endpoint'),
      want: ['quote.shop', 'cluster_quote_shop_shop', 'http://quote.shop:80'],
    },
    'the Kubernetes service resolver named explicitly qualifies (resolver: kubernetes-service)': {
      yaml: M('q', 'shop', 'service: quote, resolver: kubernetes-service'),
      want: ['quote.shop', 'cluster_quote_shop_shop', 'http://quote.shop:80'],
    },
    'a Consul resolver keeps the name: Consul service names have no namespace': {
      yaml: M('q', 'shop', 'service: quote, resolver: consul'),
      want: ['quote', 'cluster_quote_shop', ''],
    },
    'a Portico Resolver keeps the name, and finds its endpoints by it': {
      yaml: RESOLVER + M('q', 'shop', 'service: billing, resolver: static'),
      want: ['billing', 'cluster_billing_shop', 'http://127.0.0.1:9001'],
    },
    'a Portico Resolver that does not list the name leaves it to DNS, unqualified': {
      yaml: RESOLVER + M('q', 'shop', 'service: quote, resolver: static'),
      want: ['quote', 'cluster_quote_shop', 'http://quote:80'],
    },
  };
  for (const [name, row] of Object.entries(rows)) {
    it(name, () => {
      const r = compileYAML(row.yaml, row.options ?? {});
      assert.equal(r.report.errors, 0, JSON.stringify(r.report.problems));
      assert.deepEqual(upstream(r, 'q'), row.want);
    });
  }
});

describe('what else reads the qualified service', () => {
  it('a TCPMapping in another namespace goes to its namespace’s Service, scheme and port kept', () => {
    const r = compileYAML(TCP('pg', 'db', 'port: 5432, service: "postgres:5432"') + TCP('redis', 'default', 'port: 6379, service: "redis:6379"'));
    assert.equal(r.report.errors, 0, JSON.stringify(r.report.problems));
    const byPort = (port: number): IRCluster => r.ir.clusters.find((c) => c.name === r.ir.listeners.find((l) => l.port === port)!.tcpRoutes[0]!.backends[0]!.cluster)!;
    assert.deepEqual([byPort(5432).service, byPort(5432).name, byPort(5432).endpoints], ['postgres.db:5432', 'cluster_postgres_db_5432_db', [{ host: 'postgres.db', port: 5432 }]]);
    assert.deepEqual([byPort(6379).service, byPort(6379).endpoints], ['redis:6379', [{ host: 'redis', port: 6379 }]]);
  });

  it('a TCPMapping keeps its bare name under the Module switch and with a Consul resolver', () => {
    const r = compileYAML(MODULE(true) + TCP('pg', 'db', 'port: 5432, service: "postgres:5432"'));
    assert.equal(r.ir.clusters[0]!.service, 'postgres:5432');
    const c = compileYAML(TCP('pg', 'db', 'port: 5432, service: "postgres:5432", resolver: consul-endpoint'));
    assert.equal(c.ir.clusters[0]!.service, 'postgres:5432');
  });

  it('one service name in two namespaces is two clusters, each in its namespace', () => {
    const r = compileYAML(M('a', 'shop', 'service: quote') + M('b', 'billing', 'service: quote') + M('c', 'default', 'service: quote'));
    assert.deepEqual(['a', 'b', 'c'].map((m) => upstream(r, m)[0]), ['quote.shop', 'quote.billing', 'quote']);
    assert.equal(r.ir.clusters.length, 3);
  });

  it('a Mapping naming the qualified form shares the cluster of one qualified for it', () => {
    const r = compileYAML(M('a', 'shop', 'service: quote') + M('b', 'shop', 'service: quote.shop'));
    assert.deepEqual(upstream(r, 'a'), upstream(r, 'b'));
    assert.equal(r.ir.clusters.length, 1);
  });

  it('health checks, circuit breakers and load balancing are settings of the qualified cluster', () => {
    const r = compileYAML(M('q', 'shop', 'service: quote, circuit_breakers: [{ max_connections: 7 }], load_balancer: { policy: least_request }, health_checks: [{ health_check: { http: { path: /healthz } } }]'));
    const c = clusterOf(r, 'q');
    assert.deepEqual([c.service, c.endpoints[0]!.host, c.circuitBreakers.maxConnections, c.loadBalancer.policy, c.healthChecks?.[0]?.http?.path], ['quote.shop', 'quote.shop', 7, 'least_request', '/healthz']);
  });

  it('a shadow Mapping’s service is qualified like any other', () => {
    const shadow = M('q-shadow', 'ops', 'service: replay, shadow: true').replace('prefix: /q-shadow/', 'prefix: /q/');
    const r = compileYAML(M('q', 'shop', 'service: quote') + shadow);
    const route = r.ir.listeners[0]!.virtualHosts[0]!.routes.find((x) => x.id === 'shop/q')!;
    assert.equal(r.ir.clusters.find((c) => c.name === route.shadow!.cluster)!.service, 'replay.ops');
  });

  it('a host_redirect Mapping’s service is qualified too, as Emissary redirects to it', () => {
    const r = compileYAML(M('r', 'shop', 'service: www, host_redirect: true') + M('s', 'shop', 'service: "https://www.example.com", host_redirect: true'));
    const redirects = r.ir.listeners[0]!.virtualHosts[0]!.routes.map((x) => [x.id, x.redirect?.hostRedirect]).sort();
    assert.deepEqual(redirects, [['shop/r', 'www.shop'], ['shop/s', 'www.example.com']]);
  });

  it('a service Portico refuses is reported as written, not as qualified', () => {
    const r = compileYAML(M('q', 'shop', 'service: "quote:99999"'));
    assert.deepEqual(codes(r), ['InvalidService:q']);
    assert.match(r.report.problems[0]!.message, /service 'quote:99999' has a port out of range/);
  });

  it('a Consul resolver still refuses a dotted name, and never sees a qualified one', () => {
    const r = compileYAML(M('a', 'shop', 'service: quote, resolver: consul') + M('b', 'shop', 'service: quote.shop, resolver: consul'));
    assert.deepEqual(codes(r).filter((c) => c !== 'BuiltinResolver:a'), ['InvalidService:b']);
  });

  it('the Module key is acted on, so no longer reported as not implemented', () => {
    const r = compileYAML(MODULE(true));
    assert.deepEqual(r.report.problems.filter((p) => p.code === 'NotImplemented'), []);
  });

  it('objects in a Service annotation inherit the Service’s namespace, and are qualified with it', () => {
    const r = compileYAML(`apiVersion: v1
kind: Service
metadata:
  name: quote
  namespace: shop
  annotations:
    getambassador.io/config: |
      apiVersion: getambassador.io/v3alpha1
      kind: Mapping
      name: q
      hostname: "*"
      prefix: /q/
      service: quote
`);
    assert.deepEqual(upstream(r, 'q'), ['quote.shop', 'cluster_quote_shop_shop', 'http://quote.shop:80']);
  });
});

describe('determinism', () => {
  const yaml = M('a', 'shop', 'service: quote') + M('b', undefined, 'service: quote') + M('c', 'billing', 'service: "http://ledger:8080"') + TCP('pg', 'db', 'port: 5432, service: "postgres:5432"');
  const compileIn = (ns: string | undefined, memo?: CompileMemo): CompileResult => {
    const opts = ns !== undefined ? { ambassadorNamespace: ns } : {};
    const loaded = loadFiles([{ path: 'policy.yaml', content: yaml }], opts);
    return compile(loaded.resources, { ...opts, ...(memo ? { memo } : {}) }, loaded.problems);
  };

  it('the same inputs give the same IR, byte for byte', () => {
    assert.equal(canonicalJSON(compileIn('portico').ir), canonicalJSON(compileIn('portico').ir));
  });

  it('a memo kept across a change of Portico’s namespace gives what a fresh compile gives', () => {
    const memo = new CompileMemo();
    for (const ns of [undefined, 'portico', 'shop', undefined]) {
      assert.equal(canonicalJSON(compileIn(ns, memo).ir), canonicalJSON(compileIn(ns).ir), `namespace ${ns ?? 'default'}`);
    }
    // The Module switch is an input of every plan too.
    const loaded = loadFiles([{ path: 'policy.yaml', content: yaml }]);
    const withModule = loadFiles([{ path: 'module.yaml', content: MODULE(true) }]);
    const fresh = compile([...loaded.resources, ...withModule.resources]);
    const kept = compile([...loaded.resources, ...withModule.resources], { memo });
    assert.equal(canonicalJSON(kept.ir), canonicalJSON(fresh.ir));
    assert.ok(kept.ir.clusters.every((c) => !c.service.includes('.shop')));
  });
});

describe('qualifiedService and isQualifiedHost (Emissary’s own cases, test_qualify_service.py)', () => {
  const rows: [string, string, string][] = [
    ['backoffice', 'otherns', 'backoffice.otherns'],
    ['backoffice.otherns', 'otherns', 'backoffice.otherns'],
    ['backoffice:80', 'otherns', 'backoffice.otherns:80'],
    ['backoffice.otherns:80', 'otherns', 'backoffice.otherns:80'],
    ['[fe80::e022:9cff:fecc:c7c4]', 'other', '[fe80::e022:9cff:fecc:c7c4]'],
    ['https://[fe80::e022:9cff:fecc:c7c4]:443', 'other', 'https://[fe80::e022:9cff:fecc:c7c4]:443'],
    ['http://backoffice', 'otherns', 'http://backoffice.otherns'],
    ['http://backoffice:80', 'otherns', 'http://backoffice.otherns:80'],
    ['http://backoffice.otherns:80', 'otherns', 'http://backoffice.otherns:80'],
    ['localhost:8080', 'otherns', 'localhost:8080'],
    ['127.0.0.1:8080', 'otherns', '127.0.0.1:8080'],
    // A path is ignored by the parse (and warned by the loader); it stays where it was.
    ['http://backoffice:80/api', 'otherns', 'http://backoffice.otherns:80/api'],
    [' backoffice ', 'otherns', 'backoffice.otherns'],
    // What parseService refuses comes back as written, for its error to name.
    ['backoffice:notaport', 'otherns', 'backoffice:notaport'],
    ['ftp://backoffice', 'otherns', 'ftp://backoffice'],
  ];
  for (const [raw, ns, want] of rows) {
    it(`${JSON.stringify(raw)} in ${ns} → ${JSON.stringify(want)}`, () => assert.equal(qualifiedService(raw, ns), want));
  }
  it('a host is qualified when it has a dot or a colon, or is localhost', () => {
    assert.deepEqual(['quote', 'quote.shop', '10.0.0.1', 'fe80::1', 'localhost', 'LOCALHOST', 'localhost2'].map(isQualifiedHost), [false, true, true, true, true, true, false]);
  });
});
