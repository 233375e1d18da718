// `portico manifests`: the objects a cluster needs to run Portico, as a person would apply them —
// the Deployment's probes and termination match the admin API and the drain, the container's
// arguments are ones `serve` accepts, and RBAC grants exactly what the source reads and writes.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { parseServeArgs } from '../../src/cli/serve-options.js';

type Obj = Record<string, any>;

const bin = join(fileURLToPath(new URL('../../../', import.meta.url)), 'bin/portico.js');

function manifests(args: string[]): Obj[] {
  const r = spawnSync(process.execPath, [bin, 'manifests', ...args], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return parseAllDocuments(r.stdout).map((d) => d.toJS() as Obj);
}

function one(objs: Obj[], kind: string): Obj {
  const found = objs.filter((o) => o.kind === kind);
  assert.equal(found.length, 1, kind);
  return found[0]!;
}

describe('portico manifests', () => {
  const objs = manifests(['--kubernetes', 'ops=portico-system', '--source', 'edge=https://git.example.com/edge.git#main:deploy', '--watch-namespace', 'shop', '--watch-namespace', 'search', '--drain-timeout', '30000', '--replicas', '3']);

  it('prints a Deployment whose probes, termination and arguments fit serve', () => {
    const dep = one(objs, 'Deployment');
    assert.equal(dep.spec.replicas, 3);
    const pod = dep.spec.template.spec;
    const c = pod.containers[0];
    const admin = c.ports.find((p: Obj) => p.name === 'admin');
    assert.deepEqual(c.readinessProbe.httpGet, { path: '/readyz', port: 'admin' });
    assert.deepEqual(c.livenessProbe.httpGet, { path: '/healthz', port: 'admin' });
    // The kubelet waits for the pre-stop pause plus the whole drain before it kills the process.
    const preStop = Number(c.lifecycle.preStop.exec.command[1]);
    assert.ok(pod.terminationGracePeriodSeconds >= preStop + 30, `${pod.terminationGracePeriodSeconds}s covers ${preStop}s + the 30 s drain`);
    assert.equal(c.args[0], 'serve');
    // The container's environment as the kubelet fills it in a pod portico-abc of namespace portico.
    const fields: Record<string, string> = { 'metadata.name': 'portico-abc', 'metadata.namespace': 'portico' };
    const env = Object.fromEntries((c.env as Obj[]).map((e) => [e.name, (e.value as string | undefined) ?? fields[(e.valueFrom as { fieldRef: { fieldPath: string } }).fieldRef.fieldPath]!])) as Record<string, string> & { POD_NAME: string; POD_NAMESPACE: string };
    const argv = (c.args as string[]).slice(1).map((a) => a.replace('$(POD_NAME)', env.POD_NAME).replace('$(POD_NAMESPACE)', env.POD_NAMESPACE));
    const parsed = parseServeArgs(argv, env, '/');
    assert.equal(parsed.serve.admin.port, admin.containerPort, 'the admin API listens where the probes look');
    assert.equal(parsed.serve.admin.host, '0.0.0.0');
    assert.equal(parsed.serve.drainTimeoutMs, 30000);
    assert.deepEqual(parsed.sources.roots.map((r) => [r.spec.name, r.kind]), [['edge', 'git'], ['ops', 'kubernetes']]);
    assert.deepEqual(parsed.sources.kubernetes?.lease, { namespace: 'portico', name: 'portico-status-writer' });
    assert.equal(parsed.sources.kubernetes?.identity, 'portico-abc');
    assert.equal(parsed.sources.ambassadorNamespace, 'portico', "bare service names resolve in the pod's namespace: that is Portico's own");
    assert.deepEqual(c.securityContext.capabilities.drop, ['ALL']);
    assert.equal(c.securityContext.readOnlyRootFilesystem, true);
  });

  it('prints a Service, a PodDisruptionBudget and an autoscaler for the same pods', () => {
    const labels = one(objs, 'Deployment').spec.template.metadata.labels;
    assert.deepEqual(one(objs, 'Service').spec.selector, labels);
    assert.deepEqual(one(objs, 'Service').spec.ports.map((p: Obj) => [p.port, p.targetPort]), [[80, 'http'], [443, 'https']]);
    assert.deepEqual(one(objs, 'PodDisruptionBudget').spec, { maxUnavailable: 1, selector: { matchLabels: labels } });
    const hpa = one(objs, 'HorizontalPodAutoscaler');
    assert.equal(hpa.apiVersion, 'autoscaling/v2');
    assert.deepEqual([hpa.spec.scaleTargetRef.kind, hpa.spec.scaleTargetRef.name, hpa.spec.minReplicas, hpa.spec.maxReplicas], ['Deployment', 'portico', 3, 15]);
  });

  it('grants only what the source reads and writes: list/watch of its kinds, TLS Secrets and Ingresses, patch of status (Ingresses\' too), the one Lease, its own Services', () => {
    const roles = objs.filter((o) => o.kind === 'Role' || o.kind === 'ClusterRole');
    assert.equal(objs.filter((o) => o.kind === 'ClusterRole').length, 0, 'namespaces given: no cluster-wide grant');
    const sourceRoles = roles.filter((r) => r.metadata.name === 'portico-source');
    assert.deepEqual(sourceRoles.map((r) => r.metadata.namespace).sort(), ['search', 'shop']);
    for (const r of sourceRoles) {
      for (const rule of r.rules) {
        assert.ok(!rule.verbs.includes('*') && !rule.resources.includes('*'), 'no wildcards');
        if (rule.resources.every((x: string) => x.endsWith('/status'))) assert.deepEqual(rule.verbs, ['patch']);
        else assert.deepEqual(rule.verbs, ['list', 'watch']);
      }
      const read = r.rules.filter((x: Obj) => x.verbs.includes('list')).flatMap((x: Obj) => x.resources);
      assert.deepEqual(read.sort(), ['authservices', 'filterpolicies', 'filters', 'hosts', 'ingresses', 'listeners', 'mappings', 'modules', 'ratelimits', 'ratelimitservices', 'resolvers', 'secrets', 'sources', 'tcpmappings', 'tlscontexts', 'tracingservices']);
    }
    const lease = roles.find((r) => r.metadata.name === 'portico-lease')!;
    assert.equal(lease.metadata.namespace, 'portico');
    assert.deepEqual(lease.rules, [
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], resourceNames: ['portico-status-writer'], verbs: ['get', 'update'] },
      { apiGroups: [''], resources: ['services'], verbs: ['list', 'watch'] },
    ]);
    for (const r of sourceRoles) assert.ok(r.rules.some((x: Obj) => x.apiGroups[0] === 'networking.k8s.io' && x.resources.includes('ingresses/status') && x.verbs.join() === 'patch'), 'the status of the Ingresses served');
    assert.equal(one(objs, 'Service').metadata.labels['app.kubernetes.io/component'], 'ambassador-service', 'the label the status writer finds its Service by, as in Emissary');
    const bindings = objs.filter((o) => o.kind === 'RoleBinding');
    assert.ok(bindings.every((b) => b.subjects[0].name === one(objs, 'ServiceAccount').metadata.name));
  });

  it('without --watch-namespace, reads every namespace through a ClusterRole', () => {
    const all = manifests(['--kubernetes', 'ops=portico-system']);
    assert.equal(one(all, 'ClusterRole').metadata.name, 'portico-source');
    assert.equal(one(all, 'ClusterRoleBinding').roleRef.name, 'portico-source');
  });

  it('refuses a local path as a source: the pod could not read it', () => {
    for (const local of ['ops=/home/me/edge', 'ops=file:///home/me/edge']) {
      const r = spawnSync(process.execPath, [bin, 'manifests', '--source', local], { encoding: 'utf8' });
      assert.equal(r.status, 2, local);
      assert.match(r.stderr, /give a URL the pod can fetch/);
    }
  });

  it('refuses the sources serve refuses, with serve\'s words: the pod would never start', () => {
    const cases: [string[], RegExp][] = [
      [['--source', 'ops=https://git.example.com/y.git', '--source', 'ops=https://git.example.com/z.git'], /two sources are named 'ops'/],
      [['--source', 'ops=https://git.example.com/y.git', '--kubernetes', 'ops=portico-system'], /two sources are named 'ops'/],
      [['--source', 'ops=https://…'], /source URL 'https:\/\/…' has no valid host name/],
      [['--kubernetes', 'ops=Portico_System'], /'Portico_System' is not a namespace name/],
    ];
    for (const [args, message] of cases) {
      const r = spawnSync(process.execPath, [bin, 'manifests', ...args], { encoding: 'utf8' });
      assert.equal(r.status, 2, args.join(' '));
      assert.equal(r.stdout, '', 'no Deployment is printed');
      const line = r.stderr.split('\n')[0]!;
      assert.match(line, message);
      assert.throws(() => parseServeArgs(args, {}, '/'), (e: unknown) => line === `portico manifests: ${(e as Error).message}`, 'serve refuses them the same way');
    }
  });
});
