// What "the reader reads YAML as the yaml package does" means, as a check the tests run on the
// corpus and on generated text: documents, values, positions, lost keys and problems.

import assert from 'node:assert/strict';
import { parseDocuments } from '../../src/load/yaml-documents.js';
import type { ParsedDocument, ParseIssue } from '../../src/load/parsed-yaml.js';
import { parseWithYamlPackage } from './yaml-oracle.js';

/** Everything a document tells the decoder: its index, value, start, lost keys, and the position of every key, item and literal block. */
export function shape(docs: readonly ParsedDocument[]): unknown[] {
  return docs
    .filter((d) => d.value !== null && d.value !== undefined)
    .map((d) => {
      const positions: unknown[] = [];
      const visit = (v: unknown, path: string): void => {
        if (typeof v !== 'object' || v === null) return;
        const src = d.sources.get(v);
        positions.push([path, src?.start, src ? [...src.entries] : null, src?.blocks ? [...src.blocks] : null]);
        for (const k of Object.keys(v)) visit((v as Record<string, unknown>)[k], `${path}/${k}`);
      };
      visit(d.value, '');
      return { index: d.index, value: d.value, start: d.start, spoiled: d.spoiled, positions };
    });
}

/** Characters YAML does not allow, which the reader refuses and the yaml package reads as text. */
// eslint-disable-next-line no-control-regex
export const FORBIDDEN = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\ufeff\ufffe\uffff]|\r(?!\n)|\p{Cs}/u;

export interface Verdict {
  /** A known, documented difference (see KNOWN_DIFFERENCES in the test); both keep the object from serving. */
  readonly known?: string;
}

const fatal = (issues: readonly ParseIssue[]): ParseIssue[] => issues.filter((i) => i.path === undefined);

/**
 * Asserts the reader reads `text` as the yaml package does: identical documents (values, starts,
 * positions of every key and item, lost keys) up to and including the first document either side
 * refuses, which both refuse; a problem on one side only if on the other; and the same lost-key
 * problems where nothing is refused. After a refused document the two recover differently (the yaml
 * package files some problems under the document before, and reads on through a broken one), so
 * later documents are not compared. Returns the known difference the text shows, if any.
 */
export function assertReadsLikeYamlPackage(text: string, label = ''): Verdict {
  const mine = parseDocuments(text);
  const where = `${label}\n${JSON.stringify(text)}`;
  if (FORBIDDEN.test(text)) {
    assert.ok(fatal(mine.issues).length > 0, `${where}: a character YAML forbids was accepted`);
    return { known: 'forbidden character' };
  }
  const full = parseWithYamlPackage(text);
  const mineIdx = new Set(mine.documents.map((d) => d.index));
  const fullIdx = new Set(full.documents.map((d) => d.index));
  const count = Math.max(0, ...mine.documents.map((d) => d.index + 1), ...full.documents.map((d) => d.index + 1), ...full.refused.map((r) => r + 1));
  let firstBad = Infinity;
  for (let k = 0; k < count; k++) {
    if (!mineIdx.has(k) || !fullIdx.has(k)) {
      firstBad = k;
      break;
    }
  }
  const before = (docs: ParsedDocument[]) => shape(docs.filter((d) => d.index < firstBad));
  assert.deepStrictEqual(before(mine.documents), before(full.documents), `${where}: documents differ`);

  const lines = text.split('\n');
  const lineAt = (i: ParseIssue): string => (lines[i.at.line - 1] ?? '').replace(/\r$/, '');
  const known = knownDifference(text, lines, mine.issues, full.issues, lineAt);
  if (known) return { known };

  assert.equal(fatal(mine.issues).length > 0, fatal(full.issues).length > 0, `${where}: a problem on one side only:\nreader ${JSON.stringify(mine.issues)}\nyaml ${JSON.stringify(full.issues)}`);
  if (firstBad !== Infinity && mineIdx.has(firstBad) !== fullIdx.has(firstBad)) {
    // The yaml package files some problems under the document before the one they are in.
    const doc = mine.documents.find((d) => d.index === firstBad);
    let misfiled = false;
    if (doc) {
      const markers = lines.map((l, i) => (/^(---|\.\.\.)([ \t\r]|$)/.test(l) ? i + 1 : 0)).filter((x) => x > 0);
      const from = Math.max(0, ...markers.filter((m) => m <= doc.start.line));
      const to = Math.min(Infinity, ...markers.filter((m) => m > doc.start.line));
      misfiled = !fatal(full.issues).some((i) => i.at.line >= from && i.at.line < to);
    }
    assert.ok(misfiled, `${where}: document ${firstBad} refused by one side only:\nreader ${JSON.stringify(mine.issues)}\nyaml ${JSON.stringify(full.issues)}`);
  }
  if (fatal(mine.issues).length === 0) {
    const spoils = (is: readonly ParseIssue[]) => is.filter((i) => i.path !== undefined);
    assert.deepStrictEqual(spoils(mine.issues), spoils(full.issues), `${where}: lost keys differ`);
  }
  return {};
}

/** The documented differences (docs/reference/yaml.md), recognised in a pair of results. */
function knownDifference(text: string, lines: string[], mine: readonly ParseIssue[], full: readonly ParseIssue[], lineAt: (i: ParseIssue) => string): string | undefined {
  if (mine.some((i) => /needs a ": " line before it/.test(i.message))) return 'content after an explicit key with no ": " line';
  if (full.some((i) => i.message === 'Map comment with trailing content' && /^[[{]/.test(lineAt(i).slice(i.at.col - 1)))) return 'flow collection as a block mapping key';
  if (mine.some((i) => i.message === 'Missing closing "quote' && /\\"\s*$/.test(lineAt(i)))) return 'escaped quote at the end of a line';
  if (mine.some((i) => i.message === 'Unexpected content at the end of the line' && /^\s*[|>][-+0-9]*\s+(---|\.\.\.)/.test(lineAt(i).slice(lineAt(i).search(/[|>]/))))) return 'document marker after a block scalar header';
  if (/\n\t+(---|\.\.\.)/.test(text) && full.some((i) => /Block scalar lines must not be less indented/.test(i.message))) return 'tab before a document marker after a block scalar';
  void lines;
  return undefined;
}
