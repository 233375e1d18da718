// Edge server settings: the lenient parser is refused wherever it could be switched on, and the
// limits from IRGlobal reach the server (HARDENING §2.11).

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { applyServerLimits, assertStrictParserProcess, assertStrictParserServer, serverOptions, CONNECTIONS_CHECKING_INTERVAL_MS } from '../../src/serve/http-limits.js';
import { testGlobal } from './ir-fixtures.js';

describe('HTTP server limits', () => {
  it('refuses --insecure-http-parser in execArgv or NODE_OPTIONS', () => {
    assert.throws(() => assertStrictParserProcess({}, ['--insecure-http-parser']), { code: 'PORTICO_ERR_INSECURE_HTTP_PARSER' });
    assert.throws(() => assertStrictParserProcess({ NODE_OPTIONS: '--max-old-space-size=512 --insecure-http-parser' }, []), /NODE_OPTIONS/);
    assert.doesNotThrow(() => assertStrictParserProcess({ NODE_OPTIONS: '--max-old-space-size=512' }, ['--enable-source-maps']));
  });

  it('refuses a server created with insecureHTTPParser', () => {
    assert.throws(() => assertStrictParserServer(http.createServer({ insecureHTTPParser: true })), { code: 'PORTICO_ERR_INSECURE_HTTP_PARSER' });
  });

  it('derives edge settings from IRGlobal and applies them to a live server', () => {
    const g = testGlobal({ requestHeadersTimeoutMs: 12_000, maxRequestHeadersBytes: 32 * 1024, listenerIdleTimeoutMs: 300_000 });
    const o = serverOptions(g);
    assert.equal(o.insecureHTTPParser, false);
    assert.equal(o.connectionsCheckingInterval, CONNECTIONS_CHECKING_INTERVAL_MS);
    assert.equal(o.headersTimeout, 12_000);
    assert.ok(o.requestTimeout! >= o.headersTimeout!);
    assert.equal(o.maxHeaderSize, 32 * 1024);
    const server = http.createServer(o);
    applyServerLimits(server, { ...g, limits: { ...g.limits, keepAliveTimeoutMs: 7000, maxConnections: 123, maxRequestsPerConnection: 50 } });
    assert.equal(server.keepAliveTimeout, 7000);
    assert.equal(server.maxConnections, 123);
    assert.equal(server.maxRequestsPerSocket, 50);
    assert.equal(server.timeout, 300_000);
    assert.equal(server.headersTimeout, 12_000);
  });
});
