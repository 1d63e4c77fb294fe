import type { Command } from 'commander';
import { commandConfig, commonOptions } from './config';
import type { ModelWorkerSpec } from '../config/workers';

/** `met worker`: one worker process for chosen task queues (scale-out: run it on many hosts). */
export function register(program: Command): void {
  commonOptions(program.command('worker'))
    .description('run workers for chosen task queues (TEMPORAL_ADDRESS points them at a cluster)')
    .option('--queue <name...>', 'CPU task queues to poll with workflows + CPU activities (default met-cpu unless only providers/models are given)')
    .option('--provider <name...>', 'API providers to serve (one queue each; keys from this environment)')
    .option('--config <file>', 'worker config (YAML/JSON): providers (baseURL, apiKeyEnv, limits) and local models')
    .option('--model <file|id>', 'a local model to serve on its (model, precision) queue: a GGUF file, or what a managed server loads')
    .option('--name <name>', 'model name in the corpus and queue (default: from the file name)')
    .option('--precision <p>', 'precision of --model (fp32|fp16|int8|nf4)', 'fp32')
    .option('--gpu <n>', 'pin --model to one GPU (CUDA_VISIBLE_DEVICES; default: the CPU)')
    .option('--threads <n>', 'CPU threads of an in-process --model (default: every core; 1 for a file under 64 MB)')
    .option('--context-size <n>', 'tokens per sequence of an in-process --model (default 2048)')
    .option('--batch-size <n>', 'positions per scoring decode of an in-process --model (default 128)')
    .option(
      '--parallel <n|auto>',
      'sequences an in-process --model samples at once (met batched sampler), or requests in flight to a managed one (default 1; auto: from the CPU count)',
    )
    .option('--backend <kind>', 'in-process (llama.cpp) or managed (a vLLM server this worker starts and restarts)', 'in-process')
    .action(
      async (opts: {
        queue?: string[];
        provider?: string[];
        config?: string;
        model?: string;
        name?: string;
        precision: string;
        gpu?: string;
        backend: string;
        data?: string;
        address?: string;
        namespace?: string;
      }) => {
        const { runWorkers, shutdownSignal } = await import('../workers/run');
        const { buildWorkerPlans } = await import('../workers/plans');
        const config = await commandConfig(opts);
        const log = (line: string) => process.stderr.write(`${line}\n`);
        const models = opts.model ? [await modelFromFlags(opts as typeof opts & { model: string })] : [];
        // In-process llama.cpp sees only its GPU (a managed server gets the variable in its own environment).
        if (opts.model && opts.gpu !== undefined && opts.backend !== 'managed') process.env.CUDA_VISIBLE_DEVICES = opts.gpu;
        const { plans, close } = await buildWorkerPlans({
          config,
          queues: opts.queue,
          providers: opts.provider,
          configFile: opts.config,
          models,
          env: process.env,
        });
        try {
          await runWorkers(config, plans, shutdownSignal(log), log);
        } catch (err) {
          // A worker that failed for good: say why and leave, even if the SDK's native runtime would
          // keep this process alive (a supervisor or a person restarts it; a half-alive one waits forever).
          await Promise.race([close(), new Promise((r) => setTimeout(r, 15_000).unref())]);
          const { formatError } = await import('./output');
          process.stderr.write(`${formatError(err)}\n`);
          process.exit(1);
        }
        await close();
      },
    );
}

/** One pinned model from flags; a managed one runs vLLM with its defaults (`vllm serve {model} ...`, see docs/local-models.md). */
async function modelFromFlags(opts: {
  model: string;
  name?: string;
  precision: string;
  gpu?: string;
  backend: string;
  threads?: string;
  contextSize?: string;
  batchSize?: string;
  parallel?: string;
}): Promise<ModelWorkerSpec> {
  const { ModelWorkerSpec } = await import('../config/workers');
  const int = (v: string | undefined) => (v === undefined ? undefined : Number(v));
  const name = opts.name ?? (opts.model.split('/').pop() ?? 'model').replace(/-(F32|F16|Q8_0|Q4_0)\.gguf$/i, '').replace(/\.gguf$/, '');
  return ModelWorkerSpec.parse({
    name,
    precision: opts.precision,
    path: opts.model,
    gpu: opts.gpu === undefined ? 'cpu' : Number(opts.gpu),
    backend: opts.backend,
    threads: int(opts.threads),
    contextSize: int(opts.contextSize),
    batchSize: int(opts.batchSize),
    parallel: opts.parallel === 'auto' ? 'auto' : int(opts.parallel),
    ...(opts.backend === 'managed' ? { server: { command: 'vllm' } } : {}),
  });
}
