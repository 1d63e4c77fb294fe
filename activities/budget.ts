import { join } from 'node:path';
import { LIST, listValue, VARCHAR } from '@duckdb/node-api';
import { ErrorTypes, MetError } from '../common/errors';
import { toApplicationFailure } from '../common/failures';
import type { SamplingSpec, SourceSpec } from '../config/runSpec';
import { type Prices, sampleCostBound, usageCost } from '../collect/estimate';
import { itemAt } from '../collect/plan';
import type { CorpusStore } from '../datasets/corpusStore';
import { withConnection } from '../datasets/duck';
import { shardDir } from '../datasets/paths';
import { readParquetSql } from '../datasets/views';
import { heartbeatingAll } from './heartbeat';

/**
 * Budget activities (provider queues: the prices are the provider worker's config, never the
 * spec's). collectCorpus asks once per execution and source what the units already on disk cost
 * and what each pending unit could cost at most, and never starts a unit whose bound does not fit.
 */
export interface QuoteInput {
  corpus: string;
  runId: string;
  promptsFile: string;
  samplesPerPrompt: number;
  sampling: SamplingSpec;
  source: SourceSpec;
  model: string;
  sourceLabel: string;
  /** Units whose shards are on disk: their recorded usage is what was spent. */
  doneUnitIds: string[];
  /** Paged runs send a count instead of ids (doneUnitIds empty): only whether it is 0 matters. */
  doneUnitCount?: number;
  pending: { unitId: string; start: number; end: number; firstSampleIndex?: number }[];
}

export interface Quote {
  prices: Prices;
  /** USD of the done units, from the usage the provider reported (a row without usage counts at its bound). */
  spentUsd: number;
  /** Per pending unit id: the most it can cost (every prompt at its token bound, every completion at maxTokens). */
  bounds: Record<string, number>;
}

export function createBudgetActivities(deps: { store: CorpusStore; pricesFor(source: SourceSpec): Prices | undefined }) {
  const { store } = deps;
  // Scheduled with a heartbeat timeout (workflows/collectCorpus.ts: quoter).
  return heartbeatingAll({
    async quoteSource(input: QuoteInput): Promise<Quote> {
      try {
        if (input.source.kind !== 'provider') return { prices: { inputPerMillion: 0, outputPerMillion: 0 }, spentUsd: 0, bounds: {} };
        const prices = deps.pricesFor(input.source);
        if (!prices) {
          throw new MetError(
            ErrorTypes.BadRunSpec,
            `the run has a budget but this worker has no prices for provider '${input.source.provider}': add prices: { inputPerMillion, outputPerMillion } (USD) to that provider in the worker config, or drop the budget`,
          );
        }
        const prompts = await store.prompts(input.promptsFile);
        const perPrompt = prompts.map((p) => sampleCostBound(prices, p.text, input.sampling));
        const bounds: Record<string, number> = {};
        for (const u of input.pending) {
          let usd = 0;
          for (let flat = u.start; flat < u.end; flat++) usd += perPrompt[itemAt(flat, input.samplesPerPrompt, u.firstSampleIndex).promptIndex];
          bounds[u.unitId] = usd;
        }
        const spentUsd = await spentOnDisk(store, input, prices, perPrompt);
        return { prices, spentUsd, bounds };
      } catch (err) {
        throw toApplicationFailure(err);
      }
    },
  });
}
export type BudgetActivities = ReturnType<typeof createBudgetActivities>;

/** What the run's committed shards of this source cost: reported usage at `prices`, unreported rows at their bound. */
async function spentOnDisk(store: CorpusStore, input: QuoteInput, prices: Prices, perPrompt: number[]): Promise<number> {
  if ((input.doneUnitCount ?? input.doneUnitIds.length) === 0) return 0;
  const partition = { model: input.model, source: input.sourceLabel };
  // Every row of this run in this partition is in a committed unit (a unit's shard is written once,
  // whole); the glob also finds rows a compaction moved into a part-compact file.
  // On a bucket corpus, the committed shards come through the local cache (datasets/corpora.ts).
  const root = await store.corpora.readRoot(input.corpus, ['samples']);
  const files = [join(shardDir(root, input.corpus, 'samples', partition), 'part-*.parquet')];
  const prompts = await store.prompts(input.promptsFile);
  const index = new Map(prompts.map((p, i) => [p.promptId, i]));
  return withConnection(store.duck, async (c) => {
    const r = await c.runAndReadAll(
      `SELECT prompt_id, (prompt_tokens IS NULL OR completion_tokens IS NULL) AS unreported, count(*)::BIGINT AS n,
              coalesce(sum(prompt_tokens), 0)::BIGINT AS p, coalesce(sum(completion_tokens), 0)::BIGINT AS c
       FROM ${readParquetSql('samples')} WHERE run_id = $run GROUP BY ALL`,
      { files: listValue(files), run: input.runId },
      { files: LIST(VARCHAR), run: VARCHAR },
    );
    let usd = 0;
    for (const row of r.getRowObjects()) {
      if (row.unreported) usd += Number(row.n) * (perPrompt[index.get(String(row.prompt_id)) ?? 0] ?? 0);
      else usd += usageCost(prices, Number(row.p), Number(row.c));
    }
    return usd;
  });
}

/** What a unit's rows cost: reported usage at `prices`, a row without usage at its bound. */
export function rowsCost(
  rows: { prompt: string; promptTokens?: number | null; completionTokens?: number | null }[],
  prices: Prices,
  sampling: SamplingSpec,
): number {
  let usd = 0;
  for (const r of rows) {
    usd +=
      r.promptTokens == null || r.completionTokens == null
        ? sampleCostBound(prices, r.prompt, sampling)
        : usageCost(prices, r.promptTokens, r.completionTokens);
  }
  return usd;
}
