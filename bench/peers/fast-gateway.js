// Comparison peer: fast-gateway (restana + fast-proxy-lite, pinned to 1.1.2 in bench/package.json).
// Started by bench/run.js with PORT and UPSTREAM (http://127.0.0.1:N) in its environment.
import gateway from 'fast-gateway';

const port = Number(process.env.PORT);
const upstream = process.env.UPSTREAM;
const server = gateway({
  // An empty prefix plus the default '/*' pattern matches every path, forwarded unchanged.
  routes: [{ prefix: '', prefixRewrite: '', target: upstream }],
});
await server.start(port, '127.0.0.1');
console.log(`ready ${port}`);
