import OpenAI from 'openai';
import { ErrorTypes, MetError } from '../common/errors';
import type { EmbedSpec } from '../config/embedSpec';
import { classifyProviderError, faultToFailure } from '../providers/errors';
import { resolveProvider } from '../providers/registry';
import { trustedEndpoint } from '../providers/trust';

/**
 * Sentence embeddings for consistency reports: any OpenAI-compatible `/v1/embeddings` endpoint
 * (a registry provider or a base URL; its key read from the worker's environment), or a local
 * GGUF model through node-llama-cpp. Vectors are compared by cosine similarity.
 */

export interface Embedder {
  /** Shown in reports: the model and where it ran. */
  readonly name: string;
  embed(texts: string[]): Promise<number[][]>;
  close(): Promise<void>;
}

export function embedSpecName(spec: EmbedSpec): string {
  return spec.kind === 'endpoint' ? `${spec.model} (${spec.baseURL ?? spec.provider})` : `${spec.path.split('/').pop()} (local llama.cpp)`;
}

/** Cosine similarity; two empty (zero) vectors are identical answers, one empty one is not. */
export function cosineSimilarity(a: readonly number[], b: readonly number[]): number {
  if (a.length !== b.length) throw new Error(`embedding sizes differ (${a.length} vs ${b.length})`);
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  if (na === 0 || nb === 0) return na === nb ? 1 : 0;
  return Math.max(-1, Math.min(1, dot / Math.sqrt(na * nb)));
}

export async function createEmbedder(spec: EmbedSpec, env: Record<string, string | undefined>): Promise<Embedder> {
  return spec.kind === 'endpoint' ? endpointEmbedder(spec, env) : localEmbedder(spec);
}

function endpointEmbedder(spec: Extract<EmbedSpec, { kind: 'endpoint' }>, env: Record<string, string | undefined>): Embedder {
  // A key goes only to a registry provider's own endpoint, from its own variable; an endpoint the
  // request names (baseURL) gets no key (providers/trust.ts).
  const endpoint = trustedEndpoint({
    provider: spec.provider,
    specBaseURL: spec.baseURL,
    specKeyEnv: spec.apiKeyEnv,
    worker: { allowSpecBaseURL: true },
    where: "met's provider registry",
  });
  const provider = resolveProvider(spec.provider, { baseURL: endpoint.baseURL, apiKeyEnv: endpoint.apiKeyEnv });
  const key = endpoint.sendKey && provider.keyEnv ? env[provider.keyEnv] : undefined;
  // Temporal retries the activity (maxRetries 0 here), honouring Retry-After through faultToFailure.
  const client = new OpenAI({ baseURL: provider.baseURL, apiKey: key ?? 'no-key', maxRetries: 0, timeout: 120_000 });
  return {
    name: embedSpecName(spec),
    async embed(texts) {
      const out: number[][] = [];
      for (let i = 0; i < texts.length; i += spec.batchSize) {
        const batch = texts.slice(i, i + spec.batchSize);
        try {
          // Floats asked for explicitly: the client's default (base64) decodes a server's float answer to zeros.
          const response = await client.embeddings.create({ model: provider.modelName(spec.model), input: batch, encoding_format: 'float' });
          const sorted = [...response.data].sort((x, y) => x.index - y.index);
          if (sorted.length !== batch.length) throw new Error(`${sorted.length} embeddings for ${batch.length} inputs`);
          out.push(...sorted.map((d) => d.embedding));
        } catch (err) {
          throw faultToFailure(classifyProviderError(err, { provider: provider.name, keyEnv: provider.keyEnv, secrets: [key] }));
        }
      }
      return out;
    },
    async close() {},
  };
}

async function localEmbedder(spec: Extract<EmbedSpec, { kind: 'local' }>): Promise<Embedder> {
  const { getLlama } = await import('node-llama-cpp');
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' as never });
  const model = await llama.loadModel({ modelPath: spec.path }).catch((err: Error) => {
    throw new MetError(ErrorTypes.BadInput, `cannot load the embedding model ${spec.path}: ${err.message}`);
  });
  const context = await model.createEmbeddingContext({ threads: 1 });
  return {
    name: embedSpecName(spec),
    async embed(texts) {
      const out: number[][] = [];
      // An empty answer has no tokens to embed: a zero vector (cosineSimilarity handles it).
      for (const text of texts) out.push(text ? [...(await context.getEmbeddingFor(text)).vector] : []);
      const size = out.find((v) => v.length)?.length ?? 0;
      return out.map((v) => (v.length ? v : new Array<number>(size).fill(0)));
    },
    async close() {
      await context.dispose();
      await model.dispose();
      await llama.dispose();
    },
  };
}
