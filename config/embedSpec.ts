import { z } from 'zod';

/**
 * Which embedding model a consistency report uses: an OpenAI-compatible `/v1/embeddings` endpoint
 * (a registry provider or a base URL; the key is read by the worker from the variable named in
 * apiKeyEnv, never given here) or a local GGUF file run by node-llama-cpp. Pure: workflows import it.
 */
/** Only http(s): a file:// or other scheme can never work and would be retried in vain. */
const HttpURL = z.url({ protocol: /^https?$/, error: 'an http:// or https:// URL' });
const EnvVarName = z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'an environment variable name such as MY_EMBEDDINGS_API_KEY');

export const EmbedSpec = z.discriminatedUnion('kind', [
  z
    .object({
      kind: z.literal('endpoint'),
      /** A registry provider (openai, together, ...) or a label for a custom base URL. */
      provider: z.string().min(1).default('custom'),
      baseURL: HttpURL.optional(),
      model: z.string().min(1),
      apiKeyEnv: EnvVarName.optional(),
      batchSize: z.number().int().positive().max(2048).default(64),
    })
    .strict(),
  z.object({ kind: z.literal('local'), path: z.string().min(1), batchSize: z.number().int().positive().default(64) }).strict(),
]);
export type EmbedSpec = z.infer<typeof EmbedSpec>;
