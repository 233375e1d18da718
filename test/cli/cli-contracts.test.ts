// The contract every `portico` command keeps, as a user meets it (real processes of bin/portico.js):
// --help and --version, did-you-mean for commands and flags, usage errors exit 2 with the usage, and a
// known failure is one coded line (PORTICO_ERR_*), never a stack. One table row per command.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { removeDir, tempDir, TestRepo } from '../sources/git-fixture.js';
import { runPortico, type CliRun } from '../support/portico-cli.js';

const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };

type Run = CliRun;

/** Runs `portico ARGS` in the suite's folder. */
function portico(args: readonly string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Run> {
  return runPortico(args, { cwd: opts.cwd ?? root, ...(opts.env ? { env: opts.env } : {}) });
}

const NO_STACK = /^\s+at .+(:\d+:\d+\)?|<anonymous>\)?)$/m;

/** A usage error: first line names the command and the mistake, then a blank line, then the usage; exit 2. */
function assertUsageError(r: Run, command: string, first: RegExp, usage: string): void {
  assert.equal(r.code, 2, r.stderr);
  assert.equal(r.stdout, '');
  const [line, blank, ...rest] = r.stderr.split('\n');
  assert.match(line!, new RegExp(`^portico ${command}: `));
  assert.match(line!, first);
  assert.equal(blank, '');
  assert.equal(rest.join('\n').trimEnd(), usage, 'the usage follows, as --help prints it');
}

/** A known failure: its last line is `portico COMMAND: PORTICO_ERR_…: why`, with no stack anywhere. */
function assertCodedFailure(r: Run, command: string, code: string, why: RegExp, exit = 1): void {
  assert.equal(r.code, exit, r.stderr);
  assert.doesNotMatch(r.stderr, NO_STACK);
  const last = r.stderr.trimEnd().split('\n').pop() ?? '';
  assert.match(last, new RegExp(`^portico ${command}: ${code}: `), r.stderr);
  assert.match(last, why);
}

let root = '';
let good = '';
let empty = '';
let repo: TestRepo;
let squatter: net.Server;
let takenAdmin = '';

before(async () => {
  root = tempDir('cli-contracts');
  good = join(root, 'good');
  empty = join(root, 'empty');
  mkdirSync(good);
  mkdirSync(empty);
  writeFileSync(join(good, 'mapping.yaml'), 'apiVersion: getambassador.io/v3alpha1\nkind: Mapping\nmetadata: { name: orders }\nspec: { hostname: "*", prefix: /orders/, service: orders:8080 }\n');
  writeFileSync(join(root, 'signers-empty'), '# nobody yet\n');
  repo = new TestRepo(root, 'central');
  repo.write('config/mapping.yaml', readFileSync(join(good, 'mapping.yaml'), 'utf8')).commit('config');
  squatter = net.createServer();
  await new Promise<void>((r) => squatter.listen(0, '127.0.0.1', r));
  takenAdmin = `127.0.0.1:${(squatter.address() as net.AddressInfo).port}`;
});

after(async () => {
  await new Promise((r) => squatter.close(r));
  removeDir(root);
});

interface CommandCase {
  /** A flag one letter off, and the one it should suggest. */
  readonly typo: readonly [string, string];
  /** Arguments that make a usage error, and what its line says. */
  readonly usage: readonly [() => string[], RegExp];
  /** Arguments that make a known failure, its code, its line, and exit code. */
  readonly failure: readonly [() => string[], string, RegExp, number?];
  readonly env?: () => NodeJS.ProcessEnv;
}

const missingRepo = (): string => `a=${join(root, 'no-such-repository')}`;

const COMMANDS: Record<string, CommandCase> = {
  validate: {
    typo: ['--fromat', '--format'],
    usage: [() => [], /missing configuration PATH/],
    failure: [() => [empty], 'PORTICO_ERR_NO_RESOURCES', /no resources found in .*empty/],
  },
  render: {
    typo: ['--formt', '--format'],
    usage: [() => ['--format', 'yml', good], /--format must be one of json, yaml \(got 'yml'; did you mean 'yaml'\?\)/],
    failure: [() => ['--source', missingRepo()], 'PORTICO_ERR_FETCH', /source 'a' cannot be fetched: RepositoryNotFound/],
  },
  routes: {
    typo: ['--formatt', '--format'],
    usage: [() => [], /missing configuration PATH/],
    failure: [() => ['--source', missingRepo()], 'PORTICO_ERR_FETCH', /source 'a' cannot be fetched/],
  },
  explain: {
    typo: ['--listner', '--listener'],
    usage: [() => [good], /missing the request/],
    failure: [() => ['--source', missingRepo(), 'GET http://example.com/orders/1'], 'PORTICO_ERR_FETCH', /source 'a' cannot be fetched/],
  },
  test: {
    typo: ['--test', '--tests'],
    usage: [() => [good], /missing --tests/],
    failure: [() => [good, '--tests', empty], 'PORTICO_ERR_NO_TESTS', /no route test files found in .*empty/],
  },
  plan: {
    typo: ['--bse', '--base'],
    usage: [() => [], /give --base and\/or --head/],
    failure: [() => ['--repo', repo.work, '--base', 'main:config', '--head', 'main:confg'], 'PORTICO_ERR_PLAN_STATE', /'confg' does not exist at main \([0-9a-f]{12}\)/, 2],
  },
  history: {
    typo: ['--lmit', '--limit'],
    usage: [() => ['--limit', 'ten'], /--limit needs a whole number/],
    failure: [() => ['--state', join(root, 'no-state')], 'PORTICO_ERR_STATE_DIR', /state folder '.*no-state' does not exist/],
  },
  status: {
    typo: ['--flet', '--fleet'],
    usage: [() => ['--redis', 'redis://127.0.0.1:1'], /--redis reads the fleet: give --fleet too/],
    // Port 1 on loopback: nothing listens there, the connection is refused at once.
    failure: [() => ['--admin', 'http://127.0.0.1:1'], 'PORTICO_ERR_ADMIN_UNREACHABLE', /cannot read http:\/\/127\.0\.0\.1:1\/api\/v1\/status: ECONNREFUSED/],
  },
  serve: {
    typo: ['--wrkers', '--workers'],
    usage: [() => ['--config', good, '--bind', 'localhost:80'], /--bind needs an IP address/],
    failure: [() => ['--config', good, '--admin', takenAdmin, '--workers', '0', '--access-log', 'off'], 'PORTICO_ERR_ADMIN_BIND', /cannot bind the admin address http:\/\/127\.0\.0\.1:\d+: EADDRINUSE/],
  },
  crds: {
    typo: ['--knd', '--kind'],
    usage: [() => ['--format', 'yml'], /--format must be one of yaml, json \(got 'yml'; did you mean 'yaml'\?\)/],
    failure: [() => ['--output', join(root, 'no-such-dir', 'crds.yaml')], 'PORTICO_ERR_IO', /cannot open .*no-such-dir\/crds\.yaml: ENOENT \(no such file or directory\)/],
  },
  manifests: {
    typo: ['--replcas', '--replicas'],
    usage: [() => [], /give the central policy/],
    failure: [() => ['--kubernetes', 'ops=portico', '--output', join(root, 'no-such-dir', 'm.yaml')], 'PORTICO_ERR_IO', /cannot open .*no-such-dir\/m\.yaml: ENOENT/],
  },
  demo: {
    typo: ['--admin-prt', '--admin-port'],
    usage: [() => ['--port', 'eighty'], /--port needs a port number/],
    // Without git on the PATH the demo cannot make its repositories: one line, before anything starts.
    failure: [() => [], 'PORTICO_ERR_GIT_SPAWN', /git is needed/],
    env: () => ({ ...process.env, PATH: join(root, 'no-bin') }),
  },
};

describe('portico (no command)', () => {
  it('prints its usage and exits 2 without a command, 0 with --help or help', async () => {
    const none = await portico([]);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /^portico: missing COMMAND\n\nusage: portico COMMAND/);
    for (const args of [['--help'], ['-h'], ['help']]) {
      const r = await portico(args);
      assert.equal(r.code, 0, args.join(' '));
      assert.match(r.stdout, /^usage: portico COMMAND/);
      for (const name of Object.keys(COMMANDS)) assert.match(r.stdout, new RegExp(`^  ${name} `, 'm'), `lists ${name}`);
    }
  });

  it('prints its version on one line', async () => {
    const r = await portico(['--version']);
    assert.equal(r.code, 0);
    assert.equal(r.stdout, `portico ${pkg.version}\n`);
  });

  it('names the closest command or option to a typo, exit 2', async () => {
    const cmd = await portico(['valiate', 'x']);
    assert.equal(cmd.code, 2);
    assert.match(cmd.stderr, /^portico: unknown command 'valiate' \(did you mean 'validate'\?\)\n\nusage: portico COMMAND/);
    const help = await portico(['help', 'rotes']);
    assert.equal(help.code, 2);
    assert.match(help.stderr, /^portico: unknown command 'rotes' \(did you mean 'routes'\?\)/);
    const opt = await portico(['--verison']);
    assert.equal(opt.code, 2);
    assert.match(opt.stderr, /^portico: unknown option '--verison' \(did you mean '--version'\?\)/);
    const far = await portico(['frobnicate']);
    assert.match(far.stderr, /^portico: unknown command 'frobnicate'\n/, 'no guess when nothing is close');
  });

  it('takes two swapped letters for one typo, and the start of a command or flag for the whole', async () => {
    const cases: [string[], RegExp][] = [
      [['tset'], /^portico: unknown command 'tset' \(did you mean 'test'\?\)\n/],
      [['hlep'], /^portico: unknown command 'hlep' \(did you mean 'help'\?\)\n/],
      [['rout'], /^portico: unknown command 'rout' \(did you mean 'routes'\?\)\n/],
      [['--hlep'], /^portico: unknown option '--hlep' \(did you mean '--help'\?\)\n/],
      [['plan', '--bsae', 'x'], /^portico plan: unknown option '--bsae' \(did you mean '--base'\?\)\n/],
      [['explain', '--prot', '80'], /^portico explain: unknown option '--prot' \(did you mean '--port'\?\)\n/],
      [['routes', '--form', 'json'], /^portico routes: unknown option '--form' \(did you mean '--format'\?\)\n/],
    ];
    const runs = await Promise.all(cases.map(([args]) => portico(args)));
    cases.forEach(([args, line], i) => {
      assert.equal(runs[i]!.code, 2, args.join(' '));
      assert.match(runs[i]!.stderr, line);
    });
  });

  it('help keeps the contract of every command: --help, -h and `help help` print the usage, --version the version, exit 0', async () => {
    const [global, ...runs] = await Promise.all([['--help'], ['help', '--help'], ['help', '-h'], ['help', 'help']].map((args) => portico(args)));
    for (const r of runs) {
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stderr, '');
      assert.equal(r.stdout, global!.stdout);
    }
    const version = await portico(['help', '--version']);
    assert.equal(version.code, 0, version.stderr);
    assert.equal(version.stdout, `portico ${pkg.version}\n`);
    const typo = await portico(['help', '--hlep']);
    assert.equal(typo.code, 2);
    assert.match(typo.stderr, /^portico: unknown option '--hlep' \(did you mean '--help'\?\)\n\nusage: portico COMMAND/);
  });
});

for (const [command, c] of Object.entries(COMMANDS)) {
  describe(`portico ${command}`, () => {
    let usage = '';

    it('--help, -h and `portico help COMMAND` print the same usage and exit 0', async () => {
      const [long, short, viaHelp] = await Promise.all([portico([command, '--help']), portico([command, '-h']), portico(['help', command])]);
      for (const r of [long, short, viaHelp]) {
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stderr, '');
      }
      assert.match(long.stdout, new RegExp(`^usage: portico ${command} `));
      assert.equal(short.stdout, long.stdout);
      assert.equal(viaHelp.stdout, long.stdout);
      usage = long.stdout.trimEnd();
    });

    it('--version prints the version on one line, whatever else is given', async () => {
      const r = await portico([command, '--version', '--no-such-option']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `portico ${pkg.version}\n`);
    });

    it(`a misspelled flag (${c.typo[0]}) names the closest one, with the usage, exit 2`, async () => {
      const r = await portico([command, c.typo[0], 'x']);
      assertUsageError(r, command, new RegExp(`unknown option '${c.typo[0]}' \\(did you mean '${c.typo[1]}'\\?\\)$`), usage);
    });

    it('a usage error prints the usage and exits 2', async () => {
      assertUsageError(await portico([command, ...c.usage[0]()]), command, c.usage[1], usage);
    });

    it(`a known failure is one line with its code (${c.failure[1]}), never a stack`, async () => {
      const r = await portico([command, ...c.failure[0]()], c.env ? { env: c.env() } : {});
      assertCodedFailure(r, command, c.failure[1], c.failure[2], c.failure[3] ?? 1);
    });
  });
}

describe('failures of the inputs', () => {
  it('plan: a REF:PATH whose PATH is missing at that revision exits 2, for the base and for --source', async () => {
    const base = await portico(['plan', '--repo', repo.work, '--base', 'main:nope', '--head', 'main:config']);
    assertCodedFailure(base, 'plan', 'PORTICO_ERR_PLAN_STATE', /'nope' does not exist at main/, 2);
    const team = await portico(['plan', '--repo', repo.work, 'main:config', '--head', '--source', `shop=${repo.work}@main:deploy`]);
    assertCodedFailure(team, 'plan', 'PORTICO_ERR_PLAN_STATE', /'deploy' does not exist at main/, 2);
    const ok = await portico(['plan', '--repo', repo.work, '--base', 'main:config', '--head', 'main:config']);
    assert.equal(ok.code, 0, ok.stderr);
  });

  it('explain: a request that is not an absolute http(s) URL, or names a port no one can reach, is a usage error that says so', async () => {
    const usage = (await portico(['explain', '--help'])).stdout.trimEnd();
    const cases: [string, RegExp][] = [
      ['GET /shop/cart', /'\/shop\/cart' is not an absolute URL: give the scheme and host, e\.g\. 'https:\/\/api\.example\.com\/shop\/cart'$/],
      ['GET ftp://a/', /'ftp:\/\/a\/': the scheme must be http or https, not 'ftp'$/],
      ['GET http://a:99999/', /'http:\/\/a:99999\/': the port must be a number from 1 to 65535, not '99999'$/],
    ];
    const runs = await Promise.all(cases.map(([request]) => portico(['explain', good, request])));
    cases.forEach(([, line], i) => assertUsageError(runs[i]!, 'explain', line, usage));
  });

  it('test: test files that hold no test exit 1 with the files named', async () => {
    writeFileSync(join(root, 'none.test.yaml'), 'tests: []\n');
    const r = await portico(['test', good, '--tests', join(root, 'none.test.yaml')]);
    assertCodedFailure(r, 'test', 'PORTICO_ERR_NO_TESTS', /none\.test\.yaml hold no tests/);
  });

  it('validate: a git source that cannot be fetched fails instead of passing with nothing checked', async () => {
    const r = await portico(['validate', '--source', `a=${repo.bare}#no-such-branch`]);
    assertCodedFailure(r, 'validate', 'PORTICO_ERR_FETCH', /RefNotFound/);
    assert.doesNotMatch(r.stdout, /0 errors/);
  });

  it('serve: a --verify file that cannot be read, or that names no signer, stops the start with its code', async () => {
    const unreadable = await portico(['serve', '--source', `central=${repo.bare}`, '--verify', `central=head:${join(root, 'no-such-file')}`, '--state', join(root, 'st1')]);
    assertCodedFailure(unreadable, 'serve', 'PORTICO_ERR_VERIFY_FILE', /cannot read the allowed-signers file .*no-such-file: ENOENT/);
    const empty = await portico(['serve', '--source', `central=${repo.bare}`, '--verify', `central=strict:${join(root, 'signers-empty')}`, '--state', join(root, 'st2')]);
    assertCodedFailure(empty, 'serve', 'PORTICO_ERR_VERIFY_FILE', /holds no allowed signer/);
  });

  it('serve: a state folder that cannot be created stops the start with its code', async () => {
    const file = join(root, 'a-file');
    writeFileSync(file, 'x');
    const r = await portico(['serve', '--source', `central=${repo.bare}`, '--state', join(file, 'state')]);
    assertCodedFailure(r, 'serve', 'PORTICO_ERR_STATE_DIR', /cannot be created or written: ENOTDIR \(not a directory\)/);
  });
});
