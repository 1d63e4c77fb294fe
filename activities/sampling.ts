import { Context } from '@temporalio/activity';
import { dirname } from 'node:path';
import { mkdirSync } from 'node:fs';
import { toApplicationFailure } from '../common/failures';
import type { SamplingSpec, SourceSpec } from '../config/runSpec';
import { UnitJournal } from '../datasets/journal';
import { heartbeating } from './heartbeat';
import type { CorpusStore } from '../datasets/corpusStore';
import type { SampleRow } from '../datasets/schemas';
import { itemAt, sampleSeed, type WorkUnit } from '../collect/plan';
import type { GeneratedSample, SampleGenerator, SampleRequest, SamplerRoute } from '../collect/sampleGenerator';
import { ErrorTypes, MetError } from '../common/errors';
import { type Prices, sampleCostBound } from '../collect/estimate';
import { rowsCost } from './budget';

export type { GeneratedSample, SampleGenerator, SampleRequest } from '../collect/sampleGenerator';

/**
 * sampleUnit: collects one work unit (a few hundred to a few thousand samples) from one source and
 * commits it as one Parquet shard. Samples are journaled as they arrive and the attempt heartbeats
 * its count, so a retried unit (killed worker, timeout) continues where the last attempt stopped;
 * a unit whose shard already exists and validates is skipped. Same code for API providers and local
 * models: only the `SampleGenerator` differs.
 */
export interface SampleUnitInput {
  corpus: string;
  runId: string;
  promptSet: string;
  promptsFile: string;
  samplesPerPrompt: number;
  sampling: SamplingSpec;
  source: SourceSpec;
  unit: WorkUnit;
}

export interface UnitResult {
  unitId: string;
  rows: number;
  skipped: boolean;
  /** Samples recovered from an earlier attempt's journal. */
  resumedFrom: number;
  /** Retries inside the unit by kind (rate_limited, server_error, timeout, malformed, ...). */
  retries: Record<string, number>;
  seconds: number;
  /** USD of the unit at the worker's prices (present when the worker prices its source; see activities/budget.ts). */
  costUsd?: number;
}

export interface SamplingDeps {
  store: CorpusStore;
  /** The generator for a source: this worker's provider clients or its loaded local model. */
  generatorFor(source: SourceSpec): SampleGenerator;
  /** This worker's prices for a source (provider workers' config); undefined: not priced. */
  pricesFor?(source: SourceSpec): Prices | undefined;
}

export type JournalRow = Omit<SampleRow, 'createdAt'> & { createdAt: string; flat: number };
/** A journal line: the row without its prompt (the unit's prompt file has it; a 1 MB prompt is not copied per sample). */
export type JournalLine = Omit<JournalRow, 'prompt'> & { prompt?: string };

/** The row of one sample (also what the Batch API's collectBatch journals: activities/batch.ts). */
export function journalRow(input: SampleUnitInput, request: SampleRequest, s: GeneratedSample): JournalRow {
  const { unit } = input;
  return {
    flat: s.flat,
    corpus: input.corpus,
    runId: input.runId,
    unitId: unit.unitId,
    model: unit.model,
    source: unit.source,
    promptSet: input.promptSet,
    promptId: request.promptId,
    sampleIndex: request.sampleIndex,
    prompt: request.prompt,
    completion: s.completion,
    tokenIds: s.tokenIds,
    tokenLogprobs: s.tokenLogprobs,
    finishReason: s.finishReason,
    sampling: {
      temperature: input.sampling.temperature,
      topP: input.sampling.topP,
      maxTokens: input.sampling.maxTokens,
      stop: input.sampling.stop,
      endpoint: input.sampling.endpoint,
    },
    seed: s.seed !== undefined ? s.seed : request.seed,
    providerModel: s.providerModel,
    requestId: s.requestId,
    latencyMs: s.latencyMs,
    createdAt: new Date().toISOString(),
    sampler: s.sampler ?? null,
    promptTokens: s.promptTokens ?? null,
    completionTokens: s.completionTokens ?? null,
  };
}

/** The requests of a unit's samples that `collected` lacks, in order, with their seeds. */
export function missingRequests(
  input: SampleUnitInput,
  prompts: { promptId: string; text: string }[],
  collected: { has(flat: number): boolean },
): SampleRequest[] {
  const requests: SampleRequest[] = [];
  for (let flat = input.unit.start; flat < input.unit.end; flat++) {
    if (collected.has(flat)) continue;
    const { promptIndex, sampleIndex } = itemAt(flat, input.samplesPerPrompt, input.unit.firstSampleIndex);
    const prompt = prompts[promptIndex];
    const seed = sampleSeed(input.sampling, input.unit.model, input.unit.source, prompt.promptId, sampleIndex);
    requests.push({ flat, promptId: prompt.promptId, promptIndex, sampleIndex, prompt: prompt.text, seed });
  }
  return requests;
}

/**
 * A local slice is sampled by one route (engine, sequences per decode, GGUF type): a worker whose
 * route differs from the one recorded in the slice's other shards draws other samples for the same
 * seeds, so its unit is refused before any sample is drawn, naming both routes and the fixes.
 */
async function refuseOtherRoute(store: CorpusStore, input: SampleUnitInput, route: SamplerRoute): Promise<void> {
  const { unit } = input;
  const recorded = await store.sliceSamplers(input.corpus, { model: unit.model, source: unit.source }, unit.unitId);
  for (const json of recorded) {
    const other = JSON.parse(json) as Partial<SamplerRoute>;
    const diffs: string[] = [];
    if (other.engine !== undefined && other.engine !== route.engine) diffs.push(`engine '${other.engine}' in the slice, '${route.engine}' on this worker`);
    if (other.ggufType !== undefined && route.ggufType !== undefined && other.ggufType !== route.ggufType)
      diffs.push(`GGUF type ${other.ggufType} in the slice, ${route.ggufType} on this worker`);
    if (diffs.length)
      throw new MetError(
        ErrorTypes.BadRunSpec,
        `slice ${input.corpus}:${unit.model}/${unit.source} was sampled by another route than this model worker's: ${diffs.join('; ')}. Nothing was sampled for unit ${unit.unitId}; serve it from a worker configured as the slice's (the same model file, and --parallel as recorded), or collect under a new source label`,
      );
  }
}

export function createSamplingActivities(deps: SamplingDeps) {
  return {
    async sampleUnit(input: SampleUnitInput): Promise<UnitResult> {
      const t0 = Date.now();
      const { unit } = input;
      const partition = { model: unit.model, source: unit.source };
      try {
        const existing = await deps.store.shardRows(input.corpus, 'samples', partition, unit.unitId);
        const prices = deps.pricesFor?.(input.source);
        const prompts = await deps.store.prompts(input.promptsFile);
        if (existing !== undefined) {
          // Written by an attempt whose result was lost: counted at its bound (its usage is on disk, the bound is never less).
          const costUsd = prices ? unitBound(prompts, input, prices) : undefined;
          return { unitId: unit.unitId, rows: existing, skipped: true, resumedFrom: 0, retries: {}, seconds: 0, ...(costUsd === undefined ? {} : { costUsd }) };
        }
        const journalPath = deps.store.journalPath(input.corpus, 'samples', partition, unit.unitId);
        mkdirSync(dirname(journalPath), { recursive: true });
        const journal = new UnitJournal<JournalLine>(journalPath);
        const collected = new Map<number, JournalRow>();
        for (const line of journal.recover()) {
          if (line.flat < unit.start || line.flat >= unit.end) continue;
          // Lines written before prompts left the journal still carry theirs.
          const prompt = line.prompt ?? prompts[itemAt(line.flat, input.samplesPerPrompt, unit.firstSampleIndex).promptIndex]?.text;
          if (prompt !== undefined) collected.set(line.flat, { ...line, prompt });
        }
        const resumedFrom = collected.size;
        // What `met status` and --wait show inside this unit (client/runs.ts unitProgress), from the heartbeat.
        let tokens = 0;
        for (const row of collected.values()) tokens += row.tokenIds?.length ?? 0;
        const beat = () => ({ collected: durable, sampled: collected.size, tokens, model: unit.model, source: unit.source, unitSize: unit.end - unit.start });

        const requests = missingRequests(input, prompts, collected);
        const byFlat = new Map(requests.map((r) => [r.flat, r]));
        const ctx = Context.current();
        let durable = resumedFrom;
        let lastFlush = Date.now();
        // Journal writes go to the thread pool (a synchronous fsync would stall every request in
        // flight); the heartbeat reports what is durable once its flush is done.
        const flush = async () => {
          lastFlush = Date.now();
          const collectedNow = collected.size;
          await journal.flush();
          durable = collectedNow;
          ctx.heartbeat(beat());
        };
        // Liveness heartbeats on a timer as well, between flushes (rate limits, slow models).
        return await heartbeating(async () => {
          const generator = deps.generatorFor(input.source);
          if (generator.route && requests.length) await refuseOtherRoute(deps.store, input, generator.route);
          const { retries } = await generator
            .sample(requests, {
              sampling: input.sampling,
              source: input.source,
              signal: ctx.cancellationSignal,
              onSample: (s) => {
                const request = byFlat.get(s.flat);
                if (!request || collected.has(s.flat)) return; // never two rows for one sample
                const row = journalRow(input, request, s);
                collected.set(s.flat, row);
                tokens += row.tokenIds?.length ?? 0;
                const { prompt: _prompt, ...line } = row;
                journal.append(line);
                // A failed write is not lost: flushes are chained, so the flush at the end rethrows it.
                if (journal.buffered >= 256 || Date.now() - lastFlush > 500) flush().catch(() => undefined);
              },
              // Whatever arrived is made durable, also when the unit failed: a retry resumes from it.
            })
            .finally(() => flush().finally(() => journal.settle()));
          if (collected.size !== unit.end - unit.start) {
            throw new Error(`unit ${unit.unitId} ended with ${collected.size} of ${unit.end - unit.start} samples`);
          }
          const rows: SampleRow[] = [...collected.values()]
            .sort((a, b) => a.flat - b.flat)
            .map(({ flat: _flat, createdAt, ...row }) => ({ ...row, createdAt: new Date(createdAt) }));
          await deps.store.writeShard(input.corpus, 'samples', partition, unit.unitId, rows);
          await journal.remove();
          const costUsd = prices ? rowsCost(rows, prices, input.sampling) : undefined;
          return {
            unitId: unit.unitId,
            rows: rows.length,
            skipped: false,
            resumedFrom,
            retries,
            seconds: (Date.now() - t0) / 1000,
            ...(costUsd === undefined ? {} : { costUsd }),
          };
        }, beat);
      } catch (err) {
        throw toApplicationFailure(err);
      }
    },
  };
}
export type SamplingActivities = ReturnType<typeof createSamplingActivities>;

function unitBound(prompts: { text: string }[], input: SampleUnitInput, prices: Prices): number {
  let usd = 0;
  for (let flat = input.unit.start; flat < input.unit.end; flat++)
    usd += sampleCostBound(prices, prompts[itemAt(flat, input.samplesPerPrompt, input.unit.firstSampleIndex).promptIndex].text, input.sampling);
  return usd;
}
