// The Module's client-certificate keys become IRGlobal.clientCertDetails; without them the IR says
// nothing (SANITIZE), and a typo in the mode is a schema error naming the field.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileYAML, codes } from './compile-support.js';

const MODULE = (config: string): string => `apiVersion: getambassador.io/v3alpha1
kind: Module
metadata: { name: ambassador, namespace: default }
spec: { config: ${config} }
`;

const cases: Record<string, () => void> = {
  'forward_client_cert_details and set_current_client_cert_details are implemented, not warned about': () => {
    const r = compileYAML(MODULE('{ forward_client_cert_details: SANITIZE_SET, set_current_client_cert_details: { subject: true, uri: true } }'));
    assert.deepEqual(r.ir.global.clientCertDetails, {
      forward: 'SANITIZE_SET',
      set: { subject: true, cert: false, chain: false, dns: false, uri: true },
    });
    assert.deepEqual(codes(r), []);
  },
  'set_current_client_cert_details alone keeps SANITIZE (Envoy adds details only in APPEND_FORWARD and SANITIZE_SET)': () => {
    const r = compileYAML(MODULE('{ set_current_client_cert_details: { dns: true } }'));
    assert.equal(r.ir.global.clientCertDetails?.forward, 'SANITIZE');
  },
  'without the keys the IR carries no client-certificate policy (the default strips the header)': () => {
    const r = compileYAML(MODULE('{ xff_num_trusted_hops: 1 }'));
    assert.equal(r.ir.global.clientCertDetails, undefined);
  },
  'an unknown mode is a SchemaViolation on the field': () => {
    const r = compileYAML(MODULE('{ forward_client_cert_details: SANITISE_SET }'));
    const p = r.report.problems.find((x) => x.code === 'SchemaViolation');
    assert.ok(p, JSON.stringify(r.report.problems));
    assert.match(p.field ?? '', /forward_client_cert_details/);
    assert.equal(r.ir.global.clientCertDetails, undefined);
  },
};

for (const [name, fn] of Object.entries(cases)) test(name, fn);
