// `portico demo` (what `npm start` runs): makes a central and two team repositories from examples/ in a
// temp folder, starts echo backends and a gateway syncing from them, and narrates what goes live.

import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, openSync, closeSync } from 'node:fs';
import http from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readHistory, type HistoryEntry } from '../controller/history.js';
import { parse, UsageError, withUsage } from './args.js';
import { CommandError } from './command-errors.js';

const EXAMPLES = fileURLToPath(new URL('../../../examples/', import.meta.url));
const BIN = fileURLToPath(new URL('../../../bin/portico.js', import.meta.url));

export const USAGE = `usage: portico demo [--port N] [--admin-port N]

  --port N           the gateway's port (default: a free one)
  --admin-port N     the admin API's port (default: a free one)
  Ctrl-C stops everything and removes the temporary folder.`;

function portArg(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^[0-9]{1,5}$/.test(value) || Number(value) < 1 || Number(value) > 65535) throw new UsageError(`${flag} needs a port number from 1 to 65535, got '${value}'`);
  return Number(value);
}

const DEMO_GIT_ENV = {
  GIT_AUTHOR_NAME: 'Portico Demo',
  GIT_AUTHOR_EMAIL: 'demo@portico.invalid',
  GIT_COMMITTER_NAME: 'Portico Demo',
  GIT_COMMITTER_EMAIL: 'demo@portico.invalid',
};

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** Throws PORTICO_ERR_DEMO when `port` is taken: the gateway would fail to start, after a screen of its log. */
async function mustBeFree(port: number | undefined, host: string, flag: string): Promise<void> {
  if (port === undefined) return;
  await new Promise<void>((resolve, reject) => {
    const s = createServer();
    s.once('error', (err: NodeJS.ErrnoException) =>
      reject(new CommandError('PORTICO_ERR_DEMO', `${flag} ${port}: ${err.code === 'EADDRINUSE' ? 'the port is in use' : `cannot listen there (${err.code ?? err.message})`}; give another, or leave ${flag} out for a free one`)),
    );
    s.listen(port, host, () => s.close(() => resolve()));
  });
}

/** A backend that says who it is and what it got: enough to see where a route points. */
async function startEchoBackend(name: string): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const body = `${name}: ${req.method ?? ''} ${req.url ?? ''}\n`;
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body), 'x-demo-backend': name });
      res.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

function portOf(s: http.Server): number {
  return (s.address() as AddressInfo).port;
}

function git(cwd: string, args: string[]): void {
  execFileSync('git', args, { cwd, env: { ...process.env, ...DEMO_GIT_ENV }, stdio: 'ignore' });
}

/** The ports the examples are written with (valid as shipped), and what the demo picked instead. */
function rewritePorts(dir: string, values: Record<string, string>): void {
  const shipped: Record<string, string> = { 'port: 8080': `port: ${values.GATEWAY_PORT}`, '127.0.0.1:9001': `127.0.0.1:${values.WELCOME}`, '127.0.0.1:9002': `127.0.0.1:${values.SHOP_V1}`, '127.0.0.1:9003': `127.0.0.1:${values.SHOP_V2}`, '127.0.0.1:9004': `127.0.0.1:${values.SEARCH}` };
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) rewritePorts(p, values);
    else if (/\.(ya?ml|json)$/.test(name)) {
      let text = readFileSync(p, 'utf8');
      for (const [k, v] of Object.entries(shipped)) text = text.split(k).join(v);
      writeFileSync(p, text);
    }
  }
}

/** Copies an example folder into a new repository with one commit; the demo identity is set locally. */
function makeRepo(example: string, dest: string, values: Record<string, string>): void {
  cpSync(join(EXAMPLES, example), dest, { recursive: true });
  rewritePorts(dest, values);
  git(dest, ['init', '-q', '-b', 'main']);
  git(dest, ['config', 'user.name', DEMO_GIT_ENV.GIT_AUTHOR_NAME]);
  git(dest, ['config', 'user.email', DEMO_GIT_ENV.GIT_AUTHOR_EMAIL]);
  git(dest, ['config', 'commit.gpgsign', 'false']);
  git(dest, ['add', '-A']);
  git(dest, ['commit', '-q', '-m', `${example}: initial configuration`]);
}

function probe(port: number, path: string): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.setTimeout(1000, () => req.destroy());
    req.on('error', () => resolve(0));
  });
}

function describeEntry(e: HistoryEntry): string {
  const rev = e.revision ? e.revision.slice(0, 7) : '';
  const what = e.message ? ` "${e.message.split('\n')[0]}"` : '';
  switch (e.result) {
    case 'Applied': {
      const c = e.routes?.counts;
      return `[live]     ${e.source} ${rev}${what}${c ? ` — routes +${c.added} -${c.removed} ~${c.changed}` : ''}`;
    }
    case 'Rejected': {
      const p = e.problems?.[0];
      return `[refused]  ${e.source} ${rev}${what} — ${e.reason ?? ''}${p ? `: ${p.origin}: ${p.message}` : ''}\n           ${e.source} keeps serving its last good revision; other teams are unaffected`;
    }
    case 'FetchFailed':
      return `[fetch]    ${e.source}: ${e.reason ?? ''} ${e.message ?? ''}`;
    default:
      return `[${e.result.toLowerCase()}] ${e.source} ${rev}${what}`;
  }
}

export async function run(argv: string[]): Promise<number> {
  return withUsage('demo', USAGE, () => demo(argv));
}

async function demo(argv: string[]): Promise<number> {
  const { values: opts, positionals } = parse(argv, { port: { type: 'string' }, 'admin-port': { type: 'string' } }, USAGE);
  if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'`);
  let gatewayPort = portArg('--port', opts.port);
  let adminPort = portArg('--admin-port', opts['admin-port']);
  await mustBeFree(gatewayPort, '0.0.0.0', '--port');
  await mustBeFree(adminPort, '127.0.0.1', '--admin-port');
  try {
    execFileSync('git', ['--version'], { stdio: 'ignore' });
  } catch {
    throw new CommandError('PORTICO_ERR_GIT_SPAWN', 'git is needed (the gateway syncs from git repositories) and cannot be run');
  }

  const dir = mkdtempSync(join(tmpdir(), 'portico-demo-'));
  const backends = new Map<string, http.Server>();
  let follow: NodeJS.Timeout | undefined = undefined;
  const cleanup = async (): Promise<void> => {
    if (follow) clearInterval(follow);
    for (const s of backends.values()) {
      s.closeAllConnections();
      await new Promise<void>((r) => s.close(() => r()));
    }
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    for (const name of ['welcome', 'shop-v1', 'shop-v2', 'search']) backends.set(name, await startEchoBackend(name));
    gatewayPort ??= await freePort();
    adminPort ??= await freePort();
    const values = {
      GATEWAY_PORT: String(gatewayPort),
      WELCOME: String(portOf(backends.get('welcome')!)),
      SHOP_V1: String(portOf(backends.get('shop-v1')!)),
      SHOP_V2: String(portOf(backends.get('shop-v2')!)),
      SEARCH: String(portOf(backends.get('search')!)),
    };
    makeRepo('central', join(dir, 'central'), values);
    makeRepo('team-shop', join(dir, 'team-shop'), values);
    makeRepo('team-search', join(dir, 'team-search'), values);
  } catch (err) {
    await cleanup();
    throw new CommandError('PORTICO_ERR_DEMO', `cannot set up the demo: ${(err as Error).message}`);
  }

  const stateDir = join(dir, 'state');
  const logFile = join(dir, 'gateway.log');
  const logFd = openSync(logFile, 'a');
  // The gateway is a real `portico serve` process; its JSON log goes to a file, the story to the terminal.
  const child: ChildProcess = spawn(
    process.execPath,
    [BIN, 'serve', '--source', `central=${join(dir, 'central')}#main`, '--state', stateDir, '--admin', `127.0.0.1:${adminPort}`, '--workers', '0', '--poll-interval', '1s', '--access-log', 'off'],
    { stdio: ['ignore', logFd, logFd] },
  );
  closeSync(logFd);
  const exited = new Promise<number>((resolve) => child.once('exit', (code, signal) => resolve(code ?? (signal ? 0 : 1))));
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    child.kill('SIGTERM');
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);

  let ready = false;
  for (let i = 0; i < 150 && !ready && child.exitCode === null; i++) {
    ready = (await probe(adminPort, '/readyz')) === 200;
    if (!ready) await new Promise((r) => setTimeout(r, 200));
  }
  if (!ready) {
    let tail = '';
    try {
      tail = readFileSync(logFile, 'utf8').split('\n').slice(-30).join('\n');
    } catch {}
    stop();
    await exited;
    await cleanup();
    if (tail) process.stderr.write(`the gateway's log:\n${tail}\n`);
    throw new CommandError('PORTICO_ERR_DEMO', 'the gateway did not become ready (its log is above)');
  }

  const g = `http://127.0.0.1:${gatewayPort}`;
  const a = `http://127.0.0.1:${adminPort}`;
  const shop = join(dir, 'team-shop');
  const v1 = `127.0.0.1:${portOf(backends.get('shop-v1')!)}`;
  const v2 = `127.0.0.1:${portOf(backends.get('shop-v2')!)}`;
  console.log(`
Portico demo — a gateway serving three git repositories (one central, two teams)

  gateway   ${g}
  page      ${a}/   (sources, routes with live traffic, upstreams, history, explain)
  admin     ${a}/api/v1/status   ${a}/api/v1/history   ${a}/metrics
  repos     ${dir}/{central,team-shop,team-search}
  log       ${logFile}

1. Try it:
     curl ${g}/shop/cart        → shop-v1
     curl ${g}/search/?q=boots  → search
     curl ${g}/                 → welcome (owned by the central repository)

2. Watch a change go live (the gateway polls every second; nothing but git changes what is served):
     cd ${shop}
     edit deploy/shop.yaml: change  service: ${v1}  to  service: ${v2}
     git commit -am "shop: switch to v2"
     curl ${g}/shop/cart        → shop-v2

3. See what a bad commit does — the shop team tries to route /search/, outside its claim:
     edit deploy/shop.yaml: change  prefix: /shop/  to  prefix: /search/
     git commit -am "shop: take over /search/"
   The commit is refused with the file, line and claim named; shop keeps serving its last good
   revision and search is untouched. Details: the page's Overview (${a}/), curl ${a}/api/v1/status
   and: npx portico history --state ${stateDir}

Ctrl-C stops the gateway and the backends and removes ${dir}.
`);
  let shown = readHistory(stateDir).length;
  follow = setInterval(() => {
    const entries = readHistory(stateDir);
    for (const e of entries.slice(shown)) console.log(describeEntry(e));
    shown = entries.length;
  }, 500);

  const code = await exited;
  process.off('SIGINT', stop);
  process.off('SIGTERM', stop);
  await cleanup();
  console.log(stopping ? '\ndemo stopped; temp folder removed' : `\nthe gateway exited with code ${code}; temp folder removed`);
  return stopping ? 0 : code || 1;
}
