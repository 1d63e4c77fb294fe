import { z } from 'zod';
import { TWO_SAMPLE_STATISTICS } from '../stats/statistics';
import { Name } from '../common/names';
import { boundedInt, LIMITS } from './limits';
import { isOneSampleTestStatistic, ONE_SAMPLE_TEST_STATISTICS } from './testSpec';

/** A power-simulation grid (YAML/JSON). Pure: workflows import it. */
const Source = z.object({ model: z.string().min(1), source: z.string().min(1) }).strict();
/**
 * Mixture substitution (Cai et al. 2025): the API serves each request from one component, drawn
 * with the given weights, e.g. { mix: [{ source: nf4, weight: 0.3 }, { source: fp32, weight: 0.7 }] }.
 * A component's model defaults to the mix's `model`, else to the (first) reference's model.
 */
const Mix = z
  .object({
    model: z.string().min(1).optional(),
    mix: z
      .array(z.object({ model: z.string().min(1).optional(), source: z.string().min(1), weight: z.number().min(0).max(1) }).strict())
      .min(1)
      .max(16),
  })
  .strict()
  .superRefine((m, ctx) => {
    const sum = m.mix.reduce((a, c) => a + c.weight, 0);
    if (Math.abs(sum - 1) > 1e-9) ctx.addIssue({ code: 'custom', path: ['mix'], message: `mixture weights must sum to 1, got ${sum}` });
  });
const Alternative = z.union([Source, Mix]);

export const PowerSpec = z
  .object({
    corpus: Name,
    runId: Name.optional(),
    /** The reference distribution (shorthand for `references: [reference]`). */
    reference: Source.optional(),
    /**
     * One reference, or two for the paper's composite null (both acceptable, e.g. fp32 and fp16):
     * then every cell is composite: it rejects only if the test rejects against each reference,
     * and each reference gets its own type-I error cell.
     */
    references: z.array(Source).min(1).max(2).optional(),
    /**
     * Sources to detect, or per-request mixtures of sources; the reference itself is always added
     * as the type-I error cell.
     */
    alternatives: z.array(Alternative).min(1),
    /**
     * More nulls: sources serving the reference's own weights under other serving settings (another
     * batch size, thread count or server), the nondeterminism a provider's stack adds. Their cells
     * run like alternatives on the same draws and are reported as nulls: a test whose rejection rate
     * there exceeds alpha would flag an honest endpoint.
     */
    nulls: z.array(Source).min(1).optional(),
    /**
     * Two-sample statistics, and 'rut' (the rank-based uniformity test: needs `scorer`). A rut cell
     * spends the same API budget as the two-sample cells, n x m calls (n per prompt, exactly), each
     * ranked among `rutK` reference completions of its prompt (stats/mixture.ts). MET's one-sample
     * statistics (g_squared, chi_squared, truncated_chi_squared, L1, L2: also need `scorer`) test n x m
     * completions against the reference model's own probabilities, the p-value the parametric
     * bootstrap from the reference's pool, as `met test --stat g_squared` runs it.
     */
    statistics: z
      .array(z.enum([...TWO_SAMPLE_STATISTICS, 'rut', ...ONE_SAMPLE_TEST_STATISTICS]))
      .min(1)
      .default(['mmd_hamming']),
    /** rut: the model+precision whose logprob shards score every source of the grid (scoreCorpus). */
    scorer: z
      .object({ model: z.string().min(1), precision: z.string().min(1) })
      .strict()
      .optional(),
    /** rut: the completion score, sum_logprob (default), mean_logprob or log_rank (mean ln(rank) of the tokens: needs logprob shards with ranks). */
    rutScore: z.enum(['sum_logprob', 'mean_logprob', 'log_rank']).optional(),
    /** rut: reference completions each API completion is ranked among (default 20). */
    rutK: z.number().int().positive().optional(),
    /**
     * Samples per prompt per side; N = n * m. At least 2: with N = m a multinomial draw can give
     * every prompt one sample, and the MMD has no same-prompt pair to compare.
     */
    samplesPerPrompt: z
      .array(
        z
          .number()
          .int()
          .min(2, 'use at least 2 samples per prompt (N = n x m must exceed m so every draw has a same-prompt pair)')
          .max(100_000, 'samplesPerPrompt is at most 100,000'),
      )
      .min(1)
      .max(100),
    promptSubsets: z.object({ size: boundedInt(100_000, 'promptSubsets.size'), draws: boundedInt(1_000, 'promptSubsets.draws').default(1) }).strict(),
    sims: boundedInt(LIMITS.sims, 'sims').default(100),
    b: boundedInt(LIMITS.b, 'b').default(1000),
    alpha: z.number().gt(0).lt(1).default(0.05),
    L: boundedInt(LIMITS.L, 'L').default(1000),
    unit: z.enum(['char', 'token']).default('char'),
    k: boundedInt(LIMITS.k, 'k').default(5),
    seed: z.number().int().nonnegative().default(0),
    /** Cells computed at once across CPU workers. */
    window: z.number().int().positive().default(4),
    /**
     * Warn when a source's smallest per-prompt pool in a subset holds fewer than this many times the
     * n samples a cell draws per prompt: draws (with replacement) then repeat the same samples across
     * simulations and inflate power and type-I error estimates.
     */
    poolWarningRatio: z.number().positive().default(3),
    /**
     * The independent-pool control null (default 'split', with one reference): each prompt's stored
     * reference samples split into two disjoint halves (alternate sample indices, so each half has
     * its own seeds), one half the reference and the other the alternative, on the grid's draws. Its
     * rejection rate is the type-I error of the grid's own resampling at this pool size: when its
     * interval lies above alpha, the pools are too small for that n and the power figures there
     * measure the finite pool, not the model. It replaces the fixed-ratio pool warning. 'none': no
     * control cells, and the fixed-ratio warning instead.
     */
    control: z.enum(['split', 'none']).default('split'),
  })
  .strict()
  .superRefine((spec, ctx) => {
    if ((spec.reference === undefined) === (spec.references === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['references'], message: 'give either reference or references (two for a composite null), not both or neither' });
    }
    if (spec.sims * spec.b > LIMITS.cellWork) {
      ctx.addIssue({
        code: 'custom',
        path: ['b'],
        message: `sims x b = ${spec.sims * spec.b} is over ${LIMITS.cellWork.toLocaleString('en-US')} per cell (one cell must not hold a worker for more than minutes): lower b or sims`,
      });
    }
    const refs = gridReferences(spec);
    const control = spec.control === 'split' && refs.length === 1 ? 1 : 0;
    const cells =
      (refs.length + control + spec.alternatives.length + (spec.nulls?.length ?? 0)) *
      spec.samplesPerPrompt.length *
      spec.statistics.length *
      spec.promptSubsets.draws;
    if (cells > LIMITS.gridCells) {
      ctx.addIssue({
        code: 'custom',
        path: ['alternatives'],
        message: `the grid has ${cells.toLocaleString('en-US')} cells (sources${control ? ' and the control' : ''} x samplesPerPrompt x statistics x promptSubsets.draws), over ${LIMITS.gridCells.toLocaleString('en-US')}: split it into several grids`,
      });
    }
    if (spec.statistics.includes('rut') && !spec.scorer)
      ctx.addIssue({
        code: 'custom',
        path: ['scorer'],
        message: 'rut ranks scores under a reference model: give scorer {model, precision} (the scoreCorpus scorer)',
      });
    const oneSample = spec.statistics.filter(isOneSampleTestStatistic);
    if (oneSample.length && !spec.scorer)
      ctx.addIssue({
        code: 'custom',
        path: ['scorer'],
        message: `${oneSample.join(', ')} test completions against the reference model's own probabilities: give scorer {model, precision} (the scoreCorpus scorer of every source)`,
      });
    if (oneSample.length && refs.length === 2)
      ctx.addIssue({
        code: 'custom',
        path: ['statistics'],
        message: `${oneSample.join(', ')} cells take one reference (composite nulls are for the two-sample statistics)`,
      });
    if (spec.statistics.includes('rut') && refs.length === 2)
      ctx.addIssue({ code: 'custom', path: ['statistics'], message: 'rut cells take one reference (composite nulls are for the two-sample statistics)' });
    for (const [i, n] of (spec.nulls ?? []).entries()) {
      if ([...refs, ...spec.alternatives].some((s) => label(s) === label(n)))
        ctx.addIssue({ code: 'custom', path: ['nulls', i], message: `${label(n)} is already a reference or an alternative: a source is one or the other` });
    }
    if (refs.length === 2 && label(refs[0]) === label(refs[1]))
      ctx.addIssue({ code: 'custom', path: ['references'], message: 'the two references of a composite null must differ' });
  });
export type PowerSpec = z.infer<typeof PowerSpec>;
export type PowerSource = z.infer<typeof Source>;
export type PowerMix = z.infer<typeof Mix>;
export type PowerAlternative = z.infer<typeof Alternative>;

export const isMix = (a: PowerAlternative): a is PowerMix => 'mix' in a;

/** The control null's name in cells and tables: `control:<reference label>` (see PowerSpec.control). */
export const controlLabel = (reference: PowerSource): string => `control:${label(reference)}`;
export const isControlLabel = (alternative: string): boolean => alternative.startsWith('control:');

/**
 * `model.source`: a source's name in cell ids, tables and plots; a mixture's is
 * `mix.<source>-<weight>.<source>-<weight>...` (with `model.` before a source whose model is given).
 */
export const label = (s: PowerAlternative): string =>
  isMix(s) ? `mix.${s.mix.map((c) => `${(c.model ?? s.model) ? `${c.model ?? s.model}.` : ''}${c.source}-${c.weight}`).join('.')}` : `${s.model}.${s.source}`;

/**
 * The sources an alternative draws from, with their weights (weight-0 components left out; a plain
 * source is one component of weight 1). Models default to the mix's, then to `defaultModel`.
 */
export function mixComponents(a: PowerAlternative, defaultModel: string): { source: PowerSource; weight: number }[] {
  if (!isMix(a)) return [{ source: a, weight: 1 }];
  return a.mix.filter((c) => c.weight > 0).map((c) => ({ source: { model: c.model ?? a.model ?? defaultModel, source: c.source }, weight: c.weight }));
}

/** The grid's references: one, or two for a composite null (older specs name only `reference`). */
export function gridReferences(spec: { reference?: PowerSource; references?: PowerSource[] }): PowerSource[] {
  return spec.references ?? (spec.reference ? [spec.reference] : []);
}
