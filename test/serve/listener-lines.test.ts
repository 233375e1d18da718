// The lines `serve` prints for bound listeners, from compiled configurations: one per Listener with
// its URL and resource, the default and TCPMapping-implied listeners named as such, --bind applied.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileYaml } from '../support/compile-yaml.js';
import { listenerChangeLines, withBindAddress } from '../../src/serve/listener-lines.js';

const listener = (name: string, port: number, protocol: string) => `---
apiVersion: getambassador.io/v3alpha1
kind: Listener
metadata: { name: ${name}, namespace: edge }
spec: { port: ${port}, protocol: ${protocol}, securityModel: XFP, hostBinding: { namespace: { from: ALL } } }
`;

test('each new listener is one line with its URL and the resource it comes from', () => {
  const ir = compileYaml(listener('http', 8080, 'HTTP') + listener('https', 8443, 'HTTPS') + listener('raw', 9000, 'TCP')).ir;
  assert.deepEqual(listenerChangeLines(undefined, ir), [
    'listening on http://0.0.0.0:8080 (Listener edge/http)',
    'listening on https://0.0.0.0:8443 (Listener edge/https)',
    'listening on tcp://0.0.0.0:9000 (Listener edge/raw)',
  ]);
  assert.deepEqual(listenerChangeLines(ir, ir), [], 'nothing is told again when nothing changed');
});

test('the default listeners and one implied by a TCPMapping say so', () => {
  const ir = compileYaml(`apiVersion: getambassador.io/v3alpha1
kind: TCPMapping
metadata: { name: db }
spec: { port: 5432, service: db:5432 }
`).ir;
  assert.deepEqual(listenerChangeLines(undefined, ir), [
    'listening on tcp://0.0.0.0:5432 (implied by TCPMappings)',
    'listening on http://0.0.0.0:8080 (default listener, no Listener given)',
    'listening on https://0.0.0.0:8443 (default listener, no Listener given)',
  ]);
});

test('--bind puts every listener on its address; IPv6 addresses are bracketed; ports bound differ from 0 are shown', () => {
  const before = compileYaml(listener('http', 8080, 'HTTP')).ir;
  const after = compileYaml(listener('http', 8080, 'HTTP') + listener('admin', 8081, 'HTTP')).ir;
  const v6 = withBindAddress(after, '::1');
  assert.deepEqual(v6.listeners.map((l) => l.bindAddress), ['::1', '::1']);
  assert.deepEqual(listenerChangeLines(withBindAddress(before, '::1'), v6, (l) => (l.name === 'admin' ? 18081 : undefined)), ['listening on http://[::1]:18081 (Listener edge/admin)']);
  assert.deepEqual(listenerChangeLines(after, before), ['stopped listening on http://0.0.0.0:8081 (Listener edge/admin)']);
  assert.equal(withBindAddress(after, undefined), after, 'without --bind the configuration is untouched');
});
