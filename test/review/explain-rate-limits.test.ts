// `explain` and rate limits: the descriptors a request would send, the limit each one meets (or
// the RateLimitService asked), and that the limit is decided at serve time, with its 429.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Explainer } from '../../src/review/explain-engine.js';
import { formatExplainText } from '../../src/review/explain-format.js';
import { parseRequestLine } from '../../src/review/request-spec.js';
import { compileYaml } from '../support/compile-yaml.js';
import { cleartextGatewayYaml, mappingYaml } from '../support/policy-yaml.js';

const LABELS = `  labels:
    ambassador:
    - per_user:
      - generic_key:
          value: api
      - request_headers:
          key: user
          header_name: x-user
    - per_client:
      - remote_address:
          key: remote_address
`;

const LIMITS = `---
apiVersion: getambassador.io/v3alpha1
kind: RateLimit
metadata:
  name: api-limits
spec:
  domain: ambassador
  limits:
  - name: per-user
    pattern: [{generic_key: api}, {user: "*"}]
    rate: 10
    unit: minute
`;

describe('explain and rate limits', () => {
  it('the built-in limiter: each descriptor with the limit it meets, decided at serve time (429)', () => {
    const e = new Explainer(compileYaml(`${cleartextGatewayYaml(8080)}---\n${mappingYaml('api', '/api/', 9, LABELS)}${LIMITS}`).ir);
    const r = e.explain(parseRequestLine('GET http://api.example/api/x', [['X-User', 'alice']]));
    assert.equal(r.outcome, 'forward');
    const p = r.policies.find((x) => x.stage === 'rate_limit');
    assert.equal(p?.policy, 'rate_limit RateLimit default/api-limits');
    assert.equal(p?.decision, 'at_serve_time');
    assert.equal(p?.status, 429);
    assert.match(p?.reason ?? '', /\[generic_key=api, user=alice\] → per-user \(RateLimit default\/api-limits\): 10 per minute/);
    assert.match(p?.reason ?? '', /\[remote_address=<client address>\] matches no limit/);
    assert.match(p?.reason ?? '', /per serving process/);
    assert.match(formatExplainText(r), /rate_limit RateLimit default\/api-limits — decided at serve time \(429 if it refuses\)/);
  });

  it('a group whose header the request lacks is dropped; with none left the limiter is not involved', () => {
    const e = new Explainer(compileYaml(`${cleartextGatewayYaml(8080)}---\n${mappingYaml('api', '/api/', 9, `  labels:
    ambassador:
    - per_user:
      - request_headers:
          key: user
          header_name: x-user
`)}${LIMITS}`).ir);
    const r = e.explain(parseRequestLine('GET http://api.example/api/x'));
    const p = r.policies.find((x) => x.stage === 'rate_limit');
    assert.equal(p?.decision, 'allow');
    assert.match(p?.reason ?? '', /lacks a request header \(per_user: user←x-user\)/);
  });

  it('a RateLimitService: the domain, the descriptors it would be sent, the timeout and failure mode', () => {
    const e = new Explainer(compileYaml(`${cleartextGatewayYaml(8080)}---\n${mappingYaml('api', '/api/', 9, LABELS)}---
apiVersion: getambassador.io/v3alpha1
kind: RateLimitService
metadata:
  name: rls
spec:
  service: rls:8081
  protocol_version: v3
  failure_mode_deny: true
`).ir);
    const r = e.explain(parseRequestLine('GET http://api.example/api/x', [['X-User', 'bob'], ['X-Forwarded-For', '198.51.100.7']]));
    const p = r.policies.find((x) => x.stage === 'rate_limit');
    assert.equal(p?.policy, 'rate_limit RateLimitService default/rls');
    assert.equal(p?.decision, 'at_serve_time');
    assert.match(p?.reason ?? '', /domain 'ambassador', timeout 20 ms\) with descriptors \[generic_key=api, user=bob\] \[remote_address=<client address>\]; 429 if it says over limit, 500 if it cannot be asked/);
  });
});
