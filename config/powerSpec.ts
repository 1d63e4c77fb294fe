import { z } from 'zod';
import { TWO_SAMPLE_STATISTICS } from '../stats/statistics';

/** A power-simulation grid (YAML/JSON). Pure: workflows import it. */
const Source = z.object({ model: z.string().min(1), source: z.string().min(1) }).strict();
const Name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'use letters, digits, ".", "_" or "-"');

export const PowerSpec = z
  .object({
    corpus: Name,
    runId: Name.optional(),
    reference: Source,
    /** Sources to detect; the reference itself is always added as the type-I error cell. */
    alternatives: z.array(Source).min(1),
    statistics: z.array(z.enum(TWO_SAMPLE_STATISTICS)).min(1).default(['mmd_hamming']),
    /**
     * Samples per prompt per side; N = n * m. At least 2: with N = m a multinomial draw can give
     * every prompt one sample, and the MMD has no same-prompt pair to compare.
     */
    samplesPerPrompt: z.array(z.number().int().min(2, 'use at least 2 samples per prompt (N = n x m must exceed m so every draw has a same-prompt pair)')).min(1),
    promptSubsets: z.object({ size: z.number().int().positive(), draws: z.number().int().positive().default(1) }).strict(),
    sims: z.number().int().positive().default(100),
    b: z.number().int().positive().default(1000),
    alpha: z.number().gt(0).lt(1).default(0.05),
    L: z.number().int().positive().default(1000),
    unit: z.enum(['char', 'token']).default('char'),
    k: z.number().int().positive().default(5),
    seed: z.number().int().nonnegative().default(0),
    /** Cells computed at once across CPU workers. */
    window: z.number().int().positive().default(4),
  })
  .strict();
export type PowerSpec = z.infer<typeof PowerSpec>;
export type PowerSource = z.infer<typeof Source>;
