// Medians and ranges over benchmark rounds: the report shows the median and min–max of each figure.

export function median(values) {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

export function summarize(values) {
  const v = values.filter((x) => Number.isFinite(x));
  if (v.length === 0) return null;
  return { median: median(v), min: Math.min(...v), max: Math.max(...v), n: v.length };
}

export function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx];
}

/** Variant order for round `r`: forward, reversed, then rotations, so no variant always runs first or last. */
export function orderForRound(items, r) {
  if (r % 2 === 1) return [...items].reverse();
  const k = (r / 2) % Math.max(items.length, 1);
  return [...items.slice(k), ...items.slice(0, k)];
}
