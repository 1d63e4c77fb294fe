#!/usr/bin/env node
// `npm run build`, also run by `npm install` ("prepare"): bundles the CLI (cli/main.ts and everything
// it imports from met's own folders) into dist/ as ES modules, one chunk per lazily imported command
// module, with node_modules left external (but zod). bin/met.js runs dist/ while dist/build.json says it was
// built from the sources now on disk, and TypeScript through tsx otherwise.
//
// Source files that find their neighbours through import.meta.url (the shipped prompt sets, the
// statistics worker thread, PROJECT_ROOT) keep their own location: each import.meta.url in met's
// code becomes the URL of its source file, relative to the chunk, so dist/ can move with the tree.
// Workflows are not part of this: workers/bundle.ts bundles them from workflows/*.ts as before.
import { mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outdir = process.argv.includes('--outdir') ? process.argv[process.argv.indexOf('--outdir') + 1] : join(root, 'dist');

const sourceUrl = {
  name: 'met-source-url',
  setup(b) {
    b.onLoad({ filter: /\.(ts|mts|mjs|js)$/ }, (args) => {
      if (args.path.includes(`${sep}node_modules${sep}`)) return undefined;
      const text = readFileSync(args.path, 'utf8');
      if (!text.includes('import.meta.url')) return undefined;
      const rel = relative(outdir, args.path).split(sep).join('/');
      const url = `new URL(${JSON.stringify(rel)}, import.meta.url).href`;
      return { contents: text.replaceAll('import.meta.url', url), loader: args.path.endsWith('.ts') || args.path.endsWith('.mts') ? 'ts' : 'js' };
    });
  },
};

// Packages stay in node_modules, loaded when a command needs them, except zod (about a hundred
// small files, most of `met stat`'s start as separate modules) and the one package that shares its
// schemas with met (fastify-type-provider-zod), so the process holds a single copy of zod.
const BUNDLED_PACKAGES = /^(zod|fastify-type-provider-zod)(\/|$)/;
const externals = {
  name: 'met-externals',
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, (args) => (BUNDLED_PACKAGES.test(args.path) ? undefined : { path: args.path, external: true }));
  },
};

// zod's classic entry re-exports every message locale (z.locales.*: some 50 modules, half of the
// bundled zod); met only ever uses English, which zod installs itself from locales/en.js. The
// bundle's locales index keeps English alone, so `met stat` does not parse the rest on each start.
const englishOnly = {
  name: 'met-zod-english',
  setup(b) {
    b.onLoad({ filter: /[\\/]zod[\\/]v4[\\/]locales[\\/]index\.js$/ }, (args) => ({
      contents: "export { default as en } from './en.js';\n",
      resolveDir: dirname(args.path),
    }));
  },
};

const started = Date.now();
const staging = `${outdir}.${process.pid}.tmp`;
rmSync(staging, { recursive: true, force: true });
const result = await build({
  absWorkingDir: root,
  entryPoints: { met: 'cli/main.ts' },
  outdir: staging,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: true,
  chunkNames: 'chunk-[hash]',
  metafile: true,
  logLevel: 'warning',
  plugins: [externals, englishOnly, sourceUrl],
});
if (result.errors.length > 0) process.exit(1);

// The stamp bin/met.js compares: every bundled source file with its size and modification time.
const sources = {};
for (const input of Object.keys(result.metafile.inputs).sort()) {
  if (input.includes('node_modules/')) continue;
  const s = statSync(join(root, input));
  sources[input] = [s.size, s.mtimeMs];
}
writeFileSync(join(staging, 'build.json'), `${JSON.stringify({ builtAt: new Date().toISOString(), sources }, null, 1)}\n`);
rmSync(outdir, { recursive: true, force: true });
mkdirSync(dirname(outdir), { recursive: true });
renameSync(staging, outdir);
const bytes = Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0);
console.log(
  `met: built ${relative(root, outdir) || outdir} (${Object.keys(sources).length} sources, ${(bytes / 1e6).toFixed(1)} MB) in ${((Date.now() - started) / 1000).toFixed(1)} s`,
);
