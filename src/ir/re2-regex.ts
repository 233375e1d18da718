// Regexes in configuration are RE2, as Envoy's safe_regex is: one engine (re2js, linear time for every
// input) checks them at compile and matches them in the data plane, `explain` and route tests.

import { RE2JS, RE2JSSyntaxException, RE2Set } from 're2js';
import type { Matcher } from 're2js';

export const MAX_REGEX_LENGTH = 1024;

/** Emissary's default Module `regex_max_size`: the largest RE2 program a regex may compile to. */
export const DEFAULT_REGEX_MAX_SIZE = 200;

export type RegexProblemCode = 'InvalidRegex' | 'UnsafeRegex';

export interface RegexProblem {
  readonly code: RegexProblemCode;
  readonly message: string;
}

/** A regex the engine refused; the message names the construct. */
export class RegexError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RegexError';
  }
}

/*
 * Compiled programs are immutable for matching, so one per distinct pattern serves compile, every
 * runtime built in this process and every reload that keeps the pattern: a reload of 10,000 Mappings
 * with 2,000 regexes then compiles only the regexes that changed. Cleared when it grows past a bound.
 */
const programs = new Map<string, RE2JS>();
const PROGRAM_CACHE_LIMIT = 20_000;

function program(pattern: string): RE2JS {
  let p = programs.get(pattern);
  if (p === undefined) {
    try {
      p = RE2JS.compile(pattern);
    } catch (err) {
      throw new RegexError(describeRefusal(pattern, err));
    }
    if (programs.size >= PROGRAM_CACHE_LIMIT) programs.clear();
    programs.set(pattern, p);
  }
  return p;
}

/*
 * Admission (compile, validate) needs less than a matcher: whether RE2 accepts the pattern, how many
 * groups it has, and whether its program fits `regex_max_size`. Parsing alone answers the first two;
 * building the program and its matcher costs about three times as much, and `validate` of 10,000
 * Mappings would spend a sixth of its time on it. A pattern with no counted repetition (`{n,m}`)
 * compiles to at most three instructions per character plus three (each character is at most one
 * literal, class, assertion or alternation; a group's parentheses two captures; a quantifier on an
 * empty-matching operand two), so one whose bound is within the limit needs no program; the rest
 * are compiled and counted exactly. The matcher is built when a runtime first needs it.
 */
interface Admission {
  readonly groups: number;
  /** The program's size, or an upper bound of it (exact when the program was built). */
  readonly size: number;
  readonly exact: boolean;
}

/** Admissions by pattern, or by shape (below) for patterns that have one. */
const admissions = new Map<string, Admission>();

const SHAPE_BREAKERS = /[\\[{|]|\(\?/;
const PLAIN_LITERALS = /[A-Za-z0-9_/-]/g;

/*
 * In a pattern with no escape, class, counted repetition, alternation or flag group, a letter, digit,
 * `_`, `/` or `-` is a literal wherever it stands: patterns that differ only in such characters
 * (`^/svc-0001/(.*)$`, `^/svc-0002/(.*)$`) are equally valid, have the same groups and length, and
 * share one admission (one parse for 2,000 regex rewrites made from one template). Alternation is
 * left out because RE2 factors what alternatives have in common, which depends on the literals.
 */
function shapeOf(pattern: string): string | undefined {
  return SHAPE_BREAKERS.test(pattern) ? undefined : pattern.replace(PLAIN_LITERALS, 'a');
}

/** Instructions a pattern without counted repetition compiles to, at most (see above). */
export function programSizeBound(pattern: string): number | undefined {
  return pattern.includes('{') ? undefined : 3 * pattern.length + 3;
}

function admission(pattern: string): Admission {
  // A shape never holds `[`, `\\`, `{`, `|` or `(?`, and a pattern is its own key only when it does: no key serves both.
  const shape = shapeOf(pattern);
  const key = shape ?? pattern;
  let a = admissions.get(key);
  if (a !== undefined) return a;
  const built = programs.get(pattern);
  const bound = programSizeBound(pattern);
  if (built === undefined && bound !== undefined) {
    const parsed = new RE2Set();
    try {
      parsed.add(pattern);
    } catch (err) {
      throw new RegexError(describeRefusal(pattern, err));
    }
    // The parsed expression's highest group number; the same count RE2JS.groupCount() gives.
    const re: unknown = parsed.regexps[0];
    const maxCap = (re as { maxCap?: () => unknown } | undefined)?.maxCap;
    const groups = typeof maxCap === 'function' ? maxCap.call(re) : undefined;
    if (typeof groups === 'number') a = { groups, size: bound, exact: false };
  }
  if (a === undefined) {
    const p = built ?? program(pattern);
    // What a shape's patterns share is validity, groups and the bound; an exact size is the pattern's own.
    a = shape !== undefined && bound !== undefined ? { groups: p.groupCount(), size: bound, exact: false } : { groups: p.groupCount(), size: p.programSize(), exact: true };
  }
  if (admissions.size >= PROGRAM_CACHE_LIMIT) admissions.clear();
  admissions.set(key, a);
  return a;
}

const LINEAR = 'RE2 (Envoy\'s safe_regex, which Emissary uses) matches in linear time and has no';

/** Constructs other engines accept that RE2 refuses, found by the fragment the parser stopped at. */
const REFUSED_CONSTRUCTS: readonly { readonly test: RegExp; readonly message: (token: string) => string }[] = [
  { test: /^\\[1-9]/, message: (t) => `backreference \`${t.slice(0, 2)}\` is not RE2 syntax: ${LINEAR} backreferences` },
  { test: /^\\k/, message: () => `named backreference \`\\k<…>\` is not RE2 syntax: ${LINEAR} backreferences` },
  { test: /^\(\?=/, message: () => `lookahead \`(?=…)\` is not RE2 syntax: ${LINEAR} lookaround` },
  { test: /^\(\?!/, message: () => `negative lookahead \`(?!…)\` is not RE2 syntax: ${LINEAR} lookaround` },
  { test: /^\(\?<=/, message: () => `lookbehind \`(?<=…)\` is not RE2 syntax: ${LINEAR} lookaround` },
  { test: /^\(\?<!/, message: () => `negative lookbehind \`(?<!…)\` is not RE2 syntax: ${LINEAR} lookaround` },
  { test: /^\(\?>/, message: () => `atomic group \`(?>…)\` is not RE2 syntax: ${LINEAR} atomic groups` },
  { test: /^[*+?}]\+/, message: (t) => `possessive quantifier \`${t.slice(0, 2)}\` is not RE2 syntax: ${LINEAR} possessive quantifiers` },
  { test: /^\(\?#/, message: () => 'comment group `(?#…)` is not RE2 syntax' },
  { test: /^\\u/, message: () => 'escape `\\u` is not RE2 syntax: write `\\x{hhhh}`' },
  { test: /^\\Z/, message: () => 'escape `\\Z` is not RE2 syntax: write `\\z` (end of text)' },
];

function describeRefusal(pattern: string, err: unknown): string {
  if (!(err instanceof RE2JSSyntaxException)) return `not valid RE2: ${(err as Error).message}`;
  const fragment = err.input ?? '';
  const named = REFUSED_CONSTRUCTS.find((c) => c.test.test(fragment));
  if (named !== undefined) return named.message(fragment);
  return fragment !== '' && fragment !== pattern ? `not valid RE2: ${err.error} at \`${fragment}\`` : `not valid RE2: ${err.error}`;
}

/**
 * Why a regex cannot be used, or undefined. Syntax RE2 refuses is InvalidRegex; a pattern over the
 * length cap or whose program is larger than `maxProgramSize` (the Module's `regex_max_size`) is
 * UnsafeRegex. The program size is this engine's count, which is at most RE2's own for the same
 * pattern, so a regex within Emissary's limit is within Portico's.
 */
export function regexProblem(pattern: string, maxProgramSize = DEFAULT_REGEX_MAX_SIZE): RegexProblem | undefined {
  if (pattern.length > MAX_REGEX_LENGTH) return { code: 'UnsafeRegex', message: `regex is longer than ${MAX_REGEX_LENGTH} characters` };
  let a: Admission;
  try {
    a = admission(pattern);
  } catch (err) {
    return { code: 'InvalidRegex', message: (err as Error).message };
  }
  if (a.size <= maxProgramSize) return undefined;
  const size = a.exact ? a.size : program(pattern).programSize();
  if (size > maxProgramSize) {
    return { code: 'UnsafeRegex', message: `the regex compiles to an RE2 program of ${size} instructions, more than regex_max_size ${maxProgramSize} (set in the ambassador Module)` };
  }
  return undefined;
}

/**
 * Why an Envoy regex_rewrite substitution cannot be used with `pattern`, or undefined: `\0`–`\9`
 * name groups the pattern has, `\\` is a backslash, and no other backslash is allowed (RE2's rewrite syntax).
 */
export function substitutionProblem(pattern: string, substitution: string): string | undefined {
  let groups: number;
  try {
    groups = admission(pattern).groups;
  } catch {
    return undefined; // the pattern's own problem is reported
  }
  try {
    parseSubstitution(substitution, groups);
  } catch (err) {
    return (err as Error).message;
  }
  return undefined;
}

/** A whole-string RE2 match (Envoy matches safe_regex against the whole path or value). */
export class FullMatch {
  private readonly re: RE2JS;
  /**
   * Literal text every matching string starts with ('' when there is none): the route index files a
   * regex route under it, so requests for other paths never run the regex.
   */
  readonly literalPrefix: string;

  constructor(readonly source: string) {
    this.re = program(source);
    this.literalPrefix = literalPrefixOf(source, this.re);
  }

  test(input: string): boolean {
    return this.re.testExact(input);
  }
}

/** An RE2 search anywhere in the string (Go's regexp.MatchString, as Edge Stack's ifRequestHeader uses it). */
export class SearchMatch {
  private readonly re: RE2JS;

  constructor(readonly source: string) {
    this.re = program(source);
  }

  test(input: string): boolean {
    return this.re.test(input);
  }
}

/**
 * Many whole-string regexes matched in one pass over the input (one automaton for all of them), for
 * regex routes that have no literal prefix to be filed under: which of them match, in pattern order.
 */
export class FullMatchSet {
  private readonly set: RE2Set;

  constructor(readonly sources: readonly string[]) {
    for (const s of sources) program(s); // refuses what a single FullMatch refuses, with the same message
    this.set = new RE2Set(RE2Set.ANCHOR_BOTH);
    for (const s of sources) this.set.add(s);
    this.set.compile();
  }

  /** Positions in `sources` of the patterns that match all of `input`, ascending. */
  matching(input: string): number[] {
    const m = this.set.match(input);
    return m.length > 1 ? m.sort((a, b) => a - b) : m;
  }
}

function literalPrefixOf(source: string, re: RE2JS): string {
  // A leading ^ or \A changes nothing for a whole-string match, but hides the prefix from the engine.
  let p = re;
  if (source.startsWith('^') || source.startsWith('\\A')) {
    try {
      p = program(source.slice(source.startsWith('^') ? 1 : 2));
    } catch {
      return '';
    }
  }
  const prefix = (p.re2() as { prefix?: unknown }).prefix;
  return typeof prefix === 'string' ? prefix : '';
}

type SubstitutionPart = string | number;

function parseSubstitution(s: string, groups: number): SubstitutionPart[] {
  const parts: SubstitutionPart[] = [];
  let text = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c !== '\\') {
      text += c;
      continue;
    }
    const n = s[++i];
    if (n === '\\') text += '\\';
    else if (n !== undefined && n >= '0' && n <= '9') {
      const g = n.charCodeAt(0) - 48;
      if (g > groups) throw new RegexError(`substitution refers to \\${g} but the pattern has ${groups === 0 ? 'no groups' : groups === 1 ? 'only 1 group' : `only ${groups} groups`}`);
      if (text !== '') parts.push(text);
      text = '';
      parts.push(g);
    } else throw new RegexError(`substitution has '\\${n ?? ''}': a backslash must be followed by a digit (a group) or another backslash`);
  }
  if (text !== '') parts.push(text);
  return parts;
}

/** Envoy's regex_rewrite: every non-overlapping match of the pattern replaced, as RE2::GlobalReplace does. */
export class RegexSubstitution {
  private readonly re: RE2JS;
  private readonly parts: readonly SubstitutionPart[];

  constructor(
    readonly pattern: string,
    readonly substitution: string,
  ) {
    this.re = program(pattern);
    this.parts = parseSubstitution(substitution, this.re.groupCount());
  }

  replaceAll(input: string): string {
    const m: Matcher = this.re.matcher(input);
    let out = '';
    let at = 0;
    let lastEnd = -1;
    while (at <= input.length && m.find(at)) {
      const start = m.start();
      const end = m.end();
      if (at < start) out += input.slice(at, start);
      if (start === end && start === lastEnd) {
        // No empty match where the previous match ended (RE2 skips it too): keep one character, move on.
        const step = at < input.length && input.codePointAt(at)! > 0xffff ? 2 : 1;
        out += input.slice(at, at + step);
        at += step;
        continue;
      }
      for (const part of this.parts) out += typeof part === 'string' ? part : (m.group(part) ?? '');
      at = end;
      lastEnd = end;
    }
    return at < input.length ? out + input.slice(at) : out;
  }
}
