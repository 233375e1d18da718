// Caps on what one load may consume, checked before or while parsing so hostile or runaway input
// (huge files, alias bombs, deep nesting) is refused in milliseconds with bounded memory.

export const LOAD_LIMITS = Object.freeze({
  /** Bytes per file, checked from the file size before reading. */
  maxFileBytes: 1024 * 1024,
  /** YAML documents per file, counted while the parser streams them. */
  maxDocumentsPerFile: 1000,
  /** Objects in one top-level sequence or `kind: List`. */
  maxItemsPerDocument: 1000,
  /** Files per load (a directory walk stops here). */
  maxFiles: 10_000,
  /** Nesting depth of mappings and sequences inside one document. */
  maxDepth: 64,
  /** Alias dereferences per document; yaml's own maxAliasCount default, so an alias bomb stops early. */
  maxAliasCount: 100,
  /** Objects per load across all files. */
  maxObjects: 200_000,
});
