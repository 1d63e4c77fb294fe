import { ErrorTypes, MetError } from '../common/errors';
import { join } from 'node:path';
import { openCorpora } from '../datasets/corpora';
import { createDuckDB } from '../datasets/duck';
import { readWorkerConfig } from '../config/load';
import type { MetConfig } from '../config/schema';
import { availableParallelism } from 'node:os';
import { type ModelWorkerSpec, resolveParallel, WorkerConfig, type ProviderWorkerSpec } from '../config/workers';
import type { TextBackend } from '../models/backend';
import type { LlamaBackend } from '../models/llama';
import { CPU_TASK_QUEUE } from '../temporal/queues';
import { cpuWorkerPlan } from './cpu';
import { modelWorkerPlans } from './model';
import { providerWorkerPlans } from './provider';
import type { WorkerPlan } from './run';

/** Turns CLI flags and a worker config file into the worker plans of one process. */
export async function buildWorkerPlans(input: {
  config: MetConfig;
  queues?: string[];
  providers?: string[];
  configFile?: string;
  workerConfig?: WorkerConfig;
  /** Models from CLI flags (met worker --model --precision --gpu), served besides the config's. */
  models?: ModelWorkerSpec[];
  env: Record<string, string | undefined>;
}): Promise<{ plans: WorkerPlan[]; close: () => Promise<void> }> {
  let workerConfig = input.workerConfig ?? WorkerConfig.parse({});
  if (input.configFile) workerConfig = await readWorkerConfig(input.configFile);
  if (input.models?.length) workerConfig = { ...workerConfig, models: [...workerConfig.models, ...input.models] };
  const providers: ProviderWorkerSpec[] = [
    ...workerConfig.providers,
    ...(input.providers ?? [])
      .filter((name) => !workerConfig.providers.some((p) => p.name === name))
      .map((name) => ({ name, concurrentUnits: 8, timeoutMs: 60_000 })),
  ];
  // The worker's DuckDB reaches its data folder and prompt roots, nothing else (docs/design.md, "Trust boundaries").
  const cacheDirs = input.config.cacheDir ? [input.config.cacheDir] : [];
  const duck = await createDuckDB({
    allowedDirectories: [input.config.dataDir, ...cacheDirs, ...(workerConfig.promptRoots ?? [])],
    tempDirectory: join(input.config.dataDir, 'tmp', 'duckdb'),
  });
  // Corpora in the data folder, or in the bucket of --data s3://... (shards staged and cached under the local folder).
  const corpora = openCorpora(duck, input.config);
  const plans: WorkerPlan[] = [];
  const onlySpecialized = !input.queues && (providers.length > 0 || workerConfig.models.length > 0);
  for (const taskQueue of input.queues ?? (onlySpecialized ? [] : [CPU_TASK_QUEUE])) {
    plans.push(
      cpuWorkerPlan({
        dataDir: input.config.dataDir,
        duck,
        taskQueue,
        env: input.env,
        promptRoots: workerConfig.promptRoots,
        modelRoots: workerConfig.modelRoots,
        alerts: workerConfig.alerts,
        corpora,
      }),
    );
  }
  if (providers.length) plans.push(...providerWorkerPlans({ dataDir: input.config.dataDir, duck, providers, env: input.env, corpora }));
  // One model load per model: each is served on its (model, precision) queue and its host/GPU queue.
  const backends: TextBackend[] = [];
  for (const spec of workerConfig.models) {
    let backend: TextBackend;
    if (spec.backend === 'managed') {
      const { ManagedServerBackend } = await import('../models/managedServer');
      const log = (line: string) => process.stderr.write(`${line}\n`);
      backend = await ManagedServerBackend.start({
        server: spec.server!,
        modelRef: spec.path,
        model: spec.name,
        precision: spec.precision,
        gpu: spec.gpu,
        env: input.env,
        log,
        parallel: parallelOf(spec, log),
      });
    } else {
      backend = await loadCheckedLlamaBackend(spec, (line: string) => process.stderr.write(`${line}\n`));
    }
    backends.push(backend);
    plans.push(...modelWorkerPlans({ dataDir: input.config.dataDir, duck, backend, gpu: spec.gpu, concurrentUnits: spec.concurrentUnits, corpora }));
  }
  return {
    plans,
    close: async () => {
      for (const b of backends) await b.close();
      duck.closeSync();
    },
  };
}

/**
 * An in-process model as a worker serves it: loaded, then its decode configuration checked against
 * single-sequence decode (models/decodeCheck.ts) on the CPU before it serves anything. A failing
 * flash-attention setting falls back to off (said in the log); a worker where nothing passes refuses.
 */
export async function loadCheckedLlamaBackend(spec: ModelWorkerSpec, log: (line: string) => void): Promise<TextBackend> {
  const { loadLlamaBackend } = await import('../models/llama');
  log(`loading ${spec.path} ...`);
  const flashAttention = spec.flashAttention ?? 'off';
  // met's batched sampler decodes on the CPU: a GPU worker samples one sequence at a time.
  const asked = parallelOf(spec, log);
  const parallel = spec.gpu === 'cpu' ? asked : 1;
  if (parallel !== asked) log(`parallel ${asked} ignored for ${spec.name}/${spec.precision}: met's batched sampler runs on the CPU only`);
  const llama = await loadLlamaBackend({
    path: spec.path,
    precision: spec.precision,
    model: spec.name,
    gpu: spec.gpu !== 'cpu',
    threads: spec.threads,
    contextSize: spec.contextSize,
    batchSize: spec.batchSize,
    flashAttention,
    parallel,
    log,
  });
  if (spec.decodeCheck === false || spec.gpu !== 'cpu') {
    log(
      `decode check skipped for ${spec.name}/${spec.precision} (${spec.gpu === 'cpu' ? 'decodeCheck: false' : 'GPU: checked by met doctor --model on the GPU host'})`,
    );
    return llama;
  }
  const checked = await checkedDecode(spec, llama, log);
  return parallel > 1 ? checkedParallel(spec, checked, log) : checked;
}

/** The worker's `parallel` as a number; `auto` is said in the log with the CPU count it came from. */
function parallelOf(spec: ModelWorkerSpec, log: (line: string) => void): number {
  const cores = availableParallelism();
  const n = resolveParallel(spec.parallel, cores);
  if (spec.parallel === 'auto') log(`parallel auto for ${spec.name}/${spec.precision}: ${n} (${cores} CPUs; config/workers.ts machineParallel)`);
  return n;
}

async function checkedDecode(spec: ModelWorkerSpec, llama: LlamaBackend, log: (line: string) => void): Promise<LlamaBackend> {
  const { loadLlamaBackend } = await import('../models/llama');
  let flashAttention = llama.decode.flashAttention;
  // Stored logprobs must not depend on the decode configuration: checked before the worker serves.
  const { checkDecodeConfig, decodeCheckLine } = await import('../models/decodeCheck');
  const check = await checkDecodeConfig(spec.path, llama.decode, llama.contextSize);
  log(decodeCheckLine(check));
  if (check.passed) return llama;
  await llama.close();
  if (flashAttention === 'off') {
    throw new MetError(
      ErrorTypes.BadInput,
      `${spec.path}: this worker's decode configuration gives logprobs that differ from single-sequence decode (${decodeCheckLine(check)}); run 'met doctor --model ${spec.path}' and change batchSize or threads in the worker config`,
    );
  }
  flashAttention = 'off';
  log(
    `falling back to flash attention off for ${spec.name}/${spec.precision}: the configured setting moves logprobs by ${check.maxDiff.toExponential(2)} nats`,
  );
  const fallback = await loadLlamaBackend({
    path: spec.path,
    precision: spec.precision,
    model: spec.name,
    gpu: false,
    threads: spec.threads,
    contextSize: spec.contextSize,
    batchSize: spec.batchSize,
    flashAttention,
    parallel: llama.generatorConfig?.sequences ?? 1,
    log,
  });
  const again = await checkDecodeConfig(spec.path, fallback.decode, fallback.contextSize);
  log(decodeCheckLine(again));
  if (!again.passed) {
    await fallback.close();
    throw new MetError(
      ErrorTypes.BadInput,
      `${spec.path}: no decode configuration this worker can use gives single-sequence logprobs within 1e-3 nats (${decodeCheckLine(again)}); run 'met doctor --model ${spec.path}' and set batchSize or threads in the worker config`,
    );
  }
  return fallback;
}

/**
 * The batched sampler's check (models/decodeCheck.ts checkGeneratorConfig): a sample's tokens must
 * not depend on what else is decoded beside it. A configuration that fails it samples one sequence
 * at a time instead (node-llama-cpp's route), said in the log.
 */
async function checkedParallel(spec: ModelWorkerSpec, llama: LlamaBackend, log: (line: string) => void): Promise<LlamaBackend> {
  const config = llama.generatorConfig;
  if (!config) return llama;
  const { checkGeneratorConfig, generatorCheckLine } = await import('../models/decodeCheck');
  const check = await checkGeneratorConfig(spec.path, config, llama.contextSize);
  log(generatorCheckLine(check));
  if (check.passed) return llama;
  const { loadLlamaBackend } = await import('../models/llama');
  const flashAttention = llama.decode.flashAttention;
  await llama.close();
  log(
    `falling back to one sequence at a time for ${spec.name}/${spec.precision}: the batched sampler's samples depend on what else is in the batch in this configuration`,
  );
  return loadLlamaBackend({
    path: spec.path,
    precision: spec.precision,
    model: spec.name,
    gpu: false,
    threads: spec.threads,
    contextSize: spec.contextSize,
    batchSize: spec.batchSize,
    flashAttention,
    log,
  });
}
