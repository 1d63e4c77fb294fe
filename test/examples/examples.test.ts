import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, test } from 'node:test';
import { PROJECT_ROOT } from '../../temporal/binary';
import { freePort } from '../../temporal/devServer';
import { exited, waitUntil } from '../helpers/processes';

/**
 * docs/quickstart.md and examples/ as a user runs them: every line of every ```bash block of the
 * quick start, in order, in a fresh folder holding a copy of examples/, each a real `met` process
 * (`met` is this checkout's bin/met.js; `npm ...` lines are skipped: the test runs from the checkout).
 * A line ending in `&` runs in the background until the test ends. Ports are free ones: the quick
 * start's endpoint port 8765 is replaced in the commands and the copied examples, and the embedded
 * Temporal server gets MET_TEMPORAL_PORT. Every file under examples/ must be used by a command run
 * here, so an example cannot be added without being run.
 */
const dir = mkdtempSync(join(tmpdir(), 'met-examples-'));
const BIN = join(PROJECT_ROOT, 'bin', 'met.js');
const background: { line: string; child: ChildProcess & { output: () => string } }[] = [];
after(async () => {
  for (const { child } of background.reverse()) {
    child.kill('SIGINT');
    await exited(child);
  }
  rmSync(dir, { recursive: true, force: true });
});

/** The ```bash blocks of a markdown file, one command per line, comments kept for bash to drop. */
function bashLines(markdown: string): string[] {
  const blocks = [...markdown.matchAll(/^```bash\n([\s\S]*?)^```$/gm)].map((m) => m[1]);
  return blocks
    .flatMap((b) => b.split('\n'))
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
}

function files(root: string): string[] {
  return readdirSync(root).flatMap((name) => {
    const p = join(root, name);
    return statSync(p).isDirectory() ? files(p) : [p];
  });
}

/** Runs one line with bash, `met` replaced by this checkout's CLI (exec: signals reach met itself). */
function run(line: string, env: NodeJS.ProcessEnv): ChildProcess & { output: () => string } {
  const command = line.replace(/^met /, `exec "${process.execPath}" "${BIN}" `).replace(/\s*&$/, '');
  const child = spawn('bash', ['-c', command], { cwd: dir, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  return Object.assign(child, { output: () => output });
}

/** What a background command prints once it is ready for the next line. */
const READY: [RegExp, RegExp][] = [
  [/^met serve /, /^met serve: .* at http:/m],
  [/^met up /, /^worker polling met-cpu/m],
];

test('every command of docs/quickstart.md and every file in examples/ runs as written', { timeout: 300_000 }, async () => {
  const endpointPort = String(await freePort());
  const env = { MET_TEMPORAL_PORT: String(await freePort()), TEMPORAL_ADDRESS: undefined, MET_DATA: undefined };
  cpSync(join(PROJECT_ROOT, 'examples'), join(dir, 'examples'), { recursive: true });
  const exampleFiles = files(join(dir, 'examples')).filter((f) => !f.endsWith('README.md'));
  for (const f of exampleFiles) writeFileSync(f, readFileSync(f, 'utf8').replaceAll('8765', endpointPort));

  const quickstart = bashLines(readFileSync(join(PROJECT_ROOT, 'docs', 'quickstart.md'), 'utf8')).map((l) => l.replaceAll('8765', endpointPort));
  const lines = [...quickstart, 'met stat --input examples/stat/input.json'];
  assert.ok(quickstart.length >= 6, `the quick start has its commands: ${quickstart.join('; ')}`);
  const outputs = new Map<string, string>();
  for (const line of lines) {
    if (line.startsWith('npm ')) continue;
    const child = run(line, env);
    if (line.endsWith('&')) {
      background.push({ line, child });
      const ready = READY.find(([command]) => command.test(line));
      assert.ok(ready, `no readiness rule for the background command ${line}`);
      await waitUntil(`${line} to be ready`, () => ready[1].test(child.output()) || child.exitCode !== null, 120_000);
      assert.equal(child.exitCode, null, `${line} exited early:\n${child.output()}`);
      continue;
    }
    const code = await exited(child);
    // A verdict is an exit code too (docs/slices.md): met test exits 3 for differs, which this endpoint does.
    const expected = /^met test\b/.test(line) ? 3 : 0;
    assert.equal(code, expected, `${line} exited ${code}:\n${child.output()}`);
    outputs.set(line, child.output());
  }

  const out = (prefix: string) => [...outputs].find(([l]) => l.startsWith(prefix))?.[1] ?? '';
  assert.match(out('met --version'), /^met \d+\.\d+\.\d+ \(Node v\d+/m);
  assert.match(out('met collect'), /^Run quick-\S+ completed\./m);
  assert.match(out('met test'), /^differs at α = 0\.05: p < 0\.001 \(b = 1000\), mmd_hamming = \d/m, 'the endpoint serving Q4_0 while claiming F32 is caught');
  assert.match(out('met power'), /^Report: .*index\.html$/m);
  assert.match(out('met test'), /^Started test run test-4b22bff3e8f3$/m, 'the run id the quick start names');
  assert.match(out('met report'), /^tiny\/mine: differs from tiny\/fp32, p < 0\.001 \(b = 1000\), mmd_hamming\nReport: .*test-4b22bff3e8f3\/index\.html$/m);
  assert.match(out('met stat'), /^mmd_hamming +0\.6666/m);

  const used = lines.join('\n');
  for (const f of exampleFiles) assert.ok(used.includes(relative(dir, f)), `${relative(dir, f)} is run by no command here: add it to a documented command`);
});
