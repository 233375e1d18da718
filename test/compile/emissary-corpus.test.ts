// Emissary's own test data and documentation examples (test/testdata/emissary, copied with their
// notices): hostsem cases compile to the routes Emissary renders, and no file of the corpus gives an
// error that Emissary (or Kubernetes in front of it) would not also give, but the refusals of
// protections Portico does not enforce.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { loadFiles, loadPaths } from '../../src/load/index.js';
import { compile } from '../../src/compile/index.js';
import { routeTable } from '../../src/ir/route-table.js';
import type { Problem } from '../../src/api/problems.js';

const corpus = fileURLToPath(new URL('../../../test/testdata/emissary/', import.meta.url));

interface ExpectedRoute {
  scheme: string;
  host: string;
  path: string;
  action: string;
  action_arg: string;
}

function expectedRoutes(file: string): string[] {
  const listeners = JSON.parse(readFileSync(file, 'utf8')) as { chains: { vhosts: { routes: ExpectedRoute[] }[] }[] }[];
  const out = new Set<string>();
  for (const l of listeners)
    for (const c of l.chains)
      for (const v of c.vhosts)
        for (const r of v.routes) {
          if (r.path.startsWith('/ambassador/v0/')) continue; // Emissary's own diagnostics and probes
          out.add([r.scheme, r.host, r.path, r.action, r.action === 'ROUTE' ? r.action_arg.trim() : 'HTTPS'].join(' '));
        }
  return [...out].sort();
}

for (const name of readdirSync(join(corpus, 'hostsem')).filter((f) => f.endsWith('.yaml')).sort()) {
  test(`hostsem ${name}: routes match Emissary's expected scheme/host/path/action/target`, async () => {
    const loaded = await loadPaths([join(corpus, 'hostsem', name)]);
    const r = compile(loaded.resources, {}, loaded.problems);
    assert.equal(r.report.errors, 0, JSON.stringify(r.report.problems));
    const got = new Set<string>();
    for (const row of routeTable(r.ir)) {
      if (row.action.type !== 'route') continue;
      const path = row.match.prefix ?? row.match.path ?? row.match.regex ?? '';
      const cluster = row.action.upstreams[0]!.cluster;
      if (row.schemes.https) got.add(['https', row.virtualHost.hostname, path, 'ROUTE', cluster].join(' '));
      if (row.schemes.http === 'route') got.add(['implicit-http', row.virtualHost.hostname, path, 'ROUTE', cluster].join(' '));
      if (row.schemes.http === 'redirect') got.add(['implicit-http', row.virtualHost.hostname, path, 'REDIRECT', 'HTTPS'].join(' '));
    }
    assert.deepEqual([...got].sort(), expectedRoutes(join(corpus, 'hostsem', name.replace(/\.yaml$/, '-expected.json'))));
  });
}

for (const name of readdirSync(join(corpus, 'e2e')).sort()) {
  test(`e2e fixture ${name}: manifests load and compile with no error under its ambassador_id`, async () => {
    const loaded = await loadPaths([join(corpus, 'e2e', name, 'manifests.yaml')], { ambassadorId: "(env('SLOT'))" });
    const r = compile(loaded.resources, { ambassadorId: "(env('SLOT'))" }, loaded.problems);
    // A service that is a chainsaw expression is rendered by the e2e harness before Emissary sees it.
    const rendered = (p: { code: string; message: string }): boolean => p.code === 'InvalidService' && /\(join\(/.test(p.message);
    assert.deepEqual(r.report.problems.filter((p) => p.severity === 'error' && p.code !== 'NotEnforced' && !rendered(p)), []);
    assert.ok(loaded.resources.length > 0, 'the fixture has gateway resources');
    // Non-gateway kinds (Deployment, Service) are skipped with a note, never silently.
    const text = readFileSync(join(corpus, 'e2e', name, 'manifests.yaml'), 'utf8');
    if (/kind: Deployment/.test(text)) assert.ok(r.report.problems.some((p) => p.code === 'NonEmissaryKind'));
  });
}

/**
 * Docs examples that are not YAML as written: a shell line around the YAML, `...` for omitted
 * fields, two documents pasted without `---`. Checked with a second parser (PyYAML 6, duplicate
 * keys refused), which refuses exactly these; so does kubectl.
 */
const NOT_YAML = new Set([
  'howtos.active-health-checking.1.yaml',
  'howtos.cert-manager.1.yaml',
  'howtos.client-cert-validation.2.yaml',
  'howtos.configure-communications.11.yaml',
  'howtos.http3-eks.1.yaml',
  'howtos.http3-eks.2.yaml',
  'howtos.istio.2.yaml',
  'howtos.istio.3.yaml',
  'howtos.linkerd2.1.yaml',
  'howtos.tls-termination.3.yaml',
  'topics.running.listener.2.yaml',
  'topics.running.listener.3.yaml',
  'topics.running.listener.4.yaml',
  'topics.running.services.log-service.1.yaml',
  'topics.using.defaults.1.yaml',
  'topics.using.rate-limits.index.1.yaml',
  'topics.using.rate-limits.index.2.yaml',
  'tutorials.getting-started.1.yaml',
  'tutorials.quickstart-demo.1.yaml',
]);

/** Docs examples with a value of the wrong type for Emissary's CRD schema (pkg/api/getambassador.io/crds.yaml): the API server refuses them. */
const WRONG_TYPE_FOR_THE_CRD: Record<string, string> = {
  'howtos.configure-communications.6.yaml spec.alpn_protocols': 'a list; the CRD says string',
  'howtos.configure-communications.7.yaml spec.alpn_protocols': 'a list; the CRD says string',
  'topics.install.convert-to-v3alpha1.1.yaml spec.tlsSecret': 'a string; the CRD says an object {name}',
  'topics.running.listener.1.yaml spec.hostBinding.selector': '"..." standing for a selector',
  'topics.using.query-parameters.2.yaml spec.query_parameters.quote-mode': 'true; the v3alpha1 CRD says string (v2 allowed a boolean)',
};

/** Why an error is one Emissary would give too (or one Portico gives by design); undefined when none fits. */
const CAUSES: readonly { readonly cause: string; readonly matches: (p: Problem, file: string) => boolean }[] = [
  { cause: 'not YAML as written (a second parser refuses it too)', matches: (p, f) => (p.code === 'YAMLSyntax' || p.code === 'YAMLDuplicateKey') && NOT_YAML.has(f) },
  {
    cause: 'refused by Kubernetes before Emissary sees it (name, kind, apiVersion, Secret data that is not base64, a value of the wrong type for the CRD)',
    matches: (p, f) =>
      ['InvalidName', 'UnknownKind', 'UnknownAPIVersion'].includes(p.code) ||
      (p.code === 'SchemaViolation' && p.resource?.kind === 'Secret' && /^spec\.data\./.test(p.field ?? '')) ||
      (p.code === 'SchemaViolation' && WRONG_TYPE_FOR_THE_CRD[`${f} ${p.field}`] !== undefined),
  },
  {
    cause: 'names a Secret, TLSContext or resolver defined in another file or example',
    // my-resolver is the KubernetesEndpointResolver of topics/running/resolvers.md; consul-dc1 its ConsulResolver.
    matches: (p) => p.code === 'SecretNotFound' || p.code === 'TLSContextNotFound' || (p.code === 'ResolverNotFound' && /'(my-resolver|consul-dc1)'/.test(p.message)),
  },
  { cause: 'one name twice in one file (Kubernetes keeps one object per name)', matches: (p) => p.code === 'DuplicateResource' },
  {
    cause: "deliberately invalid in Emissary's own test data (Emissary refuses it too)",
    matches: (p, f) => f.startsWith('api-versions/') && p.code === 'SchemaViolation' && /^spec\.(redirect_response_code|load_balancer)/.test(p.field ?? ''),
  },
  { cause: 'a protection Portico does not enforce: refused, fail closed (NotEnforced)', matches: (p) => p.code === 'NotEnforced' },
  { cause: 'several TracingServices for one instance (Emissary: "exactly one TracingService is supported")', matches: (p) => p.code === 'TracingServiceConflict' },
  { cause: 'a template placeholder the reader replaces ({{...}})', matches: (p) => p.code === 'InvalidService' && /\{\{/.test(p.message) },
  { cause: "a chainsaw expression the e2e harness renders before Emissary sees it ((join(...)))", matches: (p, f) => f.startsWith('e2e/') && p.code === 'InvalidService' && /\(join\(/.test(p.message) },
  {
    cause: 'a gRPC AuthService without protocol_version: v3 (Emissary 3 reports it and answers every request with 500)',
    matches: (p) => p.code === 'SchemaViolation' && p.resource?.kind === 'AuthService' && /protocol_version: v3/.test(p.message),
  },
  {
    cause: 'several RateLimitServices side by side (Emissary supports one and uses none of them either)',
    matches: (p) => p.code === 'RateLimitServiceConflict',
  },
  {
    cause: 'a RateLimitService without protocol_version v3 (Emissary 3 reads it as v2 and refuses it too)',
    matches: (p) => p.resource?.kind === 'RateLimitService' && p.field === 'spec.protocol_version',
  },
];

/** Every file of the corpus, loaded alone, as the instance(s) it is written for. */
function corpusFiles(): { name: string; text: string; ids: string[] }[] {
  const out: { name: string; text: string; ids: string[] }[] = [];
  for (const f of readdirSync(join(corpus, 'docs')).filter((x) => x.endsWith('.yaml')).sort()) {
    out.push({ name: f, text: readFileSync(join(corpus, 'docs', f), 'utf8'), ids: ['default'] });
  }
  for (const v of ['v1', 'v2', 'v3alpha1']) {
    for (const f of readdirSync(join(corpus, 'api-versions', v)).sort()) {
      out.push({ name: `api-versions/${v}/${f}`, text: readFileSync(join(corpus, 'api-versions', v, f), 'utf8'), ids: ['default', 'consultest'] });
    }
  }
  for (const d of readdirSync(join(corpus, 'e2e')).sort()) {
    out.push({ name: `e2e/${d}/manifests.yaml`, text: readFileSync(join(corpus, 'e2e', d, 'manifests.yaml'), 'utf8'), ids: ["(env('SLOT'))"] });
  }
  for (const f of readdirSync(join(corpus, 'hostsem')).filter((x) => x.endsWith('.yaml')).sort()) {
    out.push({ name: `hostsem/${f}`, text: readFileSync(join(corpus, 'hostsem', f), 'utf8'), ids: ['default'] });
  }
  return out;
}

test('the whole corpus: no error Emissary would not also give, but refused protections; the table by cause', (t) => {
  const files = { clean: 0, warnings: 0, errors: 0 };
  const byCause = new Map<string, Set<string>>();
  const warningCodes = new Map<string, number>();
  const unexplained: string[] = [];
  for (const { name, text, ids } of corpusFiles()) {
    const problems: Problem[] = [];
    for (const ambassadorId of ids) {
      const loaded = loadFiles([{ path: name, content: text }], { ambassadorId });
      problems.push(...compile(loaded.resources, { ambassadorId }, loaded.problems).report.problems);
    }
    const errors = problems.filter((p) => p.severity === 'error');
    files[errors.length > 0 ? 'errors' : problems.length > 0 ? 'warnings' : 'clean']++;
    for (const p of problems) if (p.severity === 'warning') warningCodes.set(p.code, (warningCodes.get(p.code) ?? 0) + 1);
    for (const p of errors) {
      const cause = CAUSES.find((c) => c.matches(p, name))?.cause;
      if (cause === undefined) unexplained.push(`${name}: ${p.code} ${p.field ?? ''} ${p.message}`);
      else byCause.set(cause, (byCause.get(cause) ?? new Set()).add(name));
    }
    // Whatever else, the files a second parser reads as YAML are read as YAML.
    if (!name.includes('/')) assert.equal(problems.some((p) => p.code === 'YAMLSyntax' || p.code === 'YAMLDuplicateKey'), NOT_YAML.has(name), name);
  }
  assert.deepEqual(unexplained, [], 'errors Emissary would not give');
  t.diagnostic(`files: ${files.clean} clean, ${files.warnings} with warnings only, ${files.errors} with errors`);
  for (const [cause, names] of [...byCause].sort((a, b) => b[1].size - a[1].size)) t.diagnostic(`${names.size} files: ${cause}`);
  t.diagnostic(`warnings: ${[...warningCodes].sort((a, b) => b[1] - a[1]).map(([c, n]) => `${c} ${n}`).join(', ')}`);
  assert.ok(files.clean + files.warnings + files.errors >= 200, 'the whole corpus was read');
});

test('topics/running/http3.md: the UDP (HTTP/3) Listener is skipped with a warning; the TCP Listener on the same port is served', () => {
  const name = 'topics.running.http3.1.yaml';
  const loaded = loadFiles([{ path: name, content: readFileSync(join(corpus, 'docs', name), 'utf8') }]);
  const r = compile(loaded.resources, {}, loaded.problems);
  assert.deepEqual(r.report.problems.map((p) => [p.code, p.severity, p.resource?.name]), [['NotImplemented', 'warning', 'emissary-ingress-https-listener-udp']]);
  assert.deepEqual(r.ir.listeners.map((l) => [l.name, l.port]), [['emissary-ingress-https-listener', 8443]]);
});
