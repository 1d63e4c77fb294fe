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
}

export interface SourcePlan {
  sourceIndex: number;
  model: string;
  source: string;
  taskQueue: string;
  total: number;
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

export function planSources(spec: RunSpec, runId: string, promptCount: number): SourcePlan[] {
  const total = promptCount * spec.samplesPerPrompt;
  return spec.sources.map((source, sourceIndex) => {
    const label = sourceLabel(source);
    const units: WorkUnit[] = [];
    for (let start = 0; start < total; start += spec.unitSize) {
      const end = Math.min(total, start + spec.unitSize);
      const unitId = `${String(units.length).padStart(6, '0')}-${hashHex(runId, source.model, label, start, end).slice(0, 8)}`;
      units.push({ unitId, sourceIndex, model: source.model, source: label, start, end });
    }
    return { sourceIndex, model: source.model, source: label, taskQueue: taskQueueFor(source), total, units };
  });
}

/** Position `flat` of a source's order as (prompt index, sample index). */
export function itemAt(flat: number, samplesPerPrompt: number): { promptIndex: number; sampleIndex: number } {
  return { promptIndex: Math.floor(flat / samplesPerPrompt), sampleIndex: flat % samplesPerPrompt };
}

/** The seed sent for one sample: reproducible from the spec, distinct per sample. */
export function sampleSeed(sampling: Pick<RunSpec['sampling'], 'seedPolicy' | 'seed'>, model: string, source: string, promptId: string, sampleIndex: number): number | null {
  if (sampling.seedPolicy === 'none') return null;
  return seedFrom(sampling.seed, model, sampling.seedPolicy === 'shared' ? '*' : source, promptId, sampleIndex);
}
