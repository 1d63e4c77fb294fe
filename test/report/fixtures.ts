import type { ReportInput } from '../../report/schemas';

/**
 * Deterministic report inputs for the report tests: shaped like what the power workflow, the demo
 * and the consistency command produce, generated from a seeded PRNG (no hard-coded figures).
 */

export function seededRandom(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    // xorshift32
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 0x100000000;
  };
}

function binomialDraw(rand: () => number, n: number, p: number): number {
  let k = 0;
  for (let i = 0; i < n; i++) if (rand() < p) k++;
  return k;
}

/** A power grid: F32 reference, Q8_0 and Q4_0 alternatives, F32 vs F32 null, two statistics, two prompt-subset draws. */
export function powerReportInput(seed = 7): ReportInput {
  const rand = seededRandom(seed);
  const cells: NonNullable<Extract<ReportInput['sections'][number], { kind: 'power' }>['cells']> = [];
  const effects: Record<string, number> = { Q4_0: 0.12, Q8_0: 0.02, F32: 0 };
  for (const statistic of ['mmd_hamming', 'two_sample_L1']) {
    for (const nPerPrompt of [1, 2, 5, 10]) {
      for (const alternative of ['Q4_0', 'Q8_0', 'F32']) {
        for (const subsetDraw of [0, 1]) {
          const strength = effects[alternative] * nPerPrompt * (statistic === 'mmd_hamming' ? 1 : 0.6);
          const p = alternative === 'F32' ? 0.05 : 1 - 0.95 * Math.exp(-strength * 3);
          cells.push({ reference: 'F32', alternative, statistic, nPerPrompt, m: 25, sims: 50, rejections: binomialDraw(rand, 50, p), subsetDraw });
        }
      }
    }
  }
  const nulls = Array.from({ length: 400 }, () => normal(rand) * 0.0012);
  return {
    title: 'Power of model equality tests: tiny F32 vs its quantizations',
    meta: {
      runId: 'power-test-grid',
      createdAt: '2026-11-22T10:00:00.000Z',
      seeds: { grid: seed, subsets: seed + 1 },
      spec: { reference: 'F32', alternatives: ['Q8_0', 'Q4_0'], statistics: ['mmd_hamming', 'two_sample_L1'], nPerPrompt: [1, 2, 5, 10], m: 25, sims: 100 },
      versions: { met: '0.1.0' },
      temporalUiUrl: 'http://127.0.0.1:8233/namespaces/default/workflows/power-test-grid',
    },
    sections: [
      {
        kind: 'power',
        unit: 'char',
        L: 1000,
        b: 1000,
        cells,
        nullDistributions: [{ label: 'F32 vs F32, n = 10', statistic: 'mmd_hamming', values: nulls, observed: 0.0031, pValue: 0.004 }],
      },
    ],
  };
}

/** The demo's verdict report: an honest endpoint and one that secretly serves Q4_0. */
export function verdictReportInput(seed = 11): ReportInput {
  const rand = seededRandom(seed);
  const honestNull = Array.from({ length: 500 }, () => normal(rand) * 0.001);
  const cheatNull = Array.from({ length: 500 }, () => normal(rand) * 0.001);
  const honestObserved = 0.0004;
  const pHonest = honestNull.filter((v) => v >= honestObserved).length / honestNull.length;
  return {
    title: 'Which model is this endpoint serving?',
    meta: { runId: 'demo-verdicts', createdAt: '2026-11-22T10:05:00.000Z', seeds: { permutations: seed }, versions: { met: '0.1.0' } },
    sections: [
      {
        kind: 'test',
        results: [
          {
            endpoint: 'endpoint A (honest)',
            reference: 'F32',
            statistic: 'mmd_hamming',
            value: honestObserved,
            pValue: pHonest,
            b: 500,
            decision: pHonest <= 0.05 ? 'reject' : 'fail_to_reject',
            n1: 250,
            n2: 250,
            nullStatistics: honestNull,
          },
          {
            endpoint: 'endpoint B <claims F32>',
            reference: 'F32',
            statistic: 'mmd_hamming',
            value: 0.0093,
            pValue: 0,
            b: 500,
            decision: 'reject',
            n1: 250,
            n2: 250,
            nullStatistics: cheatNull,
          },
        ],
      },
    ],
  };
}

/** A consistency comparison of a local model and the same model served through an API. */
export function consistencyReportInput(seed = 5): ReportInput {
  const rand = seededRandom(seed);
  const prompts = Array.from({ length: 24 }, (_, i) => {
    const ppl = 4 + 4 * rand();
    return {
      promptId: `p${String(i).padStart(3, '0')}`,
      prompt: `Write a sentence about topic ${i} — naïve café 東京`,
      similarity: 0.9 + 0.1 * rand(),
      perplexityA: ppl,
      perplexityB: ppl * (0.97 + 0.06 * rand()),
    };
  });
  return {
    title: 'Consistency: local F32 vs served F32',
    meta: { runId: 'consistency-test', createdAt: '2026-11-22T10:10:00.000Z', seeds: { sampling: seed }, versions: { met: '0.1.0' } },
    sections: [
      {
        kind: 'consistency',
        a: { label: 'local F32', source: 'local:tiny-F32' },
        b: { label: 'served F32', source: 'provider:met-serve' },
        embedModel: 'tiny-embed (GGUF)',
        scorer: 'tiny F32',
        prompts,
        summary: { perplexityA: 5.9, perplexityB: 6.0 },
        mmd: {
          endpoint: 'served F32',
          reference: 'local F32',
          statistic: 'mmd_hamming',
          value: 0.0001,
          pValue: 0.62,
          b: 200,
          decision: 'fail_to_reject',
          n1: 240,
          n2: 240,
        },
      },
    ],
  };
}

/** The demo's shape: verdicts, a power grid and a consistency comparison in one report. */
export function combinedInput(): ReportInput {
  const v = verdictReportInput();
  const p = powerReportInput();
  const c = consistencyReportInput();
  return {
    title: 'met demo: which model is this endpoint serving?',
    meta: { ...p.meta, notes: ['Q4_0 is the nearest 4-bit analogue of nf4.'] },
    sections: [...v.sections, ...p.sections, ...c.sections],
  };
}

function normal(rand: () => number): number {
  const u = Math.max(rand(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
}
