import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import { issueLine } from '../common/issues';
import { isTokenLevel, type SampledCompletion, type TextBackend } from '../models/backend';
import { BatchService, type BatchStats } from './batches';
import { type Fault, FaultOptions, RateWindow, pickFault, seededRandom } from './faults';
import { completionAnswer, detokenizeAnswer, type LlamaApiContext, LlamaApiError, oaiChatAnswer, oaiCompletionAnswer, tokenizeAnswer } from './llamaCppApi';
import { type PromptScores, PromptScoringError, echoLogprobs, promptLogprobsField, scorePrompt } from './promptScores';

/**
 * `met serve`: an OpenAI-compatible server on loopback, backed by a real local model (a
 * TextBackend) or by the deterministic text generator, with fault injection for tests and demos:
 * 429 with Retry-After, 500, hangs, malformed and truncated bodies, and an enforced request rate.
 * It can claim to serve a model other than the one it serves (the demo's dishonest endpoint).
 */
export interface ServeOptions {
  backend: TextBackend;
  host?: string;
  port?: number;
  /** Model name reported in responses and /v1/models (default: the backend's). */
  claimModel?: string;
  faults?: z.input<typeof FaultOptions>;
  seed?: number;
  /** Calls into the backend at once (llama.cpp contexts are used one at a time). */
  backendConcurrency?: number;
  /**
   * Whose routes and body shapes to answer: vllm (default: OpenAI's plus vLLM's extensions: echo,
   * prompt_logprobs, token ids, /tokenize) or llama.cpp (llama-server's: /completion, its
   * /tokenize and /detokenize, OpenAI routes without echo; serve/llamaCppApi.ts).
   */
  apiStyle?: ApiStyle;
  /** Answer n > 1 with 400 naming `n` (an endpoint that serves one completion per request), for tests of the n = 1 fallback. */
  refuseN?: boolean;
  /** Batch API (serve/batches.ts): how long a batch waits before it is processed (default 0), and requests in flight per batch (default 8). */
  batch?: { latencyMs?: number; concurrency?: number };
}

export const API_STYLES = ['vllm', 'llama.cpp'] as const;
export type ApiStyle = (typeof API_STYLES)[number];

/** The routes that count as requests (fault injection, rate limits, stats) per API style. */
const INFERENCE_ROUTES: Record<ApiStyle, string[]> = {
  vllm: ['/v1/completions', '/v1/chat/completions', '/v1/embeddings'],
  'llama.cpp': ['/completion', '/v1/completions', '/v1/chat/completions', '/v1/embeddings'],
};

export interface ServeStats {
  requests: number;
  served: number;
  faults: Record<Fault | 'rps_limited' | 'unauthorized' | 'bad_request', number>;
  maxAcceptedPerSecond: number;
  /** The Batch API's: batches created, their requests, output downloads. */
  batches: BatchStats;
}

export interface RunningServe {
  url: string;
  port: number;
  stats(): ServeStats;
  close(): Promise<void>;
}

const TokenIds = z.array(z.number().int().nonnegative()).min(1);
/** vLLM's sampler extensions (and OpenAI's penalties), applied by the backend as llama.cpp does. */
const SamplerFields = {
  top_k: z.number().int().min(-1).max(1_000_000).optional(),
  min_p: z.number().min(0).max(1).optional(),
  repetition_penalty: z.number().gt(0).max(10).optional(),
  presence_penalty: z.number().min(-2).max(2).optional(),
  frequency_penalty: z.number().min(-2).max(2).optional(),
};
type SamplerFields = { top_k?: number; min_p?: number; repetition_penalty?: number; presence_penalty?: number; frequency_penalty?: number };
/** The last request bodies met serve received, newest last (GET /_met/requests; a test stand-in's record). */
const RECENT_REQUESTS = 32;
const RECENT_BODY_BYTES = 64 * 1024;
const CompletionRequest = z.object({
  model: z.string().optional(),
  // A text, or token ids (vLLM accepts both); a one-element batch of either.
  prompt: z.union([
    z.string(),
    TokenIds,
    z
      .array(z.string())
      .length(1)
      .transform((a) => a[0]),
    z
      .array(TokenIds)
      .length(1)
      .transform((a) => a[0]),
  ]),
  // 0 with echo: score the prompt only (vLLM's behaviour).
  max_tokens: z.number().int().nonnegative().max(32768).default(16),
  echo: z.boolean().default(false),
  /** vLLM extension: teacher-forced logprobs of the prompt's tokens, with this many alternatives. */
  prompt_logprobs: z.number().int().min(0).max(20).nullable().optional(),
  temperature: z.number().min(0).max(2).default(1),
  top_p: z.number().gt(0).max(1).default(1),
  ...SamplerFields,
  seed: z.number().int().optional(),
  stop: z.union([z.string(), z.array(z.string())]).optional(),
  logprobs: z.number().int().min(0).max(20).nullable().optional(),
  n: z.number().int().min(1).max(16).default(1),
});

const ChatRequest = z.object({
  model: z.string().optional(),
  messages: z.array(z.object({ role: z.string(), content: z.string() })).min(1),
  max_tokens: z.number().int().positive().max(32768).optional(),
  max_completion_tokens: z.number().int().positive().max(32768).optional(),
  temperature: z.number().min(0).max(2).default(1),
  top_p: z.number().gt(0).max(1).default(1),
  ...SamplerFields,
  seed: z.number().int().optional(),
  stop: z.union([z.string(), z.array(z.string())]).optional(),
  logprobs: z.boolean().optional(),
  /** With logprobs: the most likely tokens at each generated position (OpenAI's 0..20). */
  top_logprobs: z.number().int().min(0).max(20).optional(),
  stream: z.boolean().optional(),
  n: z.number().int().min(1).max(16).default(1),
});

const TokenizeRequest = z.object({ model: z.string().optional(), prompt: z.string(), add_special_tokens: z.boolean().default(true) });
const DetokenizeRequest = z.object({ model: z.string().optional(), tokens: z.array(z.number().int().nonnegative()) });

const EmbeddingRequest = z.object({
  model: z.string().optional(),
  input: z.union([z.string(), z.array(z.string()).min(1)]),
  // OpenAI's: 'base64' is little-endian float32 bytes (what the openai client asks for by default).
  encoding_format: z.enum(['float', 'base64']).default('float'),
});

function readBody(req: IncomingMessage, limit = 8 * 1024 * 1024): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        reject(new Error('request body too large'));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** A bill of `fraction` more completion tokens than the answer holds (`usage`, and llama-server's `tokens_predicted`). */
export function inflateUsage(payload: unknown, fraction: number): void {
  const inflate = (n: unknown) => (typeof n === 'number' ? Math.round(n * (1 + fraction)) : n);
  const p = payload as { usage?: { completion_tokens?: number; prompt_tokens?: number; total_tokens?: number }; tokens_predicted?: number };
  if (p.usage && typeof p.usage.completion_tokens === 'number') {
    p.usage.completion_tokens = inflate(p.usage.completion_tokens) as number;
    p.usage.total_tokens = (p.usage.prompt_tokens ?? 0) + p.usage.completion_tokens;
  }
  if (typeof p.tokens_predicted === 'number') p.tokens_predicted = inflate(p.tokens_predicted) as number;
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

function apiError(res: ServerResponse, status: number, message: string, type: string, headers: Record<string, string> = {}, param: string | null = null): void {
  send(res, status, { error: { message, type, param, code: null } }, headers);
}

/** A deterministic unit-length embedding from character trigrams (stand-in for an embedding model). */
export function hashedEmbedding(text: string, dims = 256): number[] {
  const v = new Float64Array(dims);
  const chars = [...` ${text.toLowerCase()} `];
  for (let i = 0; i + 3 <= chars.length; i++) {
    let h = 2166136261;
    for (const ch of chars.slice(i, i + 3)) h = Math.imul(h ^ ch.codePointAt(0)!, 16777619) >>> 0;
    v[h % dims] += 1;
  }
  const norm = Math.hypot(...v) || 1;
  return Array.from(v, (x) => x / norm);
}

/**
 * The `top` most likely tokens at each generated position, as [token id, logprob] (the unwarped
 * distribution, most likely first): the prompt as generate() tokenizes it ([BOS] + its tokens),
 * then the generated ids, scored once; null where the backend has no token-level access.
 */
async function generatedTop(backend: TextBackend, prompt: string, ids: number[], top: number): Promise<[number, number][][] | null> {
  if (!isTokenLevel(backend) || top <= 0 || ids.length === 0) return null;
  const promptIds = [...(backend.bosToken === undefined ? [] : [backend.bosToken]), ...backend.tokenize(prompt)];
  // Entry i of scoreSequence is about token i + 1: the first generated token's is entry promptIds.length - 1.
  const scores = await backend.scoreSequence([...promptIds, ...ids], top);
  return scores.top.slice(promptIds.length - 1);
}

class Limiter {
  private active = 0;
  private waiting: (() => void)[] = [];
  constructor(private readonly limit: number) {}
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((r) => this.waiting.push(r));
    this.active++;
    try {
      return await fn();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }
}

export async function startServe(options: ServeOptions): Promise<RunningServe> {
  const faults = FaultOptions.parse(options.faults ?? {});
  const random = seededRandom(options.seed ?? 1);
  const window = new RateWindow();
  const backend = options.backend;
  const modelName = options.claimModel ?? backend.model;
  const limiter = new Limiter(options.backendConcurrency ?? 1);
  const style: ApiStyle = options.apiStyle ?? 'vllm';
  const llamaStyle = style === 'llama.cpp';
  const hanging = new Set<ServerResponse>();
  const stats: ServeStats = {
    requests: 0,
    served: 0,
    faults: { rate_limited: 0, server_error: 0, hang: 0, malformed: 0, truncate: 0, rps_limited: 0, unauthorized: 0, bad_request: 0 },
    maxAcceptedPerSecond: 0,
    batches: { created: 0, requests: 0, downloads: 0 },
  };
  let counter = 0;
  const recent: { path: string; body: unknown }[] = [];
  let origin = '';
  const batches = new BatchService(() => origin, options.batch);

  async function generate(
    prompt: string,
    p: { max: number; temperature: number; topP: number; seed?: number; stop?: string | string[]; logprobs: boolean; sampler?: SamplerFields },
  ) {
    const seed = p.seed ?? Math.floor(random() * 2 ** 31);
    return limiter.run(() =>
      backend.generate({
        prompt,
        maxTokens: p.max,
        temperature: p.temperature,
        topP: p.topP,
        topK: p.sampler?.top_k !== undefined && p.sampler.top_k > 0 ? p.sampler.top_k : undefined,
        minP: p.sampler?.min_p,
        repetitionPenalty: p.sampler?.repetition_penalty,
        presencePenalty: p.sampler?.presence_penalty,
        frequencyPenalty: p.sampler?.frequency_penalty,
        seed,
        stop: p.stop === undefined ? undefined : Array.isArray(p.stop) ? p.stop : [p.stop],
        logprobs: p.logprobs,
      }),
    );
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const requestId = `req-${++counter}-${randomUUID().slice(0, 8)}`;
    res.setHeader('x-request-id', requestId);
    if (req.method === 'GET' && url.pathname === '/health')
      return send(res, 200, llamaStyle ? { status: 'ok' } : { status: 'ok', model: modelName, precision: backend.precision });
    if (req.method === 'GET' && url.pathname === '/stats')
      return send(res, 200, { ...stats, maxAcceptedPerSecond: window.maxInAnySecond, batches: batches.stats });
    // What the stand-in received (a provider's view of met's requests), for tests of what met sends.
    if (req.method === 'GET' && url.pathname === '/_met/requests') return send(res, 200, { requests: recent });
    if (req.method === 'GET' && url.pathname === '/v1/models') {
      if (llamaStyle) {
        const meta = { n_ctx_train: backend.contextSize ?? null, n_vocab: isTokenLevel(backend) ? (backend.vocabularySize ?? null) : null };
        return send(res, 200, { object: 'list', data: [{ id: modelName, object: 'model', created: 0, owned_by: 'llamacpp', meta }] });
      }
      return send(res, 200, {
        object: 'list',
        data: [{ id: modelName, object: 'model', created: 0, owned_by: 'met', max_model_len: backend.contextSize ?? null }],
      });
    }
    if (llamaStyle && req.method === 'GET' && url.pathname === '/props') {
      return send(res, 200, {
        default_generation_settings: { n_ctx: backend.contextSize ?? null },
        total_slots: 1,
        model_path: modelName,
        build_info: 'met serve',
      });
    }
    // llama-server's tokenizer endpoints: {content, add_special} -> {tokens}; {tokens} -> {content}.
    if (llamaStyle && req.method === 'POST' && (url.pathname === '/tokenize' || url.pathname === '/detokenize')) {
      let json: unknown;
      try {
        json = JSON.parse(await readBody(req));
      } catch {
        return apiError(res, 400, 'request body is not valid JSON', 'invalid_request_error');
      }
      try {
        return send(res, 200, url.pathname === '/tokenize' ? tokenizeAnswer(backend, json) : detokenizeAnswer(backend, json));
      } catch (err) {
        if (err instanceof z.ZodError) return badRequest(res, err);
        if (err instanceof LlamaApiError) return apiError(res, 400, err.message, 'invalid_request_error');
        throw err;
      }
    }
    // vLLM's tokenizer endpoints (outside /v1): what a client needs to score token ids exactly.
    if (req.method === 'POST' && (url.pathname === '/tokenize' || url.pathname === '/detokenize')) {
      if (!isTokenLevel(backend)) return apiError(res, 400, 'this model has no tokenizer to expose (met serve --model file.gguf)', 'invalid_request_error');
      let json: unknown;
      try {
        json = JSON.parse(await readBody(req));
      } catch {
        return apiError(res, 400, 'request body is not valid JSON', 'invalid_request_error');
      }
      if (url.pathname === '/tokenize') {
        const parsed = TokenizeRequest.safeParse(json);
        if (!parsed.success) return badRequest(res, parsed.error);
        const bos = parsed.data.add_special_tokens && backend.bosToken !== undefined ? [backend.bosToken] : [];
        const tokens = [...bos, ...backend.tokenize(parsed.data.prompt)];
        return send(res, 200, { count: tokens.length, max_model_len: backend.contextSize ?? null, tokens });
      }
      const parsed = DetokenizeRequest.safeParse(json);
      if (!parsed.success) return badRequest(res, parsed.error);
      return send(res, 200, { prompt: backend.detokenize(parsed.data.tokens) });
    }
    if (!llamaStyle && batches.handles(req.method, url.pathname)) {
      const body = req.method === 'POST' ? await readBody(req, 512 * 1024 * 1024) : '';
      const a = await batches.answer(req.method ?? 'GET', url, req.headers['content-type'], body);
      if (a.text === undefined) return send(res, a.status, a.json);
      res.writeHead(a.status, { 'content-type': a.contentType ?? 'text/plain', 'content-length': Buffer.byteLength(a.text) });
      return void res.end(a.text);
    }
    if (req.method !== 'POST' || !INFERENCE_ROUTES[style].includes(url.pathname)) {
      return apiError(res, 404, `no route ${req.method} ${url.pathname}`, 'not_found');
    }
    stats.requests++;
    if (faults.requireKey !== undefined && req.headers.authorization !== `Bearer ${faults.requireKey}`) {
      stats.faults.unauthorized++;
      await readBody(req).catch(() => '');
      return apiError(res, 401, 'Incorrect API key provided.', 'invalid_request_error');
    }
    const wait = window.admit(faults.rps);
    if (wait > 0) {
      stats.faults.rps_limited++;
      await readBody(req).catch(() => '');
      return apiError(res, 429, 'Rate limit reached for requests', 'requests', {
        'retry-after': String(Math.ceil(wait / 1000)),
        'retry-after-ms': String(Math.ceil(wait)),
      });
    }
    let body: unknown;
    try {
      body = JSON.parse(await readBody(req));
    } catch {
      stats.faults.bad_request++;
      return apiError(res, 400, 'request body is not valid JSON', 'invalid_request_error');
    }
    // Bounded in count and size: a body over 64 KiB is recorded by its size only.
    const size = JSON.stringify(body).length;
    recent.push({ path: url.pathname, body: size <= RECENT_BODY_BYTES ? body : { omitted: `${size} bytes` } });
    if (recent.length > RECENT_REQUESTS) recent.shift();
    if (faults.latencyMs > 0) await new Promise((r) => setTimeout(r, faults.latencyMs));
    const fault = pickFault(faults, random);
    if (fault) stats.faults[fault]++;
    if (fault === 'rate_limited') {
      const ms = faults.retryAfter * 1000;
      return apiError(res, 429, 'Rate limit reached (injected)', 'requests', {
        'retry-after': String(Math.ceil(faults.retryAfter)),
        'retry-after-ms': String(Math.round(ms)),
      });
    }
    if (fault === 'server_error') return apiError(res, 500, 'The server had an error (injected)', 'server_error');
    if (fault === 'hang') {
      hanging.add(res);
      res.on('close', () => hanging.delete(res));
      return; // Never answers; the client's timeout must fire.
    }
    if (fault === 'malformed') {
      res.writeHead(200, { 'content-type': 'application/json' });
      return void res.end('{"id": "malformed", "choices": [{"text": ');
    }

    const askedN = (body as { n?: unknown } | null)?.n;
    if (options.refuseN && typeof askedN === 'number' && askedN > 1) {
      stats.faults.bad_request++;
      return apiError(res, 400, `n > 1 is not supported by this endpoint: 'n' must be 1 (got ${askedN})`, 'invalid_request_error', {}, 'n');
    }
    let payload: unknown;
    if (llamaStyle && url.pathname !== '/v1/embeddings') {
      const ctx: LlamaApiContext = { backend, modelName, requestId, generate };
      try {
        payload =
          url.pathname === '/completion'
            ? await completionAnswer(ctx, body)
            : url.pathname === '/v1/completions'
              ? await oaiCompletionAnswer(ctx, body)
              : await oaiChatAnswer(ctx, body);
      } catch (err) {
        if (err instanceof z.ZodError) return badRequest(res, err);
        if (err instanceof LlamaApiError) return apiError(res, 400, err.message, 'invalid_request_error');
        throw err;
      }
    } else if (url.pathname === '/v1/embeddings') {
      const parsed = EmbeddingRequest.safeParse(body);
      if (!parsed.success) return badRequest(res, parsed.error);
      const inputs = Array.isArray(parsed.data.input) ? parsed.data.input : [parsed.data.input];
      const encode = (v: number[]) => (parsed.data.encoding_format === 'base64' ? Buffer.from(Float32Array.from(v).buffer).toString('base64') : v);
      payload = {
        object: 'list',
        model: modelName,
        data: inputs.map((t, index) => ({ object: 'embedding', index, embedding: encode(hashedEmbedding(t)) })),
        usage: { prompt_tokens: 0, total_tokens: 0 },
      };
    } else if (url.pathname === '/v1/completions') {
      const parsed = CompletionRequest.safeParse(body);
      if (!parsed.success) return badRequest(res, parsed.error);
      const r = parsed.data;
      const choices = [];
      let promptTokens = 0;
      let completionTokens = 0;
      // Echo and prompt_logprobs score the prompt once (teacher-forced), like vLLM's prefill.
      let scored: PromptScores | undefined;
      if (r.echo || r.prompt_logprobs != null || typeof r.prompt !== 'string') {
        try {
          scored = await limiter.run(() => scorePrompt(backend, r.prompt, Math.max(r.logprobs ?? 0, r.prompt_logprobs ?? 0)));
        } catch (err) {
          if (err instanceof PromptScoringError) return apiError(res, 400, err.message, 'invalid_request_error');
          throw err;
        }
      }
      // A token-id prompt is generated from as its text (the backend samples from text).
      const promptText =
        typeof r.prompt === 'string' ? r.prompt : isTokenLevel(backend) ? backend.detokenize(r.prompt.filter((t) => t !== backend.bosToken)) : '';
      const textOf = (id: number) => (isTokenLevel(backend) ? backend.detokenize([id]) : String(id));
      for (let index = 0; index < r.n; index++) {
        const wantLogprobs = r.logprobs != null; // logprobs: 0 still returns the sampled tokens' own (OpenAI, vLLM)
        const g =
          r.max_tokens > 0
            ? await generate(promptText, {
                max: r.max_tokens,
                temperature: r.temperature,
                topP: r.top_p,
                seed: r.seed === undefined ? undefined : r.seed + index,
                stop: r.stop,
                logprobs: wantLogprobs,
                sampler: r,
              })
            : {
                text: '',
                tokenIds: [] as number[],
                tokenLogprobs: wantLogprobs ? ([] as number[]) : null,
                finishReason: 'length' as const,
                promptTokens: scored?.ids.length ?? 0,
              };
        const ids = g.tokenIds ?? [];
        promptTokens = scored?.ids.length ?? g.promptTokens;
        completionTokens += ids.length;
        let logprobs: unknown = null;
        if (r.echo && scored && r.logprobs != null) logprobs = echoLogprobs(scored, { texts: ids.map(textOf), logprobs: g.tokenLogprobs }, r.logprobs, textOf);
        else if (g.tokenLogprobs) {
          // logprobs: N > 0: the N most likely tokens at each generated position (OpenAI's legacy {token: logprob} maps).
          const top = await limiter.run(() => generatedTop(backend, promptText, ids, r.logprobs ?? 0));
          logprobs = {
            tokens: ids.map(textOf),
            token_logprobs: g.tokenLogprobs,
            top_logprobs: top ? top.map((alts) => Object.fromEntries(alts.map(([id, lp]) => [textOf(id), lp]))) : null,
            text_offset: null,
          };
        }
        choices.push({
          index,
          text: r.echo ? (typeof r.prompt === 'string' ? r.prompt : isTokenLevel(backend) ? backend.detokenize(r.prompt) : '') + g.text : g.text,
          finish_reason: g.finishReason,
          token_ids: g.tokenIds,
          logprobs,
          ...(scored ? { prompt_token_ids: scored.ids } : {}),
          ...(scored && r.prompt_logprobs != null ? { prompt_logprobs: promptLogprobsField(scored, r.prompt_logprobs, textOf) } : {}),
        });
      }
      payload = {
        id: `cmpl-${requestId}`,
        object: 'text_completion',
        created: Math.floor(Date.now() / 1000),
        model: modelName,
        choices,
        usage: { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens },
      };
    } else {
      const parsed = ChatRequest.safeParse(body);
      if (!parsed.success) return badRequest(res, parsed.error);
      const r = parsed.data;
      const prompt = r.messages.map((m) => (m.role === 'user' ? m.content : `${m.role}: ${m.content}`)).join('\n');
      if (r.stream && r.n > 1) return apiError(res, 400, "met serve streams one choice: 'n' must be 1 with stream", 'invalid_request_error', {}, 'n');
      // n choices, choice i with seed + i (as for completions).
      const generated: SampledCompletion[] = [];
      for (let index = 0; index < r.n; index++) {
        generated.push(
          await generate(prompt, {
            max: r.max_completion_tokens ?? r.max_tokens ?? 16,
            temperature: r.temperature,
            topP: r.top_p,
            seed: r.seed === undefined ? undefined : r.seed + index,
            stop: r.stop,
            logprobs: !!r.logprobs,
            sampler: r,
          }),
        );
      }
      const g = generated[0];
      const textOf = (id: number) => (isTokenLevel(backend) ? backend.detokenize([id]) : String(id));
      // Decoded token text, as OpenAI and vLLM write it (the ids are in token_ids).
      // top_logprobs: k > 0 adds the k most likely tokens at each position ({token, logprob, bytes}, as OpenAI's chat does).
      const tops = await Promise.all(
        generated.map((c) =>
          r.logprobs && r.top_logprobs ? limiter.run(() => generatedTop(backend, prompt, c.tokenIds ?? [], r.top_logprobs ?? 0)) : Promise.resolve(null),
        ),
      );
      const entry = (id: number, logprob: number) => ({ token: textOf(id), logprob, bytes: [...Buffer.from(textOf(id), 'utf8')] });
      const logprobsOf = (c: (typeof generated)[number], index: number) =>
        c.tokenLogprobs
          ? {
              content: c.tokenLogprobs.map((logprob, i) => ({
                token: textOf((c.tokenIds ?? [])[i]),
                logprob,
                bytes: null,
                top_logprobs: (tops[index]?.[i] ?? []).map(([id, lp]) => entry(id, lp)),
              })),
            }
          : null;
      const created = Math.floor(Date.now() / 1000);
      if (r.stream) {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
        const chunk = (delta: object, finish: string | null) =>
          `data: ${JSON.stringify({ id: `chatcmpl-${requestId}`, object: 'chat.completion.chunk', created, model: modelName, choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }] })}\n\n`;
        res.write(chunk({ role: 'assistant', content: '' }, null));
        for (const piece of g.text.match(/.{1,8}/gsu) ?? []) res.write(chunk({ content: piece }, null));
        res.write(chunk({}, g.finishReason));
        stats.served++;
        return void res.end('data: [DONE]\n\n');
      }
      payload = {
        id: `chatcmpl-${requestId}`,
        object: 'chat.completion',
        created,
        model: modelName,
        choices: generated.map((c, index) => ({
          index,
          message: { role: 'assistant', content: c.text },
          finish_reason: c.finishReason,
          logprobs: logprobsOf(c, index),
          token_ids: c.tokenIds,
        })),
        usage: (() => {
          const completion = generated.reduce((n, c) => n + (c.tokenIds ?? []).length, 0);
          return { prompt_tokens: g.promptTokens, completion_tokens: completion, total_tokens: g.promptTokens + completion };
        })(),
      };
    }
    if (faults.inflateCompletionTokens > 0) inflateUsage(payload, faults.inflateCompletionTokens);
    if (fault === 'truncate') {
      const text = JSON.stringify(payload);
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.write(text.slice(0, Math.floor(text.length / 2)));
      return void res.socket?.destroy();
    }
    stats.served++;
    send(res, 200, payload);
  }

  function badRequest(res: ServerResponse, error: z.ZodError): void {
    stats.faults.bad_request++;
    apiError(res, 400, `invalid request: ${issueLine(error.issues[0], 'body')}`, 'invalid_request_error');
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: Error) => {
      if (!res.headersSent) apiError(res, 500, `met serve: ${err.message}`, 'server_error');
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 30_000;
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  origin = `http://${host}:${port}`;
  return {
    url: `http://${host}:${port}/v1`,
    port,
    stats: () => ({ ...stats, faults: { ...stats.faults }, maxAcceptedPerSecond: window.maxInAnySecond, batches: { ...batches.stats } }),
    async close() {
      batches.close();
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
