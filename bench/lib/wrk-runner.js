// Runs wrk against one URL and returns throughput, latency percentiles and errors as numbers.
// A generated Lua script prints a JSON summary, so no human-oriented output is parsed.
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runToCompletion } from './process-group.js';

const REPORT_LUA = `
done = function(summary, latency, requests)
  local e = summary.errors
  io.write("WRKJSON ")
  io.write(string.format('{"requests":%d,"duration_us":%d,"bytes":%d,', summary.requests, summary.duration, summary.bytes))
  io.write(string.format('"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},', e.connect, e.read, e.write, e.status, e.timeout))
  io.write(string.format('"lat_us":{"p50":%d,"p90":%d,"p99":%d,"p999":%d,"max":%d,"mean":%.1f}}',
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9), latency.max, latency.mean))
  io.write("\\n")
end
`;

function luaString(s) {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** A Lua script cycling through `paths` (each thread starts at a different offset). */
function cyclingLua(paths) {
  return `
local paths = { ${paths.map(luaString).join(', ')} }
local n = #paths
local i = 0
local counter = 0
setup = function(thread)
  thread:set("offset", counter * 7)
  counter = counter + 1
end
init = function(args)
  i = tonumber(offset) or 0
end
request = function()
  i = i + 1
  return wrk.format(nil, paths[(i % n) + 1])
end
`;
}

/**
 * @param {object} o
 * @param {string} o.url         http://127.0.0.1:PORT/path
 * @param {number} o.connections
 * @param {number} o.seconds
 * @param {Record<string,string>} [o.headers]
 * @param {string[]} [o.paths]   cycle through these paths instead of the URL's
 * @param {string} [o.cpus]      taskset CPU list for wrk
 * @param {number} [o.threads]
 * @param {number} [o.delayMs]  pace: after each response a connection waits a random 0 to 2×delayMs
 *   (mean delayMs) before its next request, so connections drift apart instead of arriving in bursts
 */
export async function runWrk({ url, connections, seconds, headers = {}, paths, cpus, threads = 1, delayMs }) {
  const dir = mkdtempSync(join(tmpdir(), 'portico-bench-wrk-'));
  try {
    const script = join(dir, 'report.lua');
    // wrk starts a request's clock when it is sent, so a paced run's latency excludes the pause. A fixed
    // pause would keep all connections in step: every request of a round would arrive at once and the
    // last of each burst would wait for all the others (a burst test, not a latency one).
    const pace = delayMs > 0 ? `\nmath.randomseed(${Date.now() % 100000})\ndelay = function()\n  return math.random(0, ${Math.round(2 * delayMs)})\nend\n` : '';
    writeFileSync(script, (paths?.length ? cyclingLua(paths) : '') + pace + REPORT_LUA);
    const args = ['-t', String(threads), '-c', String(connections), '-d', `${seconds}s`, '--timeout', '5s', '-s', script];
    // wrk only replaces its own Host header when the name is spelled "Host"; any other spelling
    // sends two, which nginx and HAProxy rightly answer with 400.
    for (const [k, v] of Object.entries(headers)) args.push('-H', `${k.toLowerCase() === 'host' ? 'Host' : k}: ${v}`);
    args.push(url);
    const r = await runToCompletion('wrk', args, { cpus, timeoutMs: (seconds + 30) * 1000 });
    const line = r.stdout.split('\n').find((l) => l.startsWith('WRKJSON '));
    if (!line) throw new Error(`wrk produced no summary (status ${r.status}): ${r.stderr || r.stdout}`);
    const j = JSON.parse(line.slice('WRKJSON '.length));
    const secondsRun = j.duration_us / 1e6;
    const errors = j.errors.connect + j.errors.read + j.errors.write + j.errors.status + j.errors.timeout;
    return {
      requests: j.requests,
      seconds: secondsRun,
      rps: j.requests / secondsRun,
      errors,
      errorDetail: j.errors,
      p50Ms: j.lat_us.p50 / 1000,
      p90Ms: j.lat_us.p90 / 1000,
      p99Ms: j.lat_us.p99 / 1000,
      p999Ms: j.lat_us.p999 / 1000,
      maxMs: j.lat_us.max / 1000,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
