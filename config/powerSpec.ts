import { z } from 'zod';
import { TWO_SAMPLE_STATISTICS } from '../stats/statistics';
import { Name } from '../common/names';
import { boundedInt, LIMITS } from './limits';

/** A power-simulation grid (YAML/JSON). Pure: workflows import it. */
const Source = z.object({ model: z.string().min(1), source: z.string().min(1) }).strict();

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
    /** Sources to detect; the reference itself is always added as the type-I error cell. */
    alternatives: z.array(Source).min(1),
    statistics: z.array(z.enum(TWO_SAMPLE_STATISTICS)).min(1).default(['mmd_hamming']),
    /**
     * Samples per prompt per side; N = n * m. At least 2: with N = m a multinomial draw can give
     * every prompt one sample, and the MMD has no same-prompt pair to compare.
     */
    samplesPerPrompt: z.array(z.number().int().min(2, 'use at least 2 samples per prompt (N = n x m must exceed m so every draw has a same-prompt pair)').max(100_000, 'samplesPerPrompt is at most 100,000')).min(1).max(100),
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
  })
  .strict()
  .superRefine((spec, ctx) => {
    if ((spec.reference === undefined) === (spec.references === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['references'], message: 'give either reference or references (two for a composite null), not both or neither' });
    }
    if (spec.sims * spec.b > LIMITS.cellWork) {
      ctx.addIssue({ code: 'custom', path: ['b'], message: `sims x b = ${spec.sims * spec.b} is over ${LIMITS.cellWork.toLocaleString('en-US')} per cell (one cell must not hold a worker for more than minutes): lower b or sims` });
    }
    const refs = gridReferences(spec);
    if (refs.length === 2 && label(refs[0]) === label(refs[1])) ctx.addIssue({ code: 'custom', path: ['references'], message: 'the two references of a composite null must differ' });
  });
export type PowerSpec = z.infer<typeof PowerSpec>;
export type PowerSource = z.infer<typeof Source>;

/** `model.source`: a source's name in cell ids, tables and plots. */
export const label = (s: PowerSource) => `${s.model}.${s.source}`;

/** The grid's references: one, or two for a composite null (older specs name only `reference`). */
export function gridReferences(spec: { reference?: PowerSource; references?: PowerSource[] }): PowerSource[] {
  return spec.references ?? (spec.reference ? [spec.reference] : []);
}
