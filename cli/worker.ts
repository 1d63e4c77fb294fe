import type { Command } from 'commander';
import { loadConfig } from '../config/schema';

/** `met worker`: one worker process for chosen task queues (scale-out: run it on many hosts). */
export function register(program: Command): void {
  program
    .command('worker')
    .description('run a worker for chosen task queues (TEMPORAL_ADDRESS points it at a cluster)')
    .option('--queue <name...>', 'CPU task queues to poll with workflows + CPU activities', ['met-cpu'])
    .option('--data <dir>', 'data folder (default ./.met, or MET_DATA)')
    .option('--address <host:port>', 'Temporal frontend (default: TEMPORAL_ADDRESS, else the embedded server)')
    .option('--namespace <ns>', 'Temporal namespace (default met, or TEMPORAL_NAMESPACE)')
    .action(async (opts: { queue: string[]; data?: string; address?: string; namespace?: string }) => {
      const { runWorkers, shutdownSignal } = await import('../workers/run');
      const { cpuWorkerPlan } = await import('../workers/cpu');
      const config = loadConfig(opts);
      const log = (line: string) => process.stderr.write(`${line}\n`);
      const plans = opts.queue.map((taskQueue) => cpuWorkerPlan({ dataDir: config.dataDir, taskQueue }));
      await runWorkers(config, plans, shutdownSignal(log), log);
    });
}
