import { parentPort } from 'node:worker_threads';
import { MetError } from '../common/errors';
import { kernelGram } from './kernels';
import { PermutationMmd } from './mmd';
import { oneSampleTest } from './oneSample';
import { bootstrapDraws, permutationNulls, type TestResult } from './pvalue';
import { StoredPools } from './sampler';
import { twoSampleTest, type TwoSampleTestResult } from './twoSample';
import type { WorkerReply, WorkerTask } from './workerTypes';

/**
 * A statistics worker thread (started by parallel.ts through workerBoot.mjs). Inputs arrive as
 * typed arrays over SharedArrayBuffers (rows, Gram blocks), so nothing large is copied; each task
 * runs the same functions the main thread would, on its share of blocks or draw indices.
 */
function run(message: WorkerTask): Float64Array | TwoSampleTestResult | TestResult | undefined {
  switch (message.task) {
    case 'test':
      // A whole test off the caller's event loop (activities/tests.ts): it can heartbeat and be cancelled.
      return twoSampleTest(message.input);
    case 'oneSampleTest': {
      const { name, sample, nullDist, pool, options } = message.input;
      return oneSampleTest(name, sample, nullDist, pool, options);
    }
    case 'grams': {
      const { kernel, L, pad, tokens } = message;
      for (const b of message.blocks) kernelGram(tokens.subarray(b.rowOffset * L, (b.rowOffset + b.n) * L), b.n, L, pad, kernel, b.gram);
      return undefined;
    }
    case 'permutations': {
      const mmd = new PermutationMmd(message.pool);
      return permutationNulls({ n1: mmd.n1, n2: mmd.n2, observed: NaN, value: (order) => mmd.value(order) }, message.seed, message.from, message.to);
    }
    case 'draws': {
      const pools = new StoredPools(message.name, [], { ...message.options, pool: message.pool });
      return bootstrapDraws(pools, message.source, message.sizes, message.choice, message.seed, message.from, message.to);
    }
  }
}

parentPort!.on('message', (message: WorkerTask & { id: number }) => {
  try {
    const out = run(message);
    if (out && !(out instanceof Float64Array)) {
      parentPort!.postMessage({ id: message.id, ok: true, value: out } satisfies WorkerReply, [out.nulls.buffer as ArrayBuffer]);
      return;
    }
    const reply: WorkerReply = { id: message.id, ok: true, result: out };
    parentPort!.postMessage(reply, out ? [out.buffer as ArrayBuffer] : []);
  } catch (err) {
    const reply: WorkerReply = {
      id: message.id,
      ok: false,
      type: err instanceof MetError ? err.type : undefined,
      message: err instanceof Error ? err.message : String(err),
    };
    parentPort!.postMessage(reply);
  }
});
