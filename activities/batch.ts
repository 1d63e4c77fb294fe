import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type OpenAI from 'openai';
import { APIError, toFile } from 'openai';
import { ErrorTypes, MetError } from '../common/errors';
import { toApplicationFailure } from '../common/failures';
import type { SourceSpec } from '../config/runSpec';
import { UnitJournal } from '../datasets/journal';
import { itemAt } from '../collect/plan';
import type { SampleRequest } from '../collect/sampleGenerator';
import type { CorpusStore } from '../datasets/corpusStore';
import { boundedLines, DEFAULT_MAX_BATCH_OUTPUT_BYTES, DEFAULT_MAX_RESPONSE_BYTES } from '../providers/transport';
import { classifyProviderError, faultToFailure } from '../providers/errors';
import { groupRequests, type ProviderSource, requestBody, samplesFromResponse } from '../providers/generator';
import { type JournalLine, journalRow, missingRequests, type SampleUnitInput } from './sampling';
import { heartbeatingAll } from './heartbeat';

/**
 * The Batch API's side of a work unit (provider queue; workflow batchUnit drives them): submit the
 * unit's missing samples as one batch, report its status, and journal what its output file holds.
 * The shard is then written by sampleUnit from that journal (samples a batch did not answer are
 * sampled online there), so it is written once, by the one code path that writes every shard.
 *
 * Exactly once: a batch carries metadata met_unit = <run>/<unit>; submitBatch first looks for a
 * live batch of that unit (a retried submit whose first try created one but never reported it) and
 * reuses it, so a unit pays for one batch. collectBatch appends only samples the journal lacks (a
 * retried download adds nothing), and sampleUnit keys rows by sample, so no sample is written twice.
 */
export interface BatchClients {
  batchClient(source: SourceSpec): {
    client: OpenAI;
    model: string;
    keyEnv?: string;
    secrets: (string | undefined)[];
    maxOutputBytes?: number;
    maxLineBytes?: number;
  };
}

export interface BatchState {
  batchId: string;
  status: string;
  total: number;
  completed: number;
  failed: number;
  outputFileId: string | null;
  errorFileId: string | null;
}

/** Statuses after which a batch changes no more. */
export const FINAL_BATCH_STATUSES = ['completed', 'failed', 'expired', 'cancelled'];
const DEAD = ['failed', 'expired', 'cancelled', 'cancelling'];
/** How many of the newest batches submitBatch looks through for the unit's own. */
const LOOKBACK = 1000;

export function createBatchActivities(deps: { store: CorpusStore; clients: BatchClients }) {
  const { store } = deps;
  const provider = (input: { source: SourceSpec }) => {
    if (input.source.kind !== 'provider')
      throw new MetError(ErrorTypes.BadRunSpec, `the Batch API is for provider sources, not ${input.source.model}/${input.source.precision}`);
    return { source: input.source, ...deps.clients.batchClient(input.source) };
  };
  /** Provider errors as met's failures (a bad key fails at once, 5xx and timeouts are retried), never echoing a key. */
  const failure = (err: unknown, p: { source: ProviderSource; keyEnv?: string; secrets: (string | undefined)[] }) => {
    if (!(err instanceof APIError)) return toApplicationFailure(err); // includes connection errors (an APIError) and timeouts
    return faultToFailure(classifyProviderError(err, { provider: p.source.provider, keyEnv: p.keyEnv, secrets: p.secrets }));
  };
  const journalOf = (input: SampleUnitInput) => {
    const path = store.journalPath(input.corpus, 'samples', { model: input.unit.model, source: input.unit.source }, input.unit.unitId);
    mkdirSync(dirname(path), { recursive: true });
    return new UnitJournal<JournalLine>(path);
  };
  const unitKey = (input: SampleUnitInput) => `${input.runId}/${input.unit.unitId}`;

  return heartbeatingAll({
    /** Submits the unit's missing samples as one batch (or finds the one already submitted); null: nothing to submit. */
    async submitBatch(input: SampleUnitInput): Promise<{ batchId: string | null; requests: number; samples: number; reused: boolean }> {
      const p = provider(input);
      try {
        const partition = { model: input.unit.model, source: input.unit.source };
        if ((await store.shardRows(input.corpus, 'samples', partition, input.unit.unitId)) !== undefined)
          return { batchId: null, requests: 0, samples: 0, reused: false };
        const journaled = new Set(
          journalOf(input)
            .recover()
            .map((l) => l.flat),
        );
        const prompts = await store.prompts(input.promptsFile);
        const missing = missingRequests(input, prompts, journaled);
        if (missing.length === 0) return { batchId: null, requests: 0, samples: 0, reused: false };
        let seen = 0;
        for await (const b of p.client.batches.list({ limit: 100 })) {
          if (b.metadata?.met_unit === unitKey(input) && !DEAD.includes(b.status))
            return { batchId: b.id, requests: b.request_counts?.total ?? 0, samples: missing.length, reused: true };
          if (++seen >= LOOKBACK) break;
        }
        const groups = groupRequests(missing, p.source.n ?? 1);
        const url = input.sampling.endpoint === 'chat' ? '/v1/chat/completions' : '/v1/completions';
        const lines = groups.map((g) =>
          JSON.stringify({ custom_id: customId(input, g), method: 'POST', url, body: requestBody(p.model, p.source, input.sampling, g) }),
        );
        const file = await p.client.files.create({ file: await toFile(Buffer.from(`${lines.join('\n')}\n`), `${input.unit.unitId}.jsonl`), purpose: 'batch' });
        const batch = await p.client.batches.create({
          input_file_id: file.id,
          endpoint: url,
          completion_window: '24h',
          metadata: { met_unit: unitKey(input), met_samples: String(missing.length) },
        });
        return { batchId: batch.id, requests: groups.length, samples: missing.length, reused: false };
      } catch (err) {
        throw failure(err, p);
      }
    },

    async pollBatch(input: { source: SourceSpec; batchId: string }): Promise<BatchState> {
      const p = provider(input);
      try {
        const b = await p.client.batches.retrieve(input.batchId);
        return {
          batchId: b.id,
          status: b.status,
          total: b.request_counts?.total ?? 0,
          completed: b.request_counts?.completed ?? 0,
          failed: b.request_counts?.failed ?? 0,
          outputFileId: b.output_file_id ?? null,
          errorFileId: b.error_file_id ?? null,
        };
      } catch (err) {
        throw failure(err, p);
      }
    },

    /**
     * Downloads the batch's output file and journals the samples the unit's journal lacks. Returns
     * how many of the unit's samples are journaled now, and how many the batch left unanswered
     * (sampleUnit samples those online).
     */
    async collectBatch(
      input: SampleUnitInput & { batchId: string; outputFileId: string | null },
    ): Promise<{ journaled: number; added: number; unanswered: number; malformed: number }> {
      const p = provider(input);
      try {
        const journal = journalOf(input);
        const have = new Set(journal.recover().map((l) => l.flat));
        const prompts = await store.prompts(input.promptsFile);
        const size = input.unit.end - input.unit.start;
        let added = 0;
        let malformed = 0;
        if (input.outputFileId) {
          // Streamed a line at a time, within the worker's bounds (issue #28: it was read whole).
          const maxBytes = p.maxOutputBytes ?? DEFAULT_MAX_BATCH_OUTPUT_BYTES;
          const tooLarge = (what: string) =>
            new MetError(
              ErrorTypes.ProviderRequest,
              `${p.source.provider}'s Batch API output file ${input.outputFileId} holds ${what} (the worker's maxBatchOutputBytes / maxResponseBytes); nothing more of it was read`,
            );
          const body = (await p.client.files.content(input.outputFileId)).body;
          for await (const line of boundedLines(body, maxBytes, p.maxLineBytes ?? DEFAULT_MAX_RESPONSE_BYTES, tooLarge)) {
            if (!line.trim()) continue;
            let record: { custom_id?: unknown; response?: { status_code?: number; request_id?: string; body?: unknown } | null };
            try {
              record = JSON.parse(line) as typeof record;
            } catch {
              malformed++;
              continue;
            }
            const group = groupOf(input, prompts, record.custom_id);
            if (!group || record.response?.status_code !== 200) continue;
            let samples;
            try {
              samples = samplesFromResponse(record.response.body as never, record.response.request_id, group, {
                source: p.source,
                sampling: input.sampling,
                latencyMs: null,
              });
            } catch {
              malformed++;
              continue;
            }
            const byFlat = new Map(group.map((r) => [r.flat, r]));
            for (const s of samples) {
              if (have.has(s.flat)) continue; // a retried download, or a sample an earlier try journaled
              const { prompt: _prompt, ...rest } = journalRow(input, byFlat.get(s.flat)!, s);
              journal.append(rest);
              have.add(s.flat);
              added++;
            }
          }
        }
        await journal.flush(); // fsynced: what it added survives a crash before the shard is written
        await journal.settle();
        return { journaled: have.size, added, unanswered: size - have.size, malformed };
      } catch (err) {
        throw failure(err, p);
      }
    },
  });
}
export type BatchActivities = ReturnType<typeof createBatchActivities>;

/** A batch line's id: unit, first sample and count (`000003-1a2b3c4d:1500:8`), so its answer maps back to its samples. */
function customId(input: SampleUnitInput, group: SampleRequest[]): string {
  return `${input.unit.unitId}:${group[0].flat}:${group.length}`;
}

/** The samples a line's custom id names, when it is one of this unit's; undefined otherwise (never trusted blindly). */
function groupOf(input: SampleUnitInput, prompts: { promptId: string; text: string }[], id: unknown): SampleRequest[] | undefined {
  const m = typeof id === 'string' ? /^(.+):(\d+):(\d+)$/.exec(id) : null;
  if (!m || m[1] !== input.unit.unitId) return undefined;
  const first = Number(m[2]);
  const count = Number(m[3]);
  if (first < input.unit.start || first + count > input.unit.end || count < 1) return undefined;
  const group = missingRequests({ ...input, unit: { ...input.unit, start: first, end: first + count } }, prompts, new Set());
  const p0 = itemAt(first, input.samplesPerPrompt, input.unit.firstSampleIndex).promptIndex;
  return group.every((r) => r.promptIndex === p0) ? group : undefined;
}
