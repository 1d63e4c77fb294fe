import type { Command } from 'commander';
import { CPU_TASK_QUEUE } from '../temporal/queues';
import { commonOptions, withClient } from './config';

/** `met doctor`: is the Temporal server reachable, and does a CPU worker run met's workflows and activities? */
export function register(program: Command): void {
  commonOptions(program.command('doctor'))
    .description('check the set-up end to end: connect to Temporal, run a small workflow on a CPU worker, report the worker')
    .option('--queue <name>', 'task queue of the CPU workers to check', CPU_TASK_QUEUE)
    .option('--timeout <seconds>', 'how long to wait for a worker', '20')
    .option('--json', 'print JSON')
    .option('--model <file>', 'instead: the batch-invariance check of a GGUF under a decode configuration (docs/decoding.md); exits 1 when it fails')
    .option('--threads <n>', 'with --model: CPU threads', '1')
    .option('--batch-size <n>', 'with --model: positions per decode', '128')
    .option('--sequences <n>', 'with --model: sequences packed into one decode', '1')
    .option('--kv <kind>', 'with --model and several sequences: per-sequence (a KV stream each) or shared (one KV cache)', 'per-sequence')
    .option('--flash-attention <mode>', 'with --model: off | on | auto', 'off')
    .option('--swa-full', 'with --model: the full-size sliding-window cache')
    .action(
      async (opts: {
        data?: string;
        address?: string;
        namespace?: string;
        queue: string;
        timeout: string;
        json?: boolean;
        model?: string;
        threads: string;
        batchSize: string;
        sequences: string;
        kv: string;
        flashAttention: string;
        swaFull?: boolean;
      }) => {
        if (opts.model) return decodeDoctor(opts as typeof opts & { model: string });
        const { checkSystem } = await import('../client/system');
        const timeout = Number(opts.timeout);
        if (!(timeout > 0 && timeout <= 600)) throw new Error(`--timeout ${opts.timeout}: give seconds between 1 and 600`);
        await withClient(opts, async (client) => {
          const result = await checkSystem(client, opts.queue, timeout);
          if (opts.json) return console.log(JSON.stringify(result, null, 2));
          const w = result.second;
          console.log(`Temporal answers (namespace ${client.options.namespace})`);
          console.log(`Worker on ${opts.queue}: host ${w.host}, pid ${w.pid}, Node ${w.node}, queues ${w.queues.join(', ')}`);
          console.log(`Round trip (activity, durable timer, activity): ${result.seconds.toFixed(2)} s`);
        });
      },
    );
}

/** `met doctor --model FILE`: the check a model worker runs when it starts, by hand, for any configuration. */
async function decodeDoctor(opts: {
  model: string;
  threads: string;
  batchSize: string;
  sequences: string;
  kv: string;
  flashAttention: string;
  swaFull?: boolean;
  json?: boolean;
}): Promise<void> {
  const { z } = await import('zod');
  const config = z
    .object({
      threads: z.coerce.number().int().positive().max(1024),
      batchSize: z.coerce.number().int().positive().max(4096),
      sequences: z.coerce.number().int().positive().max(64),
      kvUnified: z.enum(['per-sequence', 'shared']).transform((kv) => kv === 'shared'),
      flashAttention: z.enum(['off', 'on', 'auto']),
      swaFull: z.boolean(),
    })
    .parse({
      threads: opts.threads,
      batchSize: opts.batchSize,
      sequences: opts.sequences,
      kvUnified: opts.kv,
      flashAttention: opts.flashAttention,
      swaFull: opts.swaFull === true,
    });
  const { existsSync } = await import('node:fs');
  if (!existsSync(opts.model)) throw new Error(`--model ${opts.model}: no such file`);
  const { checkDecodeConfig, decodeCheckLine } = await import('../models/decodeCheck');
  const check = await checkDecodeConfig(opts.model, config);
  if (opts.json) console.log(JSON.stringify(check, null, 2));
  else console.log(decodeCheckLine(check));
  if (!check.passed) process.exitCode = 1;
}
