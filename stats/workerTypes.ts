import type { BlockPool } from './blocks';
import type { GramArray, KernelSpec } from './kernels';
import type { PromptChoice } from './sampler';
import type { StatisticOptions, TwoSampleStatistic } from './statistics';
import type { OneSampleTestInput } from './oneSample';
import type { TestResult } from './pvalue';
import type { TwoSampleTestInput, TwoSampleTestResult } from './twoSample';

/** The messages between parallel.ts and a statistics worker thread (worker.ts); types only, so neither imports the other. */
export type WorkerTask =
  | { task: 'grams'; kernel: KernelSpec; L: number; pad: number; tokens: Int32Array; blocks: { rowOffset: number; n: number; gram: GramArray }[] }
  | { task: 'permutations'; pool: BlockPool; seed: number; from: number; to: number }
  | {
      task: 'draws';
      name: TwoSampleStatistic;
      options: StatisticOptions;
      pool: BlockPool;
      source: number;
      sizes: { n1: number; n2: number };
      choice: PromptChoice;
      seed: number;
      from: number;
      to: number;
    }
  | { task: 'test'; input: TwoSampleTestInput }
  | { task: 'oneSampleTest'; input: OneSampleTestInput };

export type WorkerReply =
  { id: number; ok: true; result?: Float64Array; value?: TwoSampleTestResult | TestResult } | { id: number; ok: false; type?: string; message: string };
