// The objects that run Portico in a cluster: ServiceAccount, RBAC limited to what the Kubernetes source
// reads and the status writer writes, Deployment, Service, PodDisruptionBudget, HorizontalPodAutoscaler.
// Pure: options in, objects out; `portico manifests` prints them.

import { CLUSTER_KINDS } from './crds.js';

export interface ManifestOptions {
  readonly namespace: string;
  readonly name: string;
  readonly image: string;
  readonly replicas: number;
  readonly minReplicas: number;
  readonly maxReplicas: number;
  readonly cpuTargetPercent: number;
  /** Milliseconds in-flight requests may take at shutdown (serve --drain-timeout). */
  readonly drainTimeoutMs: number;
  /** serve's source arguments (--source NAME=URL…, --kubernetes NAME=NAMESPACE, --config …). */
  readonly sourceArgs: readonly string[];
  /** Namespaces the Kubernetes sources read; empty: every namespace (a ClusterRole). */
  readonly watchNamespaces: readonly string[];
  readonly workers: number;
  readonly httpPort: number;
  readonly httpsPort: number;
  readonly serviceType: 'LoadBalancer' | 'NodePort' | 'ClusterIP';
}

type Obj = Record<string, unknown>;

/** Seconds the pod keeps serving after it is told to stop, while endpoints are removed from every node. */
export const PRE_STOP_SECONDS = 5;
/** Slack after the drain before the kubelet kills the process. */
const KILL_MARGIN_SECONDS = 5;
export const ADMIN_PORT = 8877;
/** Where the admin token Secret is mounted. */
const ADMIN_TOKEN_DIR = '/run/portico/admin';
export const LEASE_NAME = 'portico-status-writer';

/** Seconds the kubelet waits after the pre-stop hook: the pre-stop pause, the whole drain, and a margin. */
export function terminationGraceSeconds(drainTimeoutMs: number): number {
  return PRE_STOP_SECONDS + Math.ceil(drainTimeoutMs / 1000) + KILL_MARGIN_SECONDS;
}

function labels(o: ManifestOptions): Record<string, string> {
  return { 'app.kubernetes.io/name': 'portico', 'app.kubernetes.io/instance': o.name };
}

function meta(o: ManifestOptions, name: string, namespace: string | undefined = o.namespace): Obj {
  return { name, ...(namespace !== undefined ? { namespace } : {}), labels: labels(o) };
}

/** What the Kubernetes source reads (list, watch) and the status writer writes (patch of status only). */
function sourceRules(): Obj[] {
  const groups = [...new Set(CLUSTER_KINDS.map((k) => k.group))];
  const rules: Obj[] = [];
  for (const group of groups) {
    const plurals = CLUSTER_KINDS.filter((k) => k.group === group).map((k) => k.plural);
    rules.push({ apiGroups: [group], resources: plurals, verbs: ['list', 'watch'] });
    rules.push({ apiGroups: [group], resources: plurals.map((p) => `${p}/status`), verbs: ['patch'] });
  }
  // TLS Secrets: RBAC cannot narrow by type; the source lists with fieldSelector type=kubernetes.io/tls.
  rules.push({ apiGroups: [''], resources: ['secrets'], verbs: ['list', 'watch'] });
  // Ingresses of class ambassador are served; their status gets the gateway Service's load balancer.
  rules.push({ apiGroups: ['networking.k8s.io'], resources: ['ingresses'], verbs: ['list', 'watch'] });
  rules.push({ apiGroups: ['networking.k8s.io'], resources: ['ingresses/status'], verbs: ['patch'] });
  return rules;
}

export function manifests(o: ManifestOptions): Obj[] {
  const sa = o.name;
  const out: Obj[] = [];
  out.push({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: meta(o, sa) });
  const subject = { kind: 'ServiceAccount', name: sa, namespace: o.namespace };
  if (o.watchNamespaces.length === 0) {
    out.push({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: meta(o, `${o.name}-source`, undefined), rules: sourceRules() });
    out.push({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: meta(o, `${o.name}-source`, undefined),
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: `${o.name}-source` },
      subjects: [subject],
    });
  } else {
    for (const ns of o.watchNamespaces) {
      out.push({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: meta(o, `${o.name}-source`, ns), rules: sourceRules() });
      out.push({
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        metadata: meta(o, `${o.name}-source`, ns),
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: `${o.name}-source` },
        subjects: [subject],
      });
    }
  }
  // The Lease that elects the one status writer: its own namespace only. `create` cannot be limited to a name.
  out.push({
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'Role',
    metadata: meta(o, `${o.name}-lease`),
    rules: [
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], resourceNames: [LEASE_NAME], verbs: ['get', 'update'] },
      // The gateway's own Service (its load balancer goes into the status of the Ingresses served).
      { apiGroups: [''], resources: ['services'], verbs: ['list', 'watch'] },
    ],
  });
  out.push({
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: meta(o, `${o.name}-lease`),
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: `${o.name}-lease` },
    subjects: [subject],
  });

  const args = [
    'serve',
    ...o.sourceArgs,
    '--state',
    '/var/lib/portico',
    '--admin',
    `0.0.0.0:${ADMIN_PORT}`,
    // The admin port is reachable in the cluster: its data needs the token (probes stay open).
    '--admin-token-file',
    `${ADMIN_TOKEN_DIR}/token`,
    '--workers',
    String(o.workers),
    '--drain-timeout',
    String(o.drainTimeoutMs),
    '--identity',
    '$(POD_NAME)',
    '--lease',
    `$(POD_NAMESPACE)/${LEASE_NAME}`,
  ];
  out.push({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: meta(o, o.name),
    spec: {
      replicas: o.replicas,
      selector: { matchLabels: labels(o) },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
      template: {
        metadata: { labels: labels(o) },
        spec: {
          serviceAccountName: sa,
          terminationGracePeriodSeconds: terminationGraceSeconds(o.drainTimeoutMs),
          securityContext: { runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, fsGroup: 65532, seccompProfile: { type: 'RuntimeDefault' } },
          topologySpreadConstraints: [{ maxSkew: 1, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'ScheduleAnyway', labelSelector: { matchLabels: labels(o) } }],
          containers: [
            {
              name: 'portico',
              image: o.image,
              args,
              env: [
                { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
                // Where a bare service name resolves: Mappings elsewhere get theirs qualified (as Emissary's chart sets it).
                { name: 'AMBASSADOR_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
                // git and ssh want a writable home; the root file system is read-only.
                { name: 'HOME', value: '/tmp' },
              ],
              ports: [
                { name: 'http', containerPort: o.httpPort, protocol: 'TCP' },
                { name: 'https', containerPort: o.httpsPort, protocol: 'TCP' },
                { name: 'admin', containerPort: ADMIN_PORT, protocol: 'TCP' },
              ],
              // Ready once a configuration is served, not ready from the first moment of a drain.
              readinessProbe: { httpGet: { path: '/readyz', port: 'admin' }, periodSeconds: 2, failureThreshold: 1 },
              livenessProbe: { httpGet: { path: '/healthz', port: 'admin' }, periodSeconds: 10, failureThreshold: 3, timeoutSeconds: 2 },
              // The first fetch of every source may take up to the fetch timeout.
              startupProbe: { httpGet: { path: '/healthz', port: 'admin' }, periodSeconds: 2, failureThreshold: 60 },
              // Keeps serving while the endpoint is removed everywhere; SIGTERM then drains (readiness fails first).
              lifecycle: { preStop: { exec: { command: ['sleep', String(PRE_STOP_SECONDS)] } } },
              resources: { requests: { cpu: '250m', memory: '256Mi' }, limits: { memory: '1Gi' } },
              securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
              volumeMounts: [
                { name: 'state', mountPath: '/var/lib/portico' },
                { name: 'tmp', mountPath: '/tmp' },
                { name: 'admin-token', mountPath: ADMIN_TOKEN_DIR, readOnly: true },
              ],
            },
          ],
          volumes: [
            { name: 'state', emptyDir: {} },
            { name: 'tmp', emptyDir: {} },
            // Created by the operator (docs/kubernetes.md): kubectl create secret generic NAME-admin --from-literal=token=…
            { name: 'admin-token', secret: { secretName: `${o.name}-admin`, defaultMode: 0o440 } },
          ],
        },
      },
    },
  });
  out.push({
    apiVersion: 'v1',
    kind: 'Service',
    // The label Emissary's chart gives its Service: the status writer finds the load balancer by it.
    metadata: { ...meta(o, o.name), labels: { ...labels(o), 'app.kubernetes.io/component': 'ambassador-service' } },
    spec: {
      type: o.serviceType,
      ...(o.serviceType === 'LoadBalancer' ? { externalTrafficPolicy: 'Local' } : {}),
      selector: labels(o),
      ports: [
        { name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' },
        { name: 'https', port: 443, targetPort: 'https', protocol: 'TCP' },
      ],
    },
  });
  out.push({
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: meta(o, o.name),
    spec: { maxUnavailable: 1, selector: { matchLabels: labels(o) } },
  });
  out.push({
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata: meta(o, o.name),
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: o.name },
      minReplicas: o.minReplicas,
      maxReplicas: o.maxReplicas,
      metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: o.cpuTargetPercent } } }],
      // Scale down slowly: a drained replica takes its connections with it.
      behavior: { scaleDown: { stabilizationWindowSeconds: 300, policies: [{ type: 'Pods', value: 1, periodSeconds: 60 }] } },
    },
  });
  return out;
}
