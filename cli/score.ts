import type { Command } from 'commander';
import { CPU_TASK_QUEUE } from '../temporal/queues';
import { type CommonFlags, commonOptions, withClient } from './config';

/**
 * `met score CORPUS --scorer MODEL/PRECISION`: launches scoreCorpus (token logprobs of every stored
 * completion under a reference model, on that model's queue). Recorded like every run, so
 * `met status`, `met resume` and `met runs` (from any host, with a bucket) know it.
 */
export function register(program: Command): void {
  commonOptions(
    program
      .command('score')
      .argument('<corpus>', 'corpus name')
      .requiredOption(
        '--scorer <model/precision>',
        'the reference model and precision (a worker serving it: met worker --model FILE --name MODEL --precision P)',
      )
      .option('--queue <name>', 'task queue of the CPU workers that run the workflow', CPU_TASK_QUEUE)
      .option('--window <n>', "shards scored at once across the scorer's workers", '4')
      .option('--heartbeat-timeout <duration>', 'how long a silent scorer is waited for before its shard is retried elsewhere (e.g. 30s; default 2m)')
      .option('--wait', 'show progress until the run ends')
      .option('--json', 'print the run as JSON on stdout; messages go to stderr')
      .description("score a corpus's completions under a reference model (one logprob shard per sample shard, exactly once)"),
  ).action(
    async (
      corpus: string,
      opts: CommonFlags & { scorer: string; queue: string; window: string; heartbeatTimeout?: string; wait?: boolean; json?: boolean },
    ) => {
      const { ErrorTypes, MetError } = await import('../common/errors');
      const { checkName } = await import('../common/names');
      const { hashHex } = await import('../common/hash');
      checkName('corpus name', corpus);
      const slash = opts.scorer.lastIndexOf('/');
      const [model, precision] = slash > 0 ? [opts.scorer.slice(0, slash), opts.scorer.slice(slash + 1)] : [opts.scorer, ''];
      if (!['fp32', 'fp16', 'int8', 'nf4'].includes(precision))
        throw new MetError(ErrorTypes.BadInput, `--scorer '${opts.scorer}' must be MODEL/PRECISION with precision fp32, fp16, int8 or nf4`);
      const window = Number(opts.window);
      if (!Number.isInteger(window) || window < 1 || window > 256)
        throw new MetError(ErrorTypes.BadInput, `--window must be an integer from 1 to 256, got '${opts.window}'`);
      await withClient(opts, async (client, _dataDir, config) => {
        const { newRunRecord, saveRunRecord, startOrAttach, runState } = await import('../client/runs');
        const { launchLine, printJson } = await import('./output');
        const runId = `${corpus}-score-${precision}-${hashHex(model).slice(0, 8)}`;
        const input = { corpus, scorer: { model, precision }, window, ...(opts.heartbeatTimeout ? { heartbeatTimeout: opts.heartbeatTimeout } : {}) };
        const record = newRunRecord({ job: 'scoreCorpus', input }, runId, { taskQueue: opts.queue });
        await saveRunRecord(config, record);
        const { attached } = await startOrAttach(client, record);
        const say = (line: string) => (opts.json ? process.stderr : process.stdout).write(`${line}\n`);
        say(launchLine(attached, runId, undefined, `workflow ${record.workflowId}`));
        if (opts.wait) {
          const { watchRun } = await import('./watch');
          await watchRun(client, record, say);
        }
        if (opts.json) {
          const state = opts.wait ? await runState(client, record) : undefined;
          printJson({ runId, workflowId: record.workflowId, corpus, attached, status: state?.status, failure: state?.failure });
        }
      });
    },
  );
}
