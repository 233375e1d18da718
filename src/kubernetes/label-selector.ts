// Kubernetes label selectors as Portico uses them (a team source's `spec.kubernetes.labelSelector`):
// parsed and checked once, sent to the API server as written, and matched here in the same way.

/** One requirement: `key=value` / `key==value`, `key!=value`, `key` (exists), `!key` (absent), `key in (a,b)`, `key notin (a,b)`. */
export interface LabelRequirement {
  readonly key: string;
  readonly op: 'in' | 'notin' | 'exists' | 'absent';
  readonly values: readonly string[];
}

const KEY_RE = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const VALUE_RE = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;

/** Splits at commas outside parentheses. */
function terms(selector: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of selector) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out.map((t) => t.trim());
}

/** Parses a selector; a string is the reason it is not one. */
export function parseLabelSelector(selector: string): LabelRequirement[] | string {
  const reqs: LabelRequirement[] = [];
  if (selector.trim() === '') return reqs;
  for (const term of terms(selector)) {
    if (term === '') return `empty requirement in label selector '${selector}'`;
    let m: RegExpExecArray | null;
    let req: LabelRequirement;
    if ((m = /^([^\s!=(),]+)\s+(in|notin)\s+\(([^()]*)\)$/.exec(term))) {
      const values = m[3]!.split(',').map((v) => v.trim());
      req = { key: m[1]!, op: m[2] as 'in' | 'notin', values };
    } else if ((m = /^([^\s!=(),]+)\s*(==|=|!=)\s*([^\s!=(),]*)$/.exec(term))) {
      req = { key: m[1]!, op: m[2] === '!=' ? 'notin' : 'in', values: [m[3]!] };
    } else if ((m = /^!\s*([^\s!=(),]+)$/.exec(term))) {
      req = { key: m[1]!, op: 'absent', values: [] };
    } else if ((m = /^([^\s!=(),]+)$/.exec(term))) {
      req = { key: m[1]!, op: 'exists', values: [] };
    } else {
      return `'${term}' is not a label requirement (key=value, key!=value, key, !key, key in (a,b), key notin (a,b))`;
    }
    if (!KEY_RE.test(req.key)) return `'${req.key}' is not a valid label key`;
    const bad = req.values.find((v) => !VALUE_RE.test(v));
    if (bad !== undefined) return `'${bad}' is not a valid label value`;
    reqs.push(req);
  }
  return reqs;
}

export function matchesLabels(reqs: readonly LabelRequirement[], labels: Readonly<Record<string, string>> | undefined): boolean {
  const l = labels ?? {};
  return reqs.every((r) => {
    const has = Object.hasOwn(l, r.key);
    switch (r.op) {
      case 'exists':
        return has;
      case 'absent':
        return !has;
      case 'in':
        return has && r.values.includes(l[r.key]!);
      case 'notin':
        return !has || !r.values.includes(l[r.key]!);
    }
  });
}
