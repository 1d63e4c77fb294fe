import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { commitFile, writeFileAtomic } from '../common/files';
import { dirname, join } from 'node:path';
import type { DuckDBInstance } from '@duckdb/node-api';
import { ErrorTypes, MetError } from '../common/errors';
import { seedFrom } from '../common/hash';
import { toApplicationFailure } from '../common/failures';
import { heartbeatingAll } from './heartbeat';
import { controlLabel, gridReferences, label, mixComponents, type PowerAlternative, type PowerSource, type PowerSpec } from '../config/powerSpec';
import { assertOneScorerRoute, completionScores, corpusDir, quotedString, readSlice, withConnection, type PowerCellRow } from '../datasets';
import { type Corpora, LocalCorpora } from '../datasets/corpora';
import {
  createPowerSimulator,
  isOneSampleStatistic,
  mixturePower,
  nullDistribution,
  oneSamplePowerCell,
  poolHalf,
  Rng,
  simulateNullsParallel,
  type EncodedSample,
  type OneSampleStatistic,
  type ScoredPool,
  type TwoSampleStatistic,
} from '../stats';

/**
 * Power grids on the CPU queue. The plan fixes every prompt subset and seed up front (stored beside
 * the results); null statistics are computed once per (reference, subset, n, statistic) and cached
 * as Parquet for every alternative; each cell result (rejections plus every simulation's seed,
 * statistic and p-value) is one Parquet shard written exactly once. With two references (the
 * paper's composite null) a cell rejects only when the test rejects against both.
 * Gram blocks and large null batches run on worker threads (createPowerSimulator,
 * simulateNullsParallel): the numbers are those of one thread, and the activity keeps heartbeating.
 */
export interface NullKey {
  id: string;
  draw: number;
  n: number;
  statistic: TwoSampleStatistic;
  /** The reference the null samples are drawn from (absent in plans made before composite nulls: the first). */
  reference?: PowerSource;
  /** The control null's: drawn from half A of the reference's pool (PowerSpec.control). */
  split?: 'a';
}

export interface PowerCellPlan {
  cellId: string;
  draw: number;
  n: number;
  statistic: TwoSampleStatistic | 'rut' | OneSampleStatistic;
  /** A source, or a per-request mixture of sources. */
  alternative: PowerAlternative;
  isNull: boolean;
  /** Null statistics per reference, in the order of the grid's references. */
  nullKeys: string[];
  /** Planner caveats about this cell (a pool too small for n). */
  warnings: string[];
  /** The independent-pool control: half A of the reference's pool against half B (PowerSpec.control). */
  control?: boolean;
}

/** Statistics whose cells need no shared null statistics: rut (Cramér–von Mises) and the one-sample ones (a bootstrap of their own). */
const ownNulls = (statistic: string) => statistic === 'rut' || isOneSampleStatistic(statistic);

/** Several samples of one encoding (same L, m and pad) as one, rows in order. */
function joinSamples(samples: EncodedSample[]): EncodedSample {
  const rows = samples.reduce((a, s) => a + s.prompts.length, 0);
  const out: EncodedSample = {
    L: samples[0].L,
    m: samples[0].m,
    prompts: new Int32Array(rows),
    tokens: new Int32Array(rows * samples[0].L),
    pad: samples[0].pad,
  };
  let at = 0;
  for (const s of samples) {
    out.prompts.set(s.prompts, at);
    out.tokens.set(s.tokens, at * s.L);
    at += s.prompts.length;
  }
  return out;
}

/** The smallest half a split gives a pool of `size`: each half must hold a sample of every prompt. */
const splittable = (size: number) => Math.floor(size / 2) >= 1;

export interface PowerPlan {
  subsets: string[][];
  nullKeys: NullKey[];
  cells: PowerCellPlan[];
  /** Every cell's warnings, once. */
  warnings: string[];
}

export interface CellSummary {
  cellId: string;
  rejections: number;
  sims: number;
  power: number;
  skipped: boolean;
  warnings: string[];
}

/**
 * Small-pool check. Cells draw n samples per prompt with replacement from the stored pool; when a
 * pool holds fewer than `ratio` x n samples the simulations keep redrawing the same few samples, the
 * null and alternative draws overlap, and the estimated power (and type-I error) is inflated.
 */
export function poolWarning(
  cellId: string,
  source: PowerSource,
  pool: { promptId: string; size: number },
  n: number,
  ratio: number,
  draw: number,
): string | undefined {
  if (pool.size >= ratio * n) return undefined;
  return (
    `cell ${cellId}: ${label(source)} has only ${pool.size} samples for prompt ${pool.promptId} (prompt subset ${draw}); ` +
    `drawing n = ${n} per prompt from fewer than ${ratio} x ${n} = ${ratio * n} re-uses samples across simulations and inflates power and type-I error estimates`
  );
}

export function createPowerActivities(deps: { duck: DuckDBInstance; dataDir: string; threads?: number; corpora?: Corpora }) {
  // A bucket corpus is read from this host's cache of it (synced before each read); cells are committed to it.
  const corpora = deps.corpora ?? new LocalCorpora(deps.duck, deps.dataDir);
  const readRoot = (corpus: string) => corpora.readRoot(corpus, ['samples', 'logprobs']);
  const parallel = { threads: deps.threads };
  const cacheDir = (spec: PowerSpec, runId: string) => join(corpusDir(corpora.writeRoot, spec.corpus), 'power-cache', runId);
  const slice = async (spec: PowerSpec, source: PowerSource, promptIds?: string[]) =>
    readSlice(deps.duck, await readRoot(spec.corpus), {
      corpus: spec.corpus,
      models: [source.model],
      sources: [source.source],
      promptIds,
      unit: spec.unit,
      L: spec.L,
    });

  async function nullsPath(spec: PowerSpec, runId: string, key: NullKey, subset: string[]): Promise<string> {
    const path = join(cacheDir(spec, runId), `nulls-${key.id}.parquet`);
    if (existsSync(path)) return path;
    const reference = await slice(spec, key.reference ?? gridReferences(spec)[0], subset);
    const from = key.split === 'a' ? poolHalf(reference.sample, 0).sample : reference.sample;
    const simulator = await createPowerSimulator(key.statistic, { references: [from] }, { k: spec.k, ...parallel });
    const nulls = await simulateNullsParallel(simulator, { n: key.n * subset.length, b: spec.b, seed: seedFrom(spec.seed, 'nulls', key.id) }, parallel);
    mkdirSync(dirname(path), { recursive: true });
    const staging = `${path}.${process.pid}.json`;
    const temp = `${path}.${process.pid}.tmp`;
    writeFileSync(staging, JSON.stringify(Array.from(nulls, (v, i) => ({ i, v }))));
    try {
      await withConnection(deps.duck, (c) =>
        c.run(
          `COPY (SELECT i::INTEGER AS draw, v::DOUBLE AS statistic FROM read_json(${quotedString(staging)}) ORDER BY i) TO ${quotedString(temp)} (FORMAT parquet)`,
        ),
      );
      commitFile(temp, path);
    } finally {
      rmSync(staging, { force: true });
      rmSync(temp, { force: true });
    }
    return path;
  }

  async function readNulls(path: string): Promise<Float64Array> {
    return withConnection(deps.duck, async (c) =>
      Float64Array.from((await c.runAndReadAll(`SELECT statistic FROM read_parquet(${quotedString(path)}) ORDER BY draw`)).getRows(), (r) => Number(r[0])),
    );
  }

  /** A source's slice of the grid's prompts with its logprobs under spec.scorer; its decode routes are added to `routes` (a cell refuses to mix two). */
  async function readScored(spec: PowerSpec, source: PowerSource, subset: string[], routes: { name: string; routes?: Record<string, number> }[]) {
    const s = await readSlice(deps.duck, await readRoot(spec.corpus), {
      corpus: spec.corpus,
      models: [source.model],
      sources: [source.source],
      promptIds: subset,
      unit: spec.unit,
      L: spec.L,
      logprobsUnder: { scorerModel: spec.scorer!.model, scorerPrecision: spec.scorer!.precision },
    });
    routes.push({ name: `${spec.corpus}:${label(source)}`, routes: s.scorerRoutes });
    return s;
  }

  /**
   * A rut cell: n x m API calls per simulation (n per prompt of the subset), each from the
   * alternative (or per request from a mixture's components; the reference itself for the type-I
   * cell), ranked among rutK reference completions of its prompt by their scores under spec.scorer
   * (stats/mixture.ts mixturePower, rut only). Same API budget as the two-sample cells at this n.
   */
  async function rutCell(spec: PowerSpec, runId: string, cell: PowerCellPlan, subset: string[], warnings: string[]) {
    const reference = gridReferences(spec)[0];
    const score = spec.rutScore ?? 'sum_logprob';
    const scoredPool = async (source: PowerSource): Promise<ScoredPool> => {
      const s = await readScored(spec, source, subset, routes);
      return { sample: s.sample, scores: completionScores(s, score, label(source)) };
    };
    const routes: { name: string; routes?: Record<string, number> }[] = [];
    let refPool = await scoredPool(reference);
    const components = label(cell.alternative) === label(reference) ? [{ source: reference, weight: 1 }] : mixComponents(cell.alternative, reference.model);
    let mixture = await Promise.all(
      components.map(async (c) => ({ pool: label(c.source) === label(reference) ? refPool : await scoredPool(c.source), weight: c.weight })),
    );
    assertOneScorerRoute(`${spec.scorer!.model}/${spec.scorer!.precision}`, routes);
    if (cell.control) {
      // The independent-pool control: API calls from half B, ranked among reference completions of half A.
      const half = (h: 0 | 1) => poolHalf(refPool.sample, h, refPool.scores) as ScoredPool;
      mixture = [{ pool: half(1), weight: 1 }];
      refPool = half(0);
    }
    const seed = seedFrom(spec.seed, 'cell', cell.cellId);
    const r = mixturePower({ reference: refPool, mixture, perPrompt: cell.n, k: spec.rutK ?? 20, tests: ['rut'], sims: spec.sims, alpha: spec.alpha, seed });
    const t = r.tests.rut;
    return {
      corpus: spec.corpus,
      runId,
      cellId: cell.cellId,
      statistic: 'rut',
      unit: spec.unit,
      L: spec.L,
      reference: label(reference),
      alternative: cell.control ? controlLabel(reference) : label(cell.alternative),
      isNull: cell.isNull,
      nPerPrompt: cell.n,
      m: subset.length,
      subsetDraw: cell.draw,
      alpha: spec.alpha,
      b: spec.rutK ?? 20,
      seed,
      warnings,
      reference2: null,
      sims: r.sims,
      rejections: t.rejections,
      power: t.power,
      simSeeds: Array.from(r.seeds),
      simStatistics: Array.from(t.statistics),
      simPvalues: Array.from(t.pvalues),
      simStatistics2: null,
      simPvalues2: null,
    };
  }

  /**
   * A one-sample cell: n x m completions per simulation from the alternative (per request from a
   * mixture's components; from the reference itself in the type-I cell), tested against the
   * reference model's own probabilities (spec.scorer) with the parametric bootstrap from the
   * reference's pool, as `met test --stat g_squared` (stats/oneSample.ts oneSamplePowerCell). The
   * null's support is every completion of the pools drawn from, scored under the scorer.
   */
  async function oneSampleCell(spec: PowerSpec, runId: string, cell: PowerCellPlan, subset: string[], warnings: string[]) {
    const reference = gridReferences(spec)[0];
    const routes: { name: string; routes?: Record<string, number> }[] = [];
    const scored = async (source: PowerSource) => {
      const s = await readScored(spec, source, subset, routes);
      return { sample: s.sample, sums: s.logprobSum! };
    };
    const ref = await scored(reference);
    const components = label(cell.alternative) === label(reference) || cell.control ? [] : mixComponents(cell.alternative, reference.model);
    const pools = await Promise.all(components.map(async (c) => ({ ...(await scored(c.source)), weight: c.weight })));
    assertOneScorerRoute(`${spec.scorer!.model}/${spec.scorer!.precision}`, routes);
    const all = [ref, ...pools];
    let nullDist;
    try {
      nullDist = nullDistribution(joinSamples(all.map((p) => p.sample)), Float64Array.from(all.flatMap((p) => Array.from(p.sums))));
    } catch (err) {
      throw new MetError(ErrorTypes.BadInput, `${(err as Error).message}. The one-sample tests use whole completions: raise L above the longest completion`);
    }
    // The independent-pool control: the bootstrap from half A of the reference's pool, Y from half B.
    const nullPool = cell.control ? poolHalf(ref.sample, 0).sample : ref.sample;
    const alternatives = cell.control ? [{ pool: poolHalf(ref.sample, 1).sample, weight: 1 }] : pools.map((p) => ({ pool: p.sample, weight: p.weight }));
    const seed = seedFrom(spec.seed, 'cell', cell.cellId);
    const r = oneSamplePowerCell({
      name: cell.statistic as OneSampleStatistic,
      nullDist,
      reference: nullPool,
      alternatives,
      n: cell.n * subset.length,
      sims: spec.sims,
      b: spec.b,
      alpha: spec.alpha,
      seed,
      nullSeed: seedFrom(spec.seed, 'nulls', `${cell.statistic}-${cell.control ? 'control-' : ''}n${cell.n}-d${cell.draw}`),
    });
    return {
      corpus: spec.corpus,
      runId,
      cellId: cell.cellId,
      statistic: cell.statistic,
      unit: spec.unit,
      L: spec.L,
      reference: label(reference),
      alternative: cell.control ? controlLabel(reference) : label(cell.alternative),
      isNull: cell.isNull,
      nPerPrompt: cell.n,
      m: subset.length,
      subsetDraw: cell.draw,
      alpha: spec.alpha,
      b: spec.b,
      seed,
      // Undefined null statistics never count as extreme (as in every met test); the cell says how many there were.
      warnings: r.undefinedNulls ? [...warnings, `cell ${cell.cellId}: ${r.undefinedNulls} of ${spec.b} null statistics undefined`] : warnings,
      reference2: null,
      sims: r.sims,
      rejections: r.rejections,
      power: r.power,
      simSeeds: Array.from(r.seeds),
      simStatistics: Array.from(r.statistics),
      simPvalues: Array.from(r.pvalues),
      simStatistics2: null,
      simPvalues2: null,
    };
  }

  return heartbeatingAll({
    async planPowerGrid(input: { spec: PowerSpec; runId: string }): Promise<PowerPlan> {
      try {
        const { spec, runId } = input;
        const references = gridReferences(spec);
        const composite = references.length === 2;
        const all = await slice(spec, references[0]);
        const promptIds = all.promptIds;
        if (spec.promptSubsets.size > promptIds.length)
          throw new MetError(
            ErrorTypes.BadRunSpec,
            `promptSubsets.size ${spec.promptSubsets.size} is larger than the ${promptIds.length} prompts of the reference: lower it`,
          );
        const rng = new Rng(seedFrom(spec.seed, 'subsets'));
        const subsets = Array.from({ length: spec.promptSubsets.draws }, () => {
          const order = rng.shuffle(Int32Array.from(promptIds.keys()));
          return Array.from(order.subarray(0, spec.promptSubsets.size), (i) => promptIds[i]).sort();
        });

        // Stored samples per prompt of every source (mixture components too), for the small-pool warning.
        const defaultModel = references[0].model;
        const cellAlternatives: PowerAlternative[] = [
          ...references,
          ...spec.alternatives.filter((a) => !references.some((r) => label(r) === label(a))),
          ...(spec.nulls ?? []),
        ];
        const moreNulls = new Set((spec.nulls ?? []).map(label));
        const sources = [...new Map(cellAlternatives.flatMap((a) => mixComponents(a, defaultModel).map((c) => [label(c.source), c.source] as const))).values()];
        const poolSizes = new Map<string, Map<string, number>>();
        for (const source of sources) {
          const s = label(source) === label(references[0]) ? all : await slice(spec, source, promptIds);
          poolSizes.set(label(source), new Map(s.promptIds.map((id, i) => [id, s.rowsPerPrompt[i]])));
        }
        const smallestPool = (source: PowerSource, subset: string[]) =>
          subset.reduce(
            (min, promptId) => {
              const size = poolSizes.get(label(source))?.get(promptId) ?? 0;
              return size < min.size ? { promptId, size } : min;
            },
            { promptId: subset[0], size: Infinity },
          );

        const nullKeys: NullKey[] = [];
        const cells: PowerCellPlan[] = [];
        const control = spec.control === 'split' && !composite;
        for (let draw = 0; draw < subsets.length; draw++) {
          for (const n of spec.samplesPerPrompt) {
            for (const statistic of spec.statistics) {
              // One reference keeps the ids of grids made before composite nulls (same seeds, same cache).
              // rut needs no null statistics (its p-value is Cramér–von Mises); a one-sample cell bootstraps its own.
              const keys = (ownNulls(statistic) ? [] : references).map((reference) => ({
                id: composite ? `${statistic}-${label(reference)}-n${n}-d${draw}` : `${statistic}-n${n}-d${draw}`,
                draw,
                n,
                statistic: statistic as TwoSampleStatistic,
                reference,
              }));
              nullKeys.push(...keys);
              for (const alternative of cellAlternatives) {
                const components = mixComponents(alternative, defaultModel);
                const isNull =
                  moreNulls.has(label(alternative)) ||
                  references.some((r) => label(r) === label(alternative) || (components.length === 1 && label(components[0].source) === label(r)));
                const cellId = `${statistic}-${label(alternative)}-n${n}-d${draw}`;
                const warnings = [...new Map([...references, ...components.map((c) => c.source)].map((s) => [label(s), s])).values()]
                  .map((s) => poolWarning(cellId, s, smallestPool(s, subsets[draw]), n, spec.poolWarningRatio, draw))
                  .filter((w): w is string => w !== undefined);
                // With the control, small pools are judged by what the control measures, not by a ratio.
                cells.push({ cellId, draw, n, statistic, alternative, isNull, nullKeys: keys.map((k) => k.id), warnings: control ? [] : warnings });
              }
              if (control && splittable(smallestPool(references[0], subsets[draw]).size)) {
                const key: NullKey[] = ownNulls(statistic)
                  ? []
                  : [
                      {
                        id: `${statistic}-control-n${n}-d${draw}`,
                        draw,
                        n,
                        statistic: statistic,
                        reference: references[0],
                        split: 'a',
                      },
                    ];
                nullKeys.push(...key);
                cells.push({
                  cellId: `${statistic}-control-n${n}-d${draw}`,
                  draw,
                  n,
                  statistic,
                  alternative: references[0],
                  isNull: true,
                  nullKeys: key.map((k) => k.id),
                  warnings: [],
                  control: true,
                });
              }
            }
          }
        }
        const plan: PowerPlan = { subsets, nullKeys, cells, warnings: cells.flatMap((c) => c.warnings) };
        writeFileAtomic(join(cacheDir(spec, runId), 'plan.json'), JSON.stringify({ spec, ...plan }, null, 2));
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

    async runPowerCell(input: { spec: PowerSpec; runId: string; cell: PowerCellPlan; subset: string[]; nullKeys: NullKey[] }): Promise<CellSummary> {
      try {
        const { spec, runId, cell, subset } = input;
        const warnings = cell.warnings ?? [];
        const target = { corpus: spec.corpus, kind: 'power' as const, partition: {}, unitId: `${runId}.${cell.cellId}` };
        const done = await corpora.unitStatus(target);
        if (done.state === 'valid') {
          const row = await withConnection(
            deps.duck,
            async (c) =>
              (
                await c.runAndReadAll(
                  `SELECT rejections, sims FROM read_parquet(${quotedString(await corpora.localFile(done.path))}) WHERE cell_id = $1 AND run_id = $2`,
                  [cell.cellId, runId],
                )
              ).getRowObjects()[0],
          );
          const rejections = Number(row.rejections);
          return { cellId: cell.cellId, rejections, sims: Number(row.sims), power: rejections / Number(row.sims), skipped: true, warnings };
        }
        const t0 = performance.now();
        const references = gridReferences(spec);
        // The cell's computation (the activity heartbeats meanwhile: heartbeatingAll).
        const row = await (async () => {
          if (cell.statistic === 'rut') return rutCell(spec, runId, cell, subset, warnings);
          if (isOneSampleStatistic(cell.statistic)) return oneSampleCell(spec, runId, cell, subset, warnings);
          const nulls = await Promise.all(input.nullKeys.map(async (key) => readNulls(await nullsPath(spec, runId, key, subset))));
          const refSamples = await Promise.all(references.map(async (r) => (await slice(spec, r, subset)).sample));
          // Y from the first reference is drawn from that reference's own pool (stats' type-I error cell).
          const yIsFirst = !cell.control && label(cell.alternative) === label(references[0]);
          // A mixture: one alternative pool per component, Y drawn per request from them (sampler drawMixture).
          const components = yIsFirst || cell.control ? [] : mixComponents(cell.alternative, references[0].model);
          let alternatives = await Promise.all(components.map(async (c) => (await slice(spec, c.source, subset)).sample));
          if (cell.control) {
            // The independent-pool control: X and the nulls from half A of the reference's pool, Y from half B.
            alternatives = [poolHalf(refSamples[0], 1).sample];
            refSamples[0] = poolHalf(refSamples[0], 0).sample;
          }
          const simulator = await createPowerSimulator(cell.statistic, { references: refSamples, alternatives }, { k: spec.k, ...parallel });
          const mixture = components.length > 1 || 'mix' in cell.alternative ? components.map((c, i) => ({ alternative: i, weight: c.weight })) : undefined;
          const request = {
            alternative: yIsFirst ? undefined : 0,
            mixture,
            n: cell.n * subset.length,
            sims: spec.sims,
            alpha: spec.alpha,
            seed: seedFrom(spec.seed, 'cell', cell.cellId),
          };
          const base = {
            corpus: spec.corpus,
            runId,
            cellId: cell.cellId,
            statistic: cell.statistic,
            unit: spec.unit,
            L: spec.L,
            reference: label(references[0]),
            alternative: cell.control ? controlLabel(references[0]) : label(cell.alternative),
            isNull: cell.isNull,
            nPerPrompt: cell.n,
            m: subset.length,
            subsetDraw: cell.draw,
            alpha: spec.alpha,
            b: spec.b,
            seed: request.seed,
            warnings,
          };
          if (references.length === 2) {
            const r = simulator.compositeCell({ ...request, nulls: [nulls[0], nulls[1]] });
            return {
              ...base,
              reference2: label(references[1]),
              sims: r.sims,
              rejections: r.rejections,
              power: r.power,
              simSeeds: Array.from(r.seeds),
              simStatistics: Array.from(r.statistics[0]),
              simPvalues: Array.from(r.pvalues[0]),
              simStatistics2: Array.from(r.statistics[1]),
              simPvalues2: Array.from(r.pvalues[1]),
            };
          }
          const r = simulator.cell({ ...request, nulls: nulls[0] });
          return {
            ...base,
            reference2: null,
            sims: r.sims,
            rejections: r.rejections,
            power: r.power,
            simSeeds: Array.from(r.seeds),
            simStatistics: Array.from(r.statistics),
            simPvalues: Array.from(r.pvalues),
            simStatistics2: null,
            simPvalues2: null,
          };
        })();
        const full: PowerCellRow = { ...row, durationMs: performance.now() - t0, createdAt: new Date() };
        await corpora.writeShard(target, [full]);
        return { cellId: cell.cellId, rejections: row.rejections, sims: row.sims, power: row.power, skipped: false, warnings };
      } catch (err) {
        throw toApplicationFailure(err);
      }
    },
  });
}
export type PowerActivities = ReturnType<typeof createPowerActivities>;
