import { z } from 'zod';
import { Name } from '../common/names';
import { Selector, TestSpec } from './testSpec';

/** One runTest workflow per candidate: a bounded number of them. */
export const MAX_IDENTIFY_CANDIDATES = 32;

/**
 * Which model is it really serving (`met identify`, `POST /v1/identify`): the endpoint's slice `y`
 * tested against each candidate slice of the same corpus with one statistic, the p-values
 * Holm-corrected over the candidates. The test settings are a TestSpec's.
 */
export const IdentifySpec = z
  .object({
    y: Selector,
    candidates: z
      .array(z.object({ model: Name, source: Name, samplesPerPrompt: Selector.shape.samplesPerPrompt }).strict())
      .min(2, 'give at least two candidate slices (MODEL/SOURCE) to choose between')
      .max(MAX_IDENTIFY_CANDIDATES, `at most ${MAX_IDENTIFY_CANDIDATES} candidates (each is a test run)`),
    stat: TestSpec.shape.stat,
    scorer: TestSpec.shape.scorer,
    /** The family-wise level over the candidates. */
    alpha: TestSpec.shape.alpha,
    b: TestSpec.shape.b,
    seed: TestSpec.shape.seed,
    L: TestSpec.shape.L,
    unit: TestSpec.shape.unit,
  })
  .strict();
export type IdentifySpec = z.infer<typeof IdentifySpec>;
