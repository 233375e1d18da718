// The access log: one JSON line per request with the fields the configuration selects, or none.

import { after, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AccessLog } from '../../src/serve/access-log.js';
import type { RequestInfo } from '../../src/dataplane/runtime-types.js';

const dir = mkdtempSync(join(tmpdir(), 'portico-access-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const info: RequestInfo = {
  generation: 4, listener: 'http', method: 'GET', path: '/a', authority: 'shop', status: 200, route: 'default/a', cluster: 'c',
  durationMs: 3, bytesIn: 0, bytesOut: 10, clientAddress: '127.0.0.1', requestId: 'rid-1',
};

it('writes the selected fields, all of them by default, and nothing when disabled', async () => {
  const file = join(dir, 'nested', 'access.log');
  const log = new AccessLog(file);
  log.write(info);
  log.configure({ enabled: true, fields: ['status', 'path', 'nonexistent'] });
  log.write(info);
  log.configure({ enabled: false });
  log.write(info);
  await log.close();
  const lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(lines.length, 2);
  assert.equal(lines[0]!.requestId, 'rid-1');
  assert.equal(lines[0]!.route, 'default/a');
  assert.match(String(lines[0]!.time), /^\d{4}-\d\d-\d\dT/);
  assert.deepEqual(Object.keys(lines[1]!).sort(), ['path', 'status', 'time']);
});
