import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { PROJECT_ROOT } from '../../temporal/binary';
import { bundleCacheKey, bundledProjectFiles, bundledSpecifiers, workflowBundle } from '../../workers/bundle';

/** The project's files as on disk, except `edited`, which reads with a line appended. */
function readerWithEdit(edited: string) {
  const path = join(PROJECT_ROOT, edited);
  return (p: string) => (p === path ? `${readFileSync(p, 'utf8')}\n// edited\n` : readFileSync(p));
}

test('editing download/catalog.ts (imported by workflows/downloadDataset.ts) changes the bundle cache key', () => {
  const before = bundleCacheKey();
  assert.equal(bundleCacheKey(), before, 'the key is stable');
  assert.notEqual(bundleCacheKey({ readFile: readerWithEdit('download/catalog.ts') }), before);
  assert.notEqual(bundleCacheKey({ readFile: readerWithEdit('common/hash.ts') }), before, 'a file two imports away counts too');
  assert.notEqual(bundleCacheKey({ readFile: readerWithEdit('package-lock.json') }), before, 'a package upgrade counts');
});

test('files workflows import only as types (activities, the CLI) do not change the key', () => {
  const before = bundleCacheKey();
  assert.equal(bundleCacheKey({ readFile: readerWithEdit('activities/download.ts') }), before);
  assert.equal(bundleCacheKey({ readFile: readerWithEdit('cli/progress.ts') }), before);
});

test('type-only imports are left out, everything else counts', () => {
  const source = [
    "import type { A } from './a';",
    "import { type B, type C } from './b';",
    "export type { D } from './d';",
    "import { type E, f } from './e';",
    "import g from './g';",
    "export { h } from './h';",
    "import * as i from './i';",
    "import './j';",
    "const k = await import('./k');",
    'import {\n  l,\n  m,\n} from "./lm";',
  ].join('\n');
  assert.deepEqual(bundledSpecifiers(source).sort(), ['./e', './g', './h', './i', './j', './k', './lm']);
});

test('every project file webpack puts in the workflow bundle is hashed', { timeout: 120_000 }, async () => {
  const bundle = await workflowBundle();
  // Webpack (development mode, context = the working directory) names each module by its path.
  const modules = [...bundle.code.matchAll(/^\/\*\*\*\/ "(\.\/[^"]+)"$/gm)].map((m) => m[1]).filter((id) => !id.includes('node_modules'));
  const bundled = modules.map((id) => resolve(process.cwd(), id)).sort();
  assert.ok(bundled.includes(join(PROJECT_ROOT, 'download', 'catalog.ts')), `the bundle has download/catalog.ts (modules: ${modules.join(', ')})`);
  const hashed = new Set(bundledProjectFiles());
  assert.deepEqual(
    bundled.filter((f) => !hashed.has(f)),
    [],
    'bundled but not in the cache key',
  );
});
