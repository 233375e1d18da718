// Configured regexes are checked at compile as RE2: what Emissary accepts compiles, what RE2 refuses
// is an InvalidRegex naming the construct, the field and file:line, and the Module's regex_max_size holds.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { codes, compileYAML, routesOf } from './compile-support.js';

function mapping(name: string, spec: string): string {
  // Not beside host: with both, host is ignored, as in Emissary.
  const hostname = /^host:/m.test(spec) ? '' : '\n  hostname: "*"';
  return `---
apiVersion: getambassador.io/v3alpha1
kind: Mapping
metadata: { name: ${name}, namespace: default }
spec:${hostname}
  service: svc
${spec.trim().split('\n').map((l) => '  ' + l).join('\n')}
`;
}

describe('regexes at compile', () => {
  it('the issue\'s /(a|a)*b and RE2-only syntax compile with no problem', () => {
    const r = compileYAML(
      mapping('issue', 'prefix: "/(a|a)*b"\nprefix_regex: true') +
        mapping('named', 'prefix: "/orders/(?P<id>[0-9]+)"\nprefix_regex: true') +
        mapping('folded', 'prefix: /f/\nregex_headers: { x-env: "(?i)prod" }') +
        mapping('nested', 'prefix: "/(a+)+$"\nprefix_regex: true') +
        mapping('method', 'prefix: /m/\nmethod: "(?i)get|head"\nmethod_regex: true'),
    );
    assert.deepEqual(codes(r), []);
    assert.equal(routesOf(r).length, 5);
    const m = r.ir.listeners.flatMap((l) => l.virtualHosts).flatMap((v) => v.routes).find((x) => x.id === 'default/method')!;
    assert.equal(m.match.method, '(?i)get|head', 'a method regex is kept as written');
  });

  it('every regex field: a construct RE2 refuses is an InvalidRegex with its field and line', () => {
    const yaml =
      mapping('prefix', 'prefix: "/(a+)\\\\1"\nprefix_regex: true') + // prefix on line 8
      mapping('header', 'prefix: /h/\nregex_headers:\n  x-user: "(?=admin).*"') +
      mapping('query', 'prefix: /q/\nregex_query_parameters:\n  id: "(?<!x)[0-9]+"') +
      mapping('host', 'prefix: /host/\nhost: "(?>api)\\\\.example\\\\.com"\nhost_regex: true') +
      mapping('method', 'prefix: /m/\nmethod: "GET++"\nmethod_regex: true') +
      mapping('rewrite', 'prefix: /r/\nregex_rewrite:\n  pattern: "/r/(?P<x>[a-z]+)\\\\k<x>"\n  substitution: /') +
      mapping('substitution', 'prefix: /s/\nregex_rewrite:\n  pattern: "/s/([a-z]+)"\n  substitution: "/\\\\2"') +
      mapping('redirect', 'prefix: /d/\nhost_redirect: true\nregex_redirect:\n  pattern: "/d/\\\\u0041"\n  substitution: /');
    const r = compileYAML(yaml);
    const errors = r.report.problems.filter((p) => p.severity === 'error');
    const got = errors.map((p) => [p.resource?.name, p.code, p.field, p.message.replace(/:.*/s, '')]);
    assert.deepEqual(got.sort(), [
      ['header', 'InvalidRegex', 'spec.regex_headers.x-user', 'regex_headers.x-user'],
      ['host', 'InvalidRegex', 'spec.host', 'host'],
      ['method', 'InvalidRegex', 'spec.method', 'method'],
      ['prefix', 'InvalidRegex', 'spec.prefix', 'prefix'],
      ['query', 'InvalidRegex', 'spec.regex_query_parameters.id', 'regex_query_parameters.id'],
      ['redirect', 'InvalidRegex', 'spec.regex_redirect.pattern', 'regex_redirect.pattern'],
      ['rewrite', 'InvalidRegex', 'spec.regex_rewrite.pattern', 'regex_rewrite.pattern'],
      ['substitution', 'InvalidRegex', 'spec.regex_rewrite.substitution', 'regex_rewrite.substitution'],
    ]);
    const msg = (name: string): string => errors.find((p) => p.resource?.name === name)!.message;
    assert.match(msg('prefix'), /backreference `\\1` is not RE2 syntax/);
    assert.match(msg('header'), /lookahead/);
    assert.match(msg('query'), /negative lookbehind/);
    assert.match(msg('host'), /atomic group/);
    assert.match(msg('method'), /possessive quantifier/);
    assert.match(msg('rewrite'), /named backreference/);
    assert.match(msg('substitution'), /refers to \\2 but the pattern has only 1 group/);
    assert.match(msg('redirect'), /escape `\\u`/);
    // the origin points at the field's own line in the file
    const prefix = errors.find((p) => p.resource?.name === 'prefix')!;
    assert.equal(prefix.origin.path, 'policy.yaml');
    assert.equal(prefix.origin.line, 8);
    assert.equal(routesOf(r).length, 0, 'each Mapping with a refused regex is dropped');
  });

  it('the Module\'s regex_max_size bounds the RE2 program size; Emissary\'s default is 200', () => {
    const big = mapping('big', 'prefix: "/x{300}"\nprefix_regex: true');
    const atDefault = compileYAML(big);
    assert.deepEqual(codes(atDefault), ['UnsafeRegex:big']);
    assert.match(atDefault.report.problems[0]!.message, /more than regex_max_size 200/);
    const raised = compileYAML(`---
apiVersion: getambassador.io/v3alpha1
kind: Module
metadata: { name: ambassador, namespace: default }
spec:
  config:
    regex_max_size: 400
${big}`);
    assert.deepEqual(codes(raised), [], 'regex_max_size is read, not reported as not implemented');
    const lowered = compileYAML(`---
apiVersion: getambassador.io/v3alpha1
kind: Module
metadata: { name: ambassador, namespace: default }
spec:
  config:
    regex_max_size: 5
${mapping('small', 'prefix: "/api/v[0-9]+/users"\nprefix_regex: true')}`);
    assert.deepEqual(codes(lowered), ['UnsafeRegex:small']);
  });
});
