import type { GeneratedSample, SampleGenerator, SampleRequest } from '../activities/sampling';
import type { SamplingSpec, SourceSpec } from '../config/runSpec';
import type { TextBackend } from '../models/backend';

/**
 * Samples a unit from a model loaded in this worker. Requests run one after another on the model's
 * context (llama.cpp evaluates one sequence at a time per context), each with its own seed, so a
 * sample is reproducible from the run spec alone.
 */
export class LocalGenerator implements SampleGenerator {
  constructor(private readonly backend: TextBackend) {}

  async sample(
    requests: SampleRequest[],
    options: { sampling: SamplingSpec; source: SourceSpec; signal: AbortSignal; onSample: (s: GeneratedSample) => void },
  ): Promise<{ retries: Record<string, number> }> {
    const { source, sampling } = options;
    if (source.kind !== 'local' || source.model !== this.backend.model || source.precision !== this.backend.precision) {
      throw new Error(`this worker serves ${this.backend.model}/${this.backend.precision}, not ${source.model}/${source.kind === 'local' ? source.precision : source.provider}`);
    }
    for (const request of requests) {
      options.signal.throwIfAborted();
      const started = performance.now();
      const prompt = sampling.systemPrompt ? `${sampling.systemPrompt}\n${request.prompt}` : request.prompt;
      const g = await this.backend.generate({
        prompt,
        maxTokens: sampling.maxTokens,
        temperature: sampling.temperature,
        topP: sampling.topP,
        seed: request.seed ?? 0,
        stop: sampling.stop.length ? sampling.stop : undefined,
        logprobs: sampling.logprobs,
      });
      options.onSample({
        flat: request.flat,
        completion: g.text,
        tokenIds: g.tokenIds,
        tokenLogprobs: g.tokenLogprobs,
        finishReason: g.finishReason,
        providerModel: `${this.backend.model}/${this.backend.precision}`,
        requestId: null,
        latencyMs: performance.now() - started,
      });
    }
    return { retries: {} };
  }
}
