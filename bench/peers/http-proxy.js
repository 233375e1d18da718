// Comparison peer: the http-proxy package behind a plain node:http server, keep-alive to the upstream.
// Started by bench/run.js with PORT and UPSTREAM (http://127.0.0.1:N) in its environment.
import http from 'node:http';
import httpProxy from 'http-proxy';

const port = Number(process.env.PORT);
const upstream = process.env.UPSTREAM;
const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
const proxy = httpProxy.createProxyServer({ target: upstream, agent, xfwd: true });
proxy.on('error', (_err, _req, res) => {
  // res is a socket for upgrade errors; only answer real responses.
  if (res && typeof res.writeHead === 'function' && !res.headersSent) {
    res.writeHead(502, { 'content-type': 'text/plain' });
    res.end('bad gateway\n');
  }
});
const server = http.createServer((req, res) => proxy.web(req, res));
server.keepAliveTimeout = 65_000;
server.listen(port, '127.0.0.1', () => console.log(`ready ${port}`));
