#!/usr/bin/env node
// What the tests need beyond node_modules, installed by `npm test` itself (so `npm install && npm test`
// passes on a fresh clone) from the scripts/ensure-* steps: each idempotent, pinned, into git-ignored
// .tools/. A step whose script is unchanged since it last succeeded and whose outputs exist is skipped
// without running anything (a stamp in .tools/.provisioned/), so a warm `npm test` pays milliseconds.
// `npm run test:unit` provisions only what unit tests read (scipy; pyarrow, moto, numpy).
// MET_NO_PROVISION=1 skips it all (an offline machine that installed the tools by hand).
// Run alone: `node scripts/provision.js [--unit]`.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const chromium = () =>
  [process.env.MET_CHROMIUM ?? '/usr/bin/chromium', '/usr/bin/chromium-browser'].some(existsSync) ||
  spawnSync('sh', ['-c', 'command -v chromium'], { stdio: 'ignore' }).status === 0;

/** Each step: the script that installs it, what it leaves behind, and whether unit tests need it. */
const STEPS = [
  { name: 'scipy', script: 'scripts/ensure-scipy.sh', outputs: ['.tools/scipy/.met-installed'], unit: true, why: 'test/stats/rut.test.ts compares with scipy' },
  {
    name: 'pyarrow, moto, numpy',
    script: 'scripts/ensure-pyarrow.sh',
    outputs: ['.tools/pyarrow/.met-installed', '.tools/moto/.met-installed', '.tools/numpy/.met-installed'],
    unit: true,
    why: 'Parquet round trip, S3 on loopback, release fixtures',
  },
  { name: 'Temporal CLI', script: 'scripts/ensure-temporal.js', outputs: [], unit: false, why: 'the dev server every integration test runs against' },
  { name: 'native scorer', script: 'scripts/ensure-native.sh', outputs: ['.tools/native'], unit: false, why: 'scoring tests' },
  {
    name: 'Gemma 3 270M',
    script: 'scripts/ensure-gemma.sh',
    outputs: ['.tools/gemma/gemma-3-270m-q4_k_m.gguf', '.tools/gguf/.met-installed'],
    unit: false,
    why: 'real-model tests',
  },
  // A real S3 server beside moto for test/fleet (about 32 min to build on 2 busy cores, once; the Go
  // build cache makes a rebuild minutes). Only when a fleet test is run; outside CI a machine without
  // Go goes on and those tests skip themselves, saying why.
  {
    name: 'SeaweedFS',
    script: 'scripts/ensure-seaweedfs.sh',
    outputs: ['.tools/seaweedfs/weed', '.tools/seaweedfs/.met-installed'],
    unit: false,
    optional: !process.env.CI,
    only: (files) => files.some((f) => f.startsWith('test/fleet/')),
    why: 'test/fleet against a real object store',
  },
  // apt-get needs root: outside CI a machine without it skips the one browser test (it says so).
  {
    name: "Temporal's time-skipping test server",
    script: 'scripts/ensure-temporal-test-server.sh',
    outputs: ['.tools/temporal-test-server/bin/temporal-test-server'],
    unit: false,
    only: (files) => files.includes('test/workflows/timeSkipping.test.ts'),
    why: 'test/workflows/timeSkipping.test.ts (Java, from Maven Central)',
  },
  {
    name: 'Chromium',
    script: 'scripts/ensure-chromium.sh',
    outputs: [],
    present: chromium,
    unit: false,
    optional: !process.env.CI,
    why: 'the report screenshot test',
  },
];

const stampDir = join(root, '.tools', '.provisioned');
const digest = (script) =>
  createHash('sha256')
    .update(readFileSync(join(root, script)))
    .digest('hex')
    .slice(0, 16);
const stampOf = (step) => join(stampDir, step.script.replace(/[/.]/g, '_'));

/** Installs what is missing; returns false when a required step failed (its output says why). */
export function provision({ unit = false, files, log = (line) => console.log(line) } = {}) {
  if (process.env.MET_NO_PROVISION === '1') return true;
  let ok = true;
  // `files`: the test files about to run (run-tests.js); a step with `only` is skipped when none needs it.
  for (const step of STEPS.filter((s) => (s.unit || !unit) && (!s.only || !files || s.only(files)))) {
    const stamp = stampOf(step);
    const fresh =
      existsSync(stamp) &&
      readFileSync(stamp, 'utf8') === digest(step.script) &&
      step.outputs.every((o) => existsSync(join(root, o))) &&
      (step.present?.() ?? true);
    if (fresh) continue;
    log(`# provisioning ${step.name} (${step.why}): ${step.script}`);
    const t0 = Date.now();
    const [cmd, args] = step.script.endsWith('.js') ? [process.execPath, [step.script]] : ['bash', [step.script]];
    const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
    if (r.status !== 0) {
      log(`# ${step.name}: ${step.script} failed${step.optional ? '; going on without it (outside CI its test skips itself)' : ''}`);
      if (!step.optional) ok = false;
      continue;
    }
    mkdirSync(stampDir, { recursive: true });
    writeFileSync(stamp, digest(step.script));
    log(`# ${step.name} ready in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
  return ok;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.exit(provision({ unit: process.argv.includes('--unit') }) ? 0 : 1);
}
