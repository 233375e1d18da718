// Inputs to compile() beyond the resources themselves.

/** What a team source may configure; granted by the central repository. */
export interface Claim {
  /** Kinds the source may define (e.g. ["Mapping","TCPMapping"]). */
  readonly kinds: readonly string[];
  /** Hostname globs the source's Mappings may serve ("api.example.com", "*.shop.example.com"). */
  readonly hostnames: readonly string[];
  /** Path prefixes the source's Mappings may match ("/orders/"). Empty = any path. */
  readonly pathPrefixes: readonly string[];
  /** TCP ports the source's TCPMappings may use. */
  readonly ports?: readonly number[];
}

export interface CompileOptions {
  /** The instance's ambassador_id (default "default"). */
  readonly ambassadorId?: string;
  /**
   * Claims by source name. A source named here is a team source and is held to its claim;
   * a source not named (the central source, or a plain directory) may configure anything.
   */
  readonly claims?: Readonly<Record<string, Claim>>;
  /**
   * Rank of each source (lower outranks higher): when copies of one resource come from sources of
   * different ranks, the best-ranked copy is used and the others are reported. Sources not named
   * share the best rank. Copies within one rank invalidate each other.
   */
  readonly sourceRanks?: Readonly<Record<string, number>>;
}
