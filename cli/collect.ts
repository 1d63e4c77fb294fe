import type { Command } from 'commander';
import { loadConfig } from '../config/schema';

/**
 * Collection runs: `met collect SPEC`, `met status RUN`, `met resume RUN`, `met cancel RUN`, `met runs`.
 */
interface CommonFlags {
  data?: string;
  address?: string;
  namespace?: string;
}

function commonOptions(command: Command): Command {
  return command
    .option('--data <dir>', 'data folder (default ./.met, or MET_DATA)')
    .option('--address <host:port>', 'Temporal frontend (default: TEMPORAL_ADDRESS, else the embedded server)')
    .option('--namespace <ns>', 'Temporal namespace (default met)');
}

async function withClient<T>(flags: CommonFlags, fn: (client: import('@temporalio/client').Client, dataDir: string) => Promise<T>): Promise<T> {
  const { connectClient } = await import('../temporal/connect');
  const config = loadConfig(flags);
  const client = await connectClient(config);
  try {
    return await fn(client, config.dataDir);
  } finally {
    await client.connection.close();
  }
}

/** `met collect SPEC --dry-run`: the plan and its cost, from the spec, its prompts and the worker config's prices. */
async function printPlan(spec: import('../config/runSpec').RunSpec, dataDir: string, configFile?: string): Promise<void> {
  const { loadPrompts } = await import('../activities/collect');
  const { estimateRun } = await import('../collect/estimate');
  const { promptsDir } = await import('../datasets/paths');
  const { createDuckDB } = await import('../datasets');
  const { formatTable } = await import('./table');
  let prices: Record<string, { inputPerMillion: number; outputPerMillion: number } | undefined> = {};
  let roots: string[] = [];
  if (configFile) {
    const { readSpecFile } = await import('../config/load');
    const { WorkerConfig } = await import('../config/workers');
    const parsed = WorkerConfig.safeParse(readSpecFile(configFile));
    if (!parsed.success) throw new Error(`${configFile} is not a valid worker config: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    prices = Object.fromEntries(parsed.data.providers.map((p) => [p.name, p.prices]));
    roots = parsed.data.promptRoots ?? [];
  }
  const duck = await createDuckDB();
  try {
    const { rows } = await loadPrompts(duck, spec, [promptsDir(dataDir), ...roots]);
    const prompts = (spec.prompts.limit ? rows.slice(0, spec.prompts.limit) : rows).map((r) => r.text);
    const plan = estimateRun(spec, prompts, prices);
    const usd = (v: number | null) => (v === null ? 'no price' : `$${v.toFixed(v < 1 ? 4 : 2)}`);
    console.log(`dry run: corpus ${spec.corpus}, ${prompts.length} prompts x ${spec.samplesPerPrompt} samples, maxTokens ${spec.sampling.maxTokens}; nothing started`);
    console.log(
      formatTable(
        ['source', { header: 'requests', align: 'right' }, { header: 'units', align: 'right' }, { header: 'prompt tokens', align: 'right' }, { header: 'completion tokens <=', align: 'right' }, { header: 'cost <=', align: 'right' }],
        plan.sources.map((s) => [`${s.model}/${s.source}`, String(s.requests), String(s.units), String(s.promptTokens), String(s.maxCompletionTokens), s.kind === 'local' ? 'local' : usd(s.maxCost)]),
      ),
    );
    console.log(`total cost <= ${usd(plan.totalMaxCost)} (prompt tokens estimated at 4 UTF-8 bytes per token; completions at maxTokens)`);
  } finally {
    duck.closeSync();
  }
}

export function register(program: Command): void {
  commonOptions(
    program
      .command('collect')
      .argument('<spec>', 'run spec file (YAML or JSON)')
      .description('launch a collection run (attaches if the same spec already runs); prints the run id')
      .option('--wait', 'show live progress per source until the run ends')
      .option('--dry-run', 'print the plan (requests, units, tokens, cost per source) and start nothing')
      .option('--config <file>', 'with --dry-run: the worker config whose provider prices (USD per million tokens) price the plan'),
  ).action(async (specPath: string, opts: CommonFlags & { wait?: boolean; dryRun?: boolean; config?: string }) => {
    const { readSpecFile } = await import('../config/load');
    const { parseRunSpec } = await import('../config/runSpec');
    const { launchCollection } = await import('../client/collect');
    const spec = parseRunSpec(readSpecFile(specPath), specPath);
    if (opts.dryRun) return printPlan(spec, loadConfig(opts).dataDir, opts.config);
    await withClient(opts, async (client, dataDir) => {
      const { record, attached } = await launchCollection(client, dataDir, spec);
      console.log(`${attached ? 'Attached to running' : 'Started'} run ${record.runId} (workflow ${record.workflowId})`);
      if (opts.wait) await waitForRun(client, record.runId, dataDir);
    });
  });

  commonOptions(
    program
      .command('status')
      .argument('<run>', 'run id (see met runs)')
      .description('show the progress of a run')
      .option('--json', 'print JSON')
      .option('--watch', 'keep showing progress until the run ends'),
  ).action(async (runId: string, opts: CommonFlags & { json?: boolean; watch?: boolean }) => {
    await withClient(opts, async (client, dataDir) => {
      if (opts.watch) return waitForRun(client, runId, dataDir);
      const { loadRunRecord, missingWorkers, retryingSteps, runFailure, runStatus } = await import('../client/runs');
      const { collectionProgress } = await import('../client/collect');
      const record = loadRunRecord(dataDir, runId);
      const status = await runStatus(client, record);
      const progress = record.job === 'collectCorpus' ? await collectionProgress(client, record) : undefined;
      const failure = status.status === 'FAILED' ? await runFailure(client, record) : undefined;
      const warnings = status.status === 'RUNNING' ? [...(await missingWorkers(client, record, progress)), ...(await retryingSteps(client, record))] : [];
      if (opts.json) {
        console.log(JSON.stringify({ runId, job: record.job, status: status.status, progress, failure, warnings }, null, 2));
        return;
      }
      console.log(`${record.runId}  ${record.job}  ${status.status}`);
      if (failure) console.log(`  failed: ${failure}`);
      for (const w of warnings) console.log(`  warning: ${w}`);
      for (const s of progress?.sources ?? []) {
        const pct = s.total ? ((100 * s.done) / s.total).toFixed(1) : '100';
        const errors = Object.entries(s.errors).map(([k, v]) => `${k}=${v}`).join(' ');
        console.log(`  ${s.model}/${s.source}: ${s.done}/${s.total} (${pct}%) ${s.samplesPerSecond.toFixed(1)}/s${errors ? `  ${errors}` : ''}`);
      }
    });
  });

  commonOptions(
    program
      .command('resume')
      .argument('<run>', 'run id (see met runs)')
      .description('finish a failed or interrupted run: re-plans from the shards on disk and redoes only what is missing')
      .option('--wait', 'show live progress until the run ends'),
  ).action(async (runId: string, opts: CommonFlags & { wait?: boolean }) => {
    const { loadRunRecord, startOrAttach } = await import('../client/runs');
    await withClient(opts, async (client, dataDir) => {
      const record = loadRunRecord(dataDir, runId);
      const { attached } = await startOrAttach(client, record);
      console.log(attached ? `Run ${runId} is still running; attached to it.` : `Resumed run ${runId} (workflow ${record.workflowId}).`);
      if (opts.wait) await waitForRun(client, runId, dataDir);
    });
  });

  commonOptions(
    program.command('cancel').argument('<run>', 'run id').description('cancel a run (completed shards are kept; met resume continues it)'),
  ).action(async (runId: string, opts: CommonFlags) => {
    const { loadRunRecord } = await import('../client/runs');
    await withClient(opts, async (client, dataDir) => {
      const record = loadRunRecord(dataDir, runId);
      await client.workflow.getHandle(record.workflowId).cancel();
      console.log(`Cancellation requested for ${runId}.`);
    });
  });

  commonOptions(program.command('runs').description('list the runs recorded in the data folder, with their status').option('--json', 'print JSON')).action(
    async (opts: CommonFlags & { json?: boolean }) => {
      const { listRunRecords, runStatus } = await import('../client/runs');
      await withClient(opts, async (client, dataDir) => {
        const rows = await Promise.all(listRunRecords(dataDir).map((r) => runStatus(client, r)));
        if (opts.json) {
          console.log(JSON.stringify(rows.map((r) => ({ runId: r.record.runId, job: r.record.job, status: r.status, createdAt: r.record.createdAt })), null, 2));
          return;
        }
        if (rows.length === 0) console.log(`No runs in ${dataDir}.`);
        for (const r of rows) console.log(`${r.record.runId.padEnd(36)} ${r.record.job.padEnd(18)} ${r.status.padEnd(12)} ${r.record.createdAt}`);
      });
    },
  );
}

/** Shows progress until the run closes; exits non-zero if it failed. */
async function waitForRun(client: import('@temporalio/client').Client, runId: string, dataDir: string): Promise<void> {
  const { loadRunRecord } = await import('../client/runs');
  const { watchRun } = await import('./watch');
  const record = loadRunRecord(dataDir, runId);
  await watchRun(client, record);
}
