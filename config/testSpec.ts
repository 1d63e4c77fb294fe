import { z } from 'zod';
import { Name } from '../common/names';
import { boundedInt, LIMITS } from './limits';

/**
 * MET's one-sample (goodness-of-fit) statistics (stats/oneSample.ts), listed here because workflows
 * import this file and may not import the statistics engine: Y's completions against the reference
 * model's probabilities (X: stored draws of the reference, the bootstrap's pool; both slices scored
 * under `scorer`).
 */
export const ONE_SAMPLE_TEST_STATISTICS = ['g_squared', 'chi_squared', 'truncated_chi_squared', 'L1', 'L2'] as const;
export const isOneSampleTestStatistic = (stat: string): stat is (typeof ONE_SAMPLE_TEST_STATISTICS)[number] =>
  (ONE_SAMPLE_TEST_STATISTICS as readonly string[]).includes(stat);

/** The short names the CLI takes for one-sample statistics (`g2`, `chi2`) -> their names. */
export function testStatName(name: string): string {
  return ({ g2: 'g_squared', chi2: 'chi_squared' } as Record<string, string>)[name] ?? name;
}

/** A corpus slice as a test's sample: one model/source of a corpus, optionally subsampled. Pure (workflows import it). */
export const Selector = z
  .object({
    // The name rule (common/names.ts), as for every name from outside: the SQL is parameterised, and names stay plain.
    corpus: Name,
    model: Name,
    source: Name,
    samplesPerPrompt: boundedInt(1_000_000, 'samplesPerPrompt').optional(),
    seed: z.number().int().nonnegative().default(0),
  })
  .strict();
export type Selector = z.infer<typeof Selector>;

export const TestSpec = z
  .object({
    testId: Name,
    x: Selector,
    y: Selector,
    /**
     * A two-sample statistic, or 'rut': the rank-based uniformity test (stats/rut.ts). For rut, X is
     * the reference (a local model+precision with k samples per prompt), Y the target (one completion
     * per prompt from any source: Y's samplesPerPrompt defaults to 1), both scored under `scorer` by
     * scoreCorpus; the p-value is Cramér–von Mises (pvalue, b, L, unit, k, cumulative do not apply).
     */
    stat: z
      .enum([
        'mmd_hamming',
        'mmd_kspectrum',
        'mmd_all_subsequences',
        'two_sample_L1',
        'two_sample_L2',
        'two_sample_chi_squared',
        'rut',
        ...ONE_SAMPLE_TEST_STATISTICS,
      ])
      .default('mmd_hamming'),
    /** rut: the reference model+precision whose logprob shards score X and Y. */
    scorer: z
      .object({ model: Name, precision: z.enum(['fp32', 'fp16', 'int8', 'nf4']) })
      .strict()
      .optional(),
    /**
     * rut: the completion score, sum_logprob (default), mean_logprob, or log_rank (mean ln(rank) of
     * the tokens, from the ranks logprob shards store since they have a token_ranks column).
     */
    score: z.enum(['sum_logprob', 'mean_logprob', 'log_rank']).optional(),
    pvalue: z.enum(['permutation', 'bootstrap']).default('permutation'),
    /** The stored reference the bootstrap draws null samples from (default: X's source, all its rows). */
    reference: Selector.optional(),
    b: boundedInt(LIMITS.b, 'b').default(1000),
    alpha: z.number().gt(0).lt(1).default(0.05),
    seed: z.number().int().nonnegative().default(0),
    L: boundedInt(LIMITS.L, 'L').default(1000),
    unit: z.enum(['char', 'token']).default('char'),
    k: boundedInt(LIMITS.k, 'k').default(5),
    cumulative: z.boolean().default(true),
    /**
     * When X and Y were drawn with different sampler settings (each sample row records its own):
     * 'warn' (default) runs the test and says so in the result; 'refuse' fails the test instead.
     * A test between different samplers tests the samplers as much as the models.
     */
    samplerMismatch: z.enum(['warn', 'refuse']).optional(),
  })
  .strict()
  .superRefine((spec, ctx) => {
    const oneSample = isOneSampleTestStatistic(spec.stat);
    if (spec.stat === 'rut' && !spec.scorer)
      ctx.addIssue({
        code: 'custom',
        path: ['scorer'],
        message: 'rut ranks scores under a reference model: give scorer {model, precision} (the scoreCorpus scorer)',
      });
    if (oneSample && !spec.scorer)
      ctx.addIssue({
        code: 'custom',
        path: ['scorer'],
        message: `${spec.stat} tests Y against the reference model's own probabilities: give scorer {model, precision} (the scoreCorpus scorer of both slices)`,
      });
    if (spec.stat !== 'rut' && !oneSample && spec.scorer)
      ctx.addIssue({ code: 'custom', path: ['stat'], message: 'scorer applies to stat rut and the one-sample statistics only' });
    if (spec.stat !== 'rut' && spec.score) ctx.addIssue({ code: 'custom', path: ['stat'], message: 'score applies to stat rut only' });
  });
export type TestSpec = z.infer<typeof TestSpec>;

/** `corpus:model/source[@n]` -> Selector (the CLI's compact form). */
export function parseSelector(text: string, seed = 0): Selector {
  const m = /^([^:]+):([^/]+)\/([^@]+)(?:@(\d+))?$/.exec(text);
  if (!m) throw new Error(`selector '${text}' must look like CORPUS:MODEL/SOURCE or CORPUS:MODEL/SOURCE@SAMPLES_PER_PROMPT`);
  return Selector.parse({ corpus: m[1], model: m[2], source: m[3], samplesPerPrompt: m[4] ? Number(m[4]) : undefined, seed });
}
