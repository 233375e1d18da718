// Regexes in policies come from many repositories and run on every request: each must be RE2 (as
// Envoy's safe_regex), whose matching is linear in the input, and stay within the size limits.

import { regexProblem, substitutionProblem, type RegexProblem } from '../ir/re2-regex.js';

/** The problem with a configured regex, or undefined when the pattern is acceptable. */
export function checkRegex(pattern: string, maxProgramSize: number): RegexProblem | undefined {
  return regexProblem(pattern, maxProgramSize);
}

/** The problem with a regex_rewrite / regex_redirect substitution (RE2 rewrite syntax: \1, \\). */
export function checkSubstitution(pattern: string, substitution: string): RegexProblem | undefined {
  const e = substitutionProblem(pattern, substitution);
  return e === undefined ? undefined : { code: 'InvalidRegex', message: e };
}
