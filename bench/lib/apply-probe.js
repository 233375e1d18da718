// Measures how long a configuration change takes to go live: write one Mapping file into the
// watched folder, then poll the new route until it answers 2xx.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { singleMappingFile } from '../gen-config.js';
import { httpGet } from './variants.js';
import { sleep } from './process-group.js';
import { performance } from 'node:perf_hooks';

export async function measureApply({ configDir, port, host, upstreamPort, name, timeoutMs = 30_000 }) {
  const route = {
    name, team: 'bench', host, prefix: `/${name}/`, rewrite: '/',
    addRequestHeaders: { 'x-route': name }, removeRequestHeaders: [], addResponseHeaders: {}, removeResponseHeaders: [],
    regexRewrite: null, headers: null, method: null, timeoutMs: null,
  };
  const started = performance.now();
  writeFileSync(join(configDir, `${name}.yaml`), singleMappingFile(route, `127.0.0.1:${upstreamPort}`));
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const r = await httpGet(`http://127.0.0.1:${port}/${name}/x`, { headers: { host } });
      if (r.status >= 200 && r.status < 300) return performance.now() - started;
    } catch {}
    await sleep(10);
  }
  return null;
}
