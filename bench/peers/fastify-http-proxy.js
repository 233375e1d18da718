// Comparison peer: @fastify/http-proxy forwarding every path to one upstream.
// Started by bench/run.js with PORT and UPSTREAM (http://127.0.0.1:N) in its environment.
import Fastify from 'fastify';
import proxy from '@fastify/http-proxy';

const port = Number(process.env.PORT);
const upstream = process.env.UPSTREAM;
// Logging off and no body parsing: the peer is measured as the thinnest proxy it can be.
const app = Fastify({ logger: false });
await app.register(proxy, { upstream, prefix: '/', http: { agentOptions: { keepAlive: true, maxSockets: 256 } } });
await app.listen({ host: '127.0.0.1', port });
console.log(`ready ${port}`);
