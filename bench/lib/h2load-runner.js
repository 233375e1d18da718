// Runs h2load (HTTP/2, or HTTP/1.1 with --h1) over TLS and returns throughput, failures and
// latency percentiles computed from its per-request log.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runToCompletion } from './process-group.js';
import { percentile } from './summary-stats.js';

export async function runH2load({ url, connections, streams, seconds, h1 = false, cpus, warmupSeconds = 1 }) {
  const dir = mkdtempSync(join(tmpdir(), 'portico-bench-h2load-'));
  try {
    const log = join(dir, 'requests.log');
    const args = ['-D', String(seconds), `--warm-up-time=${warmupSeconds}`, '-c', String(connections), '-m', String(h1 ? 1 : streams), '-t', '1', `--log-file=${log}`];
    if (h1) args.push('--h1');
    args.push(url);
    const r = await runToCompletion('h2load', args, { cpus, timeoutMs: (seconds + warmupSeconds + 30) * 1000 });
    const out = r.stdout;
    const req = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(out);
    const fin = /finished in ([\d.]+)s, ([\d.]+) req\/s/.exec(out);
    const codes = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(out);
    const proto = /Application protocol: (\S+)/.exec(out);
    if (!req || !fin) throw new Error(`h2load produced no summary (status ${r.status}): ${(r.stderr || out).slice(-800)}`);
    let lat = [];
    try {
      lat = readFileSync(log, 'utf8').trim().split('\n').map((l) => Number(l.split('\t')[2])).filter(Number.isFinite).sort((a, b) => a - b);
    } catch {}
    const non2xx = codes ? Number(codes[2]) + Number(codes[3]) + Number(codes[4]) : 0;
    return {
      protocol: proto?.[1] ?? null,
      requests: Number(req[3]),
      succeeded: Number(req[4]),
      failed: Number(req[5]) + Number(req[6]) + Number(req[7]) + non2xx,
      rps: Number(fin[2]),
      seconds: Number(fin[1]),
      p50Ms: lat.length ? percentile(lat, 50) / 1000 : null,
      p99Ms: lat.length ? percentile(lat, 99) / 1000 : null,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
