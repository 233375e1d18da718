// What the offline commands do with inputs a user mistypes: a path that does not exist, a folder with
// nothing in it, a --local folder or team name that is wrong, a request not quoted, a full disk. Each
// is one coded line (or a usage error) before anything is printed, never a plausible answer.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, existsSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AuditHistory } from '../../src/controller/history.js';
import { runPortico, type CliRun } from '../support/portico-cli.js';
import { removeDir, tempDir } from '../sources/git-fixture.js';

const examples = fileURLToPath(new URL('../../../examples/', import.meta.url));
const central = join(examples, 'central');
const shop = join(examples, 'team-shop', 'deploy');
const NO_STACK = /^\s+at .+:\d+:\d+\)?$/m;

let root = '';
let empty = '';
let missing = '';

before(() => {
  root = tempDir('offline-inputs');
  empty = join(root, 'empty');
  missing = join(root, 'no-such-folder');
  mkdirSync(empty);
});

after(() => removeDir(root));

/** One coded line on stderr, nothing on stdout. */
function assertOneLine(r: CliRun, command: string, code: string, why: RegExp, exit = 1): void {
  assert.equal(r.code, exit, r.stderr);
  assert.equal(r.stdout, '', 'nothing is printed as if it were an answer');
  assert.doesNotMatch(r.stderr, NO_STACK);
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, new RegExp(`^portico ${command}: ${code}: `));
  assert.match(lines[0]!, why);
}

const REQUEST = 'GET http://localhost:8080/shop/cart';

describe('a configuration PATH that does not exist', () => {
  for (const [command, extra] of [['validate', []], ['render', []], ['routes', []], ['explain', [REQUEST]], ['test', ['--tests', join(examples, 'tests')]]] as const) {
    it(`${command}: one line, PORTICO_ERR_IO, and no configuration printed`, async () => {
      const r = await runPortico([command, missing, ...extra]);
      assertOneLine(r, command, 'PORTICO_ERR_IO', /cannot read .*no-such-folder: ENOENT \(no such file or directory\)/);
    });
  }
});

describe('paths that hold no resource at all', () => {
  for (const [command, extra] of [['validate', []], ['render', []], ['routes', []], ['explain', [REQUEST]], ['test', ['--tests', join(examples, 'tests')]]] as const) {
    it(`${command}: PORTICO_ERR_NO_RESOURCES, not an empty answer`, async () => {
      const r = await runPortico([command, empty, ...extra]);
      assertOneLine(r, command, 'PORTICO_ERR_NO_RESOURCES', /no resources found in .*empty/);
    });
  }
});

describe('--local', () => {
  it('a folder that does not exist fails the command instead of leaving the team unchecked', async () => {
    const r = await runPortico(['validate', central, '--local', `shop=${missing}`]);
    assertOneLine(r, 'validate', 'PORTICO_ERR_IO', /cannot read --local shop=.*no-such-folder: ENOENT/);
  });

  it('plan: a folder that does not exist is a side that cannot be read (exit 2)', async () => {
    const r = await runPortico(['plan', '--base', central, '--head', central, '--local', `shop=${missing}`]);
    assertOneLine(r, 'plan', 'PORTICO_ERR_PLAN_STATE', /cannot read --local shop=.*no-such-folder/, 2);
  });

  it("plan: serve's --source NAME=URL#BRANCH:PATH is a usage error that shows plan's form", async () => {
    const r = await runPortico(['plan', '--base', central, '--head', central, '--source', 'shop=/repo#main:deploy']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /^portico plan: --source 'shop=\/repo#main:deploy': plan takes NAME=PATH_OR_URL@REF\[:SUBDIR\] \(serve's #BRANCH is @REF here: 'shop=\/repo@main:deploy'\)\n\nusage: portico plan/);
  });

  it('a team the configuration does not declare is a usage error naming the teams it does', async () => {
    const r = await runPortico(['validate', central, '--local', `shopp=${shop}`]);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^portico validate: --local shopp: the configuration declares no team source 'shopp' \(it declares search, shop\)\n\nusage: portico validate/);
  });
});

describe('explain', () => {
  it('an unquoted request is a usage error, not a method read as a configuration path', async () => {
    const r = await runPortico(['explain', central, 'GET', 'http://localhost:8080/shop/cart']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /^portico explain: give the request as one argument, quoted: 'GET http:\/\/localhost:8080\/shop\/cart'\n/);
  });

  it('--port 0 is a usage error: no listener has it', async () => {
    const r = await runPortico(['explain', central, REQUEST, '--port', '0']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /^portico explain: --port must be a port number from 1 to 65535 \(got '0'\)\n/);
  });

  it('two requests are a usage error, not a request and a path', async () => {
    const r = await runPortico(['explain', central, REQUEST, 'GET http://localhost:8080/x']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /^portico explain: one request at a time: /);
  });
});

describe('the order of PATHs', () => {
  it('does not change what is read: team folders resolve next to the path that declares them', async () => {
    const [a, b] = await Promise.all([runPortico(['routes', central, empty, '--format', 'json']), runPortico(['routes', empty, central, '--format', 'json'])]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
    assert.equal(b.stdout, a.stdout);
    assert.match(a.stdout, /"shop-v1"|team-shop/, 'the shop team is read in both orders');
    assert.doesNotMatch(b.stderr, /not read here/);
  });
});

describe('--secrets', () => {
  it('a folder that cannot be read is PORTICO_ERR_SECRETS_DIR, one line', async () => {
    const r = await runPortico(['validate', central, '--secrets', missing]);
    assertOneLine(r, 'validate', 'PORTICO_ERR_SECRETS_DIR', /secrets directory .*no-such-folder cannot be read: ENOENT \(no such file or directory\)/);
  });
});

describe('test', () => {
  it('--tests that does not exist is PORTICO_ERR_IO; an empty test file holds no tests', async () => {
    const gone = await runPortico(['test', central, '--tests', missing]);
    assertOneLine(gone, 'test', 'PORTICO_ERR_IO', /cannot read --tests .*no-such-folder: ENOENT/);
    const blank = join(root, 'blank.test.yaml');
    writeFileSync(blank, '# nothing yet\n');
    const none = await runPortico(['test', central, '--tests', blank]);
    assertOneLine(none, 'test', 'PORTICO_ERR_NO_TESTS', /blank\.test\.yaml hold no tests/);
  });

  it('a folder given twice runs its tests once', async () => {
    const tests = join(examples, 'tests');
    const [once, twice] = await Promise.all([runPortico(['test', central, '--tests', tests]), runPortico(['test', central, '--tests', tests, '--tests', tests])]);
    assert.equal(once.code, 0, once.stderr);
    assert.equal(twice.stdout, once.stdout);
  });
});

describe('history', () => {
  it('an entry with no fetch (restored from the state folder) says when it went live, without a fetch time it never had', async () => {
    const state = join(root, 'state-restored');
    mkdirSync(state);
    new AuditHistory(state).append({ source: 'ops', revision: '2'.repeat(40), result: 'Restored', reason: 'LastKnownGood', liveAt: '2026-12-08T01:00:00.000Z', generation: 1 });
    const r = await runPortico(['history', '--state', state]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^ {4}live 2026-12-08T01:00:00\.000Z \(generation 1\)$/m);
    assert.doesNotMatch(r.stdout, /fetched \?/);
  });

  it('a --source with no attempts names the sources that have some', async () => {
    const state = join(root, 'state');
    mkdirSync(state);
    new AuditHistory(state).append({ source: 'ops', revision: '1'.repeat(40), result: 'Applied' });
    const r = await runPortico(['history', '--state', state, '--source', 'opps']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "no attempts recorded for source 'opps' (attempts are recorded for ops)\n");
  });
});

describe('demo', () => {
  it('a --port in use is one line before anything starts, not a screen of the gateway\'s log', async () => {
    const squatter = createServer();
    await new Promise<void>((r) => squatter.listen(0, '127.0.0.1', r));
    try {
      const port = (squatter.address() as AddressInfo).port;
      const r = await runPortico(['demo', '--port', String(port)]);
      assertOneLine(r, 'demo', 'PORTICO_ERR_DEMO', new RegExp(`--port ${port}: the port is in use; give another, or leave --port out for a free one`));
    } finally {
      await new Promise((r) => squatter.close(r));
    }
  });
});

describe('standard output that cannot be written', { skip: !existsSync('/dev/full') && 'no /dev/full here' }, () => {
  it('a full disk is one line, PORTICO_ERR_IO, never a stack', async () => {
    const fd = openSync('/dev/full', 'w');
    try {
      const r = await runPortico(['render', central], { stdout: fd });
      assert.equal(r.code, 1, r.stderr);
      assert.equal(r.stderr, 'portico: PORTICO_ERR_IO: cannot write to standard output: ENOSPC (no space left on device)\n');
    } finally {
      closeSync(fd);
    }
  });
});
