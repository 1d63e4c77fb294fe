import { hashHex, seedFrom } from '../common/hash';
import { type RunSpec, type SourceSpec, sourceLabel } from '../config/runSpec';
import { modelTaskQueue, providerTaskQueue } from '../temporal/queues';

/**
 * Pure planning for collectCorpus (workflows/collectCorpus.ts plans its units with it, the
 * activities find and name their shards with it): a run spec becomes work units with deterministic ids. The
 * samples of one source are ordered prompt-major (prompt 0 samples 0..s-1, prompt 1, ...), and a unit
 * is a contiguous range [start, end) of that order, so a unit is three numbers, never a list.
 */
export interface WorkUnit {
  unitId: string;
  sourceIndex: number;
  model: string;
  source: string;
  start: number;
  end: number;
  /**
   * The first sample index this run draws per prompt: what the slice already held from earlier
   * runs when this run was planned (absent: 0). A slice is a set of keys, so a run that grows it
   * from 30 to 40 per prompt draws indices 30..39 only (docs/slices.md).
   */
  firstSampleIndex?: number;
}

export interface SourcePlan {
  sourceIndex: number;
  model: string;
  source: string;
  taskQueue: string;
  total: number;
  /** See WorkUnit.firstSampleIndex. */
  firstSampleIndex: number;
  units: WorkUnit[];
}

/** What a finished collection returns (activities/collect.ts finalizeRun, the workflow's result). */
export interface CollectResult {
  runId: string;
  corpus: string;
  rows: number;
  sources: { model: string; source: string; rows: number; expected: number }[];
  /** The manifest's path ('' when the run stopped at its budget: it is written when the run completes). */
  manifest: string;
  /**
   * Runs with a budget: USD spent in this execution's view (committed units at the provider
   * worker's prices) and whether the run stopped at the budget with units left (rows < expected;
   * `met resume RUN --budget-usd N` continues it).
   */
  budget?: { usd: number; spentUsd: number; reached: boolean };
}

export function taskQueueFor(source: SourceSpec): string {
  return source.kind === 'provider' ? providerTaskQueue(source.provider) : modelTaskQueue(source.model, source.precision);
}

/** A source's place in a run without its units: they are computed on demand (unitAt), never listed. */
export type SourceShape = Omit<SourcePlan, 'units'> & { unitCount: number };

/**
 * `firstSampleIndex[i]`: the sample indices per prompt that source i's slice already holds from
 * earlier runs (collect prepareRun finds them); this run draws indices from there up to
 * samplesPerPrompt. Absent (runs planned before slices were sets): 0.
 */
export function sourceShapes(spec: RunSpec, promptCount: number, firstSampleIndex?: readonly number[]): SourceShape[] {
  return spec.sources.map((source, sourceIndex) => {
    const first = firstSampleIndex?.[sourceIndex] ?? 0;
    const total = promptCount * Math.max(0, spec.samplesPerPrompt - first);
    return {
      sourceIndex,
      model: source.model,
      source: sourceLabel(source),
      taskQueue: taskQueueFor(source),
      total,
      firstSampleIndex: first,
      unitCount: Math.ceil(total / spec.unitSize),
    };
  });
}

/** Unit `index` of a source: the range [index x unitSize, ...) of its order, and an id that names its keys. */
export function unitAt(spec: RunSpec, runId: string, shape: SourceShape, index: number): WorkUnit {
  const source = spec.sources[shape.sourceIndex];
  const first = shape.firstSampleIndex;
  const start = index * spec.unitSize;
  const end = Math.min(shape.total, start + spec.unitSize);
  // A unit's id names its keys: with a first index, the same range of the order is other keys.
  const unitId = `${String(index).padStart(6, '0')}-${(first === 0 ? hashHex(runId, source.model, shape.source, start, end) : hashHex(runId, source.model, shape.source, start, end, first)).slice(0, 8)}`;
  return { unitId, sourceIndex: shape.sourceIndex, model: source.model, source: shape.source, start, end, ...(first === 0 ? {} : { firstSampleIndex: first }) };
}

/**
 * Every unit of every source, listed: only for runs planned before units were paged (their
 * recorded histories replay through it, workflows/collectCorpus.ts); RUN_LIMITS bounds them.
 */
export function planSources(spec: RunSpec, runId: string, promptCount: number, firstSampleIndex?: readonly number[]): SourcePlan[] {
  return sourceShapes(spec, promptCount, firstSampleIndex).map(({ unitCount, ...shape }) => ({
    ...shape,
    units: Array.from({ length: unitCount }, (_, i) => unitAt(spec, runId, { ...shape, unitCount }, i)),
  }));
}

/**
 * Position `flat` of a source's order as (prompt index, sample index): prompt-major over the
 * indices firstSampleIndex..samplesPerPrompt-1 of each prompt.
 */
export function itemAt(flat: number, samplesPerPrompt: number, firstSampleIndex = 0): { promptIndex: number; sampleIndex: number } {
  const perPrompt = samplesPerPrompt - firstSampleIndex;
  return { promptIndex: Math.floor(flat / perPrompt), sampleIndex: firstSampleIndex + (flat % perPrompt) };
}

/** The seed sent for one sample: reproducible from the spec, distinct per sample. */
export function sampleSeed(
  sampling: Pick<RunSpec['sampling'], 'seedPolicy' | 'seed'>,
  model: string,
  source: string,
  promptId: string,
  sampleIndex: number,
): number | null {
  if (sampling.seedPolicy === 'none') return null;
  return seedFrom(sampling.seed, model, sampling.seedPolicy === 'shared' ? '*' : source, promptId, sampleIndex);
}
