import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeChars } from '../../stats/encode';
import { mixturePower, type ScoredPool } from '../../stats/mixture';
import { deriveSeed, Rng } from '../../stats/rng';
import { promptChoice, StoredPools } from '../../stats/sampler';
import { PowerSimulator } from '../../stats/power';

/** m prompts x size rows; completions "<tag><i>", scores offset by `shift`. */
function pool(tag: string, m: number, size: number, shift: number): ScoredPool {
  const prompts: number[] = [];
  const texts: string[] = [];
  const scores: number[] = [];
  const rng = new Rng(tag.charCodeAt(0));
  for (let p = 0; p < m; p++) {
    for (let i = 0; i < size; i++) {
      prompts.push(p);
      texts.push(`${tag}${i % 7}`);
      scores.push(rng.float() + shift);
    }
  }
  return { sample: encodeChars(prompts, texts, 8, m), scores: Float64Array.from(scores) };
}

test('mixturePower serves each request from a component with its weight; weight-0 components never; same seed, same draws', () => {
  const ref = pool('a', 5, 20, 0);
  const alt = pool('b', 5, 20, 0.5);
  const base = { reference: ref, perPrompt: 4, k: 10, tests: ['rut' as const], sims: 200, alpha: 0.05, seed: 3 };
  const r = mixturePower({
    ...base,
    mixture: [
      { pool: ref, weight: 0.7 },
      { pool: alt, weight: 0.3 },
    ],
  });
  const total = r.budget * r.sims;
  assert.equal(r.budget, 20);
  assert.equal(r.served[0] + r.served[1], total);
  const sd = Math.sqrt(total * 0.3 * 0.7);
  assert.ok(Math.abs(r.served[1] - 0.3 * total) < 4 * sd, `served ${r.served[1]} of ${total} from the 0.3 component`);
  const none = mixturePower({
    ...base,
    mixture: [
      { pool: ref, weight: 1 },
      { pool: alt, weight: 0 },
    ],
  });
  assert.deepEqual(none.served, [total, 0]);
  const again = mixturePower({
    ...base,
    mixture: [
      { pool: ref, weight: 0.7 },
      { pool: alt, weight: 0.3 },
    ],
  });
  assert.deepEqual(again.served, r.served);
  assert.deepEqual(again.tests.rut.pvalues, r.tests.rut.pvalues);
  // Scores shifted by 0.5 in 30% of the requests: RUT sees it more often than alpha.
  assert.ok(r.tests.rut.power > none.tests.rut.power, `${r.tests.rut.power} vs ${none.tests.rut.power}`);
  assert.throws(
    () =>
      mixturePower({
        ...base,
        mixture: [
          { pool: ref, weight: 0.7 },
          { pool: alt, weight: 0.2 },
        ],
      }),
    /sum to 1/,
  );
  assert.throws(
    () => mixturePower({ ...base, tests: ['mmd_hamming'], b: 10, perPrompt: 1, mixture: [{ pool: ref, weight: 1 }] }),
    /at least 2 API calls per prompt/,
  );
  assert.throws(() => mixturePower({ ...base, tests: ['mmd_hamming'], mixture: [{ pool: ref, weight: 1 }] }), /need b/);
});

test('StoredPools.drawMixture: rows come from each source with its weight, from the right prompt', () => {
  const a = pool('a', 3, 10, 0).sample;
  const b = pool('b', 3, 10, 0).sample;
  const pools = new StoredPools('mmd_hamming', [a, b]);
  const choice = promptChoice(3);
  const draw = pools.newDraw(3000, choice);
  pools.drawMixture(new Rng(deriveSeed(1, 0)), Int32Array.from([0, 1]), Float64Array.from([0.25, 1]), 3000, choice, draw);
  // Block-local ids: in each prompt's block, source 0's rows come first (10 of them), then source 1's.
  let fromB = 0;
  for (let k = 0; k < 3; k++) for (let t = draw.start[k]; t < draw.start[k + 1]; t++) if (draw.values[t] >= 10) fromB++;
  const sd = Math.sqrt(3000 * 0.25 * 0.75);
  assert.ok(Math.abs(fromB - 0.75 * 3000) < 4 * sd, `${fromB} of 3000 rows from the 0.75 source`);
  assert.ok(draw.values.every((v) => v >= 0 && v < 20));
});

test('PowerSimulator: cell and compositeCell draw Y from a mixture; a mixture of the reference alone is a null cell', () => {
  const a = pool('a', 4, 15, 0).sample;
  const a2 = pool('a', 4, 15, 0).sample;
  const b = pool('b', 4, 15, 0).sample;
  const sim = new PowerSimulator('mmd_hamming', { references: [a, a2], alternatives: [a, b] });
  const nulls = [0, 1].map((reference) => sim.nulls({ reference, n: 24, b: 100, seed: 5 })) as [Float64Array, Float64Array];
  const run = (mixture: { alternative: number; weight: number }[]) => ({
    single: sim.cell({ mixture, n: 24, sims: 40, alpha: 0.05, seed: 9, nulls: nulls[0] }).power,
    composite: sim.compositeCell({ mixture, n: 24, sims: 40, alpha: 0.05, seed: 9, nulls }).power,
  });
  const none = run([{ alternative: 0, weight: 1 }]);
  const half = run([
    { alternative: 1, weight: 0.5 },
    { alternative: 0, weight: 0.5 },
  ]);
  const all = run([{ alternative: 1, weight: 1 }]);
  assert.ok(none.single <= 0.15 && none.composite <= 0.15, `reference alone: ${JSON.stringify(none)}`);
  assert.ok(all.single === 1 && all.composite === 1, `b alone: ${JSON.stringify(all)}`);
  assert.ok(half.single >= none.single && half.composite >= none.composite, `half: ${JSON.stringify(half)}`);
  assert.throws(() => sim.cell({ mixture: [{ alternative: 1, weight: 0.5 }], n: 24, sims: 2, alpha: 0.05, seed: 1, nulls: nulls[0] }), /sum to 0.5/);
  assert.throws(
    () => sim.cell({ mixture: [{ alternative: 2, weight: 1 }], n: 24, sims: 2, alpha: 0.05, seed: 1, nulls: nulls[0] }),
    /alternative 2 does not exist/,
  );
});
