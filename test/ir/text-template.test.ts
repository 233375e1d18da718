// The Go template subset of JWT filters: the header examples of Edge Stack's JWT filter docs give
// the values Edge Stack documents for them, and what the subset leaves out is refused at parse.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DoNotSet, goFloat, parseTemplate, runTemplate, templateHeaders, TemplateError } from '../../src/ir/text-template.js';

// The token of Edge Stack's docs example (alg none, claims sub/name/iat), decoded.
const token = {
  Raw: 'eyJhbGciOiJub25lIiwidHlwIjoiSldUIiwiZXh0cmEiOiJzbyBtdWNoIn0.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.',
  Header: { alg: 'none', typ: 'JWT', extra: 'so much' },
  Claims: { sub: '1234567890', name: 'John Doe', iat: 1516239022 },
  Signature: '',
};
const data = { token, httpRequestHeader: templateHeaders({ get: (n) => (n.toLowerCase() === 'user-agent' ? 'curl/7.66.0' : undefined) }) };
const run = (src: string, d: unknown = data): string => runTemplate(parseTemplate(src), d);

test('the injectRequestHeaders examples of the JWT filter docs give the documented values', async (t) => {
  const cases: Record<string, [string, string]> = {
    'a fixed string': ['Fixed String', 'Fixed String'],
    'the raw token': ['{{ .token.Raw }}', token.Raw],
    'a header field': ['{{ .token.Header.alg }}', 'none'],
    'another header field': ['{{ .token.Header.extra }}', 'so much'],
    'a claim': ['{{ .token.Claims.sub }}', '1234567890'],
    'a missing claim prints <no value>': ['{{ .token.Claims.optional }}', '<no value>'],
    'a number claim prints as Go prints a float64': ['{{ .token.Claims.iat }}', '1.516239022e+09'],
    'printf %.0f formats it': ['{{ printf "%.0f" .token.Claims.iat }}', '1516239022'],
    'the signature of an unsigned token is empty': ['{{ .token.Signature }}', ''],
    'text, fields and printf %q together': [
      'Authenticated {{ .token.Header.typ }}; sub={{ .token.Claims.sub }}; name={{ printf "%q" .token.Claims.name }}',
      'Authenticated JWT; sub=1234567890; name="John Doe"',
    ],
    'a request header through .Get': ['{{ .httpRequestHeader.Get "User-Agent" }}', 'curl/7.66.0'],
    'a missing request header is empty': ['{{ .httpRequestHeader.Get "X-None" }}', ''],
    'if / else': ['{{ if eq .token.Header.alg "none" }}unsigned{{ else }}signed{{ end }}', 'unsigned'],
    'else if': ['{{ if eq .token.Claims.sub "x" }}a{{ else if hasKey .token.Claims "name" }}b{{ else }}c{{ end }}', 'b'],
    'trim markers': ['a  {{- " b " -}}  c', 'a b c'],
    'a comment': ['x{{/* not printed */}}y', 'xy'],
    'parentheses and pipes': ['{{ (index .token.Claims "name") | printf "<%s>" }}', '<John Doe>'],
  };
  for (const [name, [src, want]] of Object.entries(cases)) await t.test(name, () => assert.equal(run(src), want));
});

test('doNotSet discards the value: the optional-claim example of the docs', () => {
  const src = '{{ if hasKey .token.Claims "optional" | not }}{{ doNotSet }}{{ end }}{{ .token.Claims.optional }}';
  assert.throws(() => run(src), DoNotSet);
  assert.equal(run(src, { token: { ...token, Claims: { optional: 'yes' } } }), 'yes');
});

test('what the subset leaves out is refused when the filter is compiled, with where', async (t) => {
  const cases: Record<string, [string, RegExp]> = {
    'range': ['{{ range .token.Claims }}x{{ end }}', /\{\{range\}\} is not supported/],
    'variables': ['{{ $x := 1 }}', /variables/],
    'an unknown function': ['{{ sprig_upper .token.Raw }}', /function "sprig_upper" not defined/],
    'json outside error bodies': ['{{ json "" .token }}', /function "json" not defined/],
    'an unclosed action': ['{{ .token.Raw', /unclosed action/],
    'an if without end': ['{{ if true }}x', /\{\{if\}\} without \{\{end\}\}/],
    'an end without if': ['x{{ end }}', /\{\{end\}\} without \{\{if\}\}/],
    'arguments to a field': ['{{ .token.Raw "x" }}', /not a function/],
  };
  for (const [name, [src, re]] of Object.entries(cases)) {
    await t.test(name, () => assert.throws(() => parseTemplate(src), (err: unknown) => err instanceof TemplateError && re.test(err.message) && /at character \d+/.test(err.message)));
  }
});

test('an error body may use json, as the errorResponse docs do', () => {
  const d: Record<string, unknown> = { message: 'token expired', status_code: 401 };
  Object.defineProperty(d, 'httpStatus', { value: 401, enumerable: false });
  assert.equal(runTemplate(parseTemplate('{{ . | json "" }}', true), d), '{"message":"token expired","status_code":401}');
  assert.equal(runTemplate(parseTemplate('{"errorMessage": {{ .message | json "    " }}, "httpStatus": "{{ .httpStatus }}"}', true), d), '{"errorMessage": "token expired", "httpStatus": "401"}');
});

test('runtime faults are TemplateErrors, not crashes', () => {
  assert.throws(() => run('{{ .token.Claims.name.first }}'), TemplateError);
  assert.throws(() => run('{{ .nothing.here }}'), TemplateError);
  assert.throws(() => run('{{ index .token.Claims 3 }}'), TemplateError);
});

test('float64 printing follows Go: exponent from 1e6 up and below 1e-4', () => {
  assert.deepEqual([123456, 1234567, 1e8, 0.0001, 0.00001, 1.5, -42, 0].map(goFloat), ['123456', '1.234567e+06', '1e+08', '0.0001', '1e-05', '1.5', '-42', '0']);
});
