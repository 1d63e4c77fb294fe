/**
 * bench/cli: how fast `met` starts, against `node -e 0` measured in the same run, interleaved so
 * load on the machine hits all three alike. Prints the median wall time of each and the two ratios
 * issue 17 bounds (under 3x): `met --help`, and `met stat --input small.json --json`. Runs met as a
 * user does (bin/met.js, which runs dist/ when it is up to date: `npm run build` first).
 *   node --import tsx bench/cli/start.ts [--runs N]   (default 15)
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { distStale } from '../../bin/dist.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const runsFlag = process.argv.indexOf('--runs');
const runs = runsFlag > 0 ? Number(process.argv[runsFlag + 1]) : 15;

const dir = mkdtempSync(join(tmpdir(), 'met-start-'));
const small = join(dir, 'small.json');
writeFileSync(
  small,
  JSON.stringify({
    L: 10,
    unit: 'char',
    x: { prompts: [0, 0, 1, 1], completions: ['abc', 'abd', 'xy', 'xy'] },
    y: { prompts: [0, 0, 1, 1], completions: ['abc', 'b', 'xz', 'x'] },
    stats: ['mmd_hamming'],
    pvalue: { type: 'permutation', stat: 'mmd_hamming', b: 100, seed: 1 },
  }),
);

const met = join(root, 'bin', 'met.js');
const cases: Record<string, string[]> = {
  'node -e 0': ['-e', '0'],
  'met --help': [met, '--help'],
  'met stat --input small.json --json': [met, 'stat', '--input', small, '--json'],
};

function once(args: string[]): number {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8' });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`node ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return ms;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

try {
  const stale = distStale(root);
  if (stale) console.log(`note: ${stale}, so met runs from TypeScript here (npm run build first to measure what users run)`);
  for (const args of Object.values(cases)) once(args); // warm the file cache
  const times: Record<string, number[]> = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
  for (let i = 0; i < runs; i++) for (const [name, args] of Object.entries(cases)) times[name].push(once(args));
  const base = median(times['node -e 0']);
  console.log(`${runs} runs each, interleaved; median wall time`);
  for (const [name, xs] of Object.entries(times)) {
    const m = median(xs);
    console.log(`  ${name.padEnd(36)} ${m.toFixed(0).padStart(5)} ms${name === 'node -e 0' ? '' : `   ${(m / base).toFixed(2)}x node -e 0 (bound: 3x)`}`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
