import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { ErrorTypes, type ErrorType, MetError } from '../common/errors';
import { type BlockPool, buildBlockPool, checkCompatible, DEFAULT_GRAM_BUDGET_BYTES, finishBlock, gramBudgetCheck, planBlocks } from './blocks';
import { padOf } from './encode';
import { allocateGram, gatherRows, gramBytesPerEntry, isExactKernel, kernelScale, type KernelSpec } from './kernels';
import { HASHED_MAX_K } from './kspectrum';
import type { OneSampleTestInput } from './oneSample';
import { bootstrapDraws, permutationNulls, type TestResult } from './pvalue';
import type { PromptChoice } from './sampler';
import { StoredPools } from './sampler';
import type { PreparedTwoSample, StatisticOptions } from './statistics';
import type { EncodedSample } from './types';
import type { TwoSampleTestInput, TwoSampleTestResult } from './twoSample';
import type { WorkerReply, WorkerTask } from './workerTypes';

/**
 * Large jobs split across worker_threads. The rows and the Gram blocks live in SharedArrayBuffers:
 * workers fill the blocks of their share of prompts (balanced by estimated cost), then evaluate
 * their share of the permutations or bootstrap draws. Draw t is seeded by deriveSeed(seed, t), so
 * the result is the same for any number of threads (a test checks it).
 *
 * Workers start through workerBoot.mjs, which registers tsx in the worker (a worker inherits
 * `--import tsx` from execArgv, but not a loader registered from code as bin/met.js does). Starting
 * them costs a few hundred milliseconds, so jobs estimated below `minWork` element operations stay
 * in the calling thread. A group's workers are terminated when the job ends.
 */
export interface ParallelOptions {
  /** Worker threads (default: the machine's available parallelism); 1 keeps everything in this thread. */
  threads?: number;
  /** Estimated element operations below which a job stays in this thread (default 3e8, about half a second). */
  minWork?: number;
}

export const DEFAULT_MIN_WORK = 3e8;

export function threadsOf(options: ParallelOptions): number {
  const threads = options.threads ?? availableParallelism();
  if (!Number.isInteger(threads) || threads < 1) throw new MetError(ErrorTypes.BadInput, `threads must be a positive integer, got ${threads}`);
  return threads;
}

const ENTRY = new URL('./worker.ts', import.meta.url).href;
const BOOT = new URL('./workerBoot.mjs', import.meta.url);

/**
 * The parent's Node options a worker thread can take: module loading (--import, --require, --loader,
 * --conditions), source maps, warnings and --experimental-* flags, each with its value. Everything
 * else is dropped: main-script-only options (-e CODE, --input-type) and the per-process and V8
 * options a Worker refuses (Node 24's test runner gives its children --stack-trace-limit,
 * --secure-heap and others, and new Worker then throws ERR_WORKER_INVALID_EXEC_ARGV).
 */
const WORKER_OPTION =
  /^(--import|--require|-r|--loader|--experimental-loader|--conditions|-C|--enable-source-maps|--no-warnings|--no-deprecation|--disable-warning|--experimental-[a-z-]+|--no-experimental-[a-z-]+)(=|$)/;
const TAKES_VALUE = /^(--import|--require|-r|--loader|--experimental-loader|--conditions|-C|--disable-warning)$/;
export function workerExecArgv(execArgv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < execArgv.length; i++) {
    const a = execArgv[i];
    if (!WORKER_OPTION.test(a)) continue;
    out.push(a);
    if (TAKES_VALUE.test(a) && i + 1 < execArgv.length) out.push(execArgv[++i]);
  }
  return out;
}

/** A few worker threads for one job; close() terminates them. */
export class WorkerGroup {
  private readonly workers: Worker[];
  private readonly pending = new Map<number, { resolve: (r: WorkerReply & { ok: true }) => void; reject: (e: Error) => void }>();
  private nextId = 0;

  constructor(readonly size: number) {
    this.workers = Array.from({ length: size }, () => {
      const worker = new Worker(BOOT, { workerData: { entry: ENTRY }, execArgv: workerExecArgv(process.execArgv) });
      worker.on('message', (reply: WorkerReply) => {
        const waiting = this.pending.get(reply.id);
        if (!waiting) return;
        this.pending.delete(reply.id);
        if (reply.ok) waiting.resolve(reply);
        else waiting.reject(reply.type ? new MetError(reply.type as ErrorType, reply.message) : new Error(reply.message));
      });
      worker.on('error', (err) => this.failAll(err));
      worker.on('exit', (code) => {
        if (code !== 0 && this.pending.size > 0) this.failAll(new Error(`a statistics worker exited with code ${code}`));
      });
      return worker;
    });
  }

  private failAll(err: Error): void {
    for (const { reject } of this.pending.values()) reject(err);
    this.pending.clear();
  }

  run(worker: number, task: WorkerTask): Promise<Float64Array | undefined> {
    return this.send(worker, task).then((r) => r.result);
  }

  /** A whole two-sample test in worker `worker`. */
  runTest(worker: number, input: TwoSampleTestInput): Promise<TwoSampleTestResult> {
    return this.send(worker, { task: 'test', input }).then((r) => r.value as TwoSampleTestResult);
  }

  /** A whole one-sample test in worker `worker`. */
  runOneSampleTest(worker: number, input: OneSampleTestInput): Promise<TestResult> {
    return this.send(worker, { task: 'oneSampleTest', input }).then((r) => r.value as TestResult);
  }

  private send(worker: number, task: WorkerTask): Promise<WorkerReply & { ok: true }> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.workers[worker].postMessage({ ...task, id });
    });
  }

  /** Fails what is pending with `err` and terminates the threads (a cancelled job). */
  async abort(err: Error): Promise<void> {
    this.failAll(err);
    await this.close();
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

/** Runs `fn` with a worker group when `threads` > 1 (closing it afterwards), else with none. */
export async function withWorkers<T>(threads: number, fn: (group: WorkerGroup | undefined) => Promise<T>): Promise<T> {
  if (threads <= 1) return fn(undefined);
  const group = new WorkerGroup(threads);
  try {
    return await fn(group);
  } finally {
    await group.close();
  }
}

/** Rough element operations of building one block (what decides threads and the balance). */
export function blockCost(kernel: KernelSpec, n: number, L: number): number {
  if (kernel.kind === 'hamming') return n * L + 0.1 * n * n * L;
  if (kernel.k <= HASHED_MAX_K) return n * L * kernel.k * 4 + n * n * kernel.k * 4;
  return n * n * L * 6;
}

/** Assigns items (by cost) to `bins` workers, largest first onto the least loaded. */
function balance(costs: number[], bins: number): number[][] {
  const load = new Array(bins).fill(0);
  const out: number[][] = Array.from({ length: bins }, () => []);
  const order = costs.map((c, i) => [c, i] as const).sort((a, b) => b[0] - a[0]);
  for (const [cost, i] of order) {
    let best = 0;
    for (let w = 1; w < bins; w++) if (load[w] < load[best]) best = w;
    load[best] += cost;
    out[best].push(i);
  }
  return out;
}

/** Splits [0, b) into `parts` contiguous ranges. */
function ranges(b: number, parts: number): [number, number][] {
  const out: [number, number][] = [];
  for (let w = 0; w < parts; w++) {
    const from = Math.floor((b * w) / parts);
    const to = Math.floor((b * (w + 1)) / parts);
    if (to > from) out.push([from, to]);
  }
  return out;
}

/**
 * Every prompt's Gram block over the samples' rows, built by the group's workers into shared
 * memory (or in this thread without a group). Same numbers as buildBlockPool.
 */
export async function buildBlockPoolShared(
  samples: readonly EncodedSample[],
  kernel: KernelSpec,
  group: WorkerGroup | undefined,
  options: { gramBudgetBytes?: number } = {},
): Promise<BlockPool> {
  if (!group) return buildBlockPool(samples, kernel, options);
  checkCompatible(
    samples,
    samples.map((_, s) => `sample ${s}`),
  );
  const { plans, blockOfPrompt, blockOf, localOf } = planBlocks(samples);
  const L = samples[0].L;
  const pad = padOf(samples[0]);
  gramBudgetCheck(plans, kernel, L, options.gramBudgetBytes ?? DEFAULT_GRAM_BUDGET_BYTES);
  const entry = gramBytesPerEntry(kernel, L);
  let rows = 0;
  let bytes = 0;
  const layout = plans.map((plan) => {
    const n = plan.sourceOf.length;
    const at = { rowOffset: rows, n, gramOffset: bytes };
    rows += n;
    bytes += Math.ceil((n * n * entry) / 8) * 8;
    return at;
  });
  const tokens = new Int32Array(new SharedArrayBuffer(rows * L * 4));
  plans.forEach((plan, b) => gatherRows(samples, plan.sourceOf, plan.rowOf, tokens.subarray(layout[b].rowOffset * L, (layout[b].rowOffset + layout[b].n) * L)));
  const gramBuffer = new SharedArrayBuffer(Math.max(bytes, 8));
  const grams = layout.map((at) => allocateGram(kernel, L, at.n, gramBuffer, at.gramOffset));
  const shares = balance(
    layout.map((at) => blockCost(kernel, at.n, L)),
    group.size,
  );
  await Promise.all(
    shares.map((blocks, w) =>
      blocks.length === 0
        ? Promise.resolve()
        : group.run(w, {
            task: 'grams',
            kernel,
            L,
            pad,
            tokens,
            blocks: blocks.map((b) => ({ rowOffset: layout[b].rowOffset, n: layout[b].n, gram: grams[b] })),
          }),
    ),
  );
  const blocks = plans.map((plan, b) => finishBlock(plan, grams[b]));
  return {
    L,
    pad,
    kernel,
    scale: kernelScale(kernel, L),
    exact: isExactKernel(kernel),
    rowCounts: samples.map((s) => s.prompts.length),
    blocks,
    blockOfPrompt,
    blockOf,
    localOf,
  };
}

/** Estimated element operations of building the blocks of these samples. */
export function poolCost(samples: readonly EncodedSample[], kernel: KernelSpec): number {
  const { plans } = planBlocks(samples);
  return plans.reduce((a, p) => a + blockCost(kernel, p.sourceOf.length, samples[0].L), 0);
}

/** Permutation null statistics t in [0, b), split across the group (same numbers as permutationNulls). */
export async function permutationNullsShared(prepared: PreparedTwoSample, seed: number, b: number, group: WorkerGroup | undefined): Promise<Float64Array> {
  if (!group || !prepared.pool) return permutationNulls(prepared, seed, 0, b);
  const pool = prepared.pool;
  const parts = await Promise.all(ranges(b, group.size).map(([from, to], w) => group.run(w, { task: 'permutations', pool, seed, from, to })));
  return concat(parts as Float64Array[], b);
}

/** Bootstrap draws t in [0, b) of a stored pool's source, split across the group (same numbers as bootstrapDraws). */
export async function bootstrapDrawsShared(
  pools: StoredPools,
  source: number,
  sizes: { n1: number; n2: number },
  choice: PromptChoice,
  seed: number,
  b: number,
  group: WorkerGroup | undefined,
): Promise<Float64Array> {
  const pool = pools.blockPool;
  if (!group || !pool) return bootstrapDraws(pools, source, sizes, choice, seed, 0, b);
  const options: StatisticOptions = pool.kernel.kind === 'kspectrum' ? { k: pool.kernel.k, cumulative: pool.kernel.cumulative } : {};
  const parts = await Promise.all(
    ranges(b, group.size).map(([from, to], w) => group.run(w, { task: 'draws', name: pools.name, options, pool, source, sizes, choice, seed, from, to })),
  );
  return concat(parts as Float64Array[], b);
}

/** Estimated element operations of b draws of (n1, n2) rows over a choice of prompts. */
export function drawCost(pools: StoredPools, sizes: { n1: number; n2: number }, choice: PromptChoice, b: number): number {
  if (!pools.blockPool) return b * (sizes.n1 + sizes.n2);
  const per = (sizes.n1 + sizes.n2) / choice.prompts.length;
  return (b * choice.prompts.length * (per * per)) / 2;
}

function concat(parts: Float64Array[], b: number): Float64Array {
  const out = new Float64Array(b);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * One test in a worker thread of its own: the caller's event loop stays free (an activity keeps
 * heartbeating, the worker's other activities keep running), and `signal` ends it at once by
 * terminating the thread. Same numbers as in the calling thread.
 */
async function inThread<T>(run: (group: WorkerGroup) => Promise<T>, signal?: AbortSignal): Promise<T> {
  signal?.throwIfAborted();
  const group = new WorkerGroup(1);
  const onAbort = () => void group.abort(signal?.reason instanceof Error ? signal.reason : new Error('the test was cancelled'));
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    return await run(group);
  } finally {
    signal?.removeEventListener('abort', onAbort);
    await group.close();
  }
}

/** twoSampleTest in a thread of its own (inThread). */
export function twoSampleTestInThread(input: TwoSampleTestInput, signal?: AbortSignal): Promise<TwoSampleTestResult> {
  return inThread((group) => group.runTest(0, input), signal);
}

/** oneSampleTest in a thread of its own (inThread): b bootstrap draws can take as long as a spec asks. */
export function oneSampleTestInThread(input: OneSampleTestInput, signal?: AbortSignal): Promise<TestResult> {
  return inThread((group) => group.runOneSampleTest(0, input), signal);
}
