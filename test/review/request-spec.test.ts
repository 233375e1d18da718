// A request as written for `explain` and in route tests: what is taken as typed, and what is refused
// with a message that says what to change.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseRequestLine, RequestSpecError } from '../../src/review/request-spec.js';

test('takes http and https URLs as written: port, IPv6 literal, query', () => {
  assert.deepEqual(parseRequestLine('post HTTPS://api.example.com:8443/orders?id=4'), { method: 'POST', scheme: 'https', authority: 'api.example.com:8443', target: '/orders?id=4', headers: [] });
  assert.equal(parseRequestLine('GET http://[::1]:8080/x').authority, '[::1]:8080');
  assert.equal(parseRequestLine('http://a.example.com').target, '/');
  assert.equal(parseRequestLine('GET http://a.example.com:65535/').authority, 'a.example.com:65535');
});

test('refuses what is not an absolute http(s) URL, saying what is wrong', () => {
  const cases: [string, RegExp][] = [
    ['GET /shop/cart', /^'\/shop\/cart' is not an absolute URL: give the scheme and host, e\.g\. 'https:\/\/api\.example\.com\/shop\/cart'$/],
    ['GET shop.example.com/cart', /^'shop\.example\.com\/cart' is not an absolute URL: give the scheme and host, e\.g\. 'https:\/\/shop\.example\.com\/cart'$/],
    ['GET ftp://a/', /^'ftp:\/\/a\/': the scheme must be http or https, not 'ftp'$/],
    ['GET http:///x', /^'http:\/\/\/x' has no host$/],
    ['GET http://a:99999/', /^'http:\/\/a:99999\/': the port must be a number from 1 to 65535, not '99999'$/],
    ['GET http://a:0/', /the port must be a number from 1 to 65535, not '0'$/],
    ['GET http://a:http/', /the port must be a number from 1 to 65535, not 'http'$/],
    ['GET http://a/b c', /expected 'METHOD URL'/],
  ];
  for (const [line, message] of cases) {
    assert.throws(() => parseRequestLine(line), (e: unknown) => e instanceof RequestSpecError && message.test(e.message), line);
  }
});
