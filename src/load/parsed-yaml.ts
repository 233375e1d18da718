// What reading YAML gives the load stage: plain value trees (null-prototype objects), one per
// document, with the line and column of every map, list, key and item, and the problems found.

import type { ProblemCode } from '../api/problems.js';

export interface TextPosition {
  readonly line: number;
  readonly col: number;
}

/** Where a decoded map or sequence came from: its start, and the position of each key or item. */
export interface NodeSource {
  readonly start: TextPosition;
  readonly entries: Map<string | number, TextPosition>;
  /** For string values written as literal block scalars (`|`): where their content lines begin. */
  blocks?: Map<string, BlockScalarSource>;
}

/** A literal block scalar's content: line N of the string is file line firstLine+N-1, shifted by indent columns. */
export interface BlockScalarSource {
  readonly firstLine: number;
  readonly indent: number;
}

/**
 * Positions of one document's maps and sequences, by object. It lives only as long as the document
 * is being decoded (a WeakMap would keep every position alive as long as the loaded specs).
 */
export interface SourceMap {
  get(value: object): NodeSource | undefined;
}

/** A problem found while reading; `path` (from the document root) says which object it spoils. */
export interface ParseIssue {
  readonly code: ProblemCode;
  readonly message: string;
  readonly at: TextPosition;
  /** Path from the document root; undefined when the whole document is unusable. */
  readonly path?: readonly (string | number)[];
  /** The offending key's dotted path inside its object ("spec.headers.__proto__"). */
  readonly field?: string;
}

export interface ParsedDocument {
  /** 0-based index of the document in the file. */
  readonly index: number;
  readonly value: unknown;
  readonly start: TextPosition;
  /** Where the document's text ends: the start of the next document marker's line, or the end of the text. */
  readonly end: TextPosition;
  /** Paths of the objects that lost a key to a problem (prototype or merge keys, keys that are not scalars). */
  readonly spoiled: readonly (readonly (string | number)[])[];
  /** Where each map and sequence of `value` came from. */
  readonly sources: SourceMap;
}

/** Maps a position in the parsed text to a position in the file (identity for whole files). */
export type PositionMap = (p: TextPosition) => TextPosition;

/**
 * Positions of one document as the reader records them: flat lists of numbers in reading order
 * rather than a map and a position object per key, since a decoder reads only a few of them unless
 * a resource has a problem. NodeSources are built from the lists on the first `get`.
 * Every node follows the entry whose value it is, so a walk of the lists in order finds field paths.
 */
export class RecordedSources implements SourceMap {
  /** Maps and lists in depth-first order (the document's root first). */
  readonly nodes: object[] = [];
  /** Per node: line, column, and the entry whose value it is (-1 for the root). */
  readonly nodeInfo: number[] = [];
  /** Keys (mappings) and indexes (lists) of every entry, in depth-first order. */
  readonly entryKeys: (string | number)[] = [];
  /** Per entry: the node it belongs to, line, column. */
  readonly entryInfo: number[] = [];
  /** Literal blocks: node, key, source. */
  private blocks: unknown[] | undefined;
  private built: Map<object, NodeSource> | undefined;

  constructor(readonly mapPos: PositionMap | undefined) {}

  /** Records a new map or list; returns its number. */
  node(value: object, line: number, col: number): number {
    this.nodes.push(value);
    this.nodeInfo.push(line, col, this.entryKeys.length - 1);
    return this.nodes.length - 1;
  }

  entry(node: number, key: string | number, line: number, col: number): void {
    this.entryKeys.push(key);
    this.entryInfo.push(node, line, col);
  }

  /**
   * A list grown item by item keeps room for sixteen more; loaded lists live as long as their
   * resource, so the node becomes a copy of exactly its length.
   */
  exactList(node: number, list: unknown[]): unknown[] {
    const exact = list.slice();
    this.nodes[node] = exact;
    return exact;
  }

  block(node: number, key: string, source: BlockScalarSource): void {
    (this.blocks ??= []).push(node, key, source);
  }

  /** Forgets the literal blocks of nodes `from` and after (their nodes were taken back). */
  dropBlocksFrom(from: number): void {
    const blocks = this.blocks;
    if (!blocks) return;
    const kept: unknown[] = [];
    for (let b = 0; b < blocks.length; b += 3) if ((blocks[b] as number) < from) kept.push(blocks[b], blocks[b + 1], blocks[b + 2]);
    this.blocks = kept;
  }

  /**
   * Records again, for the copy an alias makes, the nodes [n0, n1) and entries [e0, e1) of `from`:
   * the same positions, `copies` (in depth-first order) as the objects, and the copy's root as the
   * value of the entry recorded last.
   */
  replay(from: RecordedSources, n0: number, n1: number, e0: number, e1: number, copies: readonly object[]): void {
    const nodeBase = this.nodes.length;
    const entryBase = this.entryKeys.length;
    for (let i = n0; i < n1; i++) {
      this.nodes.push(copies[i - n0] as object);
      const parent = i === n0 ? entryBase - 1 : (from.nodeInfo[3 * i + 2] as number) - e0 + entryBase;
      this.nodeInfo.push(from.nodeInfo[3 * i] as number, from.nodeInfo[3 * i + 1] as number, parent);
    }
    for (let e = e0; e < e1; e++) {
      this.entryKeys.push(from.entryKeys[e] as string | number);
      this.entryInfo.push((from.entryInfo[3 * e] as number) - n0 + nodeBase, from.entryInfo[3 * e + 1] as number, from.entryInfo[3 * e + 2] as number);
    }
    const blocks = from.blocks ?? [];
    for (let b = 0; b < blocks.length; b += 3) {
      const node = blocks[b] as number;
      if (node >= n0 && node < n1) this.block(node - n0 + nodeBase, blocks[b + 1] as string, blocks[b + 2] as BlockScalarSource);
    }
  }

  /** A position as the caller sees it (after its position map). */
  at(line: number, col: number): TextPosition {
    const p = { line, col };
    return this.mapPos ? this.mapPos(p) : p;
  }

  startOf(value: object): TextPosition | undefined {
    if (this.nodes[0] === value) return this.at(this.nodeInfo[0] as number, this.nodeInfo[1] as number);
    return this.get(value)?.start;
  }

  get(value: object): NodeSource | undefined {
    return (this.built ??= this.build()).get(value);
  }

  private build(): Map<object, NodeSource> {
    const byValue = new Map<object, NodeSource>();
    const list: { start: TextPosition; entries: Map<string | number, TextPosition>; blocks?: Map<string, BlockScalarSource> }[] = [];
    const { nodes, nodeInfo, entryKeys, entryInfo } = this;
    for (let i = 0; i < nodes.length; i++) {
      const source = { start: this.at(nodeInfo[3 * i] as number, nodeInfo[3 * i + 1] as number), entries: new Map<string | number, TextPosition>() };
      list.push(source);
      byValue.set(nodes[i] as object, source);
    }
    for (let e = 0; e < entryKeys.length; e++) {
      list[entryInfo[3 * e] as number]?.entries.set(entryKeys[e] as string | number, this.at(entryInfo[3 * e + 1] as number, entryInfo[3 * e + 2] as number));
    }
    const blocks = this.blocks ?? [];
    for (let b = 0; b < blocks.length; b += 3) {
      const source = list[blocks[b] as number];
      if (source) (source.blocks ??= new Map()).set(blocks[b + 1] as string, blocks[b + 2] as BlockScalarSource);
    }
    return byValue;
  }
}
