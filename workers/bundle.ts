import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bundleWorkflowCode, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { PROJECT_ROOT } from '../temporal/binary';

/**
 * Workers start from a pre-built workflow bundle. Bundling takes seconds, so the bundle is cached
 * under .met-cache/ keyed by a hash of every source file workflows could import and the lockfile;
 * any change rebuilds it.
 */
const SOURCE_DIRS = ['workflows', 'common', 'temporal', 'config', 'stats', 'datasets', 'collect', 'power'];

function sourceHash(): string {
  const hash = createHash('sha256');
  const walk = (dir: string) => {
    if (!existsSync(dir)) return;
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (name.endsWith('.ts')) hash.update(path).update(readFileSync(path));
    }
  };
  for (const dir of SOURCE_DIRS) walk(join(PROJECT_ROOT, dir));
  hash.update(readFileSync(join(PROJECT_ROOT, 'package-lock.json')));
  return hash.digest('hex').slice(0, 16);
}

let memo: Promise<WorkflowBundleWithSourceMap> | undefined;

export function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  memo ??= loadOrBuild();
  return memo;
}

async function loadOrBuild(): Promise<WorkflowBundleWithSourceMap> {
  const dir = join(PROJECT_ROOT, '.tools', 'bundle-cache');
  const file = join(dir, `workflows-${sourceHash()}.json`);
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as WorkflowBundleWithSourceMap;
  const bundle = await bundleWorkflowCode({
    workflowsPath: join(PROJECT_ROOT, 'workflows', 'index.ts'),
    logger: { trace() {}, debug() {}, info() {}, warn: console.warn, error: console.error, log() {} } as never,
  });
  mkdirSync(dir, { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(bundle));
  renameSync(tmp, file);
  return bundle;
}
