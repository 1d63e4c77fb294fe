import { setMaxListeners } from 'node:events';
import type { ApplicationFailure } from '@temporalio/common';
import OpenAI, { APIError } from 'openai';
import { openaiClient } from './transport';
import type { GeneratedSample, SampleGenerator, SampleRequest } from '../collect/sampleGenerator';
import type { ProviderWorkerSpec } from '../config/workers';
import type { SamplingSpec, SourceSpec } from '../config/runSpec';
import type { SampleRow } from '../datasets/schemas';
import { ErrorTypes, MetError } from '../common/errors';
import { classifyProviderError, CompletionTooLongError, faultToFailure, MAX_CHARS_PER_TOKEN, type ProviderFault } from './errors';
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
export type ProviderSource = Extract<SourceSpec, { kind: 'provider' }>;

interface ProviderHandle {
  provider: ResolvedProvider;
  client: OpenAI;
  key?: string;
  requests?: TokenBucket;
  tokens?: TokenBucket;
  batch?: OpenAI;
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
  /** Sources (provider, endpoint, model) that refused n > 1: sent one completion per request from then on. */
  private refusesN = new Set<string>();
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
      client: openaiClient({
        apiKey: key ?? 'none',
        baseURL: provider.baseURL,
        maxRetries: 0,
        timeout: worker?.timeoutMs ?? 60_000,
        maxResponseBytes: worker?.maxResponseBytes,
      }),
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
    const nKey = `${source.provider}|${handle.provider.baseURL}|${handle.provider.modelName(source.model, source.providerModel)}`;
    // Requests of n samples each: consecutive sample indices of one prompt (what is missing of a
    // unit, in order, so a retried unit groups its remaining samples the same way every time).
    const work = groupRequests(requests, this.refusesN.has(nKey) ? 1 : (source.n ?? 1));
    let next = 0;
    let failure: ApplicationFailure | undefined;

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
      while (next < work.length && !signal.aborted) {
        const group = work[next++];
        for (let attempt = 1; ; attempt++) {
          try {
            await handle.requests?.take(1, signal);
            await handle.tokens?.take(Math.ceil(group[0].prompt.length / 4) + group.length * options.sampling.maxTokens, signal);
            for (const s of await this.sampleGroup(handle, source, group, options.sampling, laneSignal)) options.onSample(s);
            break;
          } catch (err) {
            if (signal.aborted) return;
            if (group.length > 1 && refusesN(err)) {
              // Remembered for this source; this group and every one not yet sent go one sample per request.
              this.refusesN.add(nKey);
              retries.n_refused = (retries.n_refused ?? 0) + 1;
              const rest = work.splice(next);
              work.push(...[...group, ...rest.flat()].map((r) => [r]));
              break;
            }
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
    await Promise.all(Array.from({ length: Math.min(source.concurrency, work.length) }, lane));
    if (failure) throw failure;
    options.signal.throwIfAborted();
    return { retries };
  }

  /**
   * One request for a group of samples of one prompt (consecutive sample indices): n = 1 as ever,
   * or n = group size, the request seeded with the first sample's seed (choice i is sample
   * first + i; a provider derives the choices' randomness from the one seed, as met serve does with
   * seed + i). Every choice must come back, or the request is retried whole.
   */
  private async sampleGroup(
    handle: ProviderHandle,
    source: ProviderSource,
    group: SampleRequest[],
    sampling: SamplingSpec,
    signal: AbortSignal,
  ): Promise<GeneratedSample[]> {
    const body = requestBody(handle.provider.modelName(source.model, source.providerModel), source, sampling, group);
    const started = performance.now();
    const r =
      sampling.endpoint === 'chat'
        ? await handle.client.chat.completions.create(body as unknown as OpenAI.Chat.ChatCompletionCreateParamsNonStreaming, { signal }).withResponse()
        : await handle.client.completions.create(body as unknown as OpenAI.Completions.CompletionCreateParamsNonStreaming, { signal }).withResponse();
    return samplesFromResponse(r.data, r.request_id, group, { source, sampling, latencyMs: performance.now() - started });
  }

  /**
   * The log-probability tracking tier's probes (config/auditSpec.ts, statistic logprob_tracking):
   * per probe, ONE token at temperature 0 with the top-k logprobs of its position (completions:
   * `logprobs: k`; chat: `logprobs: true, top_logprobs: k`). A retryable fault is retried per probe
   * (honouring Retry-After); an endpoint that answers without top logprobs fails the whole call,
   * non-retryably, saying to audit it with a sample-based statistic.
   */
  async probeTopLogprobs(
    source: SourceSpec,
    input: { probes: { id: string; text: string }[]; topK: number; endpoint: 'completions' | 'chat'; systemPrompt?: string; signal?: AbortSignal },
  ): Promise<ProbeAnswers> {
    if (source.kind !== 'provider') throw new Error(`probes go to provider endpoints, not ${source.model}/${source.precision}`);
    const handle = this.handleFor(source);
    const model = handle.provider.modelName(source.model, source.providerModel);
    const attempts = this.options.attemptsPerSample ?? 8;
    const backoff = this.options.backoffMs ?? 250;
    // The openai client adds an 'abort' listener to a request's signal and never removes it: one signal per call, limit off (as sample() does per lane).
    const controller = new AbortController();
    const signal = controller.signal;
    setMaxListeners(0, signal);
    const onAbort = () => controller.abort(input.signal?.reason);
    input.signal?.addEventListener('abort', onAbort, { once: true });
    const out: ProbeAnswers = {
      answers: new Array<[string, number][]>(input.probes.length),
      requests: 0,
      promptTokens: 0,
      completionTokens: 0,
      reportedUsage: 0,
    };
    const ask = async (probe: { id: string; text: string }) => {
      const common = { ...(source.extraBody ?? {}), model, temperature: 0, max_tokens: 1 };
      if (input.endpoint === 'chat') {
        const messages = [...(input.systemPrompt ? [{ role: 'system', content: input.systemPrompt }] : []), { role: 'user', content: probe.text }];
        const body = { ...common, messages, logprobs: true, top_logprobs: input.topK };
        return (await handle.client.chat.completions.create(body as unknown as OpenAI.Chat.ChatCompletionCreateParamsNonStreaming, { signal })) as unknown;
      }
      const body = { ...common, prompt: probe.text, logprobs: input.topK };
      return (await handle.client.completions.create(body as unknown as OpenAI.Completions.CompletionCreateParamsNonStreaming, { signal })) as unknown;
    };
    let next = 0;
    const lane = async () => {
      while (next < input.probes.length) {
        const i = next++;
        const probe = input.probes[i];
        for (let attempt = 1; ; attempt++) {
          try {
            await handle.requests?.take(1, signal);
            const data = await ask(probe);
            out.requests++;
            const top = topLogprobsOf(data, input.endpoint);
            if (!top)
              throw new MetError(
                ErrorTypes.BadInput,
                `${source.provider} (${model}) answered probe '${probe.id}' without top logprobs: logprob_tracking needs an endpoint that returns them (logprobs with top_logprobs ${input.topK}); audit this endpoint with a sample-based statistic instead (statistic: mmd_hamming, or another two-sample one)`,
              );
            out.answers[i] = top;
            const usage = usageOf(data ?? {});
            if (usage.promptTokens !== null && usage.completionTokens !== null) {
              out.reportedUsage++;
              out.promptTokens += usage.promptTokens;
              out.completionTokens += usage.completionTokens;
            }
            break;
          } catch (err) {
            if (err instanceof MetError) throw err;
            const fault = classifyProviderError(err, { provider: source.provider, keyEnv: handle.provider.keyEnv, secrets: [handle.key] });
            if (!fault.retryable || attempt >= attempts) throw faultToFailure(fault);
            let delay = fault.retryAfterMs;
            if (delay !== undefined) handle.requests?.pause(delay);
            else delay = Math.random() * Math.min(30_000, backoff * 2 ** (attempt - 1));
            await sleep(delay, signal);
          }
        }
      }
    };
    try {
      await Promise.all(Array.from({ length: Math.max(1, Math.min(source.concurrency, input.probes.length)) }, lane));
    } finally {
      input.signal?.removeEventListener('abort', onAbort);
    }
    return out;
  }

  /**
   * Exact prompt token counts from the endpoint's own tokenizer: vLLM's `POST /tokenize` at the
   * server's root (met serve answers it for a GGUF model), the count including the BOS token as
   * the usage does. Undefined when the endpoint has no such route (most hosted APIs), or for chat
   * (a chat template adds tokens this route does not count). For `met collect --dry-run --pilot`.
   */
  async countPromptTokens(source: SourceSpec, sampling: SamplingSpec, texts: string[]): Promise<number[] | undefined> {
    if (source.kind !== 'provider' || sampling.endpoint !== 'completions' || texts.length === 0) return undefined;
    const handle = this.handleFor(source);
    const model = handle.provider.modelName(source.model, source.providerModel);
    const url = `${handle.provider.baseURL.replace(/\/v1\/?$/, '')}/tokenize`;
    const headers = { 'content-type': 'application/json', ...(handle.key ? { authorization: `Bearer ${handle.key}` } : {}) };
    const count = async (prompt: string): Promise<number | undefined> => {
      const res = await fetch(url, { method: 'POST', headers, body: JSON.stringify({ model, prompt }), signal: AbortSignal.timeout(30_000) }).catch(
        () => undefined,
      );
      if (!res?.ok) return undefined;
      const body = (await res.json().catch(() => undefined)) as { count?: unknown; tokens?: unknown } | undefined;
      return typeof body?.count === 'number' ? body.count : Array.isArray(body?.tokens) ? body.tokens.length : undefined;
    };
    const counts: (number | undefined)[] = [await count(texts[0])];
    if (counts[0] === undefined) return undefined;
    let next = 1;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < texts.length) {
          const i = next++;
          counts[i] = await count(texts[i]);
        }
      }),
    );
    return counts.every((c) => c !== undefined) ? counts : undefined;
  }

  /**
   * A client for the Batch API of a source (activities/batch.ts): the same endpoint and key as its
   * samples, on Node's own fetch (a file upload is multipart, which met's transport does not send).
   */
  batchClient(source: SourceSpec): {
    client: OpenAI;
    model: string;
    keyEnv?: string;
    secrets: (string | undefined)[];
    maxOutputBytes?: number;
    maxLineBytes?: number;
  } {
    if (source.kind !== 'provider') throw new Error(`the Batch API is for provider sources, not ${source.model}/${source.precision}`);
    const handle = this.handleFor(source);
    const worker = this.options.providers?.find((p) => p.name === source.provider);
    handle.batch ??= new OpenAI({
      apiKey: handle.key ?? 'none',
      baseURL: handle.provider.baseURL,
      maxRetries: 0,
      timeout: Math.max(worker?.timeoutMs ?? 60_000, 300_000),
    });
    return {
      client: handle.batch,
      model: handle.provider.modelName(source.model, source.providerModel),
      keyEnv: handle.provider.keyEnv,
      secrets: [handle.key],
      maxOutputBytes: worker?.maxBatchOutputBytes,
      maxLineBytes: worker?.maxResponseBytes,
    };
  }
}

/** A tracking firing's answers of one endpoint: per probe its top-k list, and what the requests cost. */
export interface ProbeAnswers {
  answers: [string, number][][];
  requests: number;
  /** Sums over the requests that reported usage (`reportedUsage` of them). */
  promptTokens: number;
  completionTokens: number;
  reportedUsage: number;
}

/**
 * The top-k list of the first generated position: completions' `logprobs.top_logprobs[0]` ({token:
 * logprob}), chat's `logprobs.content[0].top_logprobs` ([{token, logprob}]). Undefined when absent,
 * empty or not finite logprobs <= 0 (a rounding hair above 0 allowed); most likely first.
 */
export function topLogprobsOf(data: unknown, endpoint: 'completions' | 'chat'): [string, number][] | undefined {
  const choice = (data as { choices?: unknown[] } | null)?.choices?.[0] as
    { logprobs?: { top_logprobs?: unknown[] | null; content?: { top_logprobs?: unknown }[] | null } | null } | undefined;
  let pairs: [unknown, unknown][] = [];
  if (endpoint === 'chat') {
    const top = choice?.logprobs?.content?.[0]?.top_logprobs;
    if (Array.isArray(top)) pairs = top.map((t) => [(t as { token?: unknown })?.token, (t as { logprob?: unknown })?.logprob]);
  } else {
    const top = choice?.logprobs?.top_logprobs?.[0];
    if (top && typeof top === 'object' && !Array.isArray(top)) pairs = Object.entries(top);
  }
  if (pairs.length === 0 || !pairs.every(([t, lp]) => typeof t === 'string' && typeof lp === 'number' && Number.isFinite(lp) && lp <= 1e-6)) return undefined;
  return (pairs as [string, number][]).sort((a, b) => b[1] - a[1]);
}

/** The request body for a group of samples of one prompt (n = group size when more than one). */
export function requestBody(model: string, source: ProviderSource, sampling: SamplingSpec, group: SampleRequest[]): Record<string, unknown> {
  const request = group[0];
  const common = {
    // extraBody first: met's own fields (reserved by the spec schema) always win.
    ...(source.extraBody ?? {}),
    model,
    temperature: sampling.temperature,
    top_p: sampling.topP,
    max_tokens: sampling.maxTokens,
    stop: sampling.stop.length ? sampling.stop : undefined,
    seed: request.seed ?? undefined,
    ...(group.length > 1 ? { n: group.length } : {}),
    ...samplerRequestFields(sampling),
  };
  if (sampling.endpoint === 'chat') {
    const messages: { role: 'system' | 'user'; content: string }[] = [];
    if (sampling.systemPrompt) messages.push({ role: 'system', content: sampling.systemPrompt });
    messages.push({ role: 'user', content: request.prompt });
    return { ...common, messages, logprobs: sampling.logprobs || undefined };
  }
  return { ...common, prompt: request.prompt, logprobs: sampling.logprobs ? 1 : undefined };
}

interface ChoiceShape {
  index?: number;
  text?: unknown;
  message?: { content?: unknown };
  finish_reason?: string | null;
  logprobs?: { content?: { logprob: number }[] | null; token_logprobs?: (number | null)[] | null } | null;
}

/**
 * A response's choices as the group's samples (choice i is sample i of the group). Every choice
 * must be there, or it throws (and the request is retried whole).
 */
export function samplesFromResponse(
  data: { id?: string; model?: unknown; usage?: unknown; system_fingerprint?: unknown; choices?: unknown } | null | undefined,
  requestId: string | null | undefined,
  group: SampleRequest[],
  context: { source: ProviderSource; sampling: SamplingSpec; latencyMs: number | null },
): GeneratedSample[] {
  const { source, sampling } = context;
  const chat = sampling.endpoint === 'chat';
  const choices = (Array.isArray(data?.choices) ? data.choices : []) as ChoiceShape[];
  const texts = choices.map((c) => {
    const text = chat ? c?.message?.content : c?.text;
    if (typeof text !== 'string') throw new Error(chat ? 'response has no choices[].message.content' : 'response has no choices[].text');
    const lp = chat
      ? Array.isArray(c.logprobs?.content)
        ? c.logprobs.content.map((t) => t?.logprob)
        : null
      : Array.isArray(c.logprobs?.token_logprobs)
        ? c.logprobs.token_logprobs
        : null;
    return { index: c.index ?? 0, text, choice: c, finish: c.finish_reason, logprobs: validLogprobs(lp) };
  });
  if (texts.length === 0) throw new Error(chat ? 'response has no choices[0].message.content' : 'response has no choices[0].text');
  texts.sort((a, b) => a.index - b.index);
  if (texts.length !== group.length) throw new Error(`asked for n = ${group.length} completions, the response has ${texts.length}`);
  if (group.length > 1 && texts.some((t, i) => t.index !== i)) {
    throw new Error(
      `asked for n = ${group.length} completions, the response's choices have indices ${JSON.stringify(texts.map((t) => t.index).slice(0, 10))} (each of 0..${group.length - 1} once expected)`,
    );
  }
  const reported: Record<string, string> = {};
  if (typeof data?.model === 'string') reported.model = data.model;
  if (typeof data?.system_fingerprint === 'string') reported.systemFingerprint = data.system_fingerprint;
  const sampler = samplerJson({
    settings: samplerSettings(sampling, source.extraBody),
    engine: `provider:${source.provider}`,
    ...(Object.keys(reported).length ? { reported } : {}),
  });
  const tokenIds = texts.map((t) => tokenIdsOf(t.choice, t.text));
  // Logprobs that do not line up with the token ids are not the sampled tokens'.
  texts.forEach((t, i) => {
    if (t.logprobs && tokenIds[i] && t.logprobs.length !== tokenIds[i].length) t.logprobs = null;
  });
  const usage = splitUsage(data ?? {}, tokenIds);
  // A provider that ignores max_tokens would fill the corpus (and every scorer's context) with what was not asked for.
  // Its returned token ids are what it generated; only without them is the reported count the length. A
  // report above the ids (an inflated bill) is recorded as it came, for the billing audit to judge, not refused.
  texts.forEach((t, i) => {
    const max = sampling.maxTokens;
    const tokens = tokenIds[i]?.length ?? usage[i].completionTokens ?? 0;
    if (tokens > max) throw new CompletionTooLongError(`a completion of ${tokens} tokens (by its own count) for max_tokens ${max}`);
    if (t.text.length > max * MAX_CHARS_PER_TOKEN)
      throw new CompletionTooLongError(
        `a completion of ${t.text.length.toLocaleString('en-US')} characters for max_tokens ${max} (at most ${(max * MAX_CHARS_PER_TOKEN).toLocaleString('en-US')} characters are accepted)`,
      );
  });
  return texts.map((t, i) => ({
    flat: group[i].flat,
    completion: t.text,
    tokenIds: tokenIds[i],
    tokenLogprobs: t.logprobs,
    finishReason: FINISH[t.finish ?? ''] ?? 'unknown',
    providerModel: typeof data?.model === 'string' ? data.model : null,
    requestId: requestId ?? data?.id ?? null,
    latencyMs: context.latencyMs,
    sampler,
    // The seed this sample's request carried (with n > 1, the first sample's: one seed per request).
    ...(group.length > 1 ? { seed: group[0].seed } : {}),
    ...usage[i],
  }));
}

/** Samples in request order, cut into requests of at most n consecutive sample indices of one prompt. */
export function groupRequests(requests: SampleRequest[], n: number): SampleRequest[][] {
  const groups: SampleRequest[][] = [];
  for (const r of requests) {
    const last = groups.at(-1);
    const prev = last?.at(-1);
    if (last && prev && last.length < n && prev.promptIndex === r.promptIndex && prev.sampleIndex + 1 === r.sampleIndex) last.push(r);
    else groups.push([r]);
  }
  return groups;
}

/** A 400 that names the `n` parameter: the endpoint serves one completion per request. */
function refusesN(err: unknown): boolean {
  if (!(err instanceof APIError) || err.status !== 400) return false;
  if (err.param === 'n') return true;
  return /['"`]n['"`]|\bn (must|should|cannot|can't|is not|>)/i.test(err.message);
}

/**
 * The usage of one request split over its samples, so that the rows' sums are what was billed:
 * the prompt tokens on the first sample (billed once per request), the completion tokens per
 * choice where the server returned each choice's token ids and they add up to its count, else
 * split evenly. One sample per request: all of it is that sample's.
 */
function splitUsage(data: { usage?: unknown }, tokenIds: (number[] | null)[]): { promptTokens: number | null; completionTokens: number | null }[] {
  const { promptTokens, completionTokens } = usageOf(data);
  const n = tokenIds.length;
  if (n === 1) return [{ promptTokens, completionTokens }];
  const exact =
    completionTokens !== null && tokenIds.every((ids) => ids !== null) && tokenIds.reduce((a, ids) => a + (ids?.length ?? 0), 0) === completionTokens;
  return tokenIds.map((ids, i) => ({
    promptTokens: promptTokens === null ? null : i === 0 ? promptTokens : 0,
    completionTokens: completionTokens === null ? null : exact ? ids!.length : Math.floor(completionTokens / n) + (i < completionTokens % n ? 1 : 0),
  }));
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
  // Ids are vocabulary indices: non-negative 32-bit integers, or the array is not kept.
  return Array.isArray(ids) && ids.every((v) => Number.isInteger(v) && v >= 0 && v < 2 ** 31) ? (ids as number[]) : null;
}

/**
 * A provider's per-token logprobs, kept only when every one is a finite number <= 0 (a rounding
 * hair above 0 is allowed): a null (some servers give one for the first token) or a string dropped
 * the whole sample's row and failed the run (issue #28). Optional data: what is odd is left out.
 */
function validLogprobs(values: unknown[] | null): number[] | null {
  if (!values) return null;
  return values.every((v) => typeof v === 'number' && Number.isFinite(v) && v <= 1e-6) ? (values as number[]) : null;
}

function minDefined(...values: (number | undefined)[]): number | undefined {
  const defined = values.filter((v): v is number => v !== undefined);
  return defined.length ? Math.min(...defined) : undefined;
}
