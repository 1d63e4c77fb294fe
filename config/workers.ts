import { z } from 'zod';
import { ManagedServerSpec, resolveServerSpec } from './serverProfiles';
import { Name } from '../common/names';

/**
 * What a worker process (or `met up`) serves besides the CPU queue: API providers (one queue each)
 * and local models (one queue per model + precision, and one per host GPU). Keys are never here:
 * a provider names the environment variable its key is read from, on the worker's host.
 */

export const ProviderWorkerSpec = z
  .object({
    name: Name,
    /** Override the registry's base URL (required for providers not in the registry). */
    baseURL: z.url({ protocol: /^https?$/, error: 'an http:// or https:// URL' }).optional(),
    apiKeyEnv: z
      .string()
      .regex(/^[A-Z_][A-Z0-9_]*$/)
      .optional(),
    /**
     * Lets a run spec point this provider at its own baseURL (a custom endpoint of the spec's
     * author). No key is ever sent there. Off by default: the endpoint is this config's or the registry's.
     */
    allowSpecBaseURL: z.boolean().optional(),
    /** Server-side cap on activity starts per second for this provider's queue (all workers). */
    unitsPerSecond: z.number().positive().optional(),
    requestsPerMinute: z.number().positive().optional(),
    tokensPerMinute: z.number().positive().optional(),
    /** Work units this worker runs at once on this queue. */
    concurrentUnits: z.number().int().positive().default(8),
    timeoutMs: z.number().int().positive().default(60_000),
    /** The most bytes one response may hold (default 16 MiB); a larger one fails its unit, not retried. */
    maxResponseBytes: z
      .number()
      .int()
      .min(1024)
      .max(1024 ** 3)
      .optional(),
    /** The most bytes one Batch API output file may hold (default 1 GiB); it is read as a stream, a line at a time. */
    maxBatchOutputBytes: z
      .number()
      .int()
      .min(1024)
      .max(64 * 1024 ** 3)
      .optional(),
    /** What this provider bills, in USD per million tokens (`met collect --dry-run` prices a plan with it). */
    prices: z
      .object({ inputPerMillion: z.number().nonnegative().max(100_000), outputPerMillion: z.number().nonnegative().max(100_000) })
      .strict()
      .optional(),
  })
  .strict();
export type ProviderWorkerSpec = z.infer<typeof ProviderWorkerSpec>;

export const ModelWorkerSpec = z
  .object({
    name: Name,
    precision: z.enum(['fp32', 'fp16', 'int8', 'nf4']),
    /** A GGUF file for the in-process llama.cpp backend; for a managed server, what {model} becomes (a path or a Hugging Face id). */
    path: z.string().min(1),
    /** GPU index this worker is pinned to (CUDA_VISIBLE_DEVICES), or 'cpu'. */
    gpu: z.union([z.number().int().nonnegative(), z.literal('cpu')]).default('cpu'),
    concurrentUnits: z.number().int().positive().default(1),
    /** In-process llama.cpp: CPU threads (default: every core; 1 for a file under 64 MB). */
    threads: z.number().int().positive().max(1024).optional(),
    /** In-process llama.cpp: tokens per sequence, prompt and completion (default 2048, capped by the model's). */
    contextSize: z.number().int().min(16).max(1_048_576).optional(),
    /** In-process llama.cpp: positions per scoring decode (default 128). */
    // Each position holds a vocabulary of float32 logits: 4,096 x 262,144 is already 4 GB.
    batchSize: z.number().int().positive().max(4096).optional(),
    /**
     * In-process llama.cpp: flash attention, 'off' (default) or 'on'/'auto'. Checked when the worker
     * starts (docs/decoding.md): a setting whose logprobs differ from the reference route's by more
     * than 1e-3 nats falls back to 'off', saying so.
     */
    flashAttention: z.enum(['off', 'on', 'auto']).optional(),
    /**
     * In-process llama.cpp on the CPU: sequences sampled at once by met's batched sampler (default 1,
     * node-llama-cpp one sequence at a time). Another route: the same seed can give other tokens than
     * at 1, so the sampler record names it and N; checked at the worker's start (1 when it fails).
     * Managed server: sampling requests kept in flight to it (the llama.cpp profile's `-np`); its
     * samples then depend on load, and the sampler record names N. `auto`: machineParallel of this
     * host's CPU count, said in the worker's log.
     */
    parallel: z.union([z.number().int().min(1).max(256), z.literal('auto')]).optional(),
    /** In-process llama.cpp: run the batch-invariance check when the worker starts (default true; it takes seconds on a real-size model). */
    decodeCheck: z.boolean().optional(),
    /** in-process (default): llama.cpp in the worker. managed: an inference server (vLLM, llama-server, other OpenAI-compatible; see `server.profile`) the worker starts, checks and restarts. */
    backend: z.enum(['in-process', 'managed']).optional(),
    server: ManagedServerSpec.optional(),
  })
  .strict()
  .superRefine((m, ctx) => {
    if (m.backend !== 'managed') return;
    if (!m.server) return void ctx.addIssue({ code: 'custom', message: 'backend: managed needs a server (command, args...)', path: ['server'] });
    // The profile decides what the server can do: a scoring mode it cannot do is refused here, before any start.
    try {
      resolveServerSpec(m.server);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message, path: ['server', 'scoring'] });
    }
  });
export type ModelWorkerSpec = z.infer<typeof ModelWorkerSpec>;

/**
 * `parallel: auto` on a machine with `cores` CPUs: 4 sequences per core, at least 4 and at most 16.
 * Measured on 2 cores only (docs/decoding.md, Gemma 3 270M): 4 slots gave 2.09x one sequence's
 * tokens/s and 8 slots 2.26x; llama-server's own gain flattened past 16 (3.0x). More cores decode a
 * step faster, so more slots stay useful there; 16 bounds the memory (a KV stream per slot).
 */
export function machineParallel(cores: number): number {
  return Math.min(16, Math.max(4, 4 * Math.floor(cores)));
}

/** The worker's N: `auto` becomes machineParallel(cores); absent, 1 (one sequence, or one request, at a time). */
export function resolveParallel(parallel: ModelWorkerSpec['parallel'], cores: number): number {
  return parallel === 'auto' ? machineParallel(cores) : (parallel ?? 1);
}

export const WorkerConfig = z
  .object({
    providers: z.array(ProviderWorkerSpec).default([]),
    models: z.array(ModelWorkerSpec).default([]),
    /**
     * Folders (besides the data folder's prompts/) a run spec's prompts.file may name a file in.
     * Nothing else on this host is read for a spec: no URLs, globs or symlinks out of a root.
     */
    promptRoots: z.array(z.string().min(1)).optional(),
    /** Folders (besides the data folder's models/) a spec's local embedding model (embed.path) may be in. */
    modelRoots: z.array(z.string().min(1)).optional(),
    /**
     * Where audit alerts go (a verdict change of an endpoint, workflow auditFiring): a JSON POST to
     * this URL, retried by Temporal. Only this config names it, never an audit spec.
     */
    alerts: z
      .object({
        webhookURL: z.url({ protocol: /^https?$/, error: 'an http:// or https:// URL' }),
        timeoutMs: z.number().int().positive().max(300_000).default(10_000),
      })
      .strict()
      .optional(),
  })
  .strict();
export type WorkerConfig = z.infer<typeof WorkerConfig>;
