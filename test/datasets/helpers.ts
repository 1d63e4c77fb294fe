import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createDuckDB } from '../../datasets/duck';

/** Test fixtures of the corpus storage layer: temp data roots, DuckDB, pyarrow and a loopback S3 server. */
export const PROJECT = resolve(import.meta.dirname, '../..');

export async function tempData(prefix = 'met-datasets-'): Promise<{ root: string; duck: Awaited<ReturnType<typeof createDuckDB>>; cleanup: () => void }> {
  const root = mkdtempSync(join(tmpdir(), prefix));
  const duck = await createDuckDB();
  return {
    root,
    duck,
    cleanup: () => {
      duck.closeSync();
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/**
 * The Python tools of scripts/ensure-pyarrow.sh (pyarrow, moto), installed on first use so that
 * `npm test` works on a fresh checkout too. Fails, never skips, when they cannot be installed.
 */
export function ensurePythonTools(): { python: string; pyarrowPath: string; motoPath: string } {
  const pyarrowPath = join(PROJECT, '.tools', 'pyarrow');
  const motoPath = join(PROJECT, '.tools', 'moto');
  if (!existsSync(join(pyarrowPath, '.met-installed')) || !existsSync(join(motoPath, '.met-installed'))) {
    const r = spawnSync('bash', [join(PROJECT, 'scripts', 'ensure-pyarrow.sh')], { cwd: PROJECT, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`scripts/ensure-pyarrow.sh failed:\n${r.stdout}\n${r.stderr}`);
  }
  return { python: process.env.MET_PYTHON ?? 'python3', pyarrowPath, motoPath };
}

/** Runs test/datasets/pyarrow_read.py on a corpus kind folder; returns its JSON. */
export function readWithPyarrow(
  kindDir: string,
  partitionColumns: string[],
): { rows: Record<string, unknown>[]; schema: Record<string, string>; metadata: Record<string, Record<string, string>> } {
  const { python, pyarrowPath } = ensurePythonTools();
  const r = spawnSync(python, [join(PROJECT, 'test', 'datasets', 'pyarrow_read.py'), kindDir, ...partitionColumns], {
    encoding: 'utf8',
    env: { ...process.env, PYTHONPATH: pyarrowPath },
    maxBuffer: 256 * 1024 * 1024,
  });
  if (r.status !== 0) throw new Error(`pyarrow_read.py failed:\n${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** moto's S3-compatible server on 127.0.0.1 (random port), for s3:// locations. */
export async function startMoto(): Promise<{ endpoint: string; stop: () => Promise<void> }> {
  const { python, motoPath } = ensurePythonTools();
  const child = spawn(python, ['-m', 'moto.server', '-H', '127.0.0.1', '-p', '0'], {
    env: { ...process.env, PYTHONPATH: motoPath },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  const endpoint = await new Promise<string>((resolveEndpoint, reject) => {
    const timer = setTimeout(() => reject(new Error(`moto server did not start in 30 s:\n${log}`)), 30_000);
    const onData = (d: Buffer) => {
      log += d.toString();
      const m = /Running on (http:\/\/127\.0\.0\.1:\d+)/.exec(log);
      if (m) {
        clearTimeout(timer);
        resolveEndpoint(m[1]);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`moto server exited (${code}):\n${log}`));
    });
  });
  return {
    endpoint,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await gone;
    },
  };
}
