// A folder's files as a snapshot holds them, and the folder's revision: each file's bytes are hashed
// once, for both.

import { isUtf8 } from 'node:buffer';
import { createHash } from 'node:crypto';
import type { LoadFile } from '../load/index.js';
import type { TreeFile } from '../load/file-tree.js';

/**
 * Each file as text where its bytes are UTF-8 (as bytes otherwise, for the loader to report), with
 * the SHA-256 of its bytes as its hash (the parse cache's key); and the folder's revision,
 * `sha256:` over every file's path and hash, then `extra` (what else makes the folder's state, such
 * as the problems found reading it). File paths are shown as `show` gives them.
 */
export function folderFiles(tree: readonly TreeFile[], show: (path: string) => string = (p) => p, extra: readonly string[] = []): { files: LoadFile[]; revision: string } {
  const h = createHash('sha256');
  const files: LoadFile[] = [];
  for (const f of tree) {
    const hash = `sha256:${createHash('sha256').update(f.content).digest('base64')}`;
    h.update(`${f.path}\0${hash}\0`);
    files.push({ path: show(f.path), content: isUtf8(f.content) ? f.content.toString('utf8') : f.content, hash });
  }
  for (const line of extra) h.update(`${line}\0`);
  return { files, revision: `sha256:${h.digest('hex')}` };
}
