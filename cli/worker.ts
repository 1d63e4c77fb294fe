import type { Command } from 'commander';
import { loadConfig } from '../config/schema';

/** `met worker`: one worker process for chosen task queues (scale-out: run it on many hosts). */
export function register(program: Command): void {
  program
    .command('worker')
    .description('run workers for chosen task queues (TEMPORAL_ADDRESS points them at a cluster)')
    .option('--queue <name...>', 'CPU task queues to poll with workflows + CPU activities (default met-cpu unless only providers/models are given)')
    .option('--provider <name...>', 'API providers to serve (one queue each; keys from this environment)')
    .option('--config <file>', 'worker config (YAML/JSON): providers (baseURL, apiKeyEnv, limits) and local models')
    .option('--data <dir>', 'data folder (default ./.met, or MET_DATA)')
    .option('--address <host:port>', 'Temporal frontend (default: TEMPORAL_ADDRESS, else the embedded server)')
    .option('--namespace <ns>', 'Temporal namespace (default met, or TEMPORAL_NAMESPACE)')
    .action(async (opts: { queue?: string[]; provider?: string[]; config?: string; data?: string; address?: string; namespace?: string }) => {
      const { runWorkers, shutdownSignal } = await import('../workers/run');
      const { buildWorkerPlans } = await import('../workers/plans');
      const config = loadConfig(opts);
      const log = (line: string) => process.stderr.write(`${line}\n`);
      const { plans, close } = await buildWorkerPlans({ config, queues: opts.queue, providers: opts.provider, configFile: opts.config, env: process.env });
      try {
        await runWorkers(config, plans, shutdownSignal(log), log);
      } finally {
        await close();
      }
    });
}
