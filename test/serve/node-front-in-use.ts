// Run only beside other test files in a child process with PORTICO_HTTP1_FRONT=node (see
// http1-node-front.test.ts): shows that the HTTP/1.1 front those files were served by is node:http.

import { it } from 'node:test';
import assert from 'node:assert/strict';
import { http1FrontChoice } from '../../src/serve/http1-front-choice.js';
import { NodeHttp1Front } from '../../src/serve/http1-node-front.js';
import { buildIR } from '../support/ir-builder.js';
import { startGateway } from '../support/gateway-server.js';

it('the HTTP/1.1 front of this process is node:http', async () => {
  assert.deepEqual(http1FrontChoice(), { front: 'node', reason: 'PORTICO_HTTP1_FRONT=node' });
  const gw = await startGateway(buildIR({ clusters: [], routes: [] }));
  try {
    assert.ok(gw.front instanceof NodeHttp1Front);
  } finally {
    await gw.close();
  }
});
