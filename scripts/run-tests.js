#!/usr/bin/env node
// `npm test`: installs what the tests need beyond node_modules (scripts/provision.js: the ensure-* steps,
// cached in .tools/), lints, type-checks, builds dist/ (scripts/build.js), starts ONE real Temporal dev server for the whole run (its own temp
// SQLite file and free port), runs every test/**/*.test.ts with Node's built-in runner (two files at a time, and the few that mostly wait one at a time beside them: WAITING), and stops
// the server afterwards. Arguments filter test files by substring: `npm test -- stats`.
// `--unit` (`npm run test:unit`): the unit tests only (UNIT_TESTS: statistics, storage, activities in
// MockActivityEnvironment, reports, replay, the job registry, the import graph), files two at a time, no server, no lint or type check;
// it provisions only what unit tests read (scipy, pyarrow, numpy).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { register } from 'tsx/esm/api';
import { provision } from './provision.js';

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

/** Tests that need no Temporal server, no model and no child `met` process (under 2 minutes on 2 cores). */
const UNIT_TESTS = [
  'test/power/gridSpec.test.ts',
  'test/stats/kernels.test.ts',
  'test/stats/mixture.test.ts',
  'test/stats/multiple.test.ts',
  'test/stats/oneSample.test.ts',
  'test/stats/parallel.test.ts',
  'test/stats/power.test.ts',
  'test/stats/pvalue.test.ts',
  'test/stats/reference.test.ts',
  'test/stats/rut.test.ts',
  'test/stats/ties.test.ts',
  'test/stats/tracking.test.ts',
  'test/common/',
  'test/config/',
  'test/cli/help.test.ts',
  'test/activities/',
  'test/architecture/',
  'test/datasets/addedColumns.test.ts',
  'test/datasets/reader.test.ts',
  'test/datasets/rowCheck.test.ts',
  'test/datasets/shards.test.ts',
  'test/datasets/sliceKeys.test.ts',
  'test/datasets/roundtrip.test.ts',
  'test/download/prompts.test.ts',
  'test/download/release.test.ts',
  'test/report/auditPage.test.ts',
  'test/report/binomial.test.ts',
  'test/report/html.test.ts',
  'test/report/plots.test.ts',
  'test/report/progress.test.ts',
  'test/report/table.test.ts',
  'test/report/tables.test.ts',
  'test/jobs/',
  'test/models/managedParallel.test.ts',
  'test/replay/',
  'test/workers/bundle.test.ts',
];
const SERVER_HELPERS = /startTestTemporal|startDevServer|spawnMet|TestWorkflowEnvironment/;

const unit = process.argv.includes('--unit');
const filters = process.argv.slice(2).filter((a) => a !== '--unit');
const files = findTests(join(root, 'test'))
  .filter((f) => !unit || UNIT_TESTS.some((u) => f.startsWith(u)))
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)));
if (files.length === 0) {
  console.error(`no test files match ${filters.join(' ')}`);
  process.exit(1);
}

if (!provision({ unit, files })) {
  console.error('a tool the tests need could not be installed (see above); MET_NO_PROVISION=1 skips provisioning');
  process.exit(1);
}

if (unit) {
  // A unit test that starts a server or a `met` process belongs in the full suite: keep the list honest.
  const slow = files.filter((f) => SERVER_HELPERS.test(readFileSync(join(root, f), 'utf8')));
  if (slow.length > 0) {
    console.error(`not unit tests (they start a server or a met process): ${slow.join(', ')}`);
    process.exit(1);
  }
  const child = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-reporter=spec', ...files], {
    stdio: 'inherit',
    cwd: root,
  });
  process.exit(child.status ?? 1);
}

if (filters.length === 0) {
  console.log('# lint (eslint .: import boundaries, floating promises; see ARCHITECTURE.md)');
  const eslint = spawnSync(process.execPath, [join(root, 'node_modules/eslint/bin/eslint.js'), '.'], { stdio: 'inherit', cwd: root });
  if (eslint.status !== 0) {
    console.error('lint failed');
    process.exit(eslint.status ?? 1);
  }
  console.log('# format (prettier --check: .prettierrc.json; `npx prettier --write .` fixes it)');
  const prettier = spawnSync(process.execPath, [join(root, 'node_modules/prettier/bin/prettier.cjs'), '--check', '--log-level', 'warn', '.'], {
    stdio: 'inherit',
    cwd: root,
  });
  if (prettier.status !== 0) {
    console.error('format check failed: run npx prettier --write .');
    process.exit(prettier.status ?? 1);
  }
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

/** The longest files start first, so the lanes finish together (each took 40 s or more in a full run on 2026-12-06). */
const LONG = [
  'test/models/gemma.test.ts',
  'test/fleet/fleet.test.ts',
  'test/models/gemmaBatched.test.ts',
  'test/collect/workerLostServer.test.ts',
  'test/api/console.test.ts',
  'test/collect/watchOutage.test.ts',
  'test/collect/chaos.test.ts',
  'test/collect/collectCorpus.test.ts',
  'test/cli/findEachOther.test.ts',
  'test/power/rutTiny.test.ts',
  'test/models/quantize.test.ts',
  'test/audit/audit.test.ts',
  'test/collect/sliceGrow.test.ts',
  'test/api/identify.test.ts',
  'test/models/managedServerProfiles.test.ts',
  'test/power/tinyModels.test.ts',
  'test/models/chatTemplate.test.ts',
  'test/power/killWorker.test.ts',
  'test/collect/pilot.test.ts',
  'test/models/tiny.test.ts',
  'test/examples/examples.test.ts',
  'test/collect/trust.test.ts',
  'test/models/managedServer.test.ts',
  'test/download/download.test.ts',
  'test/datasets/crash.test.ts',
  'test/demo/demo.test.ts',
];
/**
 * Files that mostly wait (on a Temporal server stopped and started again, on the SDK's poll retries,
 * on `met up` starting its own server): measured alone on 2026-12-06 under load, less than a third of
 * a core each beyond the runner's own (workerLostServer and watchOutage together 169 s of tests for
 * 15 s of CPU; findEachOther 59 s for 15 s). They run one at a time in a lane of their own beside the
 * others, so that their waiting does not hold a lane the CPU-bound files need.
 * MET_TEST_CONCURRENCY=1 runs everything in one lane.
 */
const WAITING = ['test/collect/workerLostServer.test.ts', 'test/collect/watchOutage.test.ts', 'test/cli/findEachOther.test.ts'];
const rank = (f) => (LONG.includes(f) ? LONG.indexOf(f) : LONG.length);
const ordered = [...files].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
// Two files at a time: they share the one Temporal server (each its own task queues and workflow
// ids), models load with one thread each, and kill tests wait for conditions, not clocks.
// MET_TEST_CONCURRENCY=1 runs them one by one.
const concurrency = Math.max(1, Number(process.env.MET_TEST_CONCURRENCY ?? 2));
const waiting = concurrency > 1 ? ordered.filter((f) => WAITING.includes(f)) : [];
const busy = ordered.filter((f) => !waiting.includes(f));
const lanes = [
  { files: busy, concurrency, closingFile: join(dataDir, 'closing.txt') },
  { files: waiting, concurrency: 1, closingFile: join(dataDir, 'closing-waiting.txt') },
].filter((l) => l.files.length > 0);
console.log(
  `# ${ordered.length} test files, ${concurrency} at a time${waiting.length ? `, and beside them ${waiting.length} that mostly wait, one at a time (${waiting.join(', ')})` : ''}`,
);

let status = 1;
try {
  const children = lanes.map((lane) =>
    spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        '--test',
        `--test-concurrency=${lane.concurrency}`,
        '--test-reporter=spec',
        '--test-reporter-destination=stdout',
        `--test-reporter=${join(root, 'scripts/lib/file-times.mjs')}`,
        `--test-reporter-destination=${lane.closingFile}`,
        ...lane.files,
      ],
      {
        stdio: 'inherit',
        cwd: root,
        env: { ...process.env, MET_TEST_TEMPORAL_ADDRESS: `127.0.0.1:${port}` },
      },
    ),
  );
  const stop = () => children.forEach((child) => child.kill('SIGTERM'));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  const codes = await Promise.all(children.map((child) => new Promise((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0))))));
  status = codes.find((c) => c !== 0) ?? 0;
  // The plain closing line CI reads, whatever the reporter: counted from the runners' own closing counts.
  const closings = lanes.map((l) => (existsSync(l.closingFile) ? readFileSync(l.closingFile, 'utf8') : ''));
  const count = (name) => closings.reduce((sum, closing) => sum + Number((closing.match(new RegExp(`^# ${name} (\\d+)$`, 'm')) ?? [])[1] ?? 0), 0);
  const failed = count('fail') + count('cancelled');
  // A todo test runs and reports, but does not fail the run (a known-flaky test, named in its file).
  const todo = count('todo');
  // Where the minutes go: the 20 longest files of both lanes (scripts/lib/file-times.mjs), before the closing line.
  const rows = closings
    .flatMap((closing) => closing.split('\n'))
    .map((line) => ({ line, s: Number((/^\s*([\d.]+) s\s+\d+ tests {2}\S/.exec(line) ?? [])[1] ?? NaN) }))
    .filter((r) => !Number.isNaN(r.s))
    .sort((a, b) => b.s - a.s);
  if (rows.length > 0) {
    const total = rows.reduce((sum, r) => sum + r.s, 0);
    console.log(`# test time by file (sum of its top-level tests; ${total.toFixed(0)} s in all)`);
    console.log(
      rows
        .slice(0, 20)
        .map((r) => r.line)
        .join('\n'),
    );
  }
  console.log(`${count('pass')} passed, ${failed} failed, ${count('skipped')} skipped${todo ? `, ${todo} todo` : ''}`);
  if (failed > 0 && status === 0) status = 1;
} finally {
  await stopDevServer(dataDir);
  rmSync(dataDir, { recursive: true, force: true });
}
process.exit(status);
