// Where a resource or a problem came from: source@revision:path:line:col.
// Every Resource and every Problem carries one, so an error always names its origin.

export interface Origin {
  /** Name of the source (a git source name, or "dir" for a plain directory). */
  readonly source?: string;
  /** Commit id or other revision of the source, when known. */
  readonly revision?: string;
  /** Path relative to the source root (or as given on the command line). */
  readonly path: string;
  /** 1-based line and column; 0 when unknown. */
  readonly line: number;
  readonly col: number;
  /**
   * The path names an object in a Kubernetes cluster ("Mapping shop/orders"), not a file: it is shown
   * without line and column, which would point into Portico's own serialisation of the object.
   */
  readonly object?: true;
}

export function formatOrigin(o: Origin): string {
  const src = o.source ? `${o.source}${o.revision ? '@' + o.revision.slice(0, 12) : ''}:` : '';
  return o.object ? `${src}${o.path}` : `${src}${o.path}:${o.line}:${o.col}`;
}
