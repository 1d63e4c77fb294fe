import type { GeneratedSample, SampleGenerator, SampleRequest, SamplerRoute } from '../collect/sampleGenerator';
import type { SamplingSpec, SourceSpec } from '../config/runSpec';
import type { ChatMessage, RenderedChat, TextBackend } from './backend';
import { samplerJson, samplerSettings } from '../config/sampler';
import { precisionLabel } from './ggufType';

/**
 * Samples a unit from a model loaded in this worker, each request with its own seed, so a sample is
 * reproducible from the run spec alone. Requests run one after another, or, when the backend samples
 * several sequences at once (`parallel` > 1), are all handed to it together: it decodes them as slots
 * free up, and each sample is delivered when it ends.
 */
export class LocalGenerator implements SampleGenerator {
  private warnedNoTemplate = false;

  constructor(
    private readonly backend: TextBackend,
    private readonly warn: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
  ) {}

  get route(): SamplerRoute {
    return {
      engine: this.backend.samplerEngine ?? `${this.backend.model} backend`,
      ...(this.backend.ggufType ? { ggufType: this.backend.ggufType } : {}),
    };
  }

  /**
   * A chat source's prompt rendered with the model's own template, as a provider's chat endpoint
   * would; undefined (plain "system\nuser" text, with one warning per worker) when it has none.
   */
  private renderChat(sampling: SamplingSpec, prompt: string): RenderedChat | undefined {
    const messages: ChatMessage[] = [
      ...(sampling.systemPrompt ? [{ role: 'system' as const, content: sampling.systemPrompt }] : []),
      { role: 'user', content: prompt },
    ];
    const rendered = this.backend.renderChat?.(messages);
    if (!rendered && !this.warnedNoTemplate) {
      this.warnedNoTemplate = true;
      this.warn(
        `warning: ${this.backend.model}/${this.backend.precision} has no chat template; chat prompts are sent as plain text (system prompt, newline, user prompt), which a provider's chat endpoint would not do`,
      );
    }
    return rendered;
  }

  async sample(
    requests: SampleRequest[],
    options: { sampling: SamplingSpec; source: SourceSpec; signal: AbortSignal; onSample: (s: GeneratedSample) => void },
  ): Promise<{ retries: Record<string, number> }> {
    const { source, sampling } = options;
    if (source.kind !== 'local' || source.model !== this.backend.model || source.precision !== this.backend.precision) {
      throw new Error(
        `this worker serves ${this.backend.model}/${this.backend.precision}, not ${source.model}/${source.kind === 'local' ? source.precision : source.provider}`,
      );
    }
    const one = async (request: SampleRequest) => {
      options.signal.throwIfAborted();
      const started = performance.now();
      const chat = sampling.endpoint === 'chat' ? this.renderChat(sampling, request.prompt) : undefined;
      const prompt = chat?.text ?? (sampling.systemPrompt ? `${sampling.systemPrompt}\n${request.prompt}` : request.prompt);
      const g = await this.backend.generate({
        prompt,
        promptTokens: chat?.tokens,
        maxTokens: sampling.maxTokens,
        temperature: sampling.temperature,
        topP: sampling.topP,
        topK: sampling.topK,
        minP: sampling.minP,
        repetitionPenalty: sampling.repetitionPenalty,
        presencePenalty: sampling.presencePenalty,
        frequencyPenalty: sampling.frequencyPenalty,
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
        // The class with the file's exact GGUF type where known, e.g. gemma-3-270m/nf4 (Q4_K_M).
        providerModel: `${this.backend.model}/${precisionLabel(this.backend.precision, this.backend.ggufType)}`,
        requestId: null,
        latencyMs: performance.now() - started,
        sampler: samplerJson({
          settings: samplerSettings(sampling),
          ...this.route,
          ...(sampling.endpoint === 'chat' ? { chatTemplate: chat ? ('gguf' as const) : ('plain' as const) } : {}),
        }),
      });
    };
    if ((this.backend.parallel ?? 1) > 1) {
      // Requests already queued run to their end after a cancellation; their samples are dropped.
      const settled = await Promise.allSettled(requests.map(one));
      options.signal.throwIfAborted();
      const failed = settled.find((s) => s.status === 'rejected');
      if (failed) throw failed.reason;
    } else {
      for (const request of requests) await one(request);
    }
    return { retries: {} };
  }
}
