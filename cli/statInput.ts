import { z } from 'zod';
import { ErrorTypes, MetError } from '../common/errors';
import { formatIssues } from '../common/issues';
import { boundedInt, LIMITS } from '../config/limits';
import {
  completionScore,
  encodeChars,
  encodeTokens,
  nullDistribution,
  observedCounts,
  ONE_SAMPLE_STATISTICS,
  oneSampleStatistic,
  oneSampleTest,
  RUT_SCORES,
  rutTest,
  statistic,
  TWO_SAMPLE_STATISTICS,
  twoSampleTestParallel,
  type EncodedSample,
} from '../stats';

/**
 * `met stat` input (issue 4), validated with zod:
 *   {"L": 1000, "m": 2, "unit": "char"|"token", "x": {"prompts": [...], "completions": [...]}, "y": {...},
 *    "stats": ["mmd_hamming", ...], "k": 5, "cumulative": true,
 *    "pvalue": {"type": "permutation", "stat": "mmd_hamming", "b": 1000, "seed": 1}}
 * Completions are strings in char unit (truncated to L code points) and arrays of token ids in token
 * unit (with optional "eos" and "pad" ids). A bootstrap p-value draws its null samples from a
 * "reference" sample given the same way. Output: {"<stat>": value, ..., "pvalue", "b", "undefinedNulls", "seconds"}.
 */
const MAX_PROMPTS = 1_000_000;
const Side = z.strictObject({
  prompts: z
    .array(
      z
        .number()
        .int()
        .nonnegative()
        .max(MAX_PROMPTS - 1, `a prompt index is below ${MAX_PROMPTS.toLocaleString('en-US')}`),
    )
    .max(LIMITS.samplesPerSide, `at most ${LIMITS.samplesPerSide.toLocaleString('en-US')} completions per side`),
  completions: z
    .array(z.union([z.string(), z.array(z.number().int().min(-2147483648).max(2147483647)).max(LIMITS.L * 4, 'a completion has at most 4 x L tokens')]))
    .max(LIMITS.samplesPerSide, `at most ${LIMITS.samplesPerSide.toLocaleString('en-US')} completions per side`),
});
const Stat = z.enum(TWO_SAMPLE_STATISTICS);

export const StatInput = z
  .strictObject({
    L: boundedInt(LIMITS.L, 'L').default(1000),
    m: boundedInt(MAX_PROMPTS, 'm').optional(),
    unit: z.enum(['char', 'token']).default('char'),
    eos: z.number().int().optional(),
    pad: z.number().int().optional(),
    x: Side,
    y: Side,
    reference: Side.optional(),
    stats: z.array(Stat).min(1),
    k: boundedInt(LIMITS.k, 'k').default(5),
    cumulative: z.boolean().default(true),
    pvalue: z
      .strictObject({
        type: z.enum(['permutation', 'bootstrap']),
        stat: Stat,
        b: boundedInt(LIMITS.b, 'b').default(1000),
        seed: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER).default(0),
      })
      .optional(),
  })
  .superRefine((input, ctx) => {
    const sides = [
      ['x', input.x],
      ['y', input.y],
      ['reference', input.reference],
    ] as const;
    for (const [name, side] of sides) {
      if (!side) continue;
      if (side.prompts.length !== side.completions.length) {
        ctx.addIssue({
          code: 'custom',
          path: [name],
          message: `${side.prompts.length} prompts for ${side.completions.length} completions: give one prompt index per completion`,
        });
      }
      side.completions.forEach((c, i) => {
        if (input.unit === 'char' && typeof c !== 'string')
          ctx.addIssue({ code: 'custom', path: [name, 'completions', i], message: 'char unit takes completions as strings' });
        if (input.unit === 'token' && typeof c === 'string')
          ctx.addIssue({ code: 'custom', path: [name, 'completions', i], message: 'token unit takes completions as arrays of token ids' });
      });
      if (input.m !== undefined) {
        side.prompts.forEach((r, i) => {
          if (r >= input.m!) ctx.addIssue({ code: 'custom', path: [name, 'prompts', i], message: `prompt index ${r} is not below m = ${input.m}` });
        });
      }
    }
    const rows = input.x.completions.length + input.y.completions.length + (input.reference?.completions.length ?? 0);
    if (rows * input.L > LIMITS.encodedCells) {
      ctx.addIssue({
        code: 'custom',
        path: ['L'],
        message: `${rows} completions x L = ${input.L} is over ${LIMITS.encodedCells.toLocaleString('en-US')} cells: lower L or send fewer completions`,
      });
    }
    if (input.pvalue && input.pvalue.b * rows > LIMITS.pvalueWork) {
      ctx.addIssue({
        code: 'custom',
        path: ['pvalue', 'b'],
        message: `b = ${input.pvalue.b} x ${rows} completions is over ${LIMITS.pvalueWork.toLocaleString('en-US')} (minutes of work): lower b`,
      });
    }
    if (input.unit === 'char' && (input.eos !== undefined || input.pad !== undefined)) {
      ctx.addIssue({ code: 'custom', path: ['unit'], message: 'eos and pad apply to token unit only (char unit pads with -1)' });
    }
    if (input.pvalue?.type === 'bootstrap' && !input.reference) {
      ctx.addIssue({ code: 'custom', path: ['reference'], message: 'a bootstrap p-value draws its null samples from a "reference" sample: give one' });
    }
  });
export type StatInput = z.infer<typeof StatInput>;

/**
 * The rank-based uniformity test given inline (stats/rut.ts):
 *   {"test": "rut", "score": "sum_logprob"|"mean_logprob"|"log_rank", "seed": 0,
 *    "target": [C, ...],             one completion per prompt (from the API under test)
 *    "reference": [[C, ...], ...]}   k completions per prompt from the reference model, same prompt order
 * where a completion C is its token scores under the reference, {"logprobs": [...], "ranks": [...]}
 * (ranks 1-based; needed by log_rank only), or a number: a score computed elsewhere (then "score"
 * is not used). Output: {"statistic": W², "pvalue", "n", "k", "score", "seconds"}.
 */
const RutCompletion = z.union([
  z.number().finite(),
  z.strictObject({ logprobs: z.array(z.number().max(0)), ranks: z.array(z.number().int().min(1)).optional() }),
]);
export const RutStatInput = z
  .strictObject({
    test: z.literal('rut'),
    score: z.enum(RUT_SCORES as [string, ...string[]]).default('sum_logprob'),
    seed: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER).default(0),
    target: z.array(RutCompletion).min(2, 'RUT needs at least two prompts (one target completion each)'),
    reference: z.array(z.array(RutCompletion).min(1, 'each prompt needs at least one reference completion')),
  })
  .superRefine((input, ctx) => {
    if (input.reference.length !== input.target.length) {
      ctx.addIssue({
        code: 'custom',
        path: ['reference'],
        message: `${input.reference.length} reference lists for ${input.target.length} target completions: give one list per prompt, in the same order`,
      });
    }
  });
export type RutStatInput = z.infer<typeof RutStatInput>;

function runRutInput(value: unknown): Record<string, number | string> {
  const parsed = RutStatInput.safeParse(value);
  if (!parsed.success) {
    throw new MetError(ErrorTypes.BadInput, formatIssues(parsed.error, 'invalid met stat rut input'));
  }
  const t0 = performance.now();
  const input = parsed.data;
  const score = input.score as (typeof RUT_SCORES)[number];
  const given = input.target.every((c) => typeof c === 'number') && input.reference.every((r) => r.every((c) => typeof c === 'number'));
  const of = (c: z.infer<typeof RutCompletion>) => (typeof c === 'number' ? c : completionScore(score, c));
  if (!given && [input.target, ...input.reference].some((list) => list.some((c) => typeof c === 'number'))) {
    throw new MetError(ErrorTypes.BadInput, 'give every completion as token scores or every completion as a number, not a mix');
  }
  const reference = input.reference.flat().map(of);
  const offsets = [0];
  for (const list of input.reference) offsets.push(offsets[offsets.length - 1] + list.length);
  const r = rutTest({
    target: Float64Array.from(input.target.map(of)),
    reference: Float64Array.from(reference),
    offsets: Int32Array.from(offsets),
    seed: input.seed,
  });
  return { statistic: r.statistic, pvalue: r.pvalue, n: r.n, k: r.k, score: given ? 'given' : score, seconds: (performance.now() - t0) / 1000 };
}

/**
 * MET's one-sample (goodness-of-fit) tests given inline (stats/oneSample.ts):
 *   {"test": "one_sample", "L": 1000, "m": 2, "unit": "char", "stats": ["g_squared", ...],
 *    "reference": {"prompts": [...], "completions": [...], "logprobs": [...]},  the null's support: completions
 *                   with log P(completion | prompt) under the reference model (natural log)
 *    "sample": {"prompts": [...], "completions": [...]},                         the sample under test
 *    "pool": {"prompts": [...], "completions": [...]},                           optional: draws of the reference
 *                   the bootstrap resamples (default: the support rows)
 *    "pvalue": {"stat": "g_squared", "b": 1000, "seed": 0}}
 * Every sample row must be in the support (score the sample's completions under the reference).
 */
const OneSampleSide = Side.extend({ logprobs: z.array(z.number().max(1e-6, 'log-probabilities are <= 0 (natural log)')).max(LIMITS.samplesPerSide) });
export const OneSampleStatInput = z
  .strictObject({
    test: z.literal('one_sample'),
    L: boundedInt(LIMITS.L, 'L').default(1000),
    m: boundedInt(MAX_PROMPTS, 'm').optional(),
    unit: z.enum(['char', 'token']).default('char'),
    eos: z.number().int().optional(),
    pad: z.number().int().optional(),
    stats: z.array(z.enum(ONE_SAMPLE_STATISTICS)).min(1),
    reference: OneSampleSide,
    sample: Side,
    pool: Side.optional(),
    pvalue: z
      .strictObject({
        stat: z.enum(ONE_SAMPLE_STATISTICS),
        b: boundedInt(LIMITS.b, 'b').default(1000),
        seed: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER).default(0),
      })
      .optional(),
  })
  .superRefine((input, ctx) => {
    if (input.reference.logprobs.length !== input.reference.completions.length) {
      ctx.addIssue({
        code: 'custom',
        path: ['reference', 'logprobs'],
        message: `${input.reference.logprobs.length} log-probabilities for ${input.reference.completions.length} completions: give one per completion`,
      });
    }
    for (const [name, side] of [
      ['reference', input.reference],
      ['sample', input.sample],
      ['pool', input.pool],
    ] as const) {
      if (side && side.prompts.length !== side.completions.length)
        ctx.addIssue({
          code: 'custom',
          path: [name],
          message: `${side.prompts.length} prompts for ${side.completions.length} completions: give one prompt index per completion`,
        });
    }
  });

async function runOneSampleInput(value: unknown): Promise<Record<string, number>> {
  const parsed = OneSampleStatInput.safeParse(value);
  if (!parsed.success) throw new MetError(ErrorTypes.BadInput, formatIssues(parsed.error, 'invalid met stat one_sample input'));
  const t0 = performance.now();
  const input = parsed.data;
  const as = { L: input.L, m: input.m, unit: input.unit, eos: input.eos, pad: input.pad } as StatInput;
  const nul = nullDistribution(encode(input.reference, as), input.reference.logprobs);
  const sample = encode(input.sample, as);
  const observed = observedCounts(sample, nul);
  const out: Record<string, number> = {};
  for (const name of input.stats) out[name] = oneSampleStatistic(name, observed, nul.logProbs);
  if (input.pvalue) {
    const r = oneSampleTest(input.pvalue.stat, sample, nul, encode(input.pool ?? input.reference, as), { b: input.pvalue.b, seed: input.pvalue.seed });
    out.pvalue = r.pvalue;
    out.b = r.b;
  }
  out.seconds = (performance.now() - t0) / 1000;
  return out;
}

function encode(side: z.infer<typeof Side>, input: StatInput): EncodedSample {
  if (input.unit === 'char') return encodeChars(side.prompts, side.completions as string[], input.L, input.m);
  return encodeTokens(side.prompts, side.completions as number[][], input.L, { eos: input.eos, pad: input.pad, m: input.m });
}

export function parseStatInput(value: unknown): StatInput {
  const parsed = StatInput.safeParse(value);
  if (!parsed.success) {
    throw new MetError(ErrorTypes.BadInput, formatIssues(parsed.error, 'invalid met stat input'));
  }
  return parsed.data;
}

/** The statistics (and p-value) of a validated input, at full float64 precision (large p-value jobs use worker threads). */
export interface StatOutput {
  [statistic: string]: number | Record<string, string> | undefined;
  /** Statistics that are undefined for this input, with what to fix, beside the ones that are not. */
  errors?: Record<string, string>;
}

export async function runStatInput(value: unknown): Promise<StatOutput | Record<string, number | string>> {
  if (value !== null && typeof value === 'object' && (value as { test?: unknown }).test === 'rut') return runRutInput(value);
  if (value !== null && typeof value === 'object' && (value as { test?: unknown }).test === 'one_sample') return runOneSampleInput(value);
  const input = parseStatInput(value);
  const x = encode(input.x, input);
  const y = encode(input.y, input);
  const options = { k: input.k, cumulative: input.cumulative };
  const out: StatOutput = {};
  const errors: Record<string, string> = {};
  let firstError: unknown;
  for (const name of input.stats) {
    try {
      out[name] = statistic(name, x, y, options);
    } catch (err) {
      // One undefined statistic (say an MMD with a one-sample prompt) does not hide the others.
      if (!(err instanceof MetError)) throw err;
      firstError ??= err;
      errors[name] = err.message;
    }
  }
  if (Object.keys(errors).length === input.stats.length && !input.pvalue) throw firstError;
  if (Object.keys(errors).length) out.errors = errors;
  if (input.pvalue) {
    const { type, stat, b, seed } = input.pvalue;
    const reference = input.reference ? encode(input.reference, input) : undefined;
    const r = await twoSampleTestParallel({ x, y, stat, pvalue: type, b, seed, reference, ...options });
    out.pvalue = r.pvalue;
    out.b = r.b;
    // Null statistics with a zero denominator never count as >= observed: say how many there were.
    out.undefinedNulls = r.undefinedNulls;
    out.seconds = r.seconds;
  }
  return out;
}
