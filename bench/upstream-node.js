// Alternative upstream for the proxy benchmarks (`--upstream node`): a small, fast node:http server
// answering every request with the same 200 body, so proxies are what the runs measure.
import http from 'node:http';

const port = Number(process.env.PORT ?? 0);
// BODY_BYTES: a larger JSON body instead (the compression cells of bench/sections/filters.js).
const size = Number(process.env.BODY_BYTES ?? 0);
const body = size > 0 ? jsonOfSize(size) : Buffer.from('{"ok":true,"upstream":"node"}\n');

/** A JSON array of order-like records, `bytes` long: text that compresses as API responses do. */
function jsonOfSize(bytes) {
  const items = [];
  for (let i = 0; JSON.stringify(items).length < bytes - 200; i++) {
    items.push({ id: i, sku: `SKU-${(i * 7919) % 100000}`, name: `item ${i}`, price: ((i * 37) % 1000) / 10, tags: ['a', 'b', String(i % 13)], inStock: i % 3 !== 0 });
  }
  const pad = bytes - JSON.stringify([...items, { pad: '' }]).length - 1;
  return Buffer.from(`${JSON.stringify([...items, { pad: 'x'.repeat(Math.max(0, pad)) }])}\n`);
}
const server = http.createServer((req, res) => {
  // Drain any request body so keep-alive connections stay usable.
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
    res.end(body);
  });
});
server.keepAliveTimeout = 65_000;
server.maxRequestsPerSocket = 0;
server.listen(port, '127.0.0.1', () => console.log(`ready ${server.address().port}`));
