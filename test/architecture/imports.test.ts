import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import ts from 'typescript';

/**
 * ARCHITECTURE.md's layers, checked on the project's own import statements (issue #31): every
 * import points down, workflows import only what is deterministic, and no file imports itself
 * through others. ESLint says the same per file; this walks the whole graph, `import type`,
 * `export ... from` and `import('...')` included, and names each edge that breaks a rule.
 */
const root = resolve(import.meta.dirname, '..', '..');

/** Product folders, bottom to top: a file imports only files of its own folder or of a folder listed before it. */
const LAYERS = [
  'common',
  // Domain libraries, ordered among themselves.
  'stats',
  'config',
  'temporal',
  'datasets',
  'report',
  'download',
  'collect',
  'providers',
  'models',
  'serve',
  // Activities and workflows share a level: workflows name activities by type only, activities never import workflows.
  'activities',
  'workflows',
  'jobs',
  'client',
  // Entry points.
  'workers',
  'api',
  'cli',
  'bin',
];
const LEVEL = new Map(LAYERS.map((folder, i) => [folder, folder === 'workflows' ? LAYERS.indexOf('activities') : i]));

/** What workflows may import for values (the sandbox bundle): pure modules only. Types may come from any layer below. */
const WORKFLOW_VALUES = [/^common\//, /^config\//, /^stats\//, /^workflows\//, /^download\/catalog\.ts$/, /^collect\/plan\.ts$/, /^temporal\/queues\.ts$/];

interface Edge {
  from: string;
  to: string;
  typeOnly: boolean;
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(root, dir))) {
    const path = join(dir, name);
    if (statSync(join(root, path)).isDirectory()) out.push(...sourceFiles(path));
    else if (/\.(ts|js|mjs)$/.test(name) && !name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

/** A relative specifier as the project file it names (`../datasets` is datasets/index.ts), or undefined outside the product folders. */
function resolveImport(from: string, specifier: string): string | undefined {
  const base = relative(root, resolve(root, dirname(from), specifier));
  for (const candidate of [base, `${base}.ts`, `${base}.js`, `${base}.mjs`, join(base, 'index.ts')]) {
    if (existsSync(join(root, candidate)) && statSync(join(root, candidate)).isFile()) return candidate;
  }
  return undefined;
}

/** Every relative import of a file: static imports and re-exports, `import('...')` calls and `import('...').T` types. */
function importsOf(file: string): Edge[] {
  const source = ts.createSourceFile(file, readFileSync(join(root, file), 'utf8'), ts.ScriptTarget.Latest, true);
  const edges: Edge[] = [];
  const add = (specifier: ts.Expression | undefined, typeOnly: boolean) => {
    if (!specifier || !ts.isStringLiteralLike(specifier) || !specifier.text.startsWith('.')) return;
    const to = resolveImport(file, specifier.text);
    if (to) edges.push({ from: file, to, typeOnly });
  };
  const visit = (node: ts.Node) => {
    if (ts.isImportDeclaration(node)) {
      const clause = node.importClause;
      const bindings = clause?.namedBindings;
      const allTypes =
        !!clause &&
        (clause.isTypeOnly ||
          (!clause.name && !!bindings && ts.isNamedImports(bindings) && bindings.elements.length > 0 && bindings.elements.every((e) => e.isTypeOnly)));
      add(node.moduleSpecifier, allTypes);
    } else if (ts.isExportDeclaration(node)) {
      const clause = node.exportClause;
      add(
        node.moduleSpecifier,
        node.isTypeOnly || (!!clause && ts.isNamedExports(clause) && clause.elements.length > 0 && clause.elements.every((e) => e.isTypeOnly)),
      );
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      add(node.arguments[0], false);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
      add(node.argument.literal, true);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return edges;
}

const files = LAYERS.filter((folder) => existsSync(join(root, folder))).flatMap(sourceFiles);
const edges = files.flatMap(importsOf);
const folderOf = (file: string) => file.split('/')[0];
const show = (e: Edge) => `${e.from} -> ${e.to}${e.typeOnly ? ' (type)' : ''}`;

/** The edges that break the layer rules. */
function upwardImports(all: Edge[]): string[] {
  const bad: string[] = [];
  for (const e of all) {
    const [from, to] = [folderOf(e.from), folderOf(e.to)];
    if (from === to) continue;
    // Same level: workflows may name activities by type; nothing else crosses sideways.
    if (from === 'workflows' && to === 'activities' && e.typeOnly) continue;
    if (LEVEL.get(to)! >= LEVEL.get(from)!) bad.push(show(e));
    // jobs/ names workflows and activities by type only: the client starts workflows by name.
    else if (from === 'jobs' && (to === 'workflows' || to === 'activities') && !e.typeOnly)
      bad.push(`${show(e)}: jobs/ imports workflows and activities as types only`);
  }
  return bad;
}

/** Files that import themselves through others (strongly connected components of more than one file). */
function importCircles(all: Edge[]): string[][] {
  const next = new Map<string, string[]>();
  for (const e of all) next.set(e.from, [...(next.get(e.from) ?? []), e.to]);
  // Tarjan's algorithm, iterative enough for a few hundred files.
  let index = 0;
  const stack: string[] = [];
  const seen = new Map<string, { index: number; low: number; onStack: boolean }>();
  const circles: string[][] = [];
  const connect = (v: string) => {
    seen.set(v, { index, low: index, onStack: true });
    index++;
    stack.push(v);
    for (const w of next.get(v) ?? []) {
      if (!seen.has(w)) {
        connect(w);
        seen.get(v)!.low = Math.min(seen.get(v)!.low, seen.get(w)!.low);
      } else if (seen.get(w)!.onStack) seen.get(v)!.low = Math.min(seen.get(v)!.low, seen.get(w)!.index);
    }
    if (seen.get(v)!.low === seen.get(v)!.index) {
      const component: string[] = [];
      for (;;) {
        const w = stack.pop()!;
        seen.get(w)!.onStack = false;
        component.push(w);
        if (w === v) break;
      }
      if (component.length > 1) circles.push(component.sort());
    }
  };
  for (const v of new Set(all.map((e) => e.from))) if (!seen.has(v)) connect(v);
  return circles;
}

test('the walk finds the imports it checks (static, re-exports, dynamic, import types)', () => {
  assert.ok(files.length > 200, `${files.length} files`);
  assert.ok(
    edges.some((e) => e.from === 'cli/runs.ts' && e.to === 'client/runs.ts' && !e.typeOnly),
    'a dynamic import',
  );
  assert.ok(
    edges.some((e) => e.from === 'jobs/collect.ts' && e.to === 'workflows/collectCorpus.ts' && e.typeOnly),
    'an import type',
  );
  assert.ok(
    edges.some((e) => e.from === 'client/runs.ts' && e.to === 'jobs/index.ts' && !e.typeOnly),
    'a folder import (jobs/index.ts)',
  );
  assert.ok(
    edges.some((e) => e.from === 'stats/index.ts' && e.to === 'stats/twoSample.ts' && !e.typeOnly),
    'a re-export',
  );
});

test('the checks catch what they are for: an upward import, a value import of a workflow in jobs/, a circle', () => {
  assert.deepEqual(upwardImports([{ from: 'config/schema.ts', to: 'temporal/connect.ts', typeOnly: true }]), [
    'config/schema.ts -> temporal/connect.ts (type)',
  ]);
  assert.deepEqual(upwardImports([{ from: 'api/server.ts', to: 'cli/watch.ts', typeOnly: false }]), ['api/server.ts -> cli/watch.ts']);
  assert.equal(upwardImports([{ from: 'jobs/power.ts', to: 'workflows/powerSimulation.ts', typeOnly: false }]).length, 1);
  assert.deepEqual(upwardImports([{ from: 'workflows/runTest.ts', to: 'activities/tests.ts', typeOnly: true }]), []);
  assert.deepEqual(
    importCircles([
      { from: 'a.ts', to: 'b.ts', typeOnly: true },
      { from: 'b.ts', to: 'c.ts', typeOnly: false },
      { from: 'c.ts', to: 'a.ts', typeOnly: false },
      { from: 'c.ts', to: 'd.ts', typeOnly: false },
    ]),
    [['a.ts', 'b.ts', 'c.ts']],
  );
});

test('every import points down the layers of ARCHITECTURE.md', () => {
  assert.deepEqual(upwardImports(edges), []);
});

test('workflows import values only from pure modules (the sandbox bundle), and no Node built-ins', () => {
  const impure = edges.filter((e) => folderOf(e.from) === 'workflows' && !e.typeOnly && !WORKFLOW_VALUES.some((r) => r.test(e.to))).map(show);
  assert.deepEqual(impure, []);
  const builtins = files
    .filter((f) => folderOf(f) === 'workflows')
    .filter((f) => /from ['"](node:|fs['"]|path['"]|crypto['"]|os['"])/.test(readFileSync(join(root, f), 'utf8')));
  assert.deepEqual(builtins, []);
});

test("no import circle among the project's files, counting import type", () => {
  assert.deepEqual(importCircles(edges), []);
});
