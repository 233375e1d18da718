// `portico manifests`: prints what runs Portico in a Kubernetes cluster (ServiceAccount, RBAC, Deployment,
// Service, PodDisruptionBudget, HorizontalPodAutoscaler) for the sources given, ready for kubectl apply.

import { writeFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { manifests, type ManifestOptions } from '../kubernetes/manifests.js';
import { DEFAULT_INTERVAL_MS } from '../controller/controller.js';
import { oneOf, parse, UsageError, withUsage } from './args.js';
import { versionLine } from './command-errors.js';
import { parseRootSources } from './serve-options.js';

export const USAGE = `usage: portico manifests (--source NAME=URL[#BRANCH][:PATH] | --kubernetes NAME=NAMESPACE)... [options]

Prints a ServiceAccount, RBAC (read the Kubernetes source's kinds and TLS Secrets, patch their status,
hold the status-writer Lease), a Deployment (readiness on /readyz, liveness on /healthz, termination
grace = pre-stop pause + drain + margin), a Service, a PodDisruptionBudget and a HorizontalPodAutoscaler.
Install: portico crds | kubectl apply --server-side -f - ; portico manifests ... | kubectl apply -f -
(docs/kubernetes.md).

  --source NAME=URL[#BRANCH][:PATH]  a central git repository (as for serve; repeatable)
  --kubernetes NAME=NAMESPACE        a central namespace in the cluster (as for serve; repeatable)
  --namespace NS         namespace of Portico's own objects (default portico)
  --name NAME            name of the Deployment and its companions (default portico)
  --image IMAGE          container image (default portico:VERSION)
  --replicas N           replicas (default 2); the autoscaler keeps between --min-replicas and
  --min-replicas N       --max-replicas (defaults: replicas, and 5 × replicas) at --cpu-target
  --max-replicas N       percent of the CPU request (default 70)
  --cpu-target PERCENT
  --watch-namespace NS   a namespace team sources read (repeatable): RBAC is a Role there; without
                         it a ClusterRole (every namespace)
  --drain-timeout MS     in-flight requests' time at shutdown (default 20000)
  --workers N            worker processes per replica (default 1)
  --service-type TYPE    LoadBalancer (default), NodePort or ClusterIP
  --format yaml|json     yaml (default) or json (a v1 List)
  --output FILE          write to FILE instead of standard output`;

const NS_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function intOption(flag: string, v: string | undefined, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (v === undefined) return fallback;
  if (!/^[0-9]+$/.test(v) || Number(v) < min || Number(v) > max) throw new UsageError(`${flag} needs a whole number from ${min} to ${max}, got '${v}'`);
  return Number(v);
}

function dnsName(flag: string, v: string): string {
  if (v.length > 63 || !NS_RE.test(v)) throw new UsageError(`${flag} '${v}' is not a valid name (lower-case letters, digits and '-', at most 63)`);
  return v;
}

export async function run(argv: string[]): Promise<number> {
  return withUsage('manifests', USAGE, async () => {
    const { values, positionals } = parse(
      argv,
      {
        source: { type: 'string', multiple: true },
        kubernetes: { type: 'string', multiple: true },
        namespace: { type: 'string' },
        name: { type: 'string' },
        image: { type: 'string' },
        replicas: { type: 'string' },
        'min-replicas': { type: 'string' },
        'max-replicas': { type: 'string' },
        'cpu-target': { type: 'string' },
        'watch-namespace': { type: 'string', multiple: true },
        'drain-timeout': { type: 'string' },
        workers: { type: 'string' },
        'service-type': { type: 'string' },
        format: { type: 'string' },
        output: { type: 'string' },
      },
      USAGE,
    );
    if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'`);
    // The flags go to serve in the pod as given: checked as serve checks them, so the pod can start.
    parseRootSources(values, '/', { intervalMs: DEFAULT_INTERVAL_MS, onForcePush: 'refuse' });
    const sourceArgs: string[] = [];
    for (const s of values.source ?? []) {
      // A local path would name a folder on this machine, not in the container.
      if (!/^(?!file:)[a-z]+:\/\/|^[^/:]+@[^:]+:/.test(s.slice(s.indexOf('=') + 1))) throw new UsageError(`--source '${s}': give a URL the pod can fetch (https://, ssh://, git://), not a local path`);
      sourceArgs.push('--source', s);
    }
    for (const k of values.kubernetes ?? []) sourceArgs.push('--kubernetes', k);
    if (sourceArgs.length === 0) throw new UsageError('give the central policy: --source NAME=URL#BRANCH:PATH or --kubernetes NAME=NAMESPACE');
    const replicas = intOption('--replicas', values.replicas, 2, 1, 1000);
    const minReplicas = intOption('--min-replicas', values['min-replicas'], replicas, 1, 1000);
    const maxReplicas = intOption('--max-replicas', values['max-replicas'], Math.max(minReplicas, replicas * 5), 1, 1000);
    if (maxReplicas < minReplicas) throw new UsageError(`--max-replicas (${maxReplicas}) is below --min-replicas (${minReplicas})`);
    const image = values.image ?? `portico:${versionLine().split(' ')[1]}`;
    if (image === '' || /\s/.test(image)) throw new UsageError('--image needs an image reference');
    const opts: ManifestOptions = {
      namespace: dnsName('--namespace', values.namespace ?? 'portico'),
      name: dnsName('--name', values.name ?? 'portico'),
      image,
      replicas,
      minReplicas,
      maxReplicas,
      cpuTargetPercent: intOption('--cpu-target', values['cpu-target'], 70, 1, 100),
      drainTimeoutMs: intOption('--drain-timeout', values['drain-timeout'], 20_000, 0, 3_600_000),
      sourceArgs,
      watchNamespaces: [...new Set((values['watch-namespace'] ?? []).map((n) => dnsName('--watch-namespace', n)))],
      workers: intOption('--workers', values.workers, 1, 1, 64),
      httpPort: 8080,
      httpsPort: 8443,
      serviceType: oneOf(values['service-type'], ['LoadBalancer', 'NodePort', 'ClusterIP'] as const, 'LoadBalancer', '--service-type'),
    };
    const format = oneOf(values.format, ['yaml', 'json'] as const, 'yaml', '--format');
    const objects = manifests(opts);
    const text = format === 'json' ? JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }, null, 2) + '\n' : objects.map((o) => `---\n${stringify(o, { aliasDuplicateObjects: false, lineWidth: 0 })}`).join('');
    if (values.output !== undefined) {
      if (values.output === '') throw new UsageError('--output needs a file');
      writeFileSync(values.output, text);
    } else process.stdout.write(text);
    return 0;
  });
}
