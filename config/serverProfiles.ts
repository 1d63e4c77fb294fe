import { basename } from 'node:path';
import { z } from 'zod';
import { ErrorTypes, MetError } from '../common/errors';
import type { Precision } from './precision';

/**
 * What a managed inference server is, and what each kind of server needs: its launch flags per
 * precision, how to tokenize and detokenize through it, its health check, how prefix caching is
 * turned off, how it samples and how met scores with it. Schema and tables only (no processes, no
 * network), so worker config can import it.
 *
 * - `vllm`: `vllm serve`. --dtype per precision, `--no-enable-prefix-caching`; /tokenize takes
 *   `{model, prompt, add_special_tokens}`; samples through the openai client (`return_token_ids`);
 *   scores on the server (echo + logprobs, or its `prompt_logprobs`).
 * - `llama.cpp`: llama.cpp's `llama-server` on a GGUF file (the file is the precision: no flags).
 *   /tokenize takes `{content, add_special}`, /detokenize `{tokens}` -> `{content}`; samples through
 *   its native /completion with `cache_prompt: false` (its prefix cache, per request),
 *   `return_tokens` and met's sampler chain (temperature, then top-p; top-k, min-p and penalties
 *   off). It has no teacher-forced logprobs of given tokens (its `n_probs` reports only sampled
 *   positions; `echo` is ignored), so the worker scores in-process with llama.cpp on the same GGUF.
 * - `openai-compatible`: any other server. Samples through the openai client; no tokenizer route
 *   (token ids only when the server returns them, else none are stored); no scoring: a scoring mode
 *   other than `none` is refused when the worker starts.
 * Without `profile`, `vllm` is assumed when the command or an argument names vLLM (what every
 * config written before profiles used), `llama.cpp` when the command is llama-server, and
 * `openai-compatible` otherwise.
 */
export const SERVER_PROFILES = ['vllm', 'llama.cpp', 'openai-compatible'] as const;
export type ServerProfileName = (typeof SERVER_PROFILES)[number];

export const SCORING_MODES = ['auto', 'echo', 'prompt_logprobs', 'in-process', 'none'] as const;
export type ScoringMode = (typeof SCORING_MODES)[number];

export interface ServerProfile {
  args: string[];
  precisionFlags: Record<Precision, string[]>;
  extraArgs: string[];
  healthPath: string;
  /** The body shapes of /tokenize and /detokenize, or none. */
  tokenizer: 'vllm' | 'llama.cpp' | 'none';
  /** openai: /v1/completions through the openai client; llama.cpp: the native /completion route. */
  sampling: 'openai' | 'llama.cpp';
  /** How prefix caching is kept off: a launch flag (in extraArgs), a field of every request, or unknown. */
  prefixCache: 'launch-flag' | 'per-request' | 'unknown';
  scoring: { default: ScoringMode; allowed: readonly ScoringMode[] };
}

/** vLLM's flags per met precision. int8 needs an 8-bit bitsandbytes checkpoint (vLLM quantizes in flight to 4 bits only). */
export const VLLM_PRECISION_FLAGS: Record<Precision, string[]> = {
  fp32: ['--dtype', 'float32'],
  fp16: ['--dtype', 'float16'],
  int8: ['--dtype', 'float16', '--quantization', 'bitsandbytes'],
  nf4: ['--dtype', 'float16', '--quantization', 'bitsandbytes'],
};
const NO_FLAGS: Record<Precision, string[]> = { fp32: [], fp16: [], int8: [], nf4: [] };

export const PROFILES: Record<ServerProfileName, ServerProfile> = {
  vllm: {
    args: ['serve', '{model}', '--host', '{host}', '--port', '{port}', '--served-model-name', '{name}'],
    precisionFlags: VLLM_PRECISION_FLAGS,
    extraArgs: ['--no-enable-prefix-caching'],
    healthPath: '/health',
    tokenizer: 'vllm',
    sampling: 'openai',
    prefixCache: 'launch-flag',
    scoring: { default: 'auto', allowed: ['auto', 'echo', 'prompt_logprobs', 'none'] },
  },
  'llama.cpp': {
    // The GGUF file is the precision; -np: one slot per request the worker keeps in flight (its `parallel`, default 1).
    args: ['-m', '{model}', '--host', '{host}', '--port', '{port}', '--alias', '{name}', '-np', '{parallel}'],
    precisionFlags: NO_FLAGS,
    extraArgs: [],
    healthPath: '/health',
    tokenizer: 'llama.cpp',
    sampling: 'llama.cpp',
    prefixCache: 'per-request',
    scoring: { default: 'in-process', allowed: ['in-process', 'none'] },
  },
  'openai-compatible': {
    args: [],
    precisionFlags: NO_FLAGS,
    extraArgs: [],
    healthPath: '/v1/models',
    tokenizer: 'none',
    sampling: 'openai',
    prefixCache: 'unknown',
    scoring: { default: 'none', allowed: ['none'] },
  },
};

const Flags = z.array(z.string());
export const ManagedServerSpec = z
  .object({
    /** vllm | llama.cpp | openai-compatible (default: from the command, see above). */
    profile: z.enum(SERVER_PROFILES).optional(),
    /** Executable (vllm, llama-server, python, node...). */
    command: z.string().min(1),
    /** Arguments; {model} {port} {host} {dtype} {precision} {gpu} {name} {parallel} are filled in (default: the profile's). */
    args: z.array(z.string()).optional(),
    /** Appended per precision (default: the profile's; vLLM: --dtype ..., llama.cpp: none, the GGUF is the precision). */
    precisionFlags: z.object({ fp32: Flags.optional(), fp16: Flags.optional(), int8: Flags.optional(), nf4: Flags.optional() }).strict().optional(),
    /** Appended always (default: the profile's; vLLM: --no-enable-prefix-caching). */
    extraArgs: z.array(z.string()).optional(),
    env: z.record(z.string(), z.string()).default({}),
    host: z.string().default('127.0.0.1'),
    /** 0 picks a free port at each start. */
    port: z.number().int().min(0).max(65535).default(0),
    /** Answers 200 once the model is loaded (default: the profile's; /health, or /v1/models for unknown servers). */
    healthPath: z.string().startsWith('/').optional(),
    /** Model loading on a GPU can take minutes. */
    startTimeoutMs: z.number().int().positive().default(900_000),
    requestTimeoutMs: z.number().int().positive().default(300_000),
    maxRestarts: z.number().int().nonnegative().default(5),
    restartWindowMs: z.number().int().positive().default(600_000),
    backoffMs: z.number().int().nonnegative().default(1_000),
    maxBackoffMs: z.number().int().nonnegative().default(30_000),
    /**
     * How to score. vllm: auto (echo + logprobs, then prompt_logprobs), echo, prompt_logprobs;
     * llama.cpp: in-process (llama.cpp in the worker on the same GGUF); any profile: none
     * (sampling only). Default: the profile's first.
     */
    scoring: z.enum(SCORING_MODES).optional(),
    /** Context of the in-process scorer (prompt + completion tokens it can score). */
    scorerContextSize: z.number().int().positive().default(2048),
    /** Environment variable with the server's API key (vLLM --api-key), if it wants one. */
    apiKeyEnv: z
      .string()
      .regex(/^[A-Z_][A-Z0-9_]*$/)
      .optional(),
  })
  .strict();
export type ManagedServerSpec = z.infer<typeof ManagedServerSpec>;

/** A spec with its profile decided and every default filled in from it. */
export type ResolvedServerSpec = Omit<ManagedServerSpec, 'profile' | 'args' | 'precisionFlags' | 'extraArgs' | 'healthPath' | 'scoring'> & {
  profile: ServerProfileName;
  args: string[];
  precisionFlags: Partial<Record<Precision, string[]>>;
  extraArgs: string[];
  healthPath: string;
  scoring: ScoringMode;
};

/** The profile a spec without one gets: vllm when the command or an argument names vLLM, llama.cpp for llama-server, else openai-compatible. */
export function inferProfile(spec: Pick<ManagedServerSpec, 'command' | 'args'>): ServerProfileName {
  const command = basename(spec.command).toLowerCase();
  if (command === 'vllm' || command.startsWith('vllm.') || (spec.args ?? []).some((a) => /(^|[\s./-])vllm([\s./:-]|$)/i.test(a))) return 'vllm';
  if (command.startsWith('llama-server')) return 'llama.cpp';
  return 'openai-compatible';
}

/**
 * Decides the profile and fills in its defaults. Throws MetError BadInput for a scoring mode the
 * profile cannot do, so a worker refuses to start rather than failing at its first scoring request.
 */
export function resolveServerSpec(input: z.input<typeof ManagedServerSpec> | ManagedServerSpec): ResolvedServerSpec {
  const spec = ManagedServerSpec.parse(input);
  const profile = spec.profile ?? inferProfile(spec);
  const p = PROFILES[profile];
  const scoring = spec.scoring ?? p.scoring.default;
  if (!p.scoring.allowed.includes(scoring)) {
    const hint =
      profile === 'openai-compatible'
        ? `profile openai-compatible is sampling only: met knows no route on this server for teacher-forced logprobs of given tokens${spec.profile ? '' : ` (the profile was inferred from command '${spec.command}'; set profile: vllm or llama.cpp if that is what it runs)`}. Set scoring: none to run it for sampling only, and score with another worker`
        : `profile ${profile} scores with ${p.scoring.allowed.filter((m) => m !== 'none').join(', ')} (or none)`;
    throw new MetError(ErrorTypes.BadInput, `managed server '${spec.command}': scoring '${scoring}' is refused: ${hint}`);
  }
  return {
    ...spec,
    profile,
    args: spec.args ?? p.args,
    precisionFlags: spec.precisionFlags ?? p.precisionFlags,
    extraArgs: spec.extraArgs ?? p.extraArgs,
    healthPath: spec.healthPath ?? p.healthPath,
    scoring,
  };
}
