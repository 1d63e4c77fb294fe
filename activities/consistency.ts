import { dirname, join } from 'node:path';
import { Context } from '@temporalio/activity';
import { listValue, LIST, VARCHAR, type DuckDBInstance } from '@duckdb/node-api';
import type { TestOutcome } from './tests';
import { ErrorTypes, MetError } from '../common/errors';
import { toApplicationFailure } from '../common/failures';
import type { EmbedSpec } from '../config/embedSpec';
import type { Side } from '../config/consistencySpec';
import { type Corpora, LocalCorpora } from '../datasets/corpora';
import { withConnection } from '../datasets/duck';
import { partitionGlobs, readParquetSql } from '../datasets/views';
import { assertOneScorerRoute, duplicatesError } from '../datasets/reader';
import { perplexityOrUndefined } from '../stats/perplexity';
import { cosineSimilarity, createEmbedder, embedSpecName, type Embedder } from '../models/embedding';
import type { ConsistencyPrompt, ConsistencySectionInput, ReportInput } from '../report/schemas';
import { writeReport } from '../report/html';
import { resolveUnderRoots } from '../datasets/roots';
import { heartbeatingAll } from './heartbeat';

/**
 * The CPU side of a consistency report: pair the two sides' answers (same prompt, same sample
 * index), embed and compare them, and compute each side's perplexity from the logprob shards of
 * ONE scorer (each side's own completion tokens, tokenized the same way for both sides).
 */
export interface CompareInput {
  corpus: string;
  a: Side;
  b: Side;
  scorer: { model: string; precision: string };
  embed: EmbedSpec;
}

export interface SideSummary {
  answers: number;
  tokens: number;
  /** Token-weighted: exp(-sum of logprobs / tokens) over all the side's answers. */
  perplexity: number;
}

export interface Comparison {
  embedModel: string;
  scorer: string;
  pairs: number;
  meanSimilarity: number;
  /** Pairs whose texts are identical, and the largest gap between their two scores (must be 0). */
  identicalPairs: number;
  identicalScoreGap: number;
  a: SideSummary;
  b: SideSummary;
  prompts: ConsistencyPrompt[];
}

interface Answer {
  promptId: string;
  sampleIndex: number;
  prompt: string;
  completion: string;
  sum: number | null;
  count: number | null;
  /** The logprob row's decode route ('' where the row records none). */
  route: string;
}

export function createConsistencyActivities(deps: {
  duck: DuckDBInstance;
  dataDir: string;
  env?: Record<string, string | undefined>;
  modelRoots?: string[];
  corpora?: Corpora;
}) {
  // A bucket corpus is read from this host's cache of it (synced before each read).
  const corpora = deps.corpora ?? new LocalCorpora(deps.duck, deps.dataDir);
  // A local embedding model a spec names is read only under <data>/models/ and the worker config's modelRoots.
  const modelRoots = [join(deps.dataDir, 'models'), ...(deps.modelRoots ?? [])];
  const allowedEmbed = (spec: EmbedSpec): EmbedSpec =>
    spec.kind === 'local'
      ? {
          ...spec,
          path: resolveUnderRoots(spec.path, modelRoots, {
            field: 'embed.path',
            rootsHint: "the data folder's models/ or a folder listed in the worker config's modelRoots",
            extensions: ['.gguf'],
            extensionHint: 'a local embedding model is a .gguf file',
            missingHint: 'copy it there, or use an embeddings endpoint',
          }),
        }
      : spec;
  // One embedder per spec per worker: a local GGUF is loaded once, not per report.
  const embedders = new Map<string, Promise<Embedder>>();
  const embedderFor = (spec: EmbedSpec) => {
    const key = JSON.stringify(spec);
    if (!embedders.has(key)) embedders.set(key, createEmbedder(spec, deps.env ?? {}));
    return embedders.get(key)!;
  };

  async function answers(corpus: string, side: Side, scorer: CompareInput['scorer']): Promise<Answer[]> {
    const root = await corpora.readRoot(corpus, ['samples', 'logprobs']);
    const samples = partitionGlobs(root, corpus, 'samples', { model: [side.model], source: [side.source] });
    if (samples.length === 0) throw new MetError(ErrorTypes.NotFound, `corpus ${corpus} has no samples of ${side.model}/${side.source}: collect them first`);
    const logprobs = partitionGlobs(root, corpus, 'logprobs', { scorerModel: [scorer.model], model: [side.model], source: [side.source] });
    if (logprobs.length === 0)
      throw new MetError(
        ErrorTypes.NotFound,
        `${side.model}/${side.source} in ${corpus} is not scored by ${scorer.model}/${scorer.precision}: run scoreCorpus first`,
      );
    return withConnection(deps.duck, async (c) => {
      const dup = await c.runAndReadAll(
        `SELECT (count(*) - count(DISTINCT (prompt_id, sample_index)))::BIGINT FROM ${readParquetSql('samples', 'samples')}`,
        { samples: listValue(samples) },
        { samples: LIST(VARCHAR) },
      );
      const duplicates = Number(dup.getRows()[0][0]);
      if (duplicates > 0) throw duplicatesError(corpus, [{ model: side.model, source: side.source, duplicates }]);
      const reader = await c.runAndReadAll(
        `SELECT s.prompt_id, s.sample_index, s.prompt, coalesce(s.completion, '') AS completion, l.sum, l.count, coalesce(l.scorer_backend, '') AS route
           FROM ${readParquetSql('samples', 'samples')} s
           LEFT JOIN (SELECT * FROM ${readParquetSql('logprobs', 'logprobs')} WHERE scorer_precision = $precision) l USING (prompt_id, sample_index)
          ORDER BY s.prompt_id, s.sample_index`,
        { samples: listValue(samples), logprobs: listValue(logprobs), precision: scorer.precision },
        { samples: LIST(VARCHAR), logprobs: LIST(VARCHAR), precision: VARCHAR },
      );
      return reader.getRowObjects().map((r) => ({
        promptId: String(r.prompt_id),
        sampleIndex: Number(r.sample_index),
        prompt: String(r.prompt ?? ''),
        completion: String(r.completion),
        sum: r.sum === null ? null : Number(r.sum),
        count: r.count === null ? null : Number(r.count),
        route: String(r.route),
      }));
    });
  }

  return heartbeatingAll({
    async compareSides(input: CompareInput): Promise<Comparison> {
      try {
        // Before any work: a local model outside the worker's model roots is refused.
        const embedSpec = allowedEmbed(input.embed);
        const scorer = `${input.scorer.model}/${input.scorer.precision}`;
        const [a, b] = await Promise.all([answers(input.corpus, input.a, input.scorer), answers(input.corpus, input.b, input.scorer)]);
        const unscored = [...a, ...b].filter((x) => x.count === null).length;
        if (unscored)
          throw new MetError(ErrorTypes.NotFound, `${unscored} answers in ${input.corpus} have no ${scorer} score: run scoreCorpus for both sides first`);
        const routesOf = (side: Answer[]) => side.reduce<Record<string, number>>((acc, x) => ((acc[x.route] = (acc[x.route] ?? 0) + 1), acc), {});
        assertOneScorerRoute(scorer, [
          { name: `${input.corpus}:${input.a.model}/${input.a.source}`, routes: routesOf(a) },
          { name: `${input.corpus}:${input.b.model}/${input.b.source}`, routes: routesOf(b) },
        ]);
        const byKey = new Map(b.map((x) => [`${x.promptId}\u0000${x.sampleIndex}`, x]));
        const pairs = a.flatMap((x) => {
          const y = byKey.get(`${x.promptId}\u0000${x.sampleIndex}`);
          return y ? [{ a: x, b: y }] : [];
        });
        if (pairs.length === 0)
          throw new MetError(
            ErrorTypes.TooFewSamples,
            `no prompt has answers from both ${input.a.model}/${input.a.source} and ${input.b.model}/${input.b.source} in ${input.corpus}`,
          );

        const embedder = await embedderFor(embedSpec);
        const ctx = Context.current();
        const texts = pairs.flatMap((p) => [p.a.completion, p.b.completion]);
        const vectors: number[][] = [];
        for (let i = 0; i < texts.length; i += 256) {
          vectors.push(...(await embedder.embed(texts.slice(i, i + 256))));
          ctx.heartbeat({ embedded: vectors.length });
        }

        const perPrompt = new Map<string, { prompt: string; similarity: number[]; a: [number, number]; b: [number, number] }>();
        let identicalPairs = 0;
        let identicalScoreGap = 0;
        pairs.forEach((p, i) => {
          const entry = perPrompt.get(p.a.promptId) ?? { prompt: p.a.prompt, similarity: [], a: [0, 0], b: [0, 0] };
          entry.similarity.push(cosineSimilarity(vectors[2 * i], vectors[2 * i + 1]));
          entry.a[0] += p.a.sum!;
          entry.a[1] += p.a.count!;
          entry.b[0] += p.b.sum!;
          entry.b[1] += p.b.count!;
          perPrompt.set(p.a.promptId, entry);
          // Same text, same scorer, same tokenization: the scores must agree exactly.
          if (p.a.completion === p.b.completion) {
            identicalPairs++;
            identicalScoreGap = Math.max(identicalScoreGap, Math.abs(p.a.sum! - p.b.sum!), Math.abs(p.a.count! - p.b.count!));
          }
        });
        const ppl = ([sum, count]: [number, number]) => perplexityOrUndefined(sum, count);
        const prompts: ConsistencyPrompt[] = [...perPrompt].map(([promptId, e]) => ({
          promptId,
          prompt: e.prompt,
          similarity: e.similarity.reduce((s, v) => s + v, 0) / e.similarity.length,
          perplexityA: ppl(e.a),
          perplexityB: ppl(e.b),
        }));
        const side = (rows: { a: Answer; b: Answer }[], which: 'a' | 'b'): SideSummary => {
          const sum = rows.reduce((s, p) => s + p[which].sum!, 0);
          const tokens = rows.reduce((s, p) => s + p[which].count!, 0);
          return { answers: rows.length, tokens, perplexity: perplexityOrUndefined(sum, tokens) ?? Number.NaN };
        };
        const similarities = prompts.map((p) => p.similarity);
        return {
          embedModel: embedSpecName(input.embed),
          scorer,
          pairs: pairs.length,
          meanSimilarity: similarities.reduce((s, v) => s + v, 0) / similarities.length,
          identicalPairs,
          identicalScoreGap,
          a: side(pairs, 'a'),
          b: side(pairs, 'b'),
          prompts,
        };
      } catch (err) {
        throw toApplicationFailure(err);
      }
    },

    /** Writes `<data>/reports/<id>/` (index.html, report.json, figures) and returns the page's path. */
    async writeConsistencyReport(input: {
      id: string;
      spec: unknown;
      a: Side;
      b: Side;
      comparison: Comparison;
      mmd: TestOutcome;
      workflowId: string;
    }): Promise<{ htmlPath: string; dataPath: string }> {
      try {
        const report = consistencyReportInput(input);
        const written = await writeReport(join(deps.dataDir, 'reports', input.id), report);
        // With a bucket, a copy beside the runs (reports/<id>/), for hosts other than this worker's.
        await corpora.publishFiles(`reports/${input.id}`, dirname(written.htmlPath));
        return { htmlPath: written.htmlPath, dataPath: written.dataPath };
      } catch (err) {
        throw toApplicationFailure(err);
      }
    },
  });
}
export type ConsistencyActivities = ReturnType<typeof createConsistencyActivities>;

/**
 * The report of a consistency run from its outcome: what the run's last activity writes, and what
 * `met report RUN` rebuilds from the workflow's result when the worker's copy is on another host.
 */
export function consistencyReportInput(input: {
  id: string;
  spec: unknown;
  a: Side;
  b: Side;
  comparison: Comparison;
  mmd: TestOutcome;
  workflowId: string;
  createdAt?: string;
}): ReportInput {
  const { comparison: c, mmd } = input;
  const label = (s: Side) => `${s.model}/${s.source}`;
  const section: ConsistencySectionInput = {
    kind: 'consistency',
    a: { label: label(input.a) },
    b: { label: label(input.b) },
    embedModel: c.embedModel,
    scorer: c.scorer,
    prompts: c.prompts,
    summary: { meanSimilarity: c.meanSimilarity, perplexityA: positive(c.a.perplexity), perplexityB: positive(c.b.perplexity) },
    alpha: mmd.alpha,
    mmd: {
      endpoint: label(input.b),
      reference: label(input.a),
      statistic: mmd.statistic,
      value: mmd.value,
      pValue: mmd.pvalue,
      b: mmd.b,
      decision: mmd.reject ? 'reject' : 'fail_to_reject',
      n1: mmd.n1,
      n2: mmd.n2,
    },
  };
  return {
    title: `Consistency: ${label(input.a)} vs ${label(input.b)}`,
    meta: {
      runId: input.id,
      createdAt: input.createdAt ?? new Date().toISOString(),
      spec: input.spec,
      seeds: { test: mmd.testId },
      workflows: [{ id: input.workflowId, label: 'consistencyReport' }],
      notes: [
        `${c.pairs} answer pairs; ${c.identicalPairs} identical in text, whose ${c.scorer} scores differ by at most ${c.identicalScoreGap}.`,
        `Perplexities are token-weighted over each side's own completion tokens, both tokenized and scored by ${c.scorer}.`,
      ],
    },
    sections: [section],
  };
}

const positive = (x: number) => (Number.isFinite(x) && x > 0 ? x : undefined);
