import { z } from 'zod';
import { Name } from '../common/names';
import { logPerplexity } from '../stats/perplexity';

/**
 * An ensembled-perplexity request: texts scored by several models, each on its own (model,
 * precision) queue, combined. Pure (workflows import it); the HTTP API validates bodies with it.
 * Limits keep one request inside Temporal's 2 MB payload limit and a scorer's context.
 */
export const MAX_TEXTS = 256;
export const MAX_TEXT_CHARS = 16_384;
export const MAX_TOTAL_CHARS = 1_000_000;

export const ScorerRef = z.union(
  [
    z.object({ model: Name, precision: z.enum(['fp32', 'fp16', 'int8', 'nf4']) }).strict(),
    z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*\/(fp32|fp16|int8|nf4)$/, 'a scorer is MODEL/PRECISION, e.g. tiny/fp32')
      .transform((s) => {
        const [model, precision] = s.split('/');
        return { model, precision: precision as 'fp32' | 'fp16' | 'int8' | 'nf4' };
      }),
  ],
  { error: 'a scorer is "MODEL/PRECISION" (e.g. "tiny/fp32") or { "model": ..., "precision": "fp32" | "fp16" | "int8" | "nf4" }' },
);
export type ScorerRef = z.output<typeof ScorerRef>;

export const PerplexityRequest = z
  .object({
    texts: z
      .array(
        z
          .string()
          .min(1, 'empty text: perplexity needs at least one token; drop it or send some text')
          .max(MAX_TEXT_CHARS, `text longer than ${MAX_TEXT_CHARS} characters: split it`),
      )
      .min(1, 'send at least one text')
      .max(MAX_TEXTS, `at most ${MAX_TEXTS} texts per request: send several requests`),
    /** Optional conditioning prompt per text (same length as texts): scores the text after its prompt. */
    prompts: z.array(z.string().max(MAX_TEXT_CHARS)).optional(),
    models: z.array(ScorerRef).min(1, 'name at least one scorer, e.g. "tiny/fp32"').max(16),
    /**
     * Normalise by UTF-8 bytes instead of tokens (nats per byte): comparable across tokenizers.
     * Default: per byte when the models' tokenizers could differ (more than one model name).
     */
    perByte: z.boolean().optional(),
  })
  .strict()
  .superRefine((r, ctx) => {
    if (r.prompts && r.prompts.length !== r.texts.length)
      ctx.addIssue({ code: 'custom', path: ['prompts'], message: `${r.prompts.length} prompts for ${r.texts.length} texts: give one prompt per text or none` });
    const total = r.texts.reduce((a, t) => a + t.length, 0) + (r.prompts ?? []).reduce((a, t) => a + t.length, 0);
    if (total > MAX_TOTAL_CHARS)
      ctx.addIssue({ code: 'custom', path: ['texts'], message: `${total} characters in one request (limit ${MAX_TOTAL_CHARS}): send several requests` });
    const seen = new Set<string>();
    r.models.forEach((m, i) => {
      const key = `${m.model}/${m.precision}`;
      if (seen.has(key)) ctx.addIssue({ code: 'custom', path: ['models', i], message: `${key} is listed twice` });
      seen.add(key);
    });
  });
export type PerplexityRequest = z.output<typeof PerplexityRequest>;
export type PerplexityRequestInput = z.input<typeof PerplexityRequest>;

/** One model's scores of one text: enough to combine by tokens or by bytes. */
export interface TextScore {
  /** Sum of the text's token logprobs (natural log). */
  sum: number;
  tokens: number;
  bytes: number;
}

export interface ModelPerplexity {
  model: string;
  precision: string;
  perplexity: number;
  /** Mean negative logprob per token, or per byte when the request is per byte. */
  logPerplexity: number;
  tokens: number;
}

export interface TextPerplexity {
  index: number;
  /** exp(mean over models of log-perplexity). */
  perplexity: number;
  logPerplexity: number;
  bytes: number;
  perModel: ModelPerplexity[];
}

export interface PerplexityResult {
  perByte: boolean;
  models: string[];
  texts: TextPerplexity[];
}

/** Combines per-model scores: the mean of the models' log-perplexities, per text. Pure. */
export function combinePerplexities(request: PerplexityRequest, scores: { model: string; precision: string; texts: TextScore[] }[]): PerplexityResult {
  const perByte = request.perByte ?? new Set(request.models.map((m) => m.model)).size > 1;
  const texts = request.texts.map((_, index) => {
    const perModel = scores.map((s) => {
      const t = s.texts[index];
      const log = logPerplexity(t.sum, perByte ? t.bytes : t.tokens);
      return { model: s.model, precision: s.precision, perplexity: Math.exp(log), logPerplexity: log, tokens: t.tokens };
    });
    const meanLog = perModel.reduce((a, m) => a + m.logPerplexity, 0) / perModel.length;
    return { index, perplexity: Math.exp(meanLog), logPerplexity: meanLog, bytes: scores[0].texts[index].bytes, perModel };
  });
  return { perByte, models: scores.map((s) => `${s.model}/${s.precision}`), texts };
}
