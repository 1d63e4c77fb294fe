import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { queryCorpus, verifyCorpus } from '../../datasets/corpus';
import { listPartitionDirs, listShards } from '../../datasets/paths';
import { shardStatus } from '../../datasets/shards';
import { mulberry32 } from '../../datasets/synthetic';
import { PROJECT, tempData } from './helpers';

/**
 * A writer killed with SIGKILL at random moments leaves, for every unit, either no shard or a
 * complete valid one; so does a compaction killed mid-way (its journal is finished or undone).
 */
const ROWS_PER_UNIT = 2000;

/**
 * Runs the child and SIGKILLs it `killAfterMs` after a condition, not after a clock from its start:
 * after its `afterDone`-th completed unit (so every write round makes progress however loaded the
 * machine is, and the kill lands at a random point of the units that follow), or after `ready`.
 */
function runChild(args: string[], killAfterMs: number, afterDone = 0): Promise<{ lines: string[]; signal: string | null }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(PROJECT, 'test', 'datasets', 'crash_child.ts'), ...args], {
      cwd: PROJECT,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    let timer: NodeJS.Timeout | undefined;
    child.stdout.on('data', (d) => {
      out += d;
      const done = out.split('\n').filter((l) => l.startsWith('done ')).length;
      if (!timer && out.includes('ready\n') && done >= afterDone) timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    });
    child.once('exit', (_code, signal) => {
      clearTimeout(timer);
      resolve({ lines: out.trim().split('\n'), signal });
    });
  });
}

test('SIGKILL at random points leaves no partial shard, and compaction survives it too', { timeout: 240_000 }, async (t) => {
  const ctx = await tempData('met-crash-');
  try {
    const rnd = mulberry32(20261122);
    const done = new Set<string>();
    let next = 0;
    for (let round = 0; round < 8; round++) {
      const { lines, signal } = await runChild(['write', ctx.root, String(next)], Math.floor(rnd() * 400), 1);
      assert.equal(signal, 'SIGKILL', `round ${round}: the writer was killed (${lines.join(' | ')})`);
      for (const l of lines) if (l.startsWith('done ')) done.add(l.slice(5));
      // Every shard file present is complete; every unit reported done has one.
      const shards = listShards(ctx.root, 'crash', 'samples');
      for (const s of shards) {
        const status = await shardStatus(ctx.duck, s.path, 'samples', true);
        assert.equal(status.state, 'valid', `round ${round}: ${s.path} ${JSON.stringify(status)}`);
        if (status.state === 'valid') assert.equal(status.rows, ROWS_PER_UNIT);
      }
      const present = new Set(shards.map((s) => s.name.slice('part-'.length, -'.parquet'.length)));
      for (const u of done) assert.ok(present.has(u), `round ${round}: unit ${u} reported done but has no shard`);
      next = Math.max(next, ...[...present].map((u) => Number(u.slice(1)) + 1));
      t.diagnostic(`write round ${round}: ${lines.filter((l) => l.startsWith('done')).length} unit(s) done before the kill, ${shards.length} shards in all`);
    }
    const units = listShards(ctx.root, 'crash', 'samples').length;
    assert.ok(units >= 3, `enough units were written to test something (${units})`);
    const temps = listPartitionDirs(ctx.root, 'crash', 'samples').flatMap((d) => readdirSync(d.dir).filter((n) => n.startsWith('.tmp-')));
    t.diagnostic(`${units} units, ${temps.length} temporary file(s) left by kills`);
    const before = await queryCorpus(
      ctx.duck,
      ctx.root,
      'crash',
      'SELECT count(*), count(DISTINCT (source, prompt_id, sample_index)), sum(hash(COLUMNS(*)) % 1000003) FROM samples',
    );
    assert.equal(before.rows[0][0], String(units * ROWS_PER_UNIT), `temporaries (${temps.length}) are never read as data`);

    // Kill compactions at random points; afterwards the corpus holds exactly the same rows.
    for (let round = 0; round < 3; round++) {
      const { lines } = await runChild(['compact', ctx.root], 50 + Math.floor(rnd() * 800));
      t.diagnostic(`compaction round ${round}: ${lines.join(' | ')}; ${listShards(ctx.root, 'crash', 'samples').length} shards after recovery`);
      const report = await verifyCorpus(ctx.duck, ctx.root, 'crash');
      assert.equal(report.ok, true, JSON.stringify(report.problems));
      const after = await queryCorpus(
        ctx.duck,
        ctx.root,
        'crash',
        'SELECT count(*), count(DISTINCT (source, prompt_id, sample_index)), sum(hash(COLUMNS(*)) % 1000003) FROM samples',
      );
      assert.deepEqual(after.rows, before.rows, `compaction round ${round}`);
    }
  } finally {
    ctx.cleanup();
  }
});
