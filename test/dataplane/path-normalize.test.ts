import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { normalizePath, parseRequestTarget, type PathPolicy } from '../../src/dataplane/path-normalize.js';

const EDGE: PathPolicy = { normalizePath: true, mergeSlashes: true, escapedSlashesAction: 'UNESCAPE_AND_REDIRECT' };
const KEEP: PathPolicy = { normalizePath: true, mergeSlashes: true, escapedSlashesAction: 'KEEP_UNCHANGED' };
const FORWARD: PathPolicy = { normalizePath: true, mergeSlashes: false, escapedSlashesAction: 'UNESCAPE_AND_FORWARD' };

function ok(target: string, policy: PathPolicy = EDGE): string {
  const r = parseRequestTarget(target, policy);
  assert.equal(r.kind, 'ok', `${target} → ${JSON.stringify(r)}`);
  return r.kind === 'ok' ? r.path + r.query : '';
}

describe('request-target parsing', () => {
  const table: [string, string, PathPolicy?][] = [
    ['a plain path is unchanged', '/api/v1/items', EDGE],
    ['dot segments are removed', '/public/../admin', EDGE],
    ['encoded dots count as dots', '/public/%2e%2e/admin', EDGE],
    ['mixed encoded dots count as dots', '/.%2e/admin', EDGE],
    ['unreserved escapes are decoded', '/%61dmin', EDGE],
    ['reserved escapes are kept, upper-cased', '/a%3fb%2c', EDGE],
    ['doubled slashes are merged', '//a///b', EDGE],
    ['the query is kept as received', '/a/./b?x=/../y&z=%2e', EDGE],
    ['a trailing dot-dot keeps the trailing slash', '/a/b/..', EDGE],
    ['climbing above the root stops at the root', '/../../etc/passwd', EDGE],
    ['escaped slashes are kept under KEEP_UNCHANGED', '/public/..%2fadmin', KEEP],
    ['escaped slashes are unescaped under UNESCAPE_AND_FORWARD', '/public/..%2fadmin', FORWARD],
  ];
  const expected = ['/api/v1/items', '/admin', '/admin', '/admin', '/admin', '/a%3Fb%2C', '/a/b', '/a/b?x=/../y&z=%2e', '/a/', '/etc/passwd', '/public/..%2Fadmin', '/admin'];
  table.forEach(([name, input, policy], i) => {
    it(name, () => assert.equal(ok(input, policy), expected[i]));
  });

  it('absolute-form: the authority in the target wins', () => {
    const r = parseRequestTarget('http://Evil.Example:8080/admin?x', EDGE);
    assert.deepEqual(r, { kind: 'ok', path: '/admin', query: '?x', authority: 'Evil.Example:8080' });
    const bare = parseRequestTarget('https://a.example', EDGE);
    assert.equal(bare.kind === 'ok' && bare.path, '/');
  });

  it('never treats a leading // as an authority', () => {
    const r = parseRequestTarget('//evil.example/admin', EDGE);
    assert.equal(r.kind === 'ok' && r.authority, undefined);
    assert.equal(r.kind === 'ok' && r.path, '/evil.example/admin');
  });

  const rejected: [string, string, PathPolicy?][] = [
    ['a fragment', '/a#frag'],
    ['an encoded NUL', '/admin%00'],
    ['a raw backslash', '/public\\..\\admin'],
    ['a bad escape', '/a%zz'],
    ['a truncated escape', '/a%2'],
    ['an asterisk-form target', '*'],
    ['userinfo in absolute-form', 'http://user@evil/x'],
    ['a relative target', 'admin'],
    ['a dot segment with parameters', '/public/..;/admin'],
    ['escaped slashes under REJECT_REQUEST', '/a%2Fb', { ...EDGE, escapedSlashesAction: 'REJECT_REQUEST' }],
  ];
  for (const [name, input, policy] of rejected) {
    it(`rejects ${name}`, () => assert.equal(parseRequestTarget(input, policy ?? EDGE).kind, 'reject'));
  }

  it('asks for a redirect when UNESCAPE_AND_REDIRECT unescaped a slash', () => {
    assert.deepEqual(parseRequestTarget('/public/%2F..%2Fadmin?q', EDGE), { kind: 'redirect', path: '/admin', query: '?q', authority: undefined });
  });

  it('leaves paths alone when normalisation is off (except merging when asked)', () => {
    assert.equal(normalizePath('/a/../b', { normalizePath: false, mergeSlashes: false, escapedSlashesAction: 'KEEP_UNCHANGED' }), '/a/../b');
    assert.equal(normalizePath('/a//b', { normalizePath: false, mergeSlashes: true, escapedSlashesAction: 'KEEP_UNCHANGED' }), '/a/b');
  });
});

describe('path normalisation properties', () => {
  const segment = fc.oneof(
    fc.constantFrom('.', '..', '%2e', '%2E%2e', '', 'a', 'B', '%61', '%2F', '%5c', '..%2f', '%7E', 'x;y', '%41%42', '~', '-_.'),
    fc.stringMatching(/^[A-Za-z0-9._~!$&'()*+,;=:@-]{0,6}$/),
  );
  const path = fc.array(segment, { maxLength: 10 }).map((s) => '/' + s.join('/'));
  const policies = fc.constantFrom<PathPolicy>(EDGE, KEEP, FORWARD, { ...EDGE, escapedSlashesAction: 'REJECT_REQUEST' });

  it('is idempotent', () => {
    fc.assert(fc.property(path, policies, (p, pol) => {
      const once = normalizePath(p, pol);
      const canonical = typeof once === 'string' ? once : once.redirect ? once.path : undefined;
      if (canonical === undefined) return;
      assert.equal(normalizePath(canonical, pol), canonical);
    }), { numRuns: 1000 });
  });

  it('never lets a dot-dot segment survive', () => {
    fc.assert(fc.property(path, policies, (p, pol) => {
      const once = normalizePath(p, pol);
      const out = typeof once === 'string' ? once : once.redirect ? once.path : undefined;
      if (out === undefined) return;
      for (const seg of out.split('/')) {
        assert.notEqual(seg, '..');
        assert.notEqual(seg, '.');
      }
      assert.ok(out.startsWith('/'));
    }), { numRuns: 1000 });
  });
});
