import type { Command } from 'commander';
import { type CommonFlags, commonOptions, withClient } from './config';

/** `met fleet`: which worker (host, pid, met version, model, GPU, corpus location) polls which queue. */
export function register(program: Command): void {
  commonOptions(
    program
      .command('fleet')
      .alias('workers')
      .description("what polls which task queue (Temporal's task-queue descriptions): met-cpu, the queues of the recorded runs, and --queue")
      .option('--queue <name...>', 'more queues to describe (workflow and activity pollers)')
      .option('--json', 'print JSON'),
  ).action(async (opts: CommonFlags & { queue?: string[]; json?: boolean }) => {
    await withClient(opts, async (client, _dataDir, config) => {
      const { listRunRecords } = await import('../client/runs');
      const { describeFleet, queuesOfRuns } = await import('../client/fleet');
      const queues = queuesOfRuns(await listRunRecords(config));
      for (const q of opts.queue ?? []) {
        if (!queues.workflow.includes(q)) queues.workflow.push(q);
        if (!queues.activity.includes(q)) queues.activity.push(q);
      }
      const states = await describeFleet(client, queues);
      if (opts.json) {
        const { printJson } = await import('./output');
        printJson(states);
        return;
      }
      const { formatTable, useColor } = await import('./table');
      const rows = states.flatMap((s) =>
        s.pollers.length === 0
          ? [[s.queue, s.kind, '(no worker)', '', '', '', '', '']]
          : s.pollers.map((p) => [
              s.queue,
              s.kind,
              p.host ?? p.identity,
              p.pid === undefined ? '' : String(p.pid),
              p.version ?? '',
              [p.model, p.gpu === undefined ? undefined : `gpu ${p.gpu}`].filter(Boolean).join(' '),
              p.data ?? '',
              p.lastPollSecondsAgo === undefined ? '' : `${p.lastPollSecondsAgo}s`,
            ]),
      );
      console.log(formatTable(['queue', 'kind', 'host', 'pid', 'met', 'model', 'data', 'last poll'], rows, { color: useColor() }));
    });
  });
}
