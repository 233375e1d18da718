// Load stage entry points: files and folders (or in-memory files from a git source) → normalised,
// validated Resources plus Problems. Pure over its inputs except loadPaths, which reads the disk.

import { isUtf8 } from 'node:buffer';
import { compareProblems, type Problem } from '../api/problems.js';
import type { Resource } from '../api/resource.js';
import { decodeText, NO_SHAPE, type LoadContext } from './decode.js';
import { walkTree } from './file-tree.js';
import { ReaderCaches } from './yaml-documents.js';
import { LOAD_LIMITS } from './limits.js';
import type { CacheSession, ParseCache } from './parse-cache.js';

export { LOAD_LIMITS } from './limits.js';
export { ParseCache } from './parse-cache.js';
export { EMISSARY_NOT_IMPLEMENTED_KINDS } from './decode.js';

export interface LoadOptions {
  /** Source name for origins (a git source name, or "dir"). */
  readonly source?: string;
  /** Revision (commit id) for origins. */
  readonly revision?: string;
  /** The instance's ambassador_id; resources for other instances are dropped. Default "default". */
  readonly ambassadorId?: string;
  /**
   * The namespace Portico runs in (Emissary's AMBASSADOR_NAMESPACE): a resource that names no
   * namespace, and is not in a Service annotation that does, is in it, as in Emissary. Default "default".
   */
  readonly ambassadorNamespace?: string;
}

export interface LoadResult {
  readonly resources: Resource[];
  readonly problems: Problem[];
}

export interface LoadFile {
  readonly path: string;
  readonly content: string | Buffer;
  /** The content's hash when known (a git blob id), for a ParseCache; else the cache hashes the content. */
  readonly hash?: string;
}

/**
 * Load in-memory files (no I/O). Files are read in path order, so the result does not depend on
 * input order. With a cache, files decoded by an earlier load with the same content are reused.
 */
export function loadFiles(files: readonly LoadFile[], opts: LoadOptions = {}, cache?: ParseCache): LoadResult {
  const ctx = newContext(opts);
  const session = cache?.open(opts.source, ctx.ambassadorId, opts.revision, ctx.ambassadorNamespace);
  const sorted = [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  if (sorted.length > LOAD_LIMITS.maxFiles) {
    ctx.problems.push({
      code: 'TooManyFiles',
      severity: 'error',
      message: `more than ${LOAD_LIMITS.maxFiles} files; nothing loaded`,
      origin: withSource(opts, { path: sorted[LOAD_LIMITS.maxFiles]?.path ?? '', line: 0, col: 0 }),
    });
    return finish(ctx);
  }
  for (const f of sorted) readFile(ctx, session, f.path, f.content, f.hash);
  session?.close();
  return finish(ctx);
}

/** Load files and folders from disk (folders recursively: .yaml, .yml, .json; sorted walk); a cache as for loadFiles. */
export async function loadPaths(paths: readonly string[], opts: LoadOptions = {}, cache?: ParseCache): Promise<LoadResult> {
  const ctx = newContext(opts);
  const session = cache?.open(opts.source, ctx.ambassadorId, opts.revision, ctx.ambassadorNamespace);
  const tree = await walkTree(paths, (path, content) => readFile(ctx, session, path, content));
  session?.close();
  if (tree.stopped) {
    // A partial configuration would silently miss routes: over the cap, nothing is loaded.
    ctx.resources.length = 0;
    ctx.problems.length = 0;
  }
  for (const p of tree.problems) {
    ctx.problems.push({ code: p.code, severity: 'error', message: p.message, origin: withSource(opts, { path: p.path, line: 0, col: 0 }) });
  }
  return finish(ctx);
}

/** One file: its results from the cache when its content is unchanged, else decoded (and kept). */
function readFile(ctx: LoadContext, session: CacheSession | undefined, path: string, content: string | Buffer, hash?: string): void {
  if (!session) {
    decodeFile(ctx, path, content);
    return;
  }
  const key = session.hashOf(content, hash);
  const reused = session.reuse(path, key, LOAD_LIMITS.maxObjects - ctx.objects);
  if (reused) {
    for (const r of reused.resources) ctx.resources.push(r);
    for (const p of reused.problems) ctx.problems.push(p);
    ctx.objects += reused.objects;
    return;
  }
  const mark = { resources: ctx.resources.length, problems: ctx.problems.length, objects: ctx.objects };
  decodeFile(ctx, path, content);
  // Past the object cap a file's result depends on the files before it: not kept.
  session.store(path, key, ctx.resources.slice(mark.resources), ctx.problems.slice(mark.problems), ctx.objects - mark.objects, ctx.objects <= LOAD_LIMITS.maxObjects);
}

function decodeFile(ctx: LoadContext, path: string, content: string | Buffer): void {
  // A UTF-16 unit is at most 3 bytes of UTF-8: most texts are within the limit without a count.
  const size = typeof content !== 'string' ? content.length : content.length * 3 <= LOAD_LIMITS.maxFileBytes ? 0 : Buffer.byteLength(content);
  if (size > LOAD_LIMITS.maxFileBytes) {
    ctx.problems.push({
      code: 'FileTooLarge',
      severity: 'error',
      message: `file is ${size} bytes; the limit is ${LOAD_LIMITS.maxFileBytes}`,
      origin: withSource(ctx, { path, line: 0, col: 0 }),
    });
    return;
  }
  if (typeof content !== 'string' && !isUtf8(content)) {
    // Decoding would swap bad bytes for U+FFFD and change names and values without a word.
    ctx.problems.push({
      code: 'FileUnreadable',
      severity: 'error',
      message: 'file is not valid UTF-8',
      origin: withSource(ctx, { path, line: 0, col: 0 }),
    });
    return;
  }
  let text = typeof content === 'string' ? content : content.toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  decodeText(ctx, path, text);
}

function newContext(opts: LoadOptions): LoadContext {
  // Every member a decode sets is present from the start, with a value of its kind: an object that
  // grows or changes the type of a member later throws away the code optimised for it.
  const ctx: LoadContext = { ambassadorId: opts.ambassadorId ?? 'default', ambassadorNamespace: opts.ambassadorNamespace ?? 'default', resources: [], problems: [], objects: 0, fieldPaths: new Map(), readerCaches: new ReaderCaches(), lastShape: NO_SHAPE };
  return Object.assign(ctx, opts.source !== undefined ? { source: opts.source } : {}, opts.revision !== undefined ? { revision: opts.revision } : {});
}

function withSource(opts: { source?: string; revision?: string }, o: { path: string; line: number; col: number }) {
  return { ...(opts.source !== undefined ? { source: opts.source } : {}), ...(opts.revision !== undefined ? { revision: opts.revision } : {}), ...o };
}

function finish(ctx: LoadContext): LoadResult {
  return { resources: ctx.resources, problems: [...ctx.problems].sort(compareProblems) };
}
