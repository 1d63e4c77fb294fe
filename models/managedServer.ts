import { type ChildProcess, spawn } from 'node:child_process';
import OpenAI, { APIConnectionError, APIError } from 'openai';
import { z } from 'zod';
import { ErrorTypes, MetError } from '../common/errors';
import { freePort } from '../common/net';
import { type GenerateRequest, inProcessScorerRoute, type Precision, type SampledCompletion, type ScoredCompletion, type TextBackend } from './backend';
import type { LlamaBackend } from './llama';
import { llamaServerContextSize, llamaServerGenerate } from './llamaServerWire';
import { openaiContextSize, openaiGenerate, type ScoringMode, scoreWith } from './openaiServerWire';
import { detokenizeAt, type ServerWire, tokenizeAt } from './serverWire';
import { type ManagedServerSpec, PROFILES, type ResolvedServerSpec, resolveServerSpec, type ServerProfileName } from '../config/serverProfiles';

/**
 * A local model served by an inference server the worker starts and looks after (vLLM on a GPU,
 * llama.cpp's llama-server on a GGUF, or another OpenAI-compatible server; `met serve` in tests).
 * What differs between servers is the profile's (config/serverProfiles.ts). The worker:
 * - spawns the configured command with `{placeholders}` filled in and the profile's precision
 *   flags and extra flags (vLLM: --dtype ..., prefix caching off; llama.cpp: none, the GGUF is the
 *   precision), pinned with CUDA_VISIBLE_DEVICES;
 * - waits for the health path, and restarts the server when it exits (backoff, at most
 *   `maxRestarts` in `restartWindowMs`, then every call fails with the server's last output);
 * - samples through the official `openai` client (vLLM, others) or llama-server's native
 *   /completion (with its prefix cache off per request and met's sampler chain), maxRetries 0: a
 *   call that meets a dead server waits for the restart and is sent again; same seed, same sample;
 * - stores the token ids the server sampled, or tokenizes the text through the server's
 *   /tokenize; an empty answer for a non-empty text is an error, never stored;
 * - scores (vllm) with echo + logprobs (falling back to vLLM's prompt_logprobs), sending token ids:
 *   [BOS] + tokens(prompt) + tokens(completion), each tokenized apart by the server's /tokenize,
 *   exactly as the in-process backend does, so both give the same numbers for the same weights;
 *   (llama.cpp) with in-process llama.cpp on the same GGUF, loaded when the worker starts; or
 *   not at all (scoring: none; openai-compatible), which the profile check decides at start.
 * The server runs in its own process group and is stopped with it (vLLM forks engine processes).
 * This module supervises the process and routes each call; what goes over the wire is in
 * openaiServerWire.ts (vLLM and other OpenAI-compatible servers), llamaServerWire.ts
 * (llama-server's /completion and /props) and serverWire.ts (/tokenize, /detokenize).
 */
export const PRECISIONS = ['fp32', 'fp16', 'int8', 'nf4'] as const;
export { ManagedServerSpec, VLLM_PRECISION_FLAGS, inferProfile, resolveServerSpec } from '../config/serverProfiles';
const DTYPE: Record<Precision, string> = { fp32: 'float32', fp16: 'float16', int8: 'float16', nf4: 'float16' };

export interface ManagedServerOptions {
  server: z.input<typeof ManagedServerSpec>;
  /** What {model} becomes: a Hugging Face id or a local path (a GGUF file for met serve). */
  modelRef: string;
  /** Model name in the corpus, and {name} (vLLM --served-model-name). */
  model: string;
  precision: Precision;
  gpu: number | 'cpu';
  env?: Record<string, string | undefined>;
  log?: (line: string) => void;
  /**
   * Requests kept in flight to the server (the worker's `parallel`; default 1, one at a time): the
   * llama.cpp profile starts llama-server with as many slots (`-np {parallel}`). With more than one,
   * a sample can depend on what the server decodes beside it, so the sampler record's engine says N.
   */
  parallel?: number;
}

export interface ManagedServerStats {
  profile: ServerProfileName;
  starts: number;
  restarts: number;
  pid: number | undefined;
  url: string | undefined;
  /** The server's scoring route once one worked (vllm profile). */
  scoring: ScoringMode | undefined;
  /** Who computes the logprobs this backend returns (also recorded in logprob rows). */
  scorerBackend: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Fills {placeholders}; an unknown one is an error (a typo must not reach the server's argv). */
export function expandArgs(args: string[], values: Record<string, string>): string[] {
  return args.map((a) =>
    a.replace(/\{([a-z]+)\}/g, (whole, key: string) => {
      if (!(key in values))
        throw new MetError(
          ErrorTypes.BadInput,
          `unknown placeholder ${whole} in managed server args (known: ${Object.keys(values)
            .map((k) => `{${k}}`)
            .join(' ')})`,
        );
      return values[key];
    }),
  );
}

/** The server's command line for one start (exported for tests and `--dry-run` style checks). */
export function serverCommand(
  input: z.input<typeof ManagedServerSpec> | ResolvedServerSpec,
  o: { modelRef: string; model: string; precision: Precision; gpu: number | 'cpu'; port: number; parallel?: number },
): { command: string; args: string[]; env: Record<string, string> } {
  const spec = resolveServerSpec(input); // idempotent on a resolved spec
  const values = {
    model: o.modelRef,
    port: String(o.port),
    host: spec.host,
    dtype: DTYPE[o.precision],
    precision: o.precision,
    gpu: String(o.gpu),
    name: o.model,
    parallel: String(o.parallel ?? 1),
  };
  const args = expandArgs([...spec.args, ...(spec.precisionFlags[o.precision] ?? []), ...spec.extraArgs], values);
  const env: Record<string, string> = { ...spec.env };
  // Pinned: the server sees only its GPU. A CPU worker hides them all.
  env.CUDA_VISIBLE_DEVICES = o.gpu === 'cpu' ? '' : String(o.gpu);
  return { command: spec.command, args, env };
}

export class ManagedServerBackend implements TextBackend {
  readonly model: string;
  readonly precision: Precision;
  contextSize?: number;
  /** Who computes this backend's logprobs: recorded in logprob rows and reported by stats(). */
  readonly scorerBackend: string;
  private readonly spec: ResolvedServerSpec;
  /** What the wire protocols need to know of this server. */
  private readonly wire: ServerWire;
  /** llama.cpp in the worker on the same GGUF (scoring: in-process). */
  private scorer: LlamaBackend | undefined;
  /** met's stored-text rule on the GGUF's vocabulary (llama.cpp profiles): the text of the sampled ids, as in-process. */
  private storedText: ((ids: number[]) => string) | undefined;
  private vocabulary: { close(): Promise<void> } | undefined;
  private child: ChildProcess | undefined;
  private ready: Promise<void> | undefined;
  private client: OpenAI | undefined;
  private url: string | undefined;
  private closing = false;
  private failure: Error | undefined;
  private restartTimes: number[] = [];
  private output = '';
  private scoringMode: ManagedServerStats['scoring'];
  private counts = { starts: 0, restarts: 0 };
  /** Incremented per spawn: a call that saw an older one knows the server it used has gone. */
  private generation = 0;
  /** Sampling requests sent and not answered, and those waiting for one of the `parallel` places. */
  private inFlight = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly options: ManagedServerOptions) {
    // Refuses a scoring mode the profile cannot do here, before anything is spawned.
    this.spec = resolveServerSpec(options.server);
    this.model = options.model;
    this.precision = options.precision;
    this.wire = { model: this.model, profile: this.spec.profile, profileGiven: !!options.server.profile, requestTimeoutMs: this.spec.requestTimeoutMs };
    const s = this.spec;
    this.scorerBackend =
      s.scoring === 'none'
        ? 'none'
        : s.scoring === 'in-process'
          ? inProcessScorerRoute('off')
          : `${s.profile} server (${s.scoring === 'auto' ? 'echo + logprobs or prompt_logprobs' : s.scoring})`;
  }

  /** Starts the server (and the in-process scorer, if the profile scores that way) and waits until it is healthy. */
  static async start(options: ManagedServerOptions): Promise<ManagedServerBackend> {
    const backend = new ManagedServerBackend(options);
    try {
      if (backend.spec.scoring === 'in-process') await backend.loadScorer();
      await backend.loadStoredText();
      // A failed first start is retried like a crash (bounded, with backoff).
      backend.ready = backend.launch().catch((err: Error) => backend.restart(err.message.split('\n')[0]));
      await backend.ready;
    } catch (err) {
      await backend.close();
      throw err;
    }
    const slots = backend.parallel > 1 ? `; ${backend.parallel} requests in flight` : '';
    backend.log(`profile ${backend.spec.profile}; scores with ${backend.scorerBackend}${slots}`);
    if (backend.parallel > 1 && backend.spec.profile === 'llama.cpp' && !backend.serverSlots)
      backend.log(`the server's args do not use {parallel}: llama-server keeps the slot count its own args give it`);
    return backend;
  }

  /** llama.cpp in this process on the server's GGUF: the teacher-forced logprobs llama-server does not offer. */
  private async loadScorer(): Promise<void> {
    const { loadLlamaBackend } = await import('./llama');
    // The GPU only when this process is pinned to the model's GPU (CUDA_VISIBLE_DEVICES=N met worker):
    // unpinned, llama.cpp would take the first GPU whatever `gpu` says. Otherwise the CPU.
    const pinned = this.options.gpu !== 'cpu' && (this.options.env ?? process.env).CUDA_VISIBLE_DEVICES === String(this.options.gpu);
    if (this.options.gpu !== 'cpu' && !pinned)
      this.log(
        `in-process scorer on the CPU: this worker process is not pinned to GPU ${this.options.gpu} (start it with CUDA_VISIBLE_DEVICES=${this.options.gpu})`,
      );
    try {
      this.scorer = await loadLlamaBackend({
        path: this.options.modelRef,
        precision: this.precision,
        model: this.model,
        contextSize: this.spec.scorerContextSize,
        gpu: pinned,
      });
    } catch (err) {
      throw new MetError(
        ErrorTypes.BadInput,
        `scoring: in-process loads ${this.options.modelRef} with llama.cpp in the worker, and that failed: ${(err as Error).message.split('\n')[0]}`,
      );
    }
    this.contextSize = this.scorer.contextSize;
  }

  /**
   * llama-server renders marker tokens (Gemma's `<start_of_image>`) into its text: with a local GGUF,
   * met stores the text of the sampled ids by its own rule instead, so a slice sampled here and one
   * sampled in-process hold the same text for the same tokens (docs/text.md).
   */
  private async loadStoredText(): Promise<void> {
    if (PROFILES[this.spec.profile].sampling !== 'llama.cpp' || !this.options.modelRef.endsWith('.gguf')) return;
    if (this.scorer) {
      const scorer = this.scorer;
      this.storedText = (ids) => scorer.storedText(ids);
      return;
    }
    const { loadStoredText } = await import('./llama');
    try {
      const loaded = await loadStoredText(this.options.modelRef);
      this.vocabulary = loaded;
      this.storedText = (ids) => loaded.text.of(ids);
    } catch (err) {
      throw new MetError(
        ErrorTypes.BadInput,
        `the stored text of llama-server's samples is met's detokenization of ${this.options.modelRef}, and its vocabulary did not load: ${(err as Error).message.split('\n')[0]}`,
      );
    }
  }

  stats(): ManagedServerStats {
    return { profile: this.spec.profile, ...this.counts, pid: this.child?.pid, url: this.url, scoring: this.scoringMode, scorerBackend: this.scorerBackend };
  }

  /** Requests this backend keeps in flight to the server (LocalGenerator hands a unit's samples over together above 1). */
  get parallel(): number {
    return this.options.parallel ?? 1;
  }

  /** Whether the server's own slot count follows `parallel` (its args hold `{parallel}`: the llama.cpp profile's `-np`). */
  private get serverSlots(): boolean {
    return this.spec.args.some((a) => a.includes('{parallel}'));
  }

  /**
   * The sampling route in the sampler record: above one request in flight, the server's batching is
   * part of it (issue #27 measured llama-server's logprobs move by 0.3-0.6 nats under load), so N is
   * named and a slice never mixes the routes unnoticed. At 1, the record stays what it always was.
   */
  get samplerEngine(): string | undefined {
    const n = this.parallel;
    if (n === 1) return undefined;
    const slots = this.serverSlots ? `, ${n} server slots` : '';
    return `${this.spec.profile} server (managed; ${n} requests in flight${slots}: a sample can depend on what the server decodes beside it)`;
  }

  private log(line: string): void {
    this.options.log?.(`[managed ${this.model}/${this.precision}] ${line}`);
  }

  /** One spawn + health wait. Throws if the server exits or stays unhealthy past the start timeout. */
  private async launch(): Promise<void> {
    const port = this.spec.port || (await freePort());
    if (this.spec.port && (await this.answers(`http://${this.spec.host}:${port}${this.spec.healthPath}`))) {
      // Most likely the server of a worker that was SIGKILLed: talking to it would bypass pinning and restarts.
      throw new MetError(ErrorTypes.ProviderUnavailable, `a server already answers on ${this.spec.host}:${port} (left by a killed worker?); stop it first`);
    }
    const cmd = serverCommand(this.spec, { ...this.options, port });
    this.output = '';
    this.counts.starts++;
    const generation = ++this.generation;
    this.log(`starting: ${cmd.command} ${cmd.args.join(' ')} (CUDA_VISIBLE_DEVICES=${cmd.env.CUDA_VISIBLE_DEVICES})`);
    const child = spawn(cmd.command, cmd.args, {
      env: { ...process.env, ...this.options.env, ...cmd.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // its own process group, stopped as one
    });
    this.child = child;
    const keep = (d: Buffer) => {
      this.output = (this.output + d.toString()).slice(-8192);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    let exited = false;
    let healthy = false;
    child.once('error', (err) => {
      exited = true;
      keep(Buffer.from(`\nspawn error: ${err.message}\n`));
    });
    child.once('exit', (code, signal) => {
      exited = true;
      // Only a server that was serving is restarted here; a failed start is retried by its caller.
      if (this.closing || generation !== this.generation || !healthy) return;
      this.log(`server exited (${signal ?? code}); restarting`);
      this.ready = this.restart(`the server exited (${signal ?? `code ${code}`})`);
      this.ready.catch(() => {}); // callers see the failure when they await ready
    });

    this.url = `http://${this.spec.host}:${port}`;
    const apiKey = this.spec.apiKeyEnv ? (this.options.env ?? process.env)[this.spec.apiKeyEnv] : undefined;
    this.client = new OpenAI({ baseURL: `${this.url}/v1`, apiKey: apiKey ?? 'none', maxRetries: 0, timeout: this.spec.requestTimeoutMs });
    const deadline = Date.now() + this.spec.startTimeoutMs;
    while (!exited) {
      if (this.closing) throw new MetError(ErrorTypes.ProviderUnavailable, 'managed server closed while starting');
      if (Date.now() > deadline) {
        this.stopChild(child, 'SIGKILL');
        throw new MetError(
          ErrorTypes.ProviderUnavailable,
          `managed server not healthy after ${this.spec.startTimeoutMs} ms at ${this.url}${this.spec.healthPath}\nlast output:\n${this.output}`,
        );
      }
      try {
        const res = await fetch(`${this.url}${this.spec.healthPath}`, { signal: AbortSignal.timeout(2_000) });
        if (res.ok) {
          healthy = true;
          await this.readModelCard().catch(() => {});
          this.log(`healthy at ${this.url} (pid ${child.pid})`);
          return;
        }
      } catch {
        // Not listening yet.
      }
      await sleep(200);
    }
    // The first line is the reason (restart() quotes it); the server's output follows.
    throw new MetError(
      ErrorTypes.ProviderUnavailable,
      `managed server exited while starting (${child.exitCode ?? child.signalCode})\nlast output:\n${this.output}`,
    );
  }

  private async answers(url: string): Promise<boolean> {
    try {
      return (await fetch(url, { signal: AbortSignal.timeout(2_000) })).ok;
    } catch {
      return false;
    }
  }

  private async readModelCard(): Promise<void> {
    // With an in-process scorer, what can be scored at once is the scorer's context.
    if (this.scorer) return;
    const size = this.spec.profile === 'llama.cpp' ? await llamaServerContextSize(this.url!) : await openaiContextSize(this.client!, this.model);
    if (size !== undefined) this.contextSize = size;
  }

  /** Restarts after an exit, with backoff; gives up after maxRestarts within the window. */
  private async restart(reason: string): Promise<void> {
    if (this.closing) throw new MetError(ErrorTypes.ProviderUnavailable, 'managed server closed');
    for (;;) {
      const now = Date.now();
      this.restartTimes = this.restartTimes.filter((t) => now - t < this.spec.restartWindowMs);
      if (this.restartTimes.length >= this.spec.maxRestarts) {
        this.failure = new MetError(
          ErrorTypes.ProviderUnavailable,
          `managed server for ${this.model}/${this.precision} gave up after ${this.restartTimes.length} restarts in ${Math.round(this.spec.restartWindowMs / 1000)} s (${reason}); last output:\n${this.output}`,
        );
        throw this.failure;
      }
      const delay = Math.min(this.spec.maxBackoffMs, this.spec.backoffMs * 2 ** this.restartTimes.length);
      this.restartTimes.push(now);
      this.counts.restarts++;
      await sleep(delay);
      if (this.closing) throw new MetError(ErrorTypes.ProviderUnavailable, 'managed server closed');
      try {
        await this.launch();
        return;
      } catch (err) {
        reason = (err as Error).message.split('\n')[0];
        if (this.child && this.child.exitCode === null && this.child.signalCode === null) this.stopChild(this.child, 'SIGKILL');
      }
    }
  }

  /** Runs a call against a healthy server; a call that meets a dead or restarting server is sent again once it is back. */
  private async call<T>(what: string, fn: (client: OpenAI, url: string) => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      if (this.failure) throw this.failure;
      if (this.closing) throw new MetError(ErrorTypes.ProviderUnavailable, 'managed server closed');
      await this.ready;
      const generation = this.generation;
      try {
        return await fn(this.client!, this.url!);
      } catch (err) {
        // Let an exit that caused this error be noticed before deciding.
        await sleep(50);
        const serverGone = generation !== this.generation || !this.alive();
        const connection = err instanceof APIConnectionError || (err instanceof TypeError && /fetch failed/.test(err.message));
        if ((serverGone || connection) && attempt < this.spec.maxRestarts + 2) {
          this.log(`${what}: ${(err as Error).message}; waiting for the server`);
          continue;
        }
        throw err;
      }
    }
  }

  private alive(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Text of token ids through the server's /detokenize, in the profile's protocol. */
  async detokenize(ids: number[]): Promise<string> {
    const protocol = PROFILES[this.spec.profile].tokenizer;
    if (protocol === 'none') throw new MetError(ErrorTypes.BadInput, `profile ${this.spec.profile} has no detokenize route`);
    return this.call('detokenize', (_client, url) => detokenizeAt(this.wire, url, ids));
  }

  async generate(request: GenerateRequest): Promise<SampledCompletion> {
    // At most `parallel` sampling requests at the server; the others wait here, not in its queue (where they would time out).
    if (this.inFlight >= this.parallel) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.inFlight++;
    try {
      return await this.sample(request);
    } finally {
      // A waiting request takes this place as it is; else the place is free.
      const next = this.waiting.shift();
      if (next) next();
      else this.inFlight--;
    }
  }

  private sample(request: GenerateRequest): Promise<SampledCompletion> {
    if (PROFILES[this.spec.profile].sampling === 'llama.cpp')
      return this.call('generate', (_client, url) => llamaServerGenerate(this.wire, url, request, { scorer: this.scorer, storedText: this.storedText }));
    const vllm = this.spec.profile === 'vllm';
    return this.call('generate', (client, url) => openaiGenerate(this.wire, client, url, request, vllm));
  }

  async score(prompt: string, completion: string): Promise<ScoredCompletion> {
    if (this.spec.scoring === 'none') {
      throw new MetError(
        ErrorTypes.BadInput,
        `${this.model}/${this.precision} is served for sampling only (managed server, profile ${this.spec.profile}, scoring: none): score with another worker`,
      );
    }
    if (this.scorer) return this.scorer.score(prompt, completion);
    return this.call('score', async (client, url) => {
      const promptIds = await tokenizeAt(this.wire, url, prompt, true);
      const completionIds = completion.length ? await tokenizeAt(this.wire, url, completion, false) : [];
      if (!completionIds.length) return { tokenIds: [], tokenTexts: [], tokenLogprobs: [] };
      if (!promptIds.length)
        throw new MetError(ErrorTypes.BadInput, `${this.model} has no BOS token: an empty prompt leaves the first completion token unscorable`);
      const ids = [...promptIds, ...completionIds];
      const scored = await this.scoreIds(client, ids);
      const from = promptIds.length;
      const tokenLogprobs = scored.logprobs.slice(from);
      if (tokenLogprobs.length !== completionIds.length || tokenLogprobs.some((v) => v === null)) {
        throw new MetError(ErrorTypes.ProviderRequest, `the server scored ${tokenLogprobs.length} of ${completionIds.length} completion tokens`);
      }
      return { tokenIds: completionIds, tokenTexts: scored.texts.slice(from), tokenLogprobs: tokenLogprobs as number[] };
    });
  }

  /** Logprob of every token after the first (entry 0 is null), by the first scoring mode the server accepts. */
  private async scoreIds(client: OpenAI, ids: number[]): Promise<{ logprobs: (number | null)[]; texts: string[] }> {
    const modes: NonNullable<ManagedServerStats['scoring']>[] = this.scoringMode
      ? [this.scoringMode]
      : this.spec.scoring === 'echo'
        ? ['echo', 'echo1']
        : this.spec.scoring === 'prompt_logprobs'
          ? ['prompt_logprobs']
          : ['echo', 'echo1', 'prompt_logprobs'];
    let lastError: unknown;
    for (const mode of modes) {
      try {
        const out = await scoreWith(client, this.model, ids, mode);
        if (this.scoringMode !== mode)
          this.log(`scoring with ${mode === 'prompt_logprobs' ? 'prompt_logprobs' : `echo + logprobs (max_tokens ${mode === 'echo' ? 0 : 1})`}`);
        this.scoringMode = mode;
        return out;
      } catch (err) {
        // A 400 (or a reply without the field) means this server does not offer the mode: try the next.
        if (!(err instanceof APIError && err.status === 400) && !(err instanceof z.ZodError)) throw err;
        lastError = err;
      }
    }
    throw new MetError(ErrorTypes.ProviderRequest, `the server offers neither echo + logprobs nor prompt_logprobs: ${(lastError as Error)?.message}`);
  }

  /** Kills the whole process group (vLLM's engine runs in child processes). */
  private stopChild(child: ChildProcess, signal: NodeJS.Signals): void {
    try {
      if (child.pid) process.kill(-child.pid, signal);
    } catch {
      child.kill(signal);
    }
  }

  async close(): Promise<void> {
    this.closing = true;
    await this.scorer?.close();
    await this.vocabulary?.close();
    this.scorer = undefined;
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise<void>((r) => child.once('exit', () => r()));
    this.stopChild(child, 'SIGTERM');
    const timer = setTimeout(() => this.stopChild(child, 'SIGKILL'), 10_000);
    await gone;
    clearTimeout(timer);
  }
}
