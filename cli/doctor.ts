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
    .action(async (opts: { data?: string; address?: string; namespace?: string; queue: string; timeout: string; json?: boolean }) => {
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
    });
}
