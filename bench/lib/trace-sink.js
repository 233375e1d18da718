// A trace collector for the tracing variants: takes every OTLP/HTTP export request and answers 200,
// counting bytes and requests, so that what Portico pays for tracing is measured, not the collector.
import http from 'node:http';

export async function startTraceSink() {
  let requests = 0;
  let bytes = 0;
  const server = http.createServer((req, res) => {
    req.on('data', (c) => { bytes += c.length; });
    req.on('end', () => {
      requests++;
      res.writeHead(200, { 'content-type': 'application/x-protobuf', 'content-length': 0 }).end();
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: server.address().port,
    stats: () => ({ requests, bytes }),
    stop: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** A TracingService YAML sending to the sink at `percent` random sampling. */
export function tracingServiceYaml(sinkPort, percent) {
  return `apiVersion: getambassador.io/v3alpha1
kind: TracingService
metadata:
  name: bench-tracing
spec:
  service: 127.0.0.1:${sinkPort}
  driver: opentelemetry
  sampling:
    random: ${percent}
`;
}
