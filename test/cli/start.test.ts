import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { distStale } from '../../bin/dist.js';
import { PROJECT_ROOT } from '../../temporal/binary';

/**
 * `met` starts from dist/ (built by scripts/build.js at install time), never from stale JavaScript,
 * and loads heavy packages only inside the commands that need them. The timing itself (under 3x
 * `node -e 0`) is measured by bench/cli/start.ts; here, what makes it hold.
 */
const dir = mkdtempSync(join(tmpdir(), 'met-start-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('dist/ is stale when a bundled source changes, is gone, or was never built', () => {
  const root = join(dir, 'tree');
  mkdirSync(join(root, 'dist'), { recursive: true });
  mkdirSync(join(root, 'cli'));
  writeFileSync(join(root, 'cli', 'main.ts'), 'export {};\n');
  assert.equal(distStale(root), 'dist/ is not built');
  const s = statSync(join(root, 'cli', 'main.ts'));
  writeFileSync(join(root, 'dist', 'build.json'), JSON.stringify({ sources: { 'cli/main.ts': [s.size, s.mtimeMs] } }));
  assert.equal(distStale(root), undefined);
  utimesSync(join(root, 'cli', 'main.ts'), new Date(), new Date(s.mtimeMs + 5000));
  assert.equal(distStale(root), 'cli/main.ts changed since the last build');
  rmSync(join(root, 'cli', 'main.ts'));
  assert.equal(distStale(root), 'cli/main.ts is gone since the last build');
});

// Every module URL the process resolves, through a resolve hook registered before met starts.
const TRACE = join(dir, 'trace.mjs');
writeFileSync(
  TRACE,
  `import { register } from 'node:module';
register('data:text/javascript,' + encodeURIComponent("export async function resolve(s, c, next) { const r = await next(s, c); process._rawDebug('LOADED ' + r.url); return r; }"));
`,
);

function traced(args: string[]): { status: number | null; stdout: string; stderr: string; loaded: string[] } {
  const r = spawnSync(process.execPath, ['--import', TRACE, join(PROJECT_ROOT, 'bin', 'met.js'), ...args], {
    cwd: PROJECT_ROOT,
    encoding: 'utf8',
    env: { ...process.env, MET_FROM_SOURCE: '' },
  });
  const loaded = r.stderr
    .split('\n')
    .filter((l) => l.startsWith('LOADED '))
    .map((l) => l.slice('LOADED '.length));
  const stderr = r.stderr
    .split('\n')
    .filter((l) => !l.startsWith('LOADED '))
    .join('\n');
  return { status: r.status, stdout: r.stdout, stderr, loaded };
}

const HEAVY = /node_modules\/(@temporalio|@duckdb|node-llama-cpp|fastify|@fastify|@aws-sdk|openai|vega|@resvg|tsx|typescript|esbuild)\//;

test('npm test runs met from an up-to-date dist/ (scripts/run-tests.js builds it)', () => {
  assert.equal(distStale(PROJECT_ROOT), undefined);
});

test('met --help runs from dist/ and loads commander only', () => {
  const r = traced(['--help']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /Usage: met/);
  assert.equal(r.stderr.trim(), '', 'no notice: dist/ is up to date');
  assert.ok(
    r.loaded.some((u) => u.endsWith('/dist/met.js')),
    'the built CLI',
  );
  assert.ok(!r.loaded.some((u) => u.endsWith('.ts')), `no TypeScript: ${r.loaded.filter((u) => u.endsWith('.ts')).join(', ')}`);
  const packages = r.loaded.filter((u) => u.includes('/node_modules/'));
  assert.deepEqual(
    packages.filter((u) => !u.includes('/node_modules/commander/')),
    [],
    'nothing but commander from node_modules',
  );
});

test('met stat loads no Temporal, DuckDB, llama.cpp, HTTP server or TypeScript loader', () => {
  const input = join(dir, 'small.json');
  writeFileSync(
    input,
    JSON.stringify({ L: 4, x: { prompts: [0, 0], completions: ['ab', 'ac'] }, y: { prompts: [0, 0], completions: ['ab', 'b'] }, stats: ['mmd_hamming'] }),
  );
  const r = traced(['stat', '--input', input, '--json']);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(typeof JSON.parse(r.stdout).mmd_hamming, 'number');
  assert.deepEqual(
    r.loaded.filter((u) => HEAVY.test(u)),
    [],
  );
});

test('met from TypeScript sources when asked (MET_FROM_SOURCE=1), the same CLI', () => {
  const r = spawnSync(process.execPath, [join(PROJECT_ROOT, 'bin', 'met.js'), '--help'], {
    cwd: PROJECT_ROOT,
    encoding: 'utf8',
    env: { ...process.env, MET_FROM_SOURCE: '1' },
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /Usage: met/);
});
