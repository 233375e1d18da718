// "Did you mean …?" for misspelled kinds, fields, commands and flags: the candidate with the smallest
// edit distance, offered only when it is close enough to be a plausible typo.

export interface ClosestNameOptions {
  /**
   * A word of 3 or more characters that begins exactly one candidate suggests it ('rout' → 'routes'):
   * commands and flags are typed, and cut short, by hand. Field names are not, so they leave this off.
   */
  readonly prefixes?: boolean;
}

/** The closest candidate to `word`, or undefined when none is within a typo's distance. */
export function closestName(word: string, candidates: Iterable<string>, options: ClosestNameOptions = {}): string | undefined {
  const w = word.toLowerCase();
  let best: string | undefined;
  let bestDistance = Infinity;
  const begun: string[] = [];
  for (const c of candidates) {
    const lc = c.toLowerCase();
    if (lc.startsWith(w) && !begun.includes(c)) begun.push(c);
    // "timeout" means timeout_ms: compare without the unit suffix Emissary puts on durations.
    const bare = lc.endsWith('_ms') ? lc.slice(0, -3) : lc;
    const d = Math.min(editDistance(w, lc, bestDistance), bare === lc ? Infinity : editDistance(w, bare, bestDistance));
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  const allowed = Math.max(1, Math.min(3, Math.floor(word.length / 3)));
  if (bestDistance <= allowed) return best;
  return options.prefixes && w.length >= 3 && begun.length === 1 ? begun[0] : undefined;
}

/**
 * Optimal string alignment distance: Levenshtein with a swap of two adjacent letters costing 1, as a
 * typo ('tset', '--bsae') is one slip, not two. Gives up (returning `limit`) once every path exceeds `limit`.
 */
function editDistance(a: string, b: string, limit: number): number {
  if (Math.abs(a.length - b.length) >= limit) return limit;
  let before: number[] = [];
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    let rowMin = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min((prev[j] as number) + 1, (cur[j - 1] as number) + 1, (prev[j - 1] as number) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, (before[j - 2] as number) + 1);
      cur.push(v);
      if (v < rowMin) rowMin = v;
    }
    // A row's smallest value never falls in the rows below it (a swap reaches back two rows, at a cost of 1).
    if (rowMin >= limit) return limit;
    before = prev;
    prev = cur;
  }
  return prev[b.length] as number;
}
