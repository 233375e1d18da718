import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { RE2JS } from 're2js';
import { FullMatch, FullMatchSet, RegexSubstitution, programSizeBound, regexProblem, substitutionProblem } from '../../src/ir/re2-regex.js';

// Patterns that make a backtracking engine take exponential (or high polynomial) time on a string
// that almost matches. Each runs here against 1,000-character inputs: with a backtracking engine
// this test would not finish, so finishing is the check (no timing is asserted).
const CATASTROPHIC: readonly { readonly pattern: string; readonly input: string; readonly matches: boolean }[] = [
  // the regex: 28 characters stalled a worker for 9.6 s under JavaScript's RegExp
  { pattern: '/(a|a)*b', input: '/' + 'a'.repeat(27), matches: false },
  { pattern: '/(a|a)*b', input: '/' + 'a'.repeat(999), matches: false },
  { pattern: '/(a|a)*b', input: '/' + 'a'.repeat(998) + 'b', matches: true },
  { pattern: '(a+)+$', input: 'a'.repeat(999) + '!', matches: false },
  { pattern: '(a+)+', input: 'a'.repeat(1000), matches: true },
  { pattern: '(a*)*b', input: 'a'.repeat(1000), matches: false },
  { pattern: '(a|aa)*c', input: 'a'.repeat(1000), matches: false },
  { pattern: '(a|aa)*c', input: 'a'.repeat(999) + 'c', matches: true },
  { pattern: '(a|a?)+b', input: 'a'.repeat(1000), matches: false },
  { pattern: '(.*a){20}', input: 'a'.repeat(1000), matches: true },
  { pattern: '(.*a){20}', input: 'a'.repeat(19) + 'b'.repeat(981), matches: false },
  { pattern: '(x+x+)+y', input: 'x'.repeat(1000), matches: false },
  { pattern: '(\\w+\\s?)*$', input: 'word '.repeat(199) + 'word!', matches: false },
  { pattern: '/([a-z]+/?)*\\.json', input: '/' + 'abc/'.repeat(249) + 'abc', matches: false },
  { pattern: '(?i)(A|a)*B', input: 'aA'.repeat(500), matches: false },
];

describe('RE2 regexes: linear-time matching', () => {
  for (const c of CATASTROPHIC) {
    it(`${c.pattern} against ${c.input.length} characters ${c.matches ? 'matches' : 'does not match'}`, () => {
      assert.equal(regexProblem(c.pattern), undefined, 'RE2 accepts the pattern');
      assert.equal(new FullMatch(c.pattern).test(c.input), c.matches);
    });
  }

  it('the whole corpus in one set gives the same answers as each pattern alone', () => {
    const patterns = [...new Set(CATASTROPHIC.map((c) => c.pattern))];
    const set = new FullMatchSet(patterns);
    for (const c of CATASTROPHIC) {
      const expected = patterns.filter((p) => new FullMatch(p).test(c.input)).map((p) => patterns.indexOf(p));
      assert.deepEqual(set.matching(c.input), expected, `${c.pattern} on ${c.input.length} characters`);
      assert.equal(set.matching(c.input).includes(patterns.indexOf(c.pattern)), c.matches);
    }
  });

  it('a rewrite with a catastrophic pattern over 1,000 characters gives RE2 GlobalReplace output', () => {
    const s = new RegexSubstitution('(a|a)*b', 'X');
    assert.equal(s.replaceAll('a'.repeat(1000)), 'a'.repeat(1000));
    assert.equal(s.replaceAll('a'.repeat(999) + 'b'), 'X');
  });
});

describe('RE2 regexes: syntax Emissary accepts', () => {
  const accepted: readonly [string, string, string, boolean][] = [
    ['named group, RE2 spelling', '/orders/(?P<id>[0-9]+)', '/orders/42', true],
    ['named group, newer spelling', '/orders/(?<id>[0-9]+)', '/orders/42', true],
    ['inline case folding', '(?i)/Orders/[a-z]+', '/ORDERS/ABC', true],
    ['inline flag group', '/a(?i:B)c', '/abc', true],
    ['POSIX class (RE2, not JavaScript)', '/[[:word:]]*', '/abc_09', true],
    ['Unicode class', '/\\pL+', '/héllo', true],
    ['quoted literal', '/\\Q.*+\\E', '/.*+', true],
    ['hex escape', '/\\x{41}', '/A', true],
    ['end of text', '/a\\z', '/a', true],
    ['lazy quantifier', '/a.*?b', '/axxb', true],
    ['bounded repeat at the limit', '/a{1000}', '/' + 'a'.repeat(1000), true],
  ];
  for (const [what, pattern, input, matches] of accepted) {
    it(`${what}: ${pattern}`, () => {
      assert.equal(regexProblem(pattern, 10_000), undefined);
      assert.equal(new FullMatch(pattern).test(input), matches);
    });
  }

  it('matches the whole string, as Envoy matches safe_regex against the whole path or value', () => {
    const m = new FullMatch('/foo');
    assert.equal(m.test('/foo'), true);
    assert.equal(m.test('/foo/bar'), false);
    assert.equal(m.test('/x/foo'), false);
    const alt = new FullMatch('/foo|/bar');
    assert.equal(alt.test('/bar'), true);
    assert.equal(alt.test('/foo/x'), false, 'the whole alternation is anchored, not its first branch');
    assert.equal(new FullMatch('^/foo$').test('/foo'), true, 'explicit anchors are harmless');
    assert.equal(new FullMatch('.').test('\n'), false, '. does not match a newline, as in RE2');
  });
});

describe('RE2 regexes: what RE2 refuses is named', () => {
  const refused: readonly [string, RegExp][] = [
    ['/(a+)\\1', /^backreference `\\1` is not RE2 syntax/],
    ['/(?<x>a)\\k<x>', /^named backreference/],
    ['/a(?=b)', /^lookahead `\(\?=…\)`/],
    ['/a(?!b)', /^negative lookahead/],
    ['/(?<=a)b', /^lookbehind `\(\?<=…\)`/],
    ['/(?<!a)b', /^negative lookbehind/],
    ['/(?>a+)b', /^atomic group/],
    ['/a++', /^possessive quantifier `\+\+`/],
    ['/a(?#note)', /^comment group/],
    ['/\\u0041', /^escape `\\u` is not RE2 syntax: write `\\x\{hhhh\}`/],
    ['/a\\Z', /^escape `\\Z`/],
    ['/[a-', /^not valid RE2: missing closing \]/],
    ['/a{1001}', /^not valid RE2: invalid repeat count/],
    ['/(a{100}){100}', /^not valid RE2: invalid repeat count/],
  ];
  for (const [pattern, message] of refused) {
    it(`${pattern} → InvalidRegex`, () => {
      const p = regexProblem(pattern);
      assert.equal(p?.code, 'InvalidRegex');
      assert.match(p.message, message);
      assert.throws(() => new FullMatch(pattern), { name: 'RegexError', message });
    });
  }

  it('a regex over the length cap or over regex_max_size is UnsafeRegex', () => {
    assert.equal(regexProblem('/' + 'a'.repeat(1100))?.code, 'UnsafeRegex');
    const big = '/x{300}';
    assert.match(regexProblem(big)?.message ?? '', /RE2 program of \d+ instructions, more than regex_max_size 200/);
    assert.equal(regexProblem(big, 400), undefined);
  });
});

describe('RE2 regexes: Envoy regex_rewrite substitutions', () => {
  const cases: readonly [string, string, string, string][] = [
    // pattern, substitution, input, output
    ['^/svc/(.*)$', '/v2/\\1', '/svc/items/17', '/v2/items/17'],
    ['/foo/([0-9]*)/list', '/bar/\\1', '/foo/123456789/list', '/bar/123456789'],
    ['/foo/baz', '/baz/foo', '/foo/bar', '/foo/bar'],
    ['(o)', '[\\0\\1]', 'foo', 'f[oo][oo]'],
    ['/', '\\\\', '/a/b', '\\a\\b'],
    ['\\$', 'USD', '/$5', '/USD5'],
    ['x', '$1$&', 'axb', 'a$1$&b'],
    // empty matches: none right after a previous match, as RE2::GlobalReplace
    ['a*', '-', 'baaac', '-b-c-'],
    ['x*', '-', 'abc', '-a-b-c-'],
    ['(?P<first>[a-z]+)-(?P<second>[a-z]+)', '\\2-\\1', '/ab-cd/ef-gh', '/cd-ab/gh-ef'],
  ];
  for (const [pattern, substitution, input, output] of cases) {
    it(`${pattern} → ${substitution} on ${input}`, () => {
      assert.equal(substitutionProblem(pattern, substitution), undefined);
      assert.equal(new RegexSubstitution(pattern, substitution).replaceAll(input), output);
    });
  }

  it('a substitution naming a group the pattern lacks, or a stray backslash, is refused', () => {
    assert.match(substitutionProblem('/(a)', '/\\2') ?? '', /refers to \\2 but the pattern has only 1 group/);
    assert.match(substitutionProblem('/a', '/\\1') ?? '', /has no groups/);
    assert.match(substitutionProblem('/a', '/\\x') ?? '', /backslash must be followed by a digit/);
    assert.match(substitutionProblem('/a', '/x\\') ?? '', /backslash must be followed by a digit/);
  });
});

describe('RE2 regexes: the literal prefix the route index files a regex route under', () => {
  const table: readonly [string, string][] = [
    ['/api/v[0-9]+/users', '/api/v'],
    ['^/static/.*', '/static/'],
    ['\\A/static/.*', '/static/'],
    ['/foo/bar', '/foo/bar'],
    ['/(a|a)*b', '/'],
    ['/foo|/bar', '/'],
    ['/fo+', '/fo'],
    ['/foo?', '/fo'],
    ['(?i)/Foo', '/'],
    ['.*', ''],
    ['(/v1|/v2)/qotm/.*', '/v'],
  ];
  for (const [pattern, prefix] of table) {
    it(`${pattern} → ${JSON.stringify(prefix)}`, () => {
      const m = new FullMatch(pattern);
      assert.equal(m.literalPrefix, prefix);
    });
  }
});

// Admission parses a pattern without building its program when the size bound settles the limit;
// what it answers must be what the built program says, for any pattern.
describe('RE2 regexes: admission without building the program', () => {
  const TOKENS = [
    'a', 'b', '7', '_', 'é', '😀', '/', '-', '.', '^', '$', '\\d', '\\w', '\\s', '\\b', '\\B', '\\A', '\\z', '[a-z]', '[^a]', '[[:alpha:]]',
    '\\pL', '\\PN', '(', ')', '(?:', '(?i)', '(?s)', '(?m)', '(?U)', '(?P<n>', '(?<m>', '|', '*', '+', '?', '*?', '+?', '??',
    '\\.', '\\Qab\\E', '\\x41', '\\123', '\\n', '\\t', '[\\d\\s]', '[.]', '{2}', '{1,3}', '(?=', '\\1', '\\u0041',
  ];
  const pattern = fc.array(fc.constantFrom(...TOKENS), { maxLength: 16 }).map((t) => t.join(''));

  it('reports what the built program reports: validity, size against the limit, and group count', () => {
    fc.assert(
      fc.property(pattern, fc.integer({ min: 1, max: 60 }), (p, limit) => {
        const problem = regexProblem(p, limit);
        const substitution = substitutionProblem(p, '\\1');
        let built: RE2JS;
        try {
          built = RE2JS.compile(p);
        } catch {
          assert.equal(problem?.code, 'InvalidRegex', p);
          assert.throws(() => new FullMatch(p), { name: 'RegexError', message: problem.message });
          return;
        }
        const size = built.programSize();
        const bound = programSizeBound(p);
        if (bound !== undefined) assert.ok(size <= bound, `${p}: ${size} instructions, bound ${bound}`);
        if (size > limit) assert.match(problem?.message ?? '', new RegExp(`program of ${size} instructions, more than regex_max_size ${limit} `), p);
        else assert.equal(problem, undefined, p);
        assert.equal(substitution === undefined, built.groupCount() >= 1, `${p}: ${built.groupCount()} groups`);
      }),
      { numRuns: 3000 },
    );
  });

  it('patterns that differ only in literals are admitted alike, each with its own refusal', () => {
    for (let i = 0; i < 50; i++) assert.equal(substitutionProblem(`^/svc-${i}/(.*)$`, '/v2/\\1'), undefined);
    assert.match(substitutionProblem('^/svc-50/(.*)$', '/v2/\\2') ?? '', /refers to \\2 but the pattern has only 1 group/);
    assert.match(regexProblem('/ab(*')?.message ?? '', /missing argument to repetition operator/);
    assert.match(regexProblem('/cd(*')?.message ?? '', /missing argument to repetition operator/);
    // Alternation is measured on its own literals: common prefixes are factored out of alternatives.
    const factored = regexProblem('/aaaaaaaaaa|/aaaaaaaaab', 20);
    const apart = regexProblem('/aaaaaaaaaa|/bbbbbbbbbb', 20);
    assert.equal(factored, undefined);
    assert.equal(apart?.code, 'UnsafeRegex');
  });

  it('a long pattern with no counted repetition is measured exactly against regex_max_size', () => {
    assert.equal(regexProblem('/' + 'ab'.repeat(80)), undefined, '163 instructions: within 200');
    assert.match(regexProblem('/' + 'ab'.repeat(120))?.message ?? '', /RE2 program of 243 instructions, more than regex_max_size 200/);
  });
});
