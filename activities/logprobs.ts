import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { Context } from '@temporalio/activity';
import type { DuckDBInstance } from '@duckdb/node-api';
import { sumOf } from '../stats/perplexity';
import { toApplicationFailure } from '../common/failures';
import { UnitJournal } from '../datasets/journal';
import { quotedString, withConnection } from '../datasets/duck';
import { type Corpora, LocalCorpora } from '../datasets/corpora';
import { shardDir } from '../datasets/paths';
import type { LogprobRow } from '../datasets/schemas';
import type { TextBackend } from '../models/backend';

/**
 * Scoring a corpus under a reference model: one sample shard in, one logprob shard out (same unit,
 * suffixed with the scorer's precision), on the scorer's own queue. Scores are journaled as they
 * are computed, so a worker killed mid-shard resumes without rescoring or duplicating rows.
 */
export interface SampleShardRef {
  path: string;
  model: string;
  source: string;
  /** Unit id of the logprob shard this sample shard produces. */
  unitId: string;
  rows: number;
}

export interface ScoreShardInput {
  corpus: string;
  shard: SampleShardRef;
  scorer: { model: string; precision: string };
}

export interface ScoreShardResult {
  unitId: string;
  rows: number;
  tokens: number;
  skipped: boolean;
  resumedFrom: number;
}

const stemOf = (name: string) => name.replace(/^part-/, '').replace(/\.parquet$/, '');

/** CPU side: the sample shards to score (optionally only some models / sources). */
export function createScoringPlanActivities(deps: { duck: DuckDBInstance; dataDir: string; corpora?: Corpora }) {
  const corpora = deps.corpora ?? new LocalCorpora(deps.duck, deps.dataDir);
  return {
    async listSampleShards(input: { corpus: string; models?: string[]; sources?: string[]; precision: string }): Promise<SampleShardRef[]> {
      // Row counts from footers (a folder) or object metadata (a bucket: path is then s3://bucket/key).
      const shards = (await corpora.listShards(input.corpus, 'samples')).filter(
        (s) => (!input.models || input.models.includes(s.partition.model)) && (!input.sources || input.sources.includes(s.partition.source)),
      );
      return shards.map((s) => ({
        path: s.ref,
        model: s.partition.model,
        source: s.partition.source,
        unitId: `${stemOf(s.name)}.${input.precision}`,
        rows: s.rows,
      }));
    },
  };
}

type JournalRow = Omit<LogprobRow, 'corpus'>;

/** Model side: runs where the scorer is loaded. */
export function createLogprobActivities(deps: { duck: DuckDBInstance; dataDir: string; backend: TextBackend; corpora?: Corpora }) {
  const corpora = deps.corpora ?? new LocalCorpora(deps.duck, deps.dataDir);
  return {
    async scoreShard(input: ScoreShardInput): Promise<ScoreShardResult> {
      const { corpus, shard, scorer } = input;
      try {
        if (scorer.model !== deps.backend.model || scorer.precision !== deps.backend.precision) {
          throw new Error(`this worker scores with ${deps.backend.model}/${deps.backend.precision}, not ${scorer.model}/${scorer.precision}`);
        }
        const partition = { scorerModel: scorer.model, model: shard.model, source: shard.source };
        const target = { corpus, kind: 'logprobs' as const, partition, unitId: shard.unitId };
        const existing = await corpora.unitStatus(target);
        if (existing.state === 'valid') return { unitId: shard.unitId, rows: existing.rows, tokens: 0, skipped: true, resumedFrom: 0 };

        const samplesFile = await corpora.localFile(shard.path);
        const samples = await withConnection(deps.duck, async (c) =>
          (
            await c.runAndReadAll(
              `SELECT prompt_id, sample_index, prompt, completion FROM read_parquet(${quotedString(samplesFile)}) ORDER BY prompt_id, sample_index`,
            )
          ).getRowObjects(),
        );
        const journalPath = `${shardDir(corpora.writeRoot, corpus, 'logprobs', partition)}/.journal-${shard.unitId}.jsonl`;
        mkdirSync(dirname(journalPath), { recursive: true });
        const journal = new UnitJournal<JournalRow>(journalPath);
        const done = new Map<string, JournalRow>();
        for (const row of journal.recover()) done.set(`${row.promptId}\u0000${row.sampleIndex}`, row);
        const resumedFrom = done.size;
        const ctx = Context.current();
        let tokens = 0;
        for (const s of samples) {
          const key = `${String(s.prompt_id)}\u0000${String(s.sample_index)}`;
          if (done.has(key)) continue;
          ctx.cancellationSignal.throwIfAborted();
          const scored = await deps.backend.score(String(s.prompt), String(s.completion ?? ''));
          const sum = sumOf(scored.tokenLogprobs);
          const row: JournalRow = {
            model: shard.model,
            source: shard.source,
            promptId: String(s.prompt_id),
            sampleIndex: Number(s.sample_index),
            scorerModel: scorer.model,
            scorerPrecision: scorer.precision,
            tokenIds: scored.tokenIds,
            tokenLogprobs: scored.tokenLogprobs,
            sum,
            count: scored.tokenIds.length,
            // Set when another backend computes the scorer's logprobs (a managed llama-server scores in-process).
            scorerBackend: deps.backend.scorerBackend ?? null,
            tokenRanks: scored.tokenRanks ?? null,
          };
          tokens += row.count;
          done.set(key, row);
          journal.append(row);
          if (journal.buffered >= 64) await journal.flush();
          // Every sample (the SDK throttles what it sends): a slow scorer is never taken for a dead one.
          ctx.heartbeat({ scored: done.size });
        }
        await journal.flush();
        const rows = [...done.values()].map((r) => ({ ...r, corpus }));
        await corpora.writeShard(target, rows);
        await journal.remove();
        return { unitId: shard.unitId, rows: rows.length, tokens, skipped: false, resumedFrom };
      } catch (err) {
        throw toApplicationFailure(err);
      }
    },
  };
}
export type ScoringPlanActivities = ReturnType<typeof createScoringPlanActivities>;
export type LogprobActivities = ReturnType<typeof createLogprobActivities>;
