// Controller test fixture: a real Gateway with the real request path as the controller's sink, echo
// upstreams, free ports for Listeners, and YAML builders for central and team repositories.

import http from 'node:http';
import { Gateway } from '../../src/serve/gateway.js';
import { buildRuntime } from '../../src/dataplane/runtime.js';
import { Controller, type ControllerOptions } from '../../src/controller/controller.js';
import type { DeclaredSource } from '../../src/controller/source-kind.js';
import { makeSourceSpec } from '../../src/sources/source-spec.js';
import { SourceMetrics } from '../../src/controller/source-metrics.js';

export function rootSource(name: string, url: string, path = '', extra: Partial<DeclaredSource> = {}): DeclaredSource {
  return { spec: makeSourceSpec({ name, url, branch: 'main', path }), kind: 'git', intervalMs: 60_000, onForcePush: 'refuse', ...extra };
}

export function newGateway(): Gateway {
  return new Gateway({ buildRuntime, drainTimeoutMs: 200 });
}

/** A controller that polls only when a test asks (no timers), with a real Gateway as its sink. */
export function newController(gateway: Gateway, opts: Omit<ControllerOptions, 'sink'>): Controller {
  return new Controller({ poll: false, minFetchIntervalMs: 0, metrics: new SourceMetrics(), ...opts, sink: gateway });
}

/** Runs one pass and waits until it, any pass it queued and every fetch it started are done. */
export async function sync(c: Controller): Promise<void> {
  c.trigger();
  await c.settled();
}

export { cleartextGatewayYaml, listenerYaml, mappingYaml } from '../support/policy-yaml.js';

export function sourceYaml(name: string, url: string, prefixes: string[], extra = ''): string {
  return `apiVersion: portico.dev/v1alpha1
kind: Source
metadata:
  name: ${name}
spec:
  url: ${url}
  branch: main
  path: deploy
  claims:
    kinds: [Mapping]
    hostnames: ["*"]
    pathPrefixes: [${prefixes.join(', ')}]
${extra}`;
}

/** GET through the gateway: status and, for echo upstreams, which upstream answered. */
export function get(port: number, path: string): Promise<{ status: number; upstream?: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false, headers: { host: 'demo.example.com' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString();
        let upstream: string | undefined;
        try {
          upstream = (JSON.parse(body) as { name?: string }).name;
        } catch {}
        resolve({ status: res.statusCode ?? 0, ...(upstream ? { upstream } : {}), body });
      });
    });
    req.setTimeout(5000, () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
  });
}
