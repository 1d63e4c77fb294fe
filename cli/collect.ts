import type { Command } from 'commander';
import { type CommonFlags, commandConfig, commonOptions, withClient } from './config';

/**
 * Collection runs: `met collect SPEC`, `met status RUN`, `met resume RUN`, `met cancel RUN`, `met runs`.
 */

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
      .option('--json', 'print the run (and with --wait its outcome) as JSON on stdout; messages go to stderr')
      .option('--queue <name>', 'task queue of the CPU workers that run the workflow and write shards', 'met-cpu')
      .option('--dry-run', 'print the plan (requests, units, tokens, cost per source) and start nothing')
      .option('--config <file>', 'with --dry-run: the worker config whose provider prices (USD per million tokens) price the plan'),
  ).action(async (specPath: string, opts: CommonFlags & { wait?: boolean; json?: boolean; queue: string; dryRun?: boolean; config?: string }) => {
    const { readSpecFile } = await import('../config/load');
    const { parseRunSpec } = await import('../config/runSpec');
    const { launchCollection } = await import('../client/collect');
    const spec = parseRunSpec(readSpecFile(specPath), specPath);
    if (opts.dryRun) return printPlan(spec, (await commandConfig(opts)).dataDir, opts.config);
    await withClient(opts, async (client, _dataDir, config) => {
      const { launchLine, printJson } = await import('./output');
      const { record, attached } = await launchCollection(client, config, spec, opts.queue);
      const say = (line: string) => (opts.json ? process.stderr : process.stdout).write(`${line}\n`);
      say(launchLine(attached, record.runId, undefined, `workflow ${record.workflowId}`));
      if (opts.wait) await waitForRun(client, record.runId, config, say);
      if (opts.json) {
        const { runState } = await import('../client/runs');
        const state = opts.wait ? await runState(client, record) : undefined;
        printJson({ runId: record.runId, workflowId: record.workflowId, corpus: record.corpus, attached, status: state?.status, failure: state?.failure });
      }
    });
  });

  commonOptions(
    program
      .command('status')
      .argument('<run>', 'run id (see met runs)')
      .description('show a run: its record from the data folder, and its live state, progress and failure when Temporal is reachable')
      .option('--json', 'print JSON')
      .option('--watch', 'keep showing progress until the run ends'),
  ).action(async (runId: string, opts: CommonFlags & { json?: boolean; watch?: boolean }) => {
    if (opts.watch) return withClient(opts, (client, _dataDir, config) => waitForRun(client, runId, config));
    const { loadRunRecord } = await import('../client/runs');
    const config = await commandConfig(opts);
    const record = await loadRunRecord(config, runId);
    const live = await withLiveClient(config, async (client) => {
      const { runState } = await import('../client/runs');
      return runState(client, record);
    });
    const { temporalAddress } = await import('../config/schema');
    const temporal = { reachable: live !== undefined, address: temporalAddress(config) };
    const { toStages } = await import('./watch');
    const stages = live ? toStages(record.job, live.progress).stages : [];
    if (opts.json) {
      const { printJson } = await import('./output');
      printJson({
        runId,
        job: record.job,
        corpus: record.corpus,
        workflowId: record.workflowId,
        createdAt: record.createdAt,
        temporal,
        status: live?.status ?? null,
        startTime: live?.startTime?.toISOString(),
        closeTime: live?.closeTime?.toISOString(),
        progress: live?.progress,
        failure: live?.failure,
        warnings: live?.warnings ?? [],
      });
      return;
    }
    console.log(`${record.runId}  ${record.job}  ${live?.status ?? 'status unknown'}`);
    console.log(`  created ${record.createdAt}${record.corpus ? `, corpus ${record.corpus}` : ''}${live?.closeTime && live.startTime ? `; took ${((live.closeTime.getTime() - live.startTime.getTime()) / 1000).toFixed(1)} s` : ''}`);
    if (!live) console.log(`  Temporal at ${temporal.address} is not reachable (met server start, or met up): this is the run's record only`);
    if (live?.failure) console.log(`  failed: ${live.failure}`);
    for (const w of live?.warnings ?? []) console.log(`  warning: ${w}`);
    const sources = record.job === 'collectCorpus' ? ((live?.progress as import('../workflows/collectCorpus').CollectProgress | undefined)?.sources ?? []) : [];
    for (const s of sources) {
      const pct = s.total ? ((100 * s.done) / s.total).toFixed(1) : '100';
      const errors = Object.entries(s.errors).map(([k, v]) => `${k}=${v}`).join(' ');
      console.log(`  ${s.model}/${s.source}: ${s.done}/${s.total} (${pct}%) ${s.samplesPerSecond.toFixed(1)}/s${errors ? `  ${errors}` : ''}`);
    }
    if (sources.length === 0) for (const s of stages) console.log(`  ${s.name}: ${s.done}/${s.total}${s.unit ? ` ${s.unit}` : ''}`);
  });

  commonOptions(
    program
      .command('resume')
      .argument('<run>', 'run id (see met runs)')
      .description('finish a failed or interrupted run: re-plans from the shards on disk and redoes only what is missing')
      .option('--wait', 'show live progress until the run ends'),
  ).action(async (runId: string, opts: CommonFlags & { wait?: boolean }) => {
    const { loadRunRecord, startOrAttach } = await import('../client/runs');
    await withClient(opts, async (client, _dataDir, config) => {
      const record = await loadRunRecord(config, runId);
      const { attached } = await startOrAttach(client, record);
      console.log(attached ? (await import('./output')).launchLine(true, runId) : `Resumed run ${runId} (workflow ${record.workflowId})`);
      if (opts.wait) await waitForRun(client, runId, config);
    });
  });

  commonOptions(
    program.command('cancel').argument('<run>', 'run id').description('cancel a run (completed shards are kept; met resume continues it)'),
  ).action(async (runId: string, opts: CommonFlags) => {
    const { loadRunRecord } = await import('../client/runs');
    await withClient(opts, async (client, _dataDir, config) => {
      const record = await loadRunRecord(config, runId);
      await client.workflow.getHandle(record.workflowId).cancel();
      console.log(`Cancellation requested for ${runId}.`);
    });
  });

  commonOptions(program.command('runs').description('list the runs recorded in the data folder, with their status when Temporal is reachable').option('--json', 'print JSON')).action(
    async (opts: CommonFlags & { json?: boolean }) => {
      const { listRunRecords, runStatus } = await import('../client/runs');
      const config = await commandConfig(opts);
      const records = await listRunRecords(config);
      const statuses = records.length === 0 ? [] : await withLiveClient(config, (client) => Promise.all(records.map(async (r) => (await runStatus(client, r)).status)));
      const rows = records.map((r, i) => ({ runId: r.runId, job: r.job, status: statuses?.[i] ?? null, corpus: r.corpus, createdAt: r.createdAt }));
      if (opts.json) {
        const { printJson } = await import('./output');
        printJson(rows);
        return;
      }
      if (rows.length === 0) {
        console.log(`No runs in ${config.corpora ?? config.dataDir}.`);
        return;
      }
      const { formatTable, useColor } = await import('./table');
      console.log(formatTable(['run', 'job', 'status', 'corpus', 'created'], rows.map((r) => [r.runId, r.job, r.status ?? '?', r.corpus ?? '', r.createdAt]), { color: useColor() }));
      if (!statuses) {
        const { temporalAddress } = await import('../config/schema');
        console.log(`(status ?: Temporal at ${temporalAddress(config)} is not reachable; met server start, or met up)`);
      }
    },
  );
}

/** Runs fn with a client when Temporal answers within about a second; undefined otherwise. */
async function withLiveClient<T>(config: import('../config/schema').MetConfig, fn: (client: import('@temporalio/client').Client) => Promise<T>): Promise<T | undefined> {
  const { connectClientIfReachable } = await import('../temporal/connect');
  const client = await connectClientIfReachable(config);
  if (!client) return undefined;
  try {
    return await fn(client);
  } finally {
    await client.connection.close();
  }
}

/** Shows progress until the run closes; exits non-zero if it failed. */
async function waitForRun(client: import('@temporalio/client').Client, runId: string, at: import('../client/runs').RunsAt, say?: (line: string) => void): Promise<void> {
  const { loadRunRecord } = await import('../client/runs');
  const { watchRun } = await import('./watch');
  const record = await loadRunRecord(at, runId);
  await watchRun(client, record, say);
}
