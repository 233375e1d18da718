// Inputs to compile() beyond the resources themselves.

import type { CompileMemo } from './compile-memo.js';

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
   * The namespace Portico itself runs in (Emissary's AMBASSADOR_NAMESPACE; default "default"): a
   * Mapping or TCPMapping in another namespace has its bare service name qualified with its own
   * namespace (`quote` in `shop` → `quote.shop`), since a bare name resolves where Portico runs.
   */
  readonly ambassadorNamespace?: string;
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
  /**
   * The secrets directory, read beforehand (compile does no I/O): TLS material and header values
   * that Hosts, TLSContexts and Mappings name but that are kept out of git. See secret-files.ts.
   */
  readonly secretFiles?: SecretFiles;
  /**
   * Work kept from earlier compiles of mostly the same resources (a serving process re-applying a
   * change). The output is byte-identical with and without it.
   */
  readonly memo?: CompileMemo;
  /**
   * What is served now: each Host and TLSContext ("Kind namespace/name") that terminates TLS with a
   * certificate, and the store id of that certificate. One whose Secret does not exist is served
   * without a certificate (a warning) unless it is in here with that Secret: a change that removes a
   * served certificate's Secret is an error, so that the certificate stays served.
   */
  readonly servedCertificates?: ReadonlyMap<string, string>;
}

/** The files of the secrets directory, laid out as mounted Kubernetes Secrets (DIR/NAME/KEY). */
export interface SecretFiles {
  /**
   * The directory as given and as its real path, absolute: an absolute cert_chain_file (or
   * private_key_file, cacert_chain_file) must lie under one of them.
   */
  readonly roots: readonly string[];
  /** Path relative to the directory ("NAME/tls.crt", '/'-separated) → content. Only files whose real path is inside. */
  readonly files: Readonly<Record<string, string>>;
  /** Paths the reader left out, with why (a link to outside the directory, too large, not UTF-8). */
  readonly skipped: Readonly<Record<string, { readonly reason: string; readonly outside?: boolean }>>;
}
