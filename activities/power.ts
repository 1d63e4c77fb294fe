import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { DuckDBInstance } from '@duckdb/node-api';
import { seedFrom } from '../common/hash';
import { toApplicationFailure } from '../common/errors';
import type { PowerSource, PowerSpec } from '../config/powerSpec';
import { corpusDir, quotedString, readSlice, unitStatus, withConnection, writeShard, type PowerCellRow } from '../datasets';
import { Rng, simulateNulls, simulatePowerCell, type TwoSampleStatistic } from '../stats';

/**
 * Power grids on the CPU queue. The plan fixes every prompt subset and seed up front (stored beside
 * the results); null statistics are computed once per (subset, n, statistic) and cached as Parquet
 * for every alternative; each cell result is one Parquet shard written exactly once.
 */
export interface NullKey {
  id: string;
  draw: number;
  n: number;
  statistic: TwoSampleStatistic;
}

export interface PowerCellPlan {
  cellId: string;
  draw: number;
  n: number;
  statistic: TwoSampleStatistic;
  alternative: PowerSource;
  isNull: boolean;
  nullKey: string;
}

export interface PowerPlan {
  subsets: string[][];
  nullKeys: NullKey[];
  cells: PowerCellPlan[];
}

export interface CellSummary {
  cellId: string;
  rejections: number;
  sims: number;
  power: number;
  skipped: boolean;
}

const label = (s: PowerSource) => `${s.model}.${s.source}`;

export function createPowerActivities(deps: { duck: DuckDBInstance; dataDir: string }) {
  const root = deps.dataDir;
  const cacheDir = (spec: PowerSpec, runId: string) => join(corpusDir(root, spec.corpus), 'power-cache', runId);
  const slice = (spec: PowerSpec, source: PowerSource, promptIds?: string[]) =>
    readSlice(deps.duck, root, { corpus: spec.corpus, models: [source.model], sources: [source.source], promptIds, unit: spec.unit, L: spec.L });

  async function nullsPath(spec: PowerSpec, runId: string, key: NullKey, subset: string[]): Promise<string> {
    const path = join(cacheDir(spec, runId), `nulls-${key.id}.parquet`);
    if (existsSync(path)) return path;
    const reference = await slice(spec, spec.reference, subset);
    const nulls = simulateNulls(key.statistic, reference.sample, key.n * subset.length, { b: spec.b, seed: seedFrom(spec.seed, 'nulls', key.id), k: spec.k });
    mkdirSync(dirname(path), { recursive: true });
    const staging = `${path}.${process.pid}.json`;
    const temp = `${path}.${process.pid}.tmp`;
    writeFileSync(staging, JSON.stringify(Array.from(nulls, (v, i) => ({ i, v }))));
    try {
      await withConnection(deps.duck, (c) =>
        c.run(`COPY (SELECT i::INTEGER AS draw, v::DOUBLE AS statistic FROM read_json(${quotedString(staging)}) ORDER BY i) TO ${quotedString(temp)} (FORMAT parquet)`),
      );
      renameSync(temp, path);
    } finally {
      rmSync(staging, { force: true });
      rmSync(temp, { force: true });
    }
    return path;
  }

  return {
    async planPowerGrid(input: { spec: PowerSpec; runId: string }): Promise<PowerPlan> {
      try {
        const { spec, runId } = input;
        const all = await slice(spec, spec.reference);
        const promptIds = all.promptIds;
        if (spec.promptSubsets.size > promptIds.length) throw new Error(`promptSubsets.size ${spec.promptSubsets.size} is larger than the ${promptIds.length} prompts of the reference`);
        const rng = new Rng(seedFrom(spec.seed, 'subsets'));
        const subsets = Array.from({ length: spec.promptSubsets.draws }, () => {
          const order = rng.shuffle(Int32Array.from(promptIds.keys()));
          return Array.from(order.subarray(0, spec.promptSubsets.size), (i) => promptIds[i]).sort();
        });
        const nullKeys: NullKey[] = [];
        const cells: PowerCellPlan[] = [];
        for (let draw = 0; draw < subsets.length; draw++) {
          for (const n of spec.samplesPerPrompt) {
            for (const statistic of spec.statistics) {
              const nullKey = `${statistic}-n${n}-d${draw}`;
              nullKeys.push({ id: nullKey, draw, n, statistic });
              for (const alternative of [spec.reference, ...spec.alternatives]) {
                const isNull = label(alternative) === label(spec.reference);
                cells.push({ cellId: `${statistic}-${label(alternative)}-n${n}-d${draw}`, draw, n, statistic, alternative, isNull, nullKey });
              }
            }
          }
        }
        const plan = { subsets, nullKeys, cells };
        mkdirSync(cacheDir(spec, runId), { recursive: true });
        writeFileSync(join(cacheDir(spec, runId), 'plan.json'), JSON.stringify({ spec, ...plan }, null, 2));
        return plan;
      } catch (err) {
        throw toApplicationFailure(err);
      }
    },

    async computeNulls(input: { spec: PowerSpec; runId: string; key: NullKey; subset: string[] }): Promise<string> {
      try {
        return await nullsPath(input.spec, input.runId, input.key, input.subset);
      } catch (err) {
        throw toApplicationFailure(err);
      }
    },

    async runPowerCell(input: { spec: PowerSpec; runId: string; cell: PowerCellPlan; subset: string[]; nullKey: NullKey }): Promise<CellSummary> {
      try {
        const { spec, runId, cell, subset } = input;
        const target = { corpus: spec.corpus, kind: 'power' as const, partition: {}, unitId: `${runId}.${cell.cellId}` };
        const done = await unitStatus(deps.duck, root, target);
        if (done.state === 'valid') {
          const row = await withConnection(deps.duck, async (c) =>
            (await c.runAndReadAll(`SELECT rejections, sims FROM read_parquet(${quotedString(done.path)}) WHERE cell_id = $1 AND run_id = $2`, [cell.cellId, runId])).getRowObjects()[0],
          );
          const rejections = Number(row.rejections);
          return { cellId: cell.cellId, rejections, sims: Number(row.sims), power: rejections / Number(row.sims), skipped: true };
        }
        const t0 = performance.now();
        const path = await nullsPath(spec, runId, input.nullKey, subset);
        const nulls = await withConnection(deps.duck, async (c) =>
          Float64Array.from((await c.runAndReadAll(`SELECT statistic FROM read_parquet(${quotedString(path)}) ORDER BY draw`)).getRows(), (r) => Number(r[0])),
        );
        const reference = await slice(spec, spec.reference, subset);
        const alternative = cell.isNull ? undefined : (await slice(spec, cell.alternative, subset)).sample;
        const seed = seedFrom(spec.seed, 'cell', cell.cellId);
        const result = simulatePowerCell(cell.statistic, reference.sample, alternative, nulls, { n: cell.n * subset.length, sims: spec.sims, alpha: spec.alpha, seed, k: spec.k });
        const row: PowerCellRow = {
          corpus: spec.corpus,
          runId,
          cellId: cell.cellId,
          statistic: cell.statistic,
          unit: spec.unit,
          L: spec.L,
          reference: label(spec.reference),
          alternative: label(cell.alternative),
          isNull: cell.isNull,
          nPerPrompt: cell.n,
          m: subset.length,
          subsetDraw: cell.draw,
          sims: result.sims,
          rejections: result.rejections,
          power: result.power,
          alpha: spec.alpha,
          b: spec.b,
          seed,
          durationMs: performance.now() - t0,
          createdAt: new Date(),
        };
        await writeShard(deps.duck, root, target, [row]);
        return { cellId: cell.cellId, rejections: result.rejections, sims: result.sims, power: result.power, skipped: false };
      } catch (err) {
        throw toApplicationFailure(err);
      }
    },
  };
}
export type PowerActivities = ReturnType<typeof createPowerActivities>;
