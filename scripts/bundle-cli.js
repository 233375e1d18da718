#!/usr/bin/env node
// Bundles the command line's entry and `validate` (with TypeBox and re2js) from tsc's output into
// dist/bundle/cli/: one file to load instead of ~1,000 modules, so a cold `portico validate` starts fast.
//
// Run by `npm run build` after tsc. bin/portico.js loads the bundle only when it is newer than tsc's
// last build (dist/.tsbuildinfo), so a tsc-only rebuild never runs stale bundled code. Every other
// command stays as tsc built it: main's import of it points at dist/src/cli/, where serve's workers
// and on-demand modules find their files beside them.
import { writeFileSync, rmSync, existsSync, utimesSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
const SRC = join(ROOT, 'dist/src');
const OUT = join(ROOT, 'dist/bundle/cli');
const ENTRY = join(SRC, 'cli/main.js');
/** The command modules bundled with the entry; main's imports of the others load tsc's files. */
const BUNDLED_COMMANDS = new Set(['validate.js']);
/** Packages bundled: pure JavaScript that reads no files of its own. Every other package is loaded as installed. */
const BUNDLED_PACKAGES = /^(@sinclair\/typebox|re2js)(\/|$)/;

if (!existsSync(ENTRY)) {
  console.error(`bundle-cli: ${relative(ROOT, ENTRY)} is missing; run tsc first (npm run build)`);
  process.exit(1);
}

/** Relative import specifier from the bundle's folder to a file of tsc's output. */
const fromBundle = (file) => relative(OUT, file).split(sep).join('/');

const placement = {
  name: 'portico-placement',
  setup(b) {
    // Other commands: loaded from tsc's output, as if main were still in dist/src/cli/.
    b.onResolve({ filter: /^\.\/[a-z-]+\.js$/ }, (args) => {
      if (args.importer !== ENTRY || args.kind !== 'dynamic-import' || BUNDLED_COMMANDS.has(args.path.slice(2))) return undefined;
      return { path: fromBundle(join(dirname(ENTRY), args.path)), external: true };
    });
    b.onResolve({ filter: /^[^./]/ }, (args) => (args.path.startsWith('node:') || !BUNDLED_PACKAGES.test(args.path) ? { path: args.path, external: true } : undefined));
    // A module that finds files (or modules on demand) beside itself keeps its own address.
    b.onLoad({ filter: /\.js$/ }, async (args) => {
      if (!args.path.startsWith(SRC + sep)) return undefined;
      const text = await readFile(args.path, 'utf8');
      if (!text.includes('import.meta.url')) return undefined;
      const own = `new URL(${JSON.stringify(fromBundle(args.path))}, import.meta.url).href`;
      return { contents: text.replaceAll('import.meta.url', own), loader: 'js', resolveDir: dirname(args.path) };
    });
  },
};

rmSync(OUT, { recursive: true, force: true });
const result = await build({
  absWorkingDir: ROOT,
  entryPoints: { main: ENTRY },
  outdir: OUT,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: 'linked',
  chunkNames: 'chunk-[hash]',
  metafile: true,
  logLevel: 'warning',
  plugins: [placement],
});
// esbuild escapes what it must (strings, templates) but keeps comments and regular expressions as
// written; one character past Latin-1 makes V8 hold the whole 1 MB chunk as two-byte text, which it
// compiles more slowly. A \u escape means the same in a comment, a regular expression or a name.
for (const file of Object.keys(result.metafile.outputs).filter((f) => f.endsWith('.js'))) {
  const path = join(ROOT, file);
  const text = await readFile(path, 'utf8');
  // (An escaped character, "\\é", would turn into a backslash and "u00e9": stop rather than write that.)
  // eslint-disable-next-line no-control-regex
  if (/\\[^\x00-\x7f]/.test(text)) throw new Error(`bundle-cli: ${file} escapes a character past ASCII; write it as \\u…`);
  // eslint-disable-next-line no-control-regex
  const ascii = text.replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  if (ascii !== text) writeFileSync(path, ascii);
}
// What each output holds: the start-up test checks which packages `validate` loads through it.
writeFileSync(join(OUT, 'meta.json'), JSON.stringify(result.metafile));
// The bundle counts as current only if it is newer than tsc's last build (see bin/portico.js).
const now = new Date();
utimesSync(join(OUT, 'main.js'), now, now);
console.log(`bundle-cli: ${Object.keys(result.metafile.outputs).filter((f) => f.endsWith('.js')).length} files in ${relative(ROOT, OUT)}`);

