import { setMaxListeners } from 'node:events';
import type OpenAI from 'openai';
import { openaiClient } from './transport';
import type { GeneratedSample, SampleGenerator, SampleRequest } from '../collect/sampleGenerator';
import type { ProviderWorkerSpec } from '../config/workers';
import type { SamplingSpec, SourceSpec } from '../config/runSpec';
import type { SampleRow } from '../datasets/schemas';
import { classifyProviderError, faultToFailure, type ProviderFault } from './errors';
import { TokenBucket, sleep } from './rateLimit';
import { samplerJson, samplerSettings } from '../config/sampler';
import { type ResolvedProvider, resolveProvider } from './registry';
import { trustedEndpoint } from './trust';

/**
 * Samples through the official `openai` client. Clients are built once per worker from its own
 * environment (keys never leave this process), with maxRetries 0: met owns retries. Inside a unit,
 * a retryable fault is retried per sample (honouring Retry-After) so one 429 costs one request,
 * not the unit; when a sample runs out of tries the unit fails retryably and Temporal retries it,
 * resuming from the unit's journal. Non-retryable faults (bad key, bad request) fail at once.
 */
type ProviderSource = Extract<SourceSpec, { kind: 'provider' }>;

interface ProviderHandle {
  provider: ResolvedProvider;
  client: OpenAI;
  key?: string;
  requests?: TokenBucket;
  tokens?: TokenBucket;
}

export interface ProviderGeneratorOptions {
  /** The worker's environment, where keys are read from. */
  env: Record<string, string | undefined>;
  /** Worker-side settings per provider (base URL, key variable, rate limits, timeout). */
  providers?: ProviderWorkerSpec[];
  /** Tries per sample inside a unit before the unit fails (and is retried by Temporal). */
  attemptsPerSample?: number;
  /** Backoff base for faults without a provider hint. */
  backoffMs?: number;
}

const FINISH: Record<string, SampleRow['finishReason']> = { stop: 'stop', length: 'length', content_filter: 'content_filter', tool_calls: 'tool_calls' };

export class ProviderGenerator implements SampleGenerator {
  private handles = new Map<string, ProviderHandle>();
  constructor(private readonly options: ProviderGeneratorOptions) {}

  /** Every secret this generator could hold, for redaction. */
  secrets(): string[] {
    return [...this.handles.values()].flatMap((h) => (h.key ? [h.key] : []));
  }

  private handleFor(source: ProviderSource): ProviderHandle {
    const id = `${source.provider}|${source.baseURL ?? ''}|${source.apiKeyEnv ?? ''}`;
    let handle = this.handles.get(id);
    if (handle) return handle;
    const worker = this.options.providers?.find((p) => p.name === source.provider);
    // The worker config decides the endpoint and the key variable; a spec's own endpoint gets no key.
    const endpoint = trustedEndpoint({ provider: source.provider, specBaseURL: source.baseURL, specKeyEnv: source.apiKeyEnv, worker });
    const provider = resolveProvider(source.provider, { baseURL: endpoint.baseURL, apiKeyEnv: endpoint.apiKeyEnv });
    const key = endpoint.sendKey && provider.keyEnv ? this.options.env[provider.keyEnv] : undefined;
    const rpm = minDefined(source.requestsPerMinute, worker?.requestsPerMinute);
    const tpm = minDefined(source.tokensPerMinute, worker?.tokensPerMinute);
    handle = {
      provider,
      key,
      // A placeholder key for endpoints that need none; a missing required key fails on the 401.
      client: openaiClient({ apiKey: key ?? 'none', baseURL: provider.baseURL, maxRetries: 0, timeout: worker?.timeoutMs ?? 60_000 }),
      requests: rpm ? new TokenBucket(rpm) : undefined,
      tokens: tpm ? new TokenBucket(tpm, tpm / 6) : undefined,
    };
    this.handles.set(id, handle);
    return handle;
  }

  async sample(
    requests: SampleRequest[],
    options: { sampling: SamplingSpec; source: SourceSpec; signal: AbortSignal; onSample: (s: GeneratedSample) => void },
  ): Promise<{ retries: Record<string, number> }> {
    const source = options.source;
    if (source.kind !== 'provider') throw new Error(`ProviderGenerator cannot sample local source ${source.model}/${source.precision}`);
    const handle = this.handleFor(source);
    const retries: Record<string, number> = {};
    const abort = new AbortController();
    const signal = AbortSignal.any([options.signal, abort.signal]);
    setMaxListeners(0, signal); // one listener per request in flight
    const attempts = this.options.attemptsPerSample ?? 8;
    const backoff = this.options.backoffMs ?? 250;
    let next = 0;
    let failure: unknown;

    const lane = async () => {
      // Requests get their lane's signal, not the unit's: the openai client adds an 'abort' listener
      // to the signal of every request and never removes it, so one signal shared by a whole unit
      // collected a listener per sample, and each add walks the list (4% of a worker's CPU).
      const laneAbort = new AbortController();
      const laneSignal = laneAbort.signal;
      setMaxListeners(0, laneSignal);
      const onAbort = () => laneAbort.abort(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      try {
        await laneLoop(laneSignal);
      } finally {
        signal.removeEventListener('abort', onAbort);
      }
    };
    const laneLoop = async (laneSignal: AbortSignal) => {
      while (next < requests.length && !signal.aborted) {
        const request = requests[next++];
        for (let attempt = 1; ; attempt++) {
          try {
            await handle.requests?.take(1, signal);
            await handle.tokens?.take(Math.ceil(request.prompt.length / 4) + options.sampling.maxTokens, signal);
            options.onSample(await this.sampleOne(handle, source, request, options.sampling, laneSignal));
            break;
          } catch (err) {
            if (signal.aborted) return;
            const fault: ProviderFault = classifyProviderError(err, { provider: source.provider, keyEnv: handle.provider.keyEnv, secrets: [handle.key] });
            if (!fault.retryable || attempt >= attempts) {
              failure ??= faultToFailure(fault);
              abort.abort();
              return;
            }
            retries[fault.kind] = (retries[fault.kind] ?? 0) + 1;
            let delay = fault.retryAfterMs;
            if (delay !== undefined) handle.requests?.pause(delay);
            else delay = Math.random() * Math.min(30_000, backoff * 2 ** (attempt - 1)); // full jitter
            try {
              await sleep(delay, signal);
            } catch {
              return;
            }
          }
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(source.concurrency, requests.length) }, lane));
    if (failure) throw failure;
    options.signal.throwIfAborted();
    return { retries };
  }

  private async sampleOne(handle: ProviderHandle, source: ProviderSource, request: SampleRequest, sampling: SamplingSpec, signal: AbortSignal): Promise<GeneratedSample> {
    const model = handle.provider.modelName(source.model, source.providerModel);
    const common = {
      // extraBody first: met's own fields (reserved by the spec schema) always win.
      ...(source.extraBody ?? {}),
      model,
      temperature: sampling.temperature,
      top_p: sampling.topP,
      max_tokens: sampling.maxTokens,
      stop: sampling.stop.length ? sampling.stop : undefined,
      seed: request.seed ?? undefined,
      ...samplerRequestFields(sampling),
    };
    const sampler = (data: { model?: unknown; system_fingerprint?: unknown }) => {
      const reported: Record<string, string> = {};
      if (typeof data.model === 'string') reported.model = data.model;
      if (typeof data.system_fingerprint === 'string') reported.systemFingerprint = data.system_fingerprint;
      return samplerJson({ settings: samplerSettings(sampling, source.extraBody), engine: `provider:${source.provider}`, ...(Object.keys(reported).length ? { reported } : {}) });
    };
    const started = performance.now();
    if (sampling.endpoint === 'chat') {
      const messages: OpenAI.Chat.ChatCompletionMessageParam[] = [];
      if (sampling.systemPrompt) messages.push({ role: 'system', content: sampling.systemPrompt });
      messages.push({ role: 'user', content: request.prompt });
      const { data, request_id } = await handle.client.chat.completions
        .create({ ...common, messages, logprobs: sampling.logprobs || undefined }, { signal })
        .withResponse();
      const choice = data?.choices?.[0];
      if (!choice || typeof choice.message?.content !== 'string') throw new Error('response has no choices[0].message.content');
      const lp = choice.logprobs?.content;
      return {
        flat: request.flat,
        completion: choice.message.content,
        tokenIds: tokenIdsOf(choice, choice.message.content),
        tokenLogprobs: lp ? lp.map((t) => t.logprob) : null,
        finishReason: FINISH[choice.finish_reason ?? ''] ?? 'unknown',
        providerModel: typeof data.model === 'string' ? data.model : null,
        requestId: request_id ?? data.id ?? null,
        latencyMs: performance.now() - started,
        sampler: sampler(data),
        ...usageOf(data),
      };
    }
    const { data, request_id } = await handle.client.completions
      .create({ ...common, prompt: request.prompt, logprobs: sampling.logprobs ? 1 : undefined }, { signal })
      .withResponse();
    const choice = data?.choices?.[0];
    if (!choice || typeof choice.text !== 'string') throw new Error('response has no choices[0].text');
    return {
      flat: request.flat,
      completion: choice.text,
      tokenIds: tokenIdsOf(choice, choice.text),
      tokenLogprobs: choice.logprobs?.token_logprobs ? choice.logprobs.token_logprobs.map((v) => v ?? Number.NaN) : null,
      finishReason: FINISH[choice.finish_reason ?? ''] ?? 'unknown',
      providerModel: typeof data.model === 'string' ? data.model : null,
      requestId: request_id ?? data.id ?? null,
      latencyMs: performance.now() - started,
      sampler: sampler(data),
      ...usageOf(data),
    };
  }
}

/** The usage a response reported (one sample per request: all of it is this sample's); null when absent or malformed. */
function usageOf(data: { usage?: unknown }): { promptTokens: number | null; completionTokens: number | null } {
  const u = (data.usage ?? {}) as { prompt_tokens?: unknown; completion_tokens?: unknown };
  const count = (v: unknown) => (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < 2 ** 31 ? v : null);
  return { promptTokens: count(u.prompt_tokens), completionTokens: count(u.completion_tokens) };
}

/** The optional sampler settings as request fields (vLLM's and llama.cpp's names; OpenAI's penalties). */
function samplerRequestFields(sampling: SamplingSpec): Record<string, number> {
  const fields: Record<string, number> = {};
  if (sampling.topK) fields.top_k = sampling.topK;
  if (sampling.minP) fields.min_p = sampling.minP;
  if (sampling.repetitionPenalty !== undefined) fields.repetition_penalty = sampling.repetitionPenalty;
  if (sampling.presencePenalty !== undefined) fields.presence_penalty = sampling.presencePenalty;
  if (sampling.frequencyPenalty !== undefined) fields.frequency_penalty = sampling.frequencyPenalty;
  return fields;
}

/** Servers that return sampled token ids (vLLM's `token_ids`, met serve) let met keep them; none for a non-empty text is no answer, not data. */
function tokenIdsOf(choice: object, text: string): number[] | null {
  const ids = (choice as { token_ids?: unknown }).token_ids;
  if (Array.isArray(ids) && ids.length === 0 && text.length > 0) return null;
  return Array.isArray(ids) && ids.every((v) => Number.isInteger(v)) ? (ids as number[]) : null;
}

function minDefined(...values: (number | undefined)[]): number | undefined {
  const defined = values.filter((v): v is number => v !== undefined);
  return defined.length ? Math.min(...defined) : undefined;
}
