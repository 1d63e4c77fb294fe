import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Rng } from '../../stats/rng';
import { completionScore, rutTest } from '../../stats/rut';
import { exited, spawnMet } from '../helpers/processes';

const dir = mkdtempSync(join(tmpdir(), 'met-stat-rut-'));
after(() => rmSync(dir, { recursive: true, force: true }));

async function metStat(input: unknown): Promise<{ code: number | string; output: string }> {
  const file = join(dir, `in-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, JSON.stringify(input));
  const child = spawnMet(['stat', '--input', file, '--json']);
  const code = await exited(child);
  return { code, output: child.output() };
}

/** n prompts; per completion 3-6 tokens with logprobs and ranks; the target's ranks are inflated by `worse`. */
function completions(n: number, k: number, worse: number) {
  const rng = new Rng(31);
  const one = (extra: number) => {
    const t = 3 + rng.int(4);
    return { logprobs: Array.from({ length: t }, () => Math.log(1 - rng.float())), ranks: Array.from({ length: t }, () => 1 + rng.int(5) + extra) };
  };
  return { target: Array.from({ length: n }, () => one(worse)), reference: Array.from({ length: n }, () => Array.from({ length: k }, () => one(0))) };
}

test('met stat rut: token logprobs and ranks inline -> W², p, n, k and the score, equal to stats/rut.ts', async () => {
  const data = completions(30, 8, 3);
  const { code, output } = await metStat({ test: 'rut', score: 'log_rank', seed: 4, ...data });
  assert.equal(code, 0, output);
  const out = JSON.parse(output);
  assert.deepEqual(Object.keys(out), ['statistic', 'pvalue', 'n', 'k', 'score', 'seconds']);
  const offsets = Int32Array.from({ length: 31 }, (_, i) => i * 8);
  const expected = rutTest({
    target: Float64Array.from(data.target.map((c) => completionScore('log_rank', c))),
    reference: Float64Array.from(data.reference.flat().map((c) => completionScore('log_rank', c))),
    offsets,
    seed: 4,
  });
  assert.equal(out.statistic, expected.statistic);
  assert.equal(out.pvalue, expected.pvalue);
  assert.equal(out.n, 30);
  assert.equal(out.k, 8);
  assert.equal(out.score, 'log_rank');
  assert.ok(out.pvalue < 0.01, `ranks inflated by 3: p = ${out.pvalue}`);
  // The same completions under sum_logprob (ranks ignored): nothing differs.
  const sum = JSON.parse((await metStat({ test: 'rut', score: 'sum_logprob', seed: 4, ...data })).output);
  assert.ok(sum.pvalue > 0.05, `sum of logprobs, same distribution: p = ${sum.pvalue}`);
  // Precomputed scores as numbers.
  const given = JSON.parse(
    (
      await metStat({
        test: 'rut',
        target: [1, 2, 3],
        reference: [
          [0, 2],
          [1, 3],
          [5, 6],
        ],
      })
    ).output,
  );
  assert.equal(given.score, 'given');
  assert.equal(given.k, 2);
});

test('met stat rut: bad input is refused with the field that is wrong', async () => {
  const r1 = await metStat({ test: 'rut', target: [1, 2], reference: [[0]] });
  assert.notEqual(r1.code, 0);
  assert.match(r1.output, /1 reference lists for 2 target completions/);
  const r2 = await metStat({
    test: 'rut',
    score: 'log_rank',
    target: [{ logprobs: [-1] }, { logprobs: [-1] }],
    reference: [[{ logprobs: [-1] }], [{ logprobs: [-2] }]],
  });
  assert.notEqual(r2.code, 0);
  assert.match(r2.output, /log_rank score needs per-token ranks/);
});
