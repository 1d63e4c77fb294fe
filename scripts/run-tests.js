#!/usr/bin/env node
// `npm test`: type-checks, builds dist/ (scripts/build.js), starts ONE real Temporal dev server for the whole run (its own temp
// SQLite file and free port), runs every test/**/*.test.ts with Node's built-in runner, and stops
// the server afterwards. Arguments filter test files by substring: `npm test -- stats`.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { register } from 'tsx/esm/api';

register();
const { freePort, startDevServer, stopDevServer } = await import('../temporal/devServer.ts');

const root = new URL('..', import.meta.url).pathname;

function findTests(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...findTests(p));
    else if (name.endsWith('.test.ts')) out.push(relative(root, p));
  }
  return out.sort();
}

const filters = process.argv.slice(2);
const files = findTests(join(root, 'test')).filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)));
if (files.length === 0) {
  console.error(`no test files match ${filters.join(' ')}`);
  process.exit(1);
}

if (filters.length === 0) {
  console.log('# type check (tsc --noEmit)');
  const tsc = spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '--noEmit', '-p', root], { stdio: 'inherit', cwd: root });
  if (tsc.status !== 0) {
    console.error('type check failed');
    process.exit(tsc.status ?? 1);
  }
}

// Tests run `met` as users do: from dist/, built here as `npm install` builds it.
const built = spawnSync(process.execPath, [join(root, 'scripts/build.js')], { stdio: 'inherit', cwd: root });
if (built.status !== 0) {
  console.error('build failed');
  process.exit(built.status ?? 1);
}

const dataDir = mkdtempSync(join(tmpdir(), 'met-test-temporal-'));
const port = await freePort();
console.log(`# starting the Temporal dev server for this run on 127.0.0.1:${port}`);
await startDevServer({ dataDir, port, headless: true, log: (l) => console.log(`# ${l}`) });

const tapFile = join(dataDir, 'results.tap');
let status = 1;
try {
  const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', '--test-reporter-destination=stdout', '--test-reporter=tap', `--test-reporter-destination=${tapFile}`, ...files], {
    stdio: 'inherit',
    cwd: root,
    env: { ...process.env, MET_TEST_TEMPORAL_ADDRESS: `127.0.0.1:${port}` },
  });
  const stop = () => child.kill('SIGTERM');
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  status = await new Promise((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0))));
  // The plain closing line CI reads, whatever the reporter: counted from the TAP summary.
  const tap = existsSync(tapFile) ? readFileSync(tapFile, 'utf8') : '';
  const count = (name) => Number((tap.match(new RegExp(`^# ${name} (\\d+)$`, 'm')) ?? [])[1] ?? 0);
  const failed = count('fail') + count('cancelled');
  console.log(`${count('pass')} passed, ${failed} failed, ${count('skipped')} skipped`);
  if (failed > 0 && status === 0) status = 1;
} finally {
  await stopDevServer(dataDir);
  rmSync(dataDir, { recursive: true, force: true });
}
process.exit(status);
