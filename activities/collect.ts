import { basename, extname, join } from 'node:path';
import type { DuckDBInstance } from '@duckdb/node-api';
import { ErrorTypes, MetError } from '../common/errors';
import { toApplicationFailure } from '../common/failures';
import { heartbeatingAll } from './heartbeat';
import { quotedString, withConnection } from '../datasets/duck';
import { isJsonl, promptSetPath, readPromptJsonl, resolvePromptFile, shippedPromptSets } from '../datasets/prompts';
import type { PromptRow } from '../datasets/schemas';
import { type Corpora, LocalCorpora } from '../datasets/corpora';
import { kindDir, promptsDir } from '../datasets/paths';
import { type CollectResult, planSources, sourceShapes, unitAt } from '../collect/plan';
import { samplerSettings, type SamplerRecord, type SamplerSettings } from '../config/sampler';
import { type RunSpec, runSizeProblem, sourceLabel, type SourceSpec } from '../config/runSpec';
import { canonicalJson } from '../common/hash';
import { promptProblem } from '../common/text';
import { assertSliceIsASet, sliceHoldings, sliceName, type SliceHoldings, type SliceRef } from '../datasets/sliceKeys';
import { z } from 'zod';

/**
 * CPU-side activities of collectCorpus: freeze the prompt set into the corpus, find which units
 * are already done on disk, and check the finished corpus (counts, no duplicates).
 */
export interface PreparedRun {
  promptSet: string;
  promptsFile: string;
  promptCount: number;
  /**
   * Per source (spec order): the sample indices per prompt its slice held from earlier runs when
   * this run was first prepared; the run draws the rest (docs/slices.md). Absent in runs prepared
   * before slices were sets.
   */
  firstSampleIndex?: number[];
}

export interface UnitScan {
  /** Per source (spec order): ids of units whose shard exists and validates. */
  doneUnits: string[][];
  doneRows: number[];
  quarantined: number[];
}

/** One page of a source's units (scanPage): what is done in the range it looked at, and the next units to do. */
export interface SourcePage {
  /** Up to `limit` units to do, by index, each with the done units and rows the page saw before it. */
  pending: { index: number; doneUnitsBefore: number; doneRowsBefore: number }[];
  /** The first unit index the page did not look at (the source's unit count when it looked at all). */
  next: number;
  doneUnits: number;
  doneRows: number;
  quarantined: number;
}

export async function loadPrompts(duck: DuckDBInstance, spec: Pick<RunSpec, 'prompts'>, roots: string[]): Promise<{ promptSet: string; rows: PromptRow[] }> {
  let path: string;
  let promptSet: string;
  if ('inline' in spec.prompts) {
    const name = spec.prompts.name ?? 'inline';
    const rows = spec.prompts.inline.map((p) => ({ promptSet: name, promptId: p.id, text: p.text, sourceDataset: name, language: null, messages: null }));
    return { promptSet: name, rows };
  }
  if ('set' in spec.prompts) {
    const found = promptSetPath(spec.prompts.set, roots);
    if (!found) {
      throw new MetError(
        ErrorTypes.BadRunSpec,
        `prompts.set '${spec.prompts.set}' is not a known prompt set (shipped: ${shippedPromptSets().join(', ')}; or <name>.jsonl / <name>.parquet in the data folder's prompts/); or give prompts.file`,
      );
    }
    path = found;
    promptSet = spec.prompts.set;
  } else {
    // Only under the worker's prompt roots: no URLs, globs or symlinks out (datasets/prompts).
    path = resolvePromptFile(spec.prompts.file, roots);
    promptSet = basename(spec.prompts.file, extname(spec.prompts.file)).replace(/[^A-Za-z0-9._-]+/g, '-');
  }
  const shown = 'set' in spec.prompts ? `prompt set '${spec.prompts.set}'` : `prompts.file '${spec.prompts.file}'`;
  if (isJsonl(path)) return { promptSet, rows: readPromptJsonl(path, promptSet, shown) };
  const rows = await withConnection(duck, async (c) => {
    const r = await c.runAndReadAll(`SELECT prompt_id, text, source_dataset, language, messages FROM read_parquet(${quotedString(path)})`);
    return r.getRowObjects().map((o) => ({
      promptSet,
      promptId: String(o.prompt_id),
      text: String(o.text),
      sourceDataset: String(o.source_dataset ?? promptSet),
      language: o.language == null ? null : String(o.language),
      messages: o.messages == null ? null : String(o.messages),
    }));
  });
  return { promptSet, rows };
}

export function createCollectActivities(deps: { duck: DuckDBInstance; dataDir: string; promptRoots?: string[]; corpora?: Corpora }) {
  const { duck, dataDir: root } = deps;
  // Where shards are committed: the data folder, or a bucket shared by every host (datasets/corpora.ts).
  const corpora = deps.corpora ?? new LocalCorpora(duck, root);
  // Prompt files are read only under these (the data folder's prompts/ first): docs/design.md, "Trust boundaries".
  const promptRoots = [promptsDir(root), ...(deps.promptRoots ?? [])];
  /**
   * Where each source's run starts in its slice: the slice is a set of keys, so a run draws only
   * the sample indices its slice lacks (with their own seeds, as seeds derive from the index).
   * Decided once per run and kept beside its manifest, so continued and resumed executions plan
   * the same units whatever was committed since. Refuses, before any request, a slice that holds
   * duplicates, was drawn with other sampler settings, or holds an uneven prefix.
   */
  async function planSlices(spec: RunSpec, runId: string, promptIds: string[]): Promise<number[]> {
    const docPath = `corpus/${spec.corpus}/plans/${runId}.json`;
    const kept = SlicePlanDoc.safeParse(await corpora.readJson(docPath));
    if (kept.success && kept.data.firstSampleIndex.length === spec.sources.length) return kept.data.firstSampleIndex;
    const root = await corpora.readRoot(spec.corpus, ['samples']);
    const first: number[] = [];
    for (const source of spec.sources) {
      const slice = { corpus: spec.corpus, model: source.model, source: sourceLabel(source) };
      const held = await sliceHoldings(duck, root, slice, runId);
      first.push(held.rows === 0 ? 0 : startOfRun(slice, held, source, spec, promptIds));
    }
    await corpora.writeJson(docPath, { runId, corpus: spec.corpus, firstSampleIndex: first, plannedAt: new Date().toISOString() });
    return first;
  }

  // The workflow schedules these with a heartbeat timeout (workflows/collectCorpus.ts: cpuSteps).
  return heartbeatingAll({
    /** Freezes the prompt set into <corpus>/prompts/ (once; a changed prompt file is an error). */
    async prepareRun(input: { spec: RunSpec; runId: string }): Promise<PreparedRun> {
      try {
        const { spec } = input;
        const { promptSet, rows: all } = await loadPrompts(duck, spec, promptRoots);
        const rows = spec.prompts.limit ? all.slice(0, spec.prompts.limit) : all;
        // A set or file's size is known only now: refuse a run too large for one (config/limits.ts) before anything is written.
        const tooLarge = runSizeProblem(spec, rows.length, `${rows.length.toLocaleString('en-US')} prompts`);
        if (tooLarge) throw new MetError(ErrorTypes.BadRunSpec, `the run is too large: ${tooLarge}`);
        // Prompt files and sets are checked as inline prompts are (config/runSpec.ts): before anything is sent.
        for (const row of rows) {
          const problem = promptProblem(row.promptId, row.text);
          if (problem) throw new MetError(ErrorTypes.BadRunSpec, `${problem} (prompt set '${promptSet}')`);
        }
        const target = { corpus: spec.corpus, kind: 'prompts' as const, partition: {}, unitId: promptSet };
        const status = await corpora.unitStatus(target);
        let promptsFile: string;
        if (status.state === 'valid') {
          promptsFile = status.path;
          const local = await corpora.localFile(promptsFile);
          const frozen = await withConnection(duck, async (c) =>
            (await c.runAndReadAll(`SELECT prompt_id, text FROM read_parquet(${quotedString(local)})`)).getRowObjects(),
          );
          const same = frozen.length === rows.length && frozen.every((f, i) => f.prompt_id === rows[i].promptId && f.text === rows[i].text);
          if (!same) {
            throw new MetError(
              ErrorTypes.BadRunSpec,
              `prompt set '${promptSet}' differs from the one corpus '${spec.corpus}' was started with (${frozen.length} prompts in ${promptsFile}). Use a new corpus name, or restore the original prompts.`,
            );
          }
        } else {
          promptsFile = (await corpora.writeShard(target, rows)).path;
        }
        const firstSampleIndex = await planSlices(
          spec,
          input.runId,
          rows.map((r) => r.promptId),
        );
        return { promptSet, promptsFile, promptCount: rows.length, firstSampleIndex };
      } catch (err) {
        throw toApplicationFailure(err);
      }
    },

    /** Which units are done: their shard exists and validates. Corrupt shards are quarantined. */
    async scanUnits(input: { spec: RunSpec; runId: string; promptCount: number; firstSampleIndex?: number[] }): Promise<UnitScan> {
      const plans = planSources(input.spec, input.runId, input.promptCount, input.firstSampleIndex);
      const scan: UnitScan = { doneUnits: [], doneRows: [], quarantined: [] };
      for (const plan of plans) {
        const done: string[] = [];
        let rows = 0;
        let bad = 0;
        // A bucket answers each unit with a HEAD: ask for 16 units at a time (a folder answers as fast either way).
        const statuses: Awaited<ReturnType<Corpora['unitStatus']>>[] = [];
        for (let i = 0; i < plan.units.length; i += 16) {
          const batch = plan.units.slice(i, i + 16);
          statuses.push(
            ...(await Promise.all(
              batch.map((unit) =>
                corpora.unitStatus({ corpus: input.spec.corpus, kind: 'samples', partition: { model: unit.model, source: unit.source }, unitId: unit.unitId }),
              ),
            )),
          );
        }
        for (const [i, unit] of plan.units.entries()) {
          const status = statuses[i];
          if (status.state === 'valid') {
            done.push(unit.unitId);
            rows += status.rows;
          } else if (status.state === 'quarantined') {
            bad += 1;
          }
        }
        scan.doneUnits.push(done);
        scan.doneRows.push(rows);
        scan.quarantined.push(bad);
      }
      return scan;
    },

    /**
     * One page of each source's units, from unit index `from[i]` on (units before it are known done):
     * their shards' states, until `limit` units to do are found or the source ends. Units are
     * computed from their index, never listed, so neither this activity nor the workflow holds a
     * run's units (issue #28).
     */
    async scanPage(input: {
      spec: RunSpec;
      runId: string;
      promptCount: number;
      firstSampleIndex?: number[];
      from: number[];
      limit: number;
    }): Promise<SourcePage[]> {
      try {
        const pages: SourcePage[] = [];
        for (const shape of sourceShapes(input.spec, input.promptCount, input.firstSampleIndex)) {
          const page: SourcePage = { pending: [], next: input.from[shape.sourceIndex] ?? 0, doneUnits: 0, doneRows: 0, quarantined: 0 };
          // A bucket answers each unit with a HEAD: ask for 16 units at a time (a folder answers as fast either way).
          while (page.next < shape.unitCount && page.pending.length < input.limit) {
            const units = Array.from({ length: Math.min(16, shape.unitCount - page.next) }, (_, k) => unitAt(input.spec, input.runId, shape, page.next + k));
            const statuses = await Promise.all(
              units.map((unit) =>
                corpora.unitStatus({ corpus: input.spec.corpus, kind: 'samples', partition: { model: unit.model, source: unit.source }, unitId: unit.unitId }),
              ),
            );
            for (const status of statuses) {
              if (page.pending.length >= input.limit) break;
              page.next += 1;
              if (status.state === 'valid') {
                page.doneUnits += 1;
                page.doneRows += status.rows;
              } else {
                if (status.state === 'quarantined') page.quarantined += 1;
                page.pending.push({ index: page.next - 1, doneUnitsBefore: page.doneUnits, doneRowsBefore: page.doneRows });
              }
            }
          }
          pages.push(page);
        }
        return pages;
      } catch (err) {
        throw toApplicationFailure(err);
      }
    },

    /** Checks the run's rows (count per source, no duplicate sample keys) and writes its manifest. */
    async finalizeRun(input: { spec: RunSpec; runId: string; promptCount: number; firstSampleIndex?: number[] }): Promise<CollectResult> {
      try {
        const { spec, runId } = input;
        // A bucket corpus is read from this host's cache of it, brought up to date first.
        const readRoot = await corpora.readRoot(spec.corpus, ['samples']);
        const glob = join(kindDir(readRoot, spec.corpus, 'samples'), '*', '*', 'part-*.parquet');
        const plans = sourceShapes(spec, input.promptCount, input.firstSampleIndex);
        for (const plan of plans) await assertSliceIsASet(duck, readRoot, { corpus: spec.corpus, model: plan.model, source: plan.source });
        const counts = await withConnection(duck, async (c) => {
          const reader = await c.runAndReadAll(
            `SELECT model, source, count(*)::BIGINT AS n, count(DISTINCT (prompt_id, sample_index))::BIGINT AS distinct_keys
             FROM read_parquet(${quotedString(glob)}, hive_partitioning = true) WHERE run_id = $1 GROUP BY model, source`,
            [runId],
          );
          return reader.getRowObjects();
        });
        const sources = plans.map((plan) => {
          const row = counts.find((r) => r.model === plan.model && r.source === plan.source);
          const rows = row ? Number(row.n) : 0;
          if (row && Number(row.distinct_keys) !== rows) {
            throw new MetError(
              ErrorTypes.ShardCorrupt,
              `${plan.model}/${plan.source} has ${rows - Number(row.distinct_keys)} duplicate sample keys; run 'met corpus verify ${spec.corpus}'`,
            );
          }
          if (rows !== plan.total) {
            throw new MetError(ErrorTypes.ShardCorrupt, `${plan.model}/${plan.source} has ${rows} rows, expected ${plan.total}; run 'met resume ${runId}'`);
          }
          return { model: plan.model, source: plan.source, rows, expected: plan.total };
        });
        const rows = sources.reduce((n, s) => n + s.rows, 0);
        const finishedAt = new Date().toISOString();
        const manifest = await corpora.writeJson(`corpus/${spec.corpus}/runs/${runId}.json`, { runId, corpus: spec.corpus, rows, sources, spec, finishedAt });
        return { runId, corpus: spec.corpus, rows, sources, manifest } satisfies CollectResult;
      } catch (err) {
        throw toApplicationFailure(err);
      }
    },
  });
}
export type CollectActivities = ReturnType<typeof createCollectActivities>;

const SlicePlanDoc = z.object({ firstSampleIndex: z.array(z.number().int().nonnegative()) });

/** The settings differing between two sampler settings records, as "name slice -> run" phrases. */
function settingDifferences(slice: Record<string, unknown>, run: Record<string, unknown>): string[] {
  const names = [...new Set([...Object.keys(slice), ...Object.keys(run)])].sort();
  return names
    .filter((k) => canonicalJson(slice[k] ?? null) !== canonicalJson(run[k] ?? null))
    .map((k) => `${k} ${JSON.stringify(slice[k] ?? null)} in the slice, ${JSON.stringify(run[k] ?? null)} in this run`);
}

/** The first sample index of a run into a slice that holds rows already; refuses what cannot be grown (see planSlices). */
function startOfRun(slice: SliceRef, held: SliceHoldings, source: SourceSpec, spec: RunSpec, promptIds: string[]): number {
  const name = sliceName(slice);
  const relabel = `give this source another label ('source: ${slice.source}-2' in the run spec) to collect it as a slice of its own`;
  if (held.duplicateKeys > 0) {
    throw new MetError(
      ErrorTypes.DuplicateSamples,
      `slice ${name} already holds ${held.duplicateKeys} duplicate sample key(s): run 'met corpus verify ${slice.corpus}' to list them and move the shards of the run that added them out of the slice before adding to it, or collect under a new source label`,
    );
  }
  // The same sampler, or the slice would mix two distributions under one label.
  const settings: SamplerSettings = samplerSettings(spec.sampling, source.kind === 'provider' ? source.extraBody : undefined);
  for (const json of held.samplers) {
    if (json === null) continue;
    const record = JSON.parse(json) as SamplerRecord;
    const diffs = settingDifferences(record.settings as unknown as Record<string, unknown>, settings as unknown as Record<string, unknown>);
    if (source.kind === 'provider' && record.engine !== `provider:${source.provider}`)
      diffs.push(`engine ${record.engine} in the slice, provider:${source.provider} in this run`);
    if (diffs.length)
      throw new MetError(
        ErrorTypes.BadRunSpec,
        `slice ${name} was sampled with other settings than this run's: ${diffs.join('; ')}. Nothing was sent; ${relabel}`,
      );
  }
  const basic = { temperature: settings.temperature, topP: settings.topP, maxTokens: settings.maxTokens, stop: settings.stop, endpoint: settings.endpoint };
  for (const json of held.samplings) {
    // The stored struct's fields are snake_case (max_tokens, top_p).
    const stored = Object.fromEntries(
      Object.entries(JSON.parse(json) as Record<string, unknown>).map(([k, v]) => [k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()), v]),
    );
    const diffs = settingDifferences(stored, basic);
    if (diffs.length)
      throw new MetError(
        ErrorTypes.BadRunSpec,
        `slice ${name} was sampled with other settings than this run's: ${diffs.join('; ')}. Nothing was sent; ${relabel}`,
      );
  }
  // Runs fill every prompt's indices from 0, so a complete slice holds the same prefix 0..k-1 for every prompt.
  const counts = promptIds.map((id) => held.perPrompt.get(id) ?? { count: 0, maxIndex: -1 });
  const k = counts[0]?.count ?? 0;
  const uneven = promptIds.filter((_, i) => counts[i].count !== k || counts[i].maxIndex !== k - 1);
  if (uneven.length) {
    const shown = uneven.slice(0, 3).map((id) => `${id}: ${held.perPrompt.get(id)?.count ?? 0} samples`);
    throw new MetError(
      ErrorTypes.BadRunSpec,
      `slice ${name} holds an uneven set of samples (${promptIds[0]}: ${k}; ${shown.join(', ')}${uneven.length > 3 ? ', ...' : ''}): a run into it did not finish (${held.runIds.join(', ')}). Finish it with 'met resume RUN', or ${relabel}`,
    );
  }
  return k;
}
