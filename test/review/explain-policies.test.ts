// Edge policies offline: `explain` lists the route's policies in the order they run and what each
// would decide; route tests check a status a policy decides offline when the request says enough,
// say why not otherwise (SKIP), and check it against a live gateway with --target; plan's IR diff
// shows a change to them.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Explainer } from '../../src/review/explain-engine.js';
import { formatExplainText } from '../../src/review/explain-format.js';
import { parseRequestLine } from '../../src/review/request-spec.js';
import { parseRouteTests, runLive, runOffline } from '../../src/review/route-tests.js';
import { formatTap, formatText } from '../../src/review/route-test-format.js';
import { diffIR } from '../../src/ir/diff.js';
import { compileYaml } from '../support/compile-yaml.js';
import { cleartextGatewayYaml, mappingYaml } from '../support/policy-yaml.js';
import { startEcho, type EchoUpstream } from '../support/echo-upstream.js';
import { startGateway, type TestGateway } from '../support/gateway-server.js';

const moduleYaml = (config: string): string =>
  `---\napiVersion: getambassador.io/v3alpha1\nkind: Module\nmetadata:\n  name: ambassador\nspec:\n  config:\n${config.replace(/^(?=.)/gm, '    ')}`;

function yaml(upstreamPort: number, config: string): string {
  return `${cleartextGatewayYaml(8080)}---\n${mappingYaml('api', '/api/', upstreamPort)}---\n${mappingYaml('open', '/open/', upstreamPort, '  bypass_auth: true\n')}${moduleYaml(config)}`;
}

const DENY_OFFICE = 'xff_num_trusted_hops: 1\nip_deny:\n- remote: 203.0.113.0/24\n';

describe('explain and edge policies', () => {
  const e = new Explainer(compileYaml(yaml(9, DENY_OFFICE)).ir);

  it('a client the request names through a trusted hop is decided offline: 403, by which policy', () => {
    const r = e.explain(parseRequestLine('GET http://api.example/api/x', [['X-Forwarded-For', '203.0.113.50']]));
    assert.equal(r.outcome, 'policy_denied');
    assert.equal(r.status, 403);
    assert.equal(r.policies.length, 1);
    assert.equal(r.policies[0]?.policy, 'ip_filter Module default/ambassador');
    assert.equal(r.policies[0]?.decision, 'deny');
    assert.match(r.reason, /^ip_filter Module default\/ambassador: ip_deny \[remote 203\.0\.113\.0\/24\].*203\.0\.113\.50 is denied/);
    assert.equal(r.decidedAtServeTime, undefined);
    assert.equal(r.backends.length, 0, 'nothing is forwarded');
  });

  it('without the address the policy decides at serve time; the text says so, with the status it gives', () => {
    const r = e.explain(parseRequestLine('GET http://api.example/api/x'));
    assert.equal(r.outcome, 'forward');
    assert.equal(r.policies[0]?.decision, 'at_serve_time');
    assert.equal(r.policies[0]?.status, 403);
    assert.equal(r.decidedAtServeTime?.policy, 'ip_filter Module default/ambassador');
    const text = formatExplainText(r);
    assert.match(text, /→ 200 forwarded if ip_filter Module default\/ambassador lets it through:/);
    assert.match(text, /policies, in the order they run:\n {2}1\. ip_filter Module default\/ambassador — decided at serve time \(403 if it refuses\): ip_deny/);
  });

  it('a route in a configuration without policies lists none', () => {
    const plain = new Explainer(compileYaml(`${cleartextGatewayYaml(8080)}---\n${mappingYaml('api', '/api/', 9)}`).ir);
    const r = plain.explain(parseRequestLine('GET http://api.example/api/x'));
    assert.deepEqual(r.policies, []);
    assert.doesNotMatch(formatExplainText(r), /policies/);
  });
});

describe('route tests and edge policies', () => {
  let echo: EchoUpstream;
  let gw: TestGateway;
  const TESTS = `tests:
- name: the office is refused
  request: {url: http://api.example/api/x, headers: {X-Forwarded-For: 203.0.113.50}}
  expect: {status: 403}
- name: a customer passes
  request: {url: http://api.example/api/x, headers: {X-Forwarded-For: 198.51.100.1}}
  expect: {status: 200, route: default/api}
- name: the office is refused, however it connects
  request: {url: http://api.example/api/x}
  expect: {status: 403}
- name: wrong on purpose
  request: {url: http://api.example/api/x, headers: {X-Forwarded-For: 203.0.113.50}}
  expect: {status: 200}
`;
  before(async () => {
    echo = await startEcho('api');
    gw = await startGateway(compileYaml(yaml(echo.port, DENY_OFFICE)).ir);
  });
  after(async () => {
    await gw.close();
    await echo.close();
  });

  it('offline: decided statuses are checked, a status only the live gateway knows is a SKIP that says why', () => {
    const { tests, problems } = parseRouteTests('edge.test.yaml', TESTS);
    assert.deepEqual(problems, []);
    const e = new Explainer(compileYaml(yaml(9, DENY_OFFICE)).ir);
    const results = tests.map((t) => runOffline(e, t));
    assert.deepEqual(results.map((r) => r.ok), [true, true, true, false]);
    assert.equal(results[0]?.unchecked, undefined);
    assert.match(results[2]?.unchecked ?? '', /^status 403: decided at serve time by ip_filter Module default\/ambassador .*; 200 if it lets the request through — check with --target$/);
    assert.deepEqual(results[3]?.mismatches, [{ field: 'status', expected: 200, actual: 403 }]);
    const tap = formatTap(results, []);
    assert.match(tap, /^ok 3 - the office is refused, however it connects \(edge\.test\.yaml:\d+\) # SKIP status 403: decided at serve time/m);
    assert.match(formatText(results, []), /^SKIP the office is refused, however it connects/m);
  });

  it('--target: the live gateway answers the status itself', async () => {
    const { tests } = parseRouteTests('edge.test.yaml', TESTS);
    // the test gateway's connections come from 127.0.0.1, with the header's address behind it
    const live = await Promise.all(tests.map((t) => runLive({ url: new URL(gw.origin), timeoutMs: 5000 }, t)));
    assert.deepEqual(live.map((r) => r.ok), [true, true, false, false]);
    assert.deepEqual(live[2]?.mismatches, [{ field: 'status', expected: 403, actual: 200 }], 'this client is not the office');
  });
});

describe('plan and edge policies', () => {
  it("the IR diff shows a policy added to the global policies and a change of one of its fields", () => {
    const none = compileYaml(yaml(9, 'xff_num_trusted_hops: 1\n')).ir;
    const deny = compileYaml(yaml(9, DENY_OFFICE)).ir;
    const wider = compileYaml(yaml(9, 'xff_num_trusted_hops: 1\nip_deny:\n- remote: 203.0.0.0/16\n')).ir;
    const added = diffIR(none, deny).global;
    assert.deepEqual(added.map((c) => c.path), ['policies']);
    assert.deepEqual(diffIR(deny, wider).global, [{ path: 'policies.ipFilter.principals[0].cidr', before: '203.0.113.0/24', after: '203.0.0.0/16' }]);
    assert.deepEqual(diffIR(deny, wider).routes.changed, [], 'no route changes: the chain is derived from the global policies');
  });
});

describe('explain, route tests and plan with an AuthService', () => {
  const auth = (spec: string) => `---\napiVersion: getambassador.io/v3alpha1\nkind: AuthService\nmetadata:\n  name: authn\nspec:\n  auth_service: auth.example:3000\n  path_prefix: /extauth\n${spec.replace(/^(?=.)/gm, '  ')}`;
  const ir = (spec: string, module = 'xff_num_trusted_hops: 1\nip_deny:\n- remote: 203.0.113.0/24\n') => compileYaml(yaml(9, module || 'use_remote_address: true\n') + auth(spec)).ir;

  it('lists the IP filter then the AuthService, in the order they run; the auth step decides at serve time with status_on_error', () => {
    const r = new Explainer(ir('status_on_error: {code: 503}\n')).explain(parseRequestLine('GET http://api.example/api/x?y=1', [['X-Forwarded-For', '198.51.100.1']]));
    assert.deepEqual(r.policies.map((p) => [p.order, p.stage, p.policy, p.decision, p.status]), [
      [1, 'ip_filter', 'ip_filter Module default/ambassador', 'allow', undefined],
      [2, 'auth', 'auth AuthService default/authn', 'at_serve_time', 503],
    ]);
    assert.match(r.policies[1]?.reason ?? '', /an HTTP check, GET \/extauth\/api\/x\?y=1/);
    assert.equal(r.policies[1]?.source?.name, 'authn');
    assert.equal(r.decidedAtServeTime?.policy, 'auth AuthService default/authn');
    assert.equal(r.outcome, 'forward');
  });

  it('an IP refusal comes before the AuthService is asked', () => {
    const r = new Explainer(ir('')).explain(parseRequestLine('GET http://api.example/api/x', [['X-Forwarded-For', '203.0.113.9']]));
    assert.deepEqual([r.outcome, r.status, r.decidedAtServeTime], ['policy_denied', 403, undefined]);
  });

  it('bypass_auth: no auth step, and a note says why', () => {
    const r = new Explainer(ir('')).explain(parseRequestLine('GET http://api.example/open/x', [['X-Forwarded-For', '198.51.100.1']]));
    assert.deepEqual(r.policies.map((p) => p.stage), ['ip_filter']);
    assert.ok(r.notes.some((n) => /bypass_auth: AuthService default\/authn is not asked/.test(n)));
  });

  it('include_body without allow_partial: a declared body over max_bytes is 413 offline', () => {
    const r = new Explainer(ir('include_body: {max_bytes: 100, allow_partial: false}\n', '')).explain(parseRequestLine('POST http://api.example/api/x', [['Content-Length', '101']]));
    assert.deepEqual([r.outcome, r.status], ['policy_denied', 413]);
  });

  it('route tests: "401 without a token" offline is a SKIP naming the AuthService', () => {
    const { tests } = parseRouteTests('auth.test.yaml', 'tests:\n- name: 401 without a token\n  request: {url: http://api.example/api/x}\n  expect: {status: 401}\n- name: public\n  request: {url: http://api.example/open/x}\n  expect: {status: 200}\n');
    const e = new Explainer(ir('', ''));
    const [unauth, open] = tests.map((t) => runOffline(e, t));
    assert.equal(unauth?.ok, true);
    assert.match(unauth?.unchecked ?? '', /^status 401: decided at serve time by auth AuthService default\/authn/);
    assert.deepEqual([open?.ok, open?.unchecked], [true, undefined]);
  });

  it('plan: a change of an AuthService setting is one field, by the AuthService\'s name', () => {
    const d = diffIR(ir('timeout_ms: 5000\n', ''), ir('timeout_ms: 300\n', ''));
    assert.deepEqual(d.global, [{ path: 'policies.authServices[default/authn].timeoutMs', before: 5000, after: 300 }]);
    assert.deepEqual(d.routes.changed, []);
  });
});
