import type { SamplingSpec, SourceSpec } from '../config/runSpec';
import type { SampleRow } from '../datasets/schemas';

/**
 * What sampleUnit (activities/sampling.ts) draws samples with: an API provider's client
 * (providers/generator.ts) or a loaded local model (models/localGenerator.ts). Types only.
 */

/** One sample to draw. */
export interface SampleRequest {
  flat: number;
  promptId: string;
  promptIndex: number;
  sampleIndex: number;
  prompt: string;
  seed: number | null;
}

/** What a generator reports per sample; the activity adds the keys and writes the row. */
export interface GeneratedSample {
  flat: number;
  completion: string | null;
  tokenIds: number[] | null;
  tokenLogprobs: number[] | null;
  finishReason: SampleRow['finishReason'];
  providerModel: string | null;
  requestId: string | null;
  latencyMs: number | null;
  /** config/sampler.ts SamplerRecord as JSON. */
  sampler?: string | null;
  /** Token usage the provider reported for this sample's request (null or absent: none reported). */
  promptTokens?: number | null;
  completionTokens?: number | null;
  /** The seed the request carried when it is not the sample's own (n > 1: one request, one seed, several samples). */
  seed?: number | null;
}

/** What a local route's sampler record names (models/localGenerator.ts). */
export interface SamplerRoute {
  engine: string;
  ggufType?: string;
}

export interface SampleGenerator {
  /**
   * A local model worker's sampling route as its sampler records name it (engine: in-process or
   * managed, sequences per decode; the GGUF type). A slice is sampled by one route: another route's
   * samples are other draws for the same seeds, so a unit is refused before sampling when its slice
   * holds another route's rows. Provider generators have none (their engine is checked when a run plans).
   */
  readonly route?: SamplerRoute;
  /**
   * Draws every request, calling `onSample` as each completes (any order). Retryable faults are
   * retried inside; it throws only when the unit cannot finish (non-retryable, or out of retries).
   */
  sample(
    requests: SampleRequest[],
    options: { sampling: SamplingSpec; source: SourceSpec; signal: AbortSignal; onSample: (s: GeneratedSample) => void },
  ): Promise<{ retries: Record<string, number> }>;
}
