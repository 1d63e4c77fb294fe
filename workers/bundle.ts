import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { writeFileAtomic } from '../common/files';
import { dirname, join, relative, resolve } from 'node:path';
import { bundleWorkflowCode, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { PROJECT_ROOT } from '../temporal/binary';

/**
 * Workers start from a pre-built workflow bundle. Bundling takes seconds, so the bundle is cached
 * in .tools/bundle-cache/ under a key hashed from what the bundler includes: every project file
 * reachable by imports from workflows/index.ts (the files webpack puts in the bundle; packages
 * are covered by the lockfile) and package-lock.json. Any change to one of them rebuilds it.
 */
export const WORKFLOWS_ENTRY = join(PROJECT_ROOT, 'workflows', 'index.ts');

/**
 * Import specifiers of a module that survive compilation: `import type` and `export type`
 * declarations, and named imports whose every name is `type`, are erased and are not bundled.
 * Anything else counts (imports only used as types, imports named in comments), so the list errs on
 * the side of more files, never fewer.
 */
export function bundledSpecifiers(source: string): string[] {
  const out: string[] = [];
  const declaration = /\b(import|export)\s+(type\s+)?([\w\s{},*$]*?)\s*from\s*['"]([^'"]+)['"]/g;
  for (const m of source.matchAll(declaration)) {
    if (m[2]) continue;
    const named = /^\{([^}]*)\}$/.exec(m[3].trim());
    const names = named?.[1]
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    if (names && names.length > 0 && names.every((n) => /^type\s/.test(n))) continue;
    out.push(m[4]);
  }
  for (const m of source.matchAll(/\bimport\s*['"]([^'"]+)['"]/g)) out.push(m[1]);
  for (const m of source.matchAll(/\b(?:import|require)\s*\(\s*['"]([^'"]+)['"]\s*\)/g)) out.push(m[1]);
  return out;
}

const EXTENSIONS = ['', '.ts', '.tsx', '.js', '.mjs', '.cjs', '.json', '/index.ts', '/index.js'];

function resolveRelative(from: string, specifier: string, isFile: (path: string) => boolean): string | undefined {
  const base = resolve(dirname(from), specifier);
  // `./x.js` in TypeScript source may name `./x.ts`.
  const candidates = [...EXTENSIONS.map((e) => base + e), ...(/\.[cm]?js$/.test(base) ? [base.replace(/\.([cm]?)js$/, '.$1ts')] : [])];
  return candidates.find(isFile);
}

export interface BundleKeyDeps {
  root?: string;
  entry?: string;
  readFile?: (path: string) => Buffer | string;
  isFile?: (path: string) => boolean;
}

/** Project files the workflow bundle includes: the import graph from the entry, relative imports only. */
export function bundledProjectFiles(deps: BundleKeyDeps = {}): string[] {
  const readFile = deps.readFile ?? ((p: string) => readFileSync(p));
  const isFile = deps.isFile ?? ((p: string) => existsSync(p) && statSync(p).isFile());
  const seen = new Set<string>();
  const stack = [deps.entry ?? WORKFLOWS_ENTRY];
  while (stack.length > 0) {
    const file = stack.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    if (!/\.[cm]?[jt]sx?$/.test(file)) continue;
    for (const specifier of bundledSpecifiers(readFile(file).toString())) {
      if (!specifier.startsWith('.')) continue;
      // Not a file: a specifier in a comment, or an import webpack will report when it bundles.
      const target = resolveRelative(file, specifier, isFile);
      if (target) stack.push(target);
    }
  }
  return [...seen].sort();
}

/** The cache key: the bundled project files (path and content) and the lockfile. */
export function bundleCacheKey(deps: BundleKeyDeps = {}): string {
  const root = deps.root ?? PROJECT_ROOT;
  const readFile = deps.readFile ?? ((p: string) => readFileSync(p));
  const hash = createHash('sha256');
  for (const file of bundledProjectFiles(deps)) hash.update(relative(root, file)).update('\0').update(readFile(file)).update('\0');
  hash.update(readFile(join(root, 'package-lock.json')));
  return hash.digest('hex').slice(0, 16);
}

let memo: Promise<WorkflowBundleWithSourceMap> | undefined;

export function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  memo ??= loadOrBuild();
  return memo;
}

async function loadOrBuild(): Promise<WorkflowBundleWithSourceMap> {
  const dir = join(PROJECT_ROOT, '.tools', 'bundle-cache');
  const file = join(dir, `workflows-${bundleCacheKey()}.json`);
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as WorkflowBundleWithSourceMap;
  const bundle = await bundleWorkflowCode({
    workflowsPath: WORKFLOWS_ENTRY,
    logger: { trace() {}, debug() {}, info() {}, warn: console.warn, error: console.error, log() {} },
  });
  writeFileAtomic(file, JSON.stringify(bundle));
  return bundle;
}
