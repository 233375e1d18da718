// The TracingService, from YAML to IRGlobal.tracing: Emissary's documentation examples, its defaults,
// one per instance, and the settings Portico reports instead of ignoring.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadFiles } from '../../src/load/index.js';
import { compile, type CompileResult } from '../../src/compile/index.js';

const DOCS = join(process.cwd(), 'test', 'testdata', 'emissary', 'docs');

function compileText(text: string, options: Parameters<typeof compile>[1] = {}, source?: string): CompileResult {
  const loaded = loadFiles([{ path: 'tracing.yaml', content: text }], source ? { source } : {});
  return compile(loaded.resources, options, loaded.problems);
}

const summary = (r: CompileResult): string[] => r.report.problems.map((p) => `${p.severity} ${p.code} ${p.field ?? ''}`.trim());

const tracing = (spec: string, name = 'tracing', apiVersion = 'getambassador.io/v3alpha1'): string =>
  `apiVersion: ${apiVersion}\nkind: TracingService\nmetadata:\n  name: ${name}\nspec:\n${spec.replace(/^(?=.)/gm, '  ')}`;

describe('TracingService → IRGlobal.tracing', () => {
  it("Emissary's TracingService reference example: zipkin, request-header tags, overall sampling", () => {
    const r = compileText(readFileSync(join(DOCS, 'topics.running.services.tracing-service.1.yaml'), 'utf8'));
    assert.deepEqual(summary(r), []);
    const t = r.ir.global.tracing!;
    assert.equal(t.driver, 'zipkin');
    assert.equal(t.endpoint, 'http://example-zipkin:9411/api/v2/spans');
    assert.deepEqual(t.propagation, ['B3']);
    assert.deepEqual(t.sampling, { client: 100, random: 100, overall: 100 });
    assert.deepEqual(t.customTags, [
      { tag: 'host', requestHeader: { name: ':authority', defaultValue: 'unknown' } },
      { tag: 'path', requestHeader: { name: ':path', defaultValue: 'unknown' } },
    ]);
    assert.equal(t.serviceName, 'portico');
    assert.equal(t.traceId64Bit, false);
  });

  it('opentelemetry: OTLP over HTTP on /v1/traces, W3C trace context by default', () => {
    const r = compileText(tracing('service: otel-collector.monitoring:4318\ndriver: opentelemetry\nsampling: {random: 10}\nconfig: {service_name: edge}\n'));
    assert.deepEqual(summary(r), []);
    const t = r.ir.global.tracing!;
    assert.equal(t.endpoint, 'http://otel-collector.monitoring:4318/v1/traces');
    assert.deepEqual(t.propagation, ['TRACE_CONTEXT']);
    assert.deepEqual(t.sampling, { client: 100, random: 10, overall: 100 });
    assert.equal(t.serviceName, 'edge');
    assert.deepEqual(t.source.origin, { path: 'tracing.yaml', line: 1, col: 1 });
  });

  it('an https:// service and a collector_endpoint make the URL; collector_hostname is kept for the Host header', () => {
    const t = compileText(tracing('service: https://collector.example.com\ndriver: zipkin\nconfig: {collector_endpoint: /zipkin/api/v2/spans, collector_hostname: zipkin.internal}\n')).ir.global.tracing!;
    assert.equal(t.endpoint, 'https://collector.example.com:443/zipkin/api/v2/spans');
    assert.equal(t.collectorHostname, 'zipkin.internal');
  });

  it('two TracingServices: both are errors and nothing is traced (Emissary supports exactly one)', () => {
    const r = compileText(tracing('service: a:9411\ndriver: zipkin\n', 'one') + '---\n' + tracing('service: b:9411\ndriver: zipkin\n', 'two'));
    assert.deepEqual(summary(r), ['error TracingServiceConflict metadata.name', 'error TracingServiceConflict metadata.name']);
    assert.equal(r.ir.global.tracing, undefined);
  });

  const reported: Record<string, { spec: string; problems: string[]; traced: boolean }> = {
    'driver datadog: a warning, no tracing': { spec: 'service: "${HOST_IP}:8126"\ndriver: datadog\n', problems: ['warning NotImplemented spec.driver'], traced: false },
    'driver lightstep: a warning, and one for its access token file': {
      spec: 'service: lightstep:443\ndriver: lightstep\nconfig: {access_token_file: /t, propagation_modes: [LIGHTSTEP]}\n',
      problems: ['warning NotImplemented spec.config.access_token_file', 'warning NotImplemented spec.driver'],
      traced: false,
    },
    'propagation mode ENVOY is left out with a warning': { spec: 'service: c:4318\ndriver: opentelemetry\nconfig: {propagation_modes: [ENVOY, B3]}\n', problems: ['warning NotImplemented spec.config.propagation_modes[0]'], traced: true },
    'port 4317 (OTLP over gRPC) is a warning': { spec: 'service: c:4317\ndriver: opentelemetry\n', problems: ['warning NotImplemented spec.service'], traced: true },
    'a custom tag with two sources is an error': { spec: 'service: c:4318\ndriver: opentelemetry\ncustom_tags: [{tag: t, literal: {value: v}, environment: {name: E}}]\n', problems: ['error SchemaViolation spec.custom_tags[0]'], traced: false },
    'a custom tag with no source is an error': { spec: 'service: c:4318\ndriver: opentelemetry\ncustom_tags: [{tag: t}]\n', problems: ['error SchemaViolation spec.custom_tags[0]'], traced: false },
    'a driver Emissary does not know is an error': { spec: 'service: c:4318\ndriver: jaeger\n', problems: ['error SchemaViolation spec.driver'], traced: false },
    'sampling above 100 is an error': { spec: 'service: c:4318\ndriver: opentelemetry\nsampling: {random: 150}\n', problems: ['error SchemaViolation spec.sampling.random'], traced: false },
    'an invalid service is an error': { spec: 'service: "bad host:1"\ndriver: zipkin\n', problems: ['error InvalidService spec.service'], traced: false },
    'a collector_endpoint that is not a path is an error': { spec: 'service: z:9411\ndriver: zipkin\nconfig: {collector_endpoint: api/v2/spans}\n', problems: ['error SchemaViolation spec.config.collector_endpoint'], traced: false },
    'zipkin HTTP_PROTO is a warning (spans go as v2 JSON)': { spec: 'service: z:9411\ndriver: zipkin\nconfig: {collector_endpoint_version: HTTP_PROTO}\n', problems: ['warning NotImplemented spec.config.collector_endpoint_version'], traced: true },
    'shared_span_context: true is a warning': { spec: 'service: z:9411\ndriver: zipkin\nconfig: {shared_span_context: true}\n', problems: ['warning NotImplemented spec.config.shared_span_context'], traced: true },
    'a misspelt field is a warning with a suggestion, the rest applies': { spec: 'service: z:9411\ndriver: zipkin\nsampling: {randon: 5}\n', problems: ['warning UnknownField spec.sampling.randon'], traced: true },
  };
  for (const [name, c] of Object.entries(reported)) {
    it(name, () => {
      const r = compileText(tracing(c.spec));
      assert.deepEqual(summary(r).sort(), c.problems);
      assert.equal(r.ir.global.tracing !== undefined, c.traced);
    });
  }

  it('v2 tag_headers become request-header tags, with a deprecation warning', () => {
    const r = compileText(tracing('service: z:9411\ndriver: zipkin\ntag_headers: [X-User]\n', 'tracing', 'getambassador.io/v2'));
    assert.deepEqual(summary(r), ['warning Deprecated spec.tag_headers']);
    assert.deepEqual(r.ir.global.tracing!.customTags, [{ tag: 'X-User', requestHeader: { name: 'x-user' } }]);
  });

  it("another instance's TracingService is not this one's", () => {
    const r = compileText(tracing('ambassador_id: [other]\nservice: z:9411\ndriver: zipkin\n'));
    assert.deepEqual(summary(r), []);
    assert.equal(r.ir.global.tracing, undefined);
  });

  it('a team source may not configure tracing unless its claim grants the kind', () => {
    const text = tracing('service: z:9411\ndriver: zipkin\n');
    const claims = { shop: { kinds: ['Mapping'], hostnames: ['shop.example.com'], pathPrefixes: [] } };
    const refused = compileText(text, { claims }, 'shop');
    assert.deepEqual(summary(refused), ['error ClaimViolation kind']);
    assert.equal(refused.ir.global.tracing, undefined);
  });

  it('the IR without a TracingService has no tracing key (golden files and hashes unchanged)', () => {
    const r = compileText('apiVersion: getambassador.io/v3alpha1\nkind: Module\nmetadata:\n  name: ambassador\nspec:\n  config: {}\n');
    assert.equal('tracing' in r.ir.global, false);
  });
});
