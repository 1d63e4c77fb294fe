import { z } from 'zod';
import { ErrorTypes, MetError } from '../common/errors';
import { canonicalJson, hashHex } from '../common/hash';
import { EmbedSpec } from './embedSpec';
import { ScorerRef } from './perplexitySpec';
import { formatZodIssues, parseRunSpec, PromptSource, SamplingSpec, sourceLabel, SourceSpec, type RunSpec } from './runSpec';
import { TestSpec } from './testSpec';
import { Name } from '../common/names';
import { boundedInt, LIMITS } from './limits';

/**
 * A consistency check: the same prompts sent to two sources (say a reference model run locally
 * and the same model behind an API), compared three ways: semantic similarity of the answers
 * (embeddings, cosine), each side's perplexity under ONE scorer over each side's own completion
 * tokens (the same tokenization for both sides), and the MMD two-sample test. Pure: workflows import it.
 */
const ConsistencySampling = SamplingSpec.extend({
  seedPolicy: SamplingSpec.shape.seedPolicy.removeDefault().default('shared'),
  maxTokens: SamplingSpec.shape.maxTokens.removeDefault().default(32),
});

export const ConsistencySpec = z
  .object({
    /** Default: a hash of the rest of the spec (the same spec twice attaches to one run). */
    id: Name.optional(),
    /** Corpus the answers are stored in (default consistency-<id>); an existing one is reused. */
    corpus: Name.optional(),
    a: SourceSpec,
    b: SourceSpec,
    prompts: PromptSource,
    samplesPerPrompt: z.number().int().positive().max(100_000).default(10),
    /** 'shared' seeds by default: identical weights behind both sides give identical answers. */
    sampling: ConsistencySampling.default(ConsistencySampling.parse({})),
    /** The one model both sides' perplexities are computed under. */
    scorer: ScorerRef,
    embed: EmbedSpec,
    test: z
      .object({
        stat: TestSpec.shape.stat,
        b: boundedInt(LIMITS.b, 'b').default(200),
        alpha: z.number().gt(0).lt(1).default(0.05),
        L: boundedInt(LIMITS.L, 'L').default(1000),
        unit: z.enum(['char', 'token']).default('char'),
        seed: z.number().int().nonnegative().default(0),
      })
      .strict()
      .default({ stat: 'mmd_hamming', b: 200, alpha: 0.05, L: 1000, unit: 'char', seed: 0 }),
    unitSize: z.number().int().min(1).max(100_000).default(500),
  })
  .strict()
  .superRefine((s, ctx) => {
    if (s.a.model === s.b.model && sourceLabel(s.a) === sourceLabel(s.b)) {
      ctx.addIssue({
        code: 'custom',
        path: ['b', 'source'],
        message: `both sides are ${s.a.model}/${sourceLabel(s.a)}: give side b a distinct 'source' label`,
      });
    }
  });
export type ConsistencySpec = z.infer<typeof ConsistencySpec>;
export type ConsistencySpecInput = z.input<typeof ConsistencySpec>;

export interface Side {
  model: string;
  source: string;
}

/** Everything the workflow needs, resolved from a spec (defaults applied, ids fixed). */
export interface ConsistencyPlan {
  id: string;
  corpus: string;
  runSpec: RunSpec;
  a: Side;
  b: Side;
  scorer: { model: string; precision: string };
  embed: ConsistencySpec['embed'];
  test: TestSpec;
  spec: ConsistencySpec;
}

export function parseConsistencySpec(value: unknown, where = 'the consistency spec'): ConsistencySpec {
  const parsed = ConsistencySpec.safeParse(value);
  if (!parsed.success) throw new MetError(ErrorTypes.BadRunSpec, formatZodIssues(parsed.error, where, 'consistency spec'));
  return parsed.data;
}

export function planConsistency(spec: ConsistencySpec): ConsistencyPlan {
  const id = spec.id ?? `consistency-${hashHex(canonicalJson(spec)).slice(0, 10)}`;
  const corpus = spec.corpus ?? id;
  const runSpec = parseRunSpec({
    corpus,
    runId: `${id}-collect`,
    prompts: spec.prompts,
    samplesPerPrompt: spec.samplesPerPrompt,
    sampling: spec.sampling,
    sources: [spec.a, spec.b],
    unitSize: spec.unitSize,
  });
  const a = { model: spec.a.model, source: sourceLabel(spec.a) };
  const b = { model: spec.b.model, source: sourceLabel(spec.b) };
  const test = TestSpec.parse({
    testId: `${id}-mmd`,
    x: { corpus, ...a },
    y: { corpus, ...b },
    stat: spec.test.stat,
    b: spec.test.b,
    alpha: spec.test.alpha,
    L: spec.test.L,
    unit: spec.test.unit,
    seed: spec.test.seed,
  });
  return { id, corpus, runSpec, a, b, scorer: spec.scorer, embed: spec.embed, test, spec };
}
