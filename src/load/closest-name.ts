// "Did you mean …?" for misspelled kinds and fields: the candidate with the smallest edit distance,
// offered only when it is close enough to be a plausible typo.

/** The closest candidate to `word`, or undefined when none is within a typo's distance. */
export function closestName(word: string, candidates: Iterable<string>): string | undefined {
  const w = word.toLowerCase();
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const lc = c.toLowerCase();
    // "timeout" means timeout_ms: compare without the unit suffix Emissary puts on durations.
    const bare = lc.endsWith('_ms') ? lc.slice(0, -3) : lc;
    const d = Math.min(editDistance(w, lc, bestDistance), bare === lc ? Infinity : editDistance(w, bare, bestDistance));
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  const allowed = Math.max(1, Math.min(3, Math.floor(word.length / 3)));
  return bestDistance <= allowed ? best : undefined;
}

/** Levenshtein distance, giving up (returning `limit`) once every path exceeds `limit`. */
function editDistance(a: string, b: string, limit: number): number {
  if (Math.abs(a.length - b.length) >= limit) return limit;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    let rowMin = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      const v = Math.min((prev[j] as number) + 1, (cur[j - 1] as number) + 1, (prev[j - 1] as number) + cost);
      cur.push(v);
      if (v < rowMin) rowMin = v;
    }
    if (rowMin >= limit) return limit;
    prev = cur;
  }
  return prev[b.length] as number;
}
