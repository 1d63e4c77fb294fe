import type { Command } from 'commander';
import { commandConfig } from './config';

/** `met models make-tiny`: the small GGUF models tests and the demo use, made by met itself. */
export function register(program: Command): void {
  const models = program.command('models').description('local models');
  models
    .command('make-tiny')
    .description('write met\'s tiny llama-architecture model as tiny-F32/F16/Q8_0/Q4_0.gguf (deterministic, seconds)')
    .option('--out <dir>', 'output folder (default <data>/models)')
    .option('--data <dir>', 'data folder (default ./.met, or MET_DATA)')
    .option('--seed <n>', 'weight seed', (v) => parseInt(v, 10), 42)
    .action(async (opts: { out?: string; data?: string; seed: number }) => {
      const { join } = await import('node:path');
      const { writeTinyModels } = await import('../models/tiny');
      const dir = opts.out ?? join((await commandConfig({ data: opts.data })).dataDir, 'models');
      const paths = writeTinyModels(dir, { seed: opts.seed });
      for (const [precision, path] of Object.entries(paths)) console.log(`${precision.padEnd(5)} ${path}`);
    });
  models
    .command('quantize <in.gguf>')
    .description("write a GGUF file's weights at F32, F16, Q8_0 or Q4_0 (from F32/F16/BF16, Q4_0/Q4_1/Q5_0/Q5_1/Q8_0 or the K-quants Q4_K/Q5_K/Q6_K), for the precision experiment on a model you hold one file of")
    .requiredOption('--to <type>', 'F32 | F16 | Q8_0 | Q4_0')
    .requiredOption('--out <file.gguf>', 'output file (written atomically)')
    .action(async (input: string, opts: { to: string; out: string }) => {
      const { z } = await import('zod');
      const to = z.enum(['F32', 'F16', 'Q8_0', 'Q4_0']).safeParse(opts.to);
      if (!to.success) throw new Error(`--to must be F32, F16, Q8_0 or Q4_0, not '${opts.to}'`);
      const { quantizeGguf } = await import('../models/ggufFile');
      const started = performance.now();
      const r = quantizeGguf(input, to.data, opts.out, (line) => console.error(line));
      console.log(`${opts.out}: ${r.converted} of ${r.tensors} tensors at ${to.data}, the rest F32 (${((performance.now() - started) / 1000).toFixed(1)} s)`);
    });
}
