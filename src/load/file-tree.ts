// Reads the files a load names: plain files as given, folders walked recursively in sorted order
// (.yaml .yml .json), symlinks followed only while they stay inside the folder being walked.

import { lstatSync, readdirSync, readFileSync, realpathSync, statSync, type Stats } from 'node:fs';
import { lstat, readdir, readFile, realpath, stat } from 'node:fs/promises';
import { extname, join, relative, isAbsolute } from 'node:path';
import type { ProblemCode } from '../api/problems.js';
import { systemReason as why } from '../api/system-error.js';
import { LOAD_LIMITS } from './limits.js';

export interface TreeFile {
  readonly path: string;
  readonly content: Buffer;
}

/** Receives each file as soon as it is read, so only one file's bytes are held at a time. */
export type OnFile = (path: string, content: Buffer) => void;

export interface TreeProblem {
  readonly code: ProblemCode;
  readonly path: string;
  readonly message: string;
}

const EXTENSIONS = new Set(['.yaml', '.yml', '.json']);

/** The file system calls a walk makes. */
export interface TreeReader {
  readdir(path: string): Promise<string[]>;
  lstat(path: string): Promise<Stats>;
  stat(path: string): Promise<Stats>;
  realpath(path: string): Promise<string>;
  readFile(path: string): Promise<Buffer>;
}

/** Each call a round trip through libuv's thread pool: what a server, which must stay responsive, reads with. */
export const ASYNC_READER: TreeReader = { readdir, lstat, stat, realpath: (p) => realpath(p), readFile: (p) => readFile(p) };

/** Promise of a synchronous call's result (or its error), so a walk reads the same either way. */
function settled<T>(call: () => T): Promise<T> {
  try {
    return Promise.resolve(call());
  } catch (err) {
    return Promise.reject(err as Error);
  }
}

/**
 * The same calls made synchronously: a one-shot command (validate and the other offline commands)
 * has nothing else to do meanwhile, and a folder of files read this way costs a few milliseconds
 * less than a thread-pool round trip per call.
 */
export const SYNC_READER: TreeReader = {
  readdir: (p) => settled(() => readdirSync(p)),
  lstat: (p) => settled(() => lstatSync(p)),
  stat: (p) => settled(() => statSync(p)),
  realpath: (p) => settled(() => realpathSync(p)),
  readFile: (p) => settled(() => readFileSync(p)),
};

/** All files under `paths`, in walk order; over the file cap, none (with the TooManyFiles problem). */
export async function readTree(paths: readonly string[], fs: TreeReader = ASYNC_READER): Promise<{ files: TreeFile[]; problems: TreeProblem[] }> {
  const files: TreeFile[] = [];
  const { problems, stopped } = await walkTree(paths, (path, content) => files.push({ path, content }), fs);
  return { files: stopped ? [] : files, problems };
}

/** Walks `paths`, handing each file to `onFile` in order; `stopped` means the file cap was hit. */
export async function walkTree(paths: readonly string[], onFile: OnFile, fs: TreeReader = ASYNC_READER): Promise<{ problems: TreeProblem[]; stopped: boolean }> {
  const problems: TreeProblem[] = [];
  let count = 0;
  let stopped = false;

  const addFile = async (path: string, size: number): Promise<void> => {
    if (++count > LOAD_LIMITS.maxFiles) {
      if (!stopped) problems.push({ code: 'TooManyFiles', path, message: `more than ${LOAD_LIMITS.maxFiles} files; nothing loaded` });
      stopped = true;
      return;
    }
    // The size cap is checked before reading, so a huge file costs nothing.
    if (size > LOAD_LIMITS.maxFileBytes) {
      problems.push({ code: 'FileTooLarge', path, message: `file is ${size} bytes; the limit is ${LOAD_LIMITS.maxFileBytes}` });
      return;
    }
    let content: Buffer;
    try {
      content = await fs.readFile(path);
    } catch (err) {
      problems.push({ code: 'FileUnreadable', path, message: `cannot read file: ${why(err)}` });
      return;
    }
    onFile(path, content);
  };

  const walk = async (dir: string, root: string, visited: Set<string>): Promise<void> => {
    let names: string[];
    try {
      names = (await fs.readdir(dir)).sort();
    } catch (err) {
      problems.push({ code: 'FileUnreadable', path: dir, message: `cannot read folder: ${why(err)}` });
      return;
    }
    for (const name of names) {
      if (stopped) return;
      // Hidden entries (.git, editor state) are never configuration.
      if (name.startsWith('.')) continue;
      const p = join(dir, name);
      let st = await fs.lstat(p).catch(() => undefined);
      if (!st) continue;
      if (st.isSymbolicLink()) {
        // A link is only worth a word when what it names would be read: a folder, or a configuration file.
        const wanted = EXTENSIONS.has(extname(name).toLowerCase());
        const real = await fs.realpath(p).catch((err: NodeJS.ErrnoException) => err);
        if (real instanceof Error) {
          if (wanted) problems.push({ code: 'FileUnreadable', path: p, message: `symbolic link cannot be followed: ${why(real)}` });
          continue;
        }
        if (!inside(root, real)) {
          if (wanted || (await fs.stat(p).catch(() => undefined))?.isDirectory()) {
            problems.push({ code: 'PathOutsideRoot', path: p, message: 'symbolic link points outside the folder being loaded; not followed' });
          }
          continue;
        }
        st = await fs.stat(p).catch(() => undefined);
        if (!st) continue;
      }
      if (st.isDirectory()) {
        const real = await fs.realpath(p).catch(() => p);
        if (visited.has(real)) continue;
        visited.add(real);
        await walk(p, root, visited);
      } else if (st.isFile() && EXTENSIONS.has(extname(name).toLowerCase())) {
        await addFile(p, st.size);
      }
    }
  };

  for (const p of paths) {
    if (stopped) break;
    const st = await fs.stat(p).catch((err: NodeJS.ErrnoException) => err);
    if (st instanceof Error) {
      problems.push({ code: 'FileUnreadable', path: p, message: `cannot read: ${why(st)}` });
      continue;
    }
    if (st.isDirectory()) {
      const root = await fs.realpath(p);
      await walk(p, root, new Set([root]));
    } else {
      // A file named explicitly is read whatever its extension.
      await addFile(p, st.size);
    }
  }
  return { problems, stopped };
}

function inside(root: string, real: string): boolean {
  const rel = relative(root, real);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}
