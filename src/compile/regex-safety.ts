// Regexes in policies come from many repositories and run on every request: each must compile,
// stay small, and avoid the nested-quantifier shapes that backtrack catastrophically (HARDENING case 13).

export const MAX_REGEX_LENGTH = 1024;

/** Returns an error message, or undefined when the pattern is acceptable. */
export function checkRegex(pattern: string): string | undefined {
  if (pattern.length > MAX_REGEX_LENGTH) return `regex is longer than ${MAX_REGEX_LENGTH} characters`;
  try {
    new RegExp(pattern);
  } catch (err) {
    return `invalid regex: ${(err as Error).message}`;
  }
  if (/\\[1-9]|\\k</.test(pattern)) return 'backreferences are not allowed (they make matching super-linear)';
  if (/\(\?<?[=!]/.test(pattern)) return 'lookaround assertions are not allowed';
  if (hasNestedQuantifier(pattern)) return 'nested quantifiers such as (a+)+ can take exponential time; rewrite the pattern';
  return undefined;
}

/**
 * Detects a quantified group whose body itself contains a quantifier ((a+)+, (a*)*, (a|aa)+ with
 * inner repetition, (\w+\s?)*). Conservative: it may reject a few safe patterns, never accepts those shapes.
 */
function hasNestedQuantifier(p: string): boolean {
  const unbounded = (i: number): boolean =>
    p[i] === '*' || p[i] === '+' || (p[i] === '{' && /^\{\d+,\d*\}/.test(p.slice(i)));
  const stack: { quantified: boolean }[] = [];
  let inClass = false;
  for (let i = 0; i < p.length; i++) {
    const c = p[i];
    if (c === '\\') {
      i++;
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      continue;
    }
    if (c === '[') inClass = true;
    else if (c === '(') stack.push({ quantified: false });
    else if (c === ')') {
      const g = stack.pop();
      const q = unbounded(i + 1);
      if (g?.quantified && q) return true;
      if ((g?.quantified || q) && stack.length > 0) stack[stack.length - 1]!.quantified = true;
    } else if (unbounded(i) && stack.length > 0) stack[stack.length - 1]!.quantified = true;
  }
  return false;
}
