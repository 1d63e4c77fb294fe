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
}
