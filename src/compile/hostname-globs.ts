// DNS glob logic shared by Host binding, Mapping attachment, claims and TLS SNI:
// "*" matches anything, "*.example.com" one or more leading labels, and "api.*" a suffix wildcard as Emissary allows.

/** Lower-case, strip a trailing dot. */
export function canonicalHostname(h: string): string {
  const l = h.trim().toLowerCase();
  return l.endsWith('.') ? l.slice(0, -1) : l;
}

export function isGlob(h: string): boolean {
  return h.includes('*');
}

/** Does the concrete hostname `name` match glob `glob`? */
export function globMatches(glob: string, name: string): boolean {
  if (glob === '*') return true;
  if (glob.startsWith('*')) return name.endsWith(glob.slice(1)) && name.length > glob.length - 1;
  if (glob.endsWith('*')) return name.startsWith(glob.slice(0, -1)) && name.length > glob.length - 1;
  return glob === name;
}

/**
 * Could some hostname match both globs? (Emissary's hostGlobMatch.) Used to decide whether a
 * Mapping's hostname attaches to a Host's hostname.
 */
export function globsIntersect(a: string, b: string): boolean {
  if (a === '*' || b === '*') return true;
  const ag = isGlob(a);
  const bg = isGlob(b);
  if (!ag && !bg) return a === b;
  if (!ag) return globMatches(b, a);
  if (!bg) return globMatches(a, b);
  // both globs
  if (a.startsWith('*') && b.startsWith('*')) {
    const sa = a.slice(1);
    const sb = b.slice(1);
    return sa.endsWith(sb) || sb.endsWith(sa);
  }
  if (a.endsWith('*') && b.endsWith('*')) {
    const pa = a.slice(0, -1);
    const pb = b.slice(0, -1);
    return pa.startsWith(pb) || pb.startsWith(pa);
  }
  // one prefix glob, one suffix glob: "*.example.com" and "api.*" can both match "api.example.com"
  return true;
}

/** Is every hostname matched by `inner` also matched by `outer`? (For claims.) */
export function globContains(outer: string, inner: string): boolean {
  if (outer === '*') return true;
  if (inner === '*') return false;
  if (!isGlob(inner)) return globMatches(outer, inner);
  if (outer.startsWith('*') && inner.startsWith('*')) return inner.slice(1).endsWith(outer.slice(1));
  if (outer.endsWith('*') && inner.endsWith('*')) return inner.slice(0, -1).startsWith(outer.slice(0, -1));
  return outer === inner;
}

/** A regex source (anchored) equivalent to a hostname glob, for authority matches. */
export function globToRegex(glob: string): string {
  const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  if (glob === '*') return '.*';
  if (glob.startsWith('*')) return `.+${esc(glob.slice(1))}`;
  if (glob.endsWith('*')) return `${esc(glob.slice(0, -1))}.+`;
  return esc(glob);
}
