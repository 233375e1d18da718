// Edge server settings: the lenient parser is refused wherever it could be switched on, and the
// limits from IRGlobal reach the HTTP/1.1 front (HARDENING §2.11).

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { assertStrictParserProcess, frontLimits } from '../../src/serve/http-limits.js';
import { testGlobal } from './ir-fixtures.js';

describe('HTTP server limits', () => {
  it('refuses --insecure-http-parser in execArgv or NODE_OPTIONS', () => {
    assert.throws(() => assertStrictParserProcess({}, ['--insecure-http-parser']), { code: 'PORTICO_ERR_INSECURE_HTTP_PARSER' });
    assert.throws(() => assertStrictParserProcess({ NODE_OPTIONS: '--max-old-space-size=512 --insecure-http-parser' }, []), /NODE_OPTIONS/);
    assert.doesNotThrow(() => assertStrictParserProcess({ NODE_OPTIONS: '--max-old-space-size=512' }, ['--enable-source-maps']));
  });

  it('derives the HTTP/1.1 front\'s limits from IRGlobal', () => {
    const g = testGlobal({ requestHeadersTimeoutMs: 12_000, maxRequestHeadersBytes: 32 * 1024, listenerIdleTimeoutMs: 300_000 });
    const l = frontLimits({ ...g, limits: { ...g.limits, keepAliveTimeoutMs: 7000, maxRequestsPerConnection: 50 } });
    assert.equal(l.headersTimeoutMs, 12_000);
    assert.ok(l.requestTimeoutMs >= l.headersTimeoutMs);
    assert.equal(l.maxHeaderBytes, 32 * 1024);
    assert.equal(l.keepAliveTimeoutMs, 7000);
    assert.equal(l.maxRequestsPerConnection, 50);
    assert.equal(l.idleTimeoutMs, 300_000);
    // no header deadline configured: a bounded default, never none
    assert.equal(frontLimits(testGlobal({ requestHeadersTimeoutMs: 0 })).headersTimeoutMs, 10_000);
  });
});
