import { z } from 'zod';
import { ErrorTypes, MetError } from '../common/errors';

/**
 * Known OpenAI-compatible API providers. A worker config or run spec may override the base URL and
 * the key's environment variable; any other name with a baseURL is a custom endpoint (vLLM,
 * llama.cpp server, SGLang, TGI, `met serve`). Capabilities say what met may ask for:
 * completions endpoint, sampled-token logprobs, echo (prompt logprobs), n > 1, seed.
 */
export const Capabilities = z.object({
  completions: z.boolean(),
  chat: z.boolean(),
  logprobs: z.boolean(),
  echo: z.boolean(),
  n: z.boolean(),
  seed: z.boolean(),
});
export type Capabilities = z.infer<typeof Capabilities>;

export const ProviderEntry = z.object({
  name: z.string(),
  baseURL: z.url(),
  /** Environment variable the worker reads the key from (undefined: no key needed). */
  keyEnv: z.string().optional(),
  capabilities: Capabilities,
  /** met model name -> the provider's model name. */
  models: z.record(z.string(), z.string()).default({}),
});
export type ProviderEntry = z.infer<typeof ProviderEntry>;

const full: Capabilities = { completions: true, chat: true, logprobs: true, echo: true, n: true, seed: true };

export const PROVIDERS: Record<string, ProviderEntry> = {
  // Completions endpoint is legacy (gpt-3.5-turbo-instruct); chat supports logprobs and seed (beta).
  openai: {
    name: 'openai',
    baseURL: 'https://api.openai.com/v1',
    keyEnv: 'OPENAI_API_KEY',
    capabilities: { completions: true, chat: true, logprobs: true, echo: false, n: true, seed: true },
    models: {},
  },
  together: {
    name: 'together',
    baseURL: 'https://api.together.xyz/v1',
    keyEnv: 'TOGETHER_API_KEY',
    capabilities: full,
    models: { 'llama-3.1-8b': 'meta-llama/Meta-Llama-3.1-8B-Instruct-Turbo', 'llama-3.1-70b': 'meta-llama/Meta-Llama-3.1-70B-Instruct-Turbo' },
  },
  fireworks: {
    name: 'fireworks',
    baseURL: 'https://api.fireworks.ai/inference/v1',
    keyEnv: 'FIREWORKS_API_KEY',
    capabilities: full,
    models: { 'llama-3.1-8b': 'accounts/fireworks/models/llama-v3p1-8b-instruct', 'llama-3.1-70b': 'accounts/fireworks/models/llama-v3p1-70b-instruct' },
  },
  deepinfra: {
    name: 'deepinfra',
    baseURL: 'https://api.deepinfra.com/v1/openai',
    keyEnv: 'DEEPINFRA_API_KEY',
    capabilities: { ...full, echo: false },
    models: { 'llama-3.1-8b': 'meta-llama/Meta-Llama-3.1-8B-Instruct', 'llama-3.1-70b': 'meta-llama/Meta-Llama-3.1-70B-Instruct' },
  },
  groq: {
    name: 'groq',
    baseURL: 'https://api.groq.com/openai/v1',
    keyEnv: 'GROQ_API_KEY',
    capabilities: { completions: false, chat: true, logprobs: false, echo: false, n: false, seed: true },
    models: { 'llama-3.1-8b': 'llama-3.1-8b-instant', 'llama-3.1-70b': 'llama-3.3-70b-versatile' },
  },
  perplexity: {
    name: 'perplexity',
    baseURL: 'https://api.perplexity.ai',
    keyEnv: 'PERPLEXITY_API_KEY',
    capabilities: { completions: false, chat: true, logprobs: false, echo: false, n: false, seed: false },
    models: {},
  },
  // Azure's base URL names the resource and deployment: set baseURL in the worker config.
  azure: {
    name: 'azure',
    baseURL: 'https://YOUR-RESOURCE.openai.azure.com/openai/v1',
    keyEnv: 'AZURE_OPENAI_API_KEY',
    capabilities: { completions: true, chat: true, logprobs: true, echo: false, n: true, seed: true },
    models: {},
  },
  openrouter: {
    name: 'openrouter',
    baseURL: 'https://openrouter.ai/api/v1',
    keyEnv: 'OPENROUTER_API_KEY',
    capabilities: { completions: true, chat: true, logprobs: true, echo: false, n: false, seed: true },
    models: { 'llama-3.1-8b': 'meta-llama/llama-3.1-8b-instruct', 'llama-3.1-70b': 'meta-llama/llama-3.1-70b-instruct' },
  },
};

/** Capabilities assumed for a custom OpenAI-compatible server (vLLM, llama.cpp server, met serve). */
export const CUSTOM_CAPABILITIES: Capabilities = full;

export interface ResolvedProvider {
  name: string;
  baseURL: string;
  keyEnv?: string;
  capabilities: Capabilities;
  modelName(model: string, override?: string): string;
}

export function resolveProvider(name: string, overrides: { baseURL?: string; apiKeyEnv?: string } = {}): ResolvedProvider {
  const entry = PROVIDERS[name];
  if (!entry && !overrides.baseURL) {
    throw new MetError(
      ErrorTypes.BadRunSpec,
      `provider '${name}' is not in met's registry (${Object.keys(PROVIDERS).join(', ')}): set its baseURL in the provider worker's config (providers: [{ name: ${name}, baseURL: ... }]) to use it as a custom OpenAI-compatible endpoint`,
    );
  }
  return {
    name,
    baseURL: overrides.baseURL ?? entry.baseURL,
    keyEnv: overrides.apiKeyEnv ?? entry?.keyEnv,
    capabilities: entry?.capabilities ?? CUSTOM_CAPABILITIES,
    modelName: (model, override) => override ?? entry?.models[model] ?? model,
  };
}
