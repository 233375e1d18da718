// Alternative upstream for the proxy benchmarks (`--upstream node`): a small, fast node:http server
// answering every request with the same 200 body, so proxies are what the runs measure.
import http from 'node:http';

const port = Number(process.env.PORT ?? 0);
const body = Buffer.from('{"ok":true,"upstream":"node"}\n');
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
