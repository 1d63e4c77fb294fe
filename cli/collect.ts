import type { Command } from 'commander';
import { CPU_TASK_QUEUE } from '../temporal/queues';
import { type CommonFlags, commandConfig, commonOptions, withClient } from './config';

/**
 * Collection runs: `met collect SPEC`, `met status RUN`, `met resume RUN`, `met cancel RUN`, `met runs`.
 */

/** `met collect SPEC --dry-run`: the plan and its cost, from the spec, its prompts and the worker config's prices (and a pilot's usage with --pilot N). */
async function printPlan(spec: import('../config/runSpec').RunSpec, dataDir: string, opts: { config?: string; pilot?: number; json?: boolean }): Promise<void> {
  const { loadPrompts } = await import('../activities/collect');
  const { estimateRun } = await import('../collect/estimate');
  const { promptsDir } = await import('../datasets/paths');
  const { createDuckDB } = await import('../datasets');
  const { formatTable } = await import('./table');
  let prices: Record<string, { inputPerMillion: number; outputPerMillion: number } | undefined> = {};
  let roots: string[] = [];
  let providers: import('../config/workers').ProviderWorkerSpec[] = [];
  if (opts.config) {
    const { readWorkerConfig } = await import('../config/load');
    const workerConfig = await readWorkerConfig(opts.config);
    providers = workerConfig.providers;
    prices = Object.fromEntries(providers.map((p) => [p.name, p.prices]));
    roots = workerConfig.promptRoots ?? [];
  }
  const duck = await createDuckDB();
  try {
    const { rows } = await loadPrompts(duck, spec, [promptsDir(dataDir), ...roots]);
    const kept = spec.prompts.limit ? rows.slice(0, spec.prompts.limit) : rows;
    const prompts = kept.map((r) => r.text);
    let pilots = {};
    let tokenized = {};
    if (opts.pilot) {
      // Sent from this process with its environment's keys, to the endpoints the worker config names.
      const { ProviderGenerator } = await import('../providers/generator');
      const { countPrompts, runPilot } = await import('../collect/pilot');
      const generator = new ProviderGenerator({ env: process.env, providers });
      pilots = await runPilot(spec, kept, opts.pilot, generator, AbortSignal.timeout(10 * 60_000));
      tokenized = await countPrompts(spec, kept, generator);
    }
    const plan = estimateRun(spec, prompts, prices, pilots, tokenized);
    if (opts.json) {
      const { printJson } = await import('./output');
      printJson({ corpus: spec.corpus, prompts: prompts.length, samplesPerPrompt: spec.samplesPerPrompt, ...plan });
      return;
    }
    const usd = (v: number | null | undefined) => (v === null || v === undefined ? 'no price' : `$${v.toFixed(v < 1 ? 4 : 2)}`);
    console.log(`dry run: corpus ${spec.corpus}, ${prompts.length} prompts x ${spec.samplesPerPrompt} samples, maxTokens ${spec.sampling.maxTokens}; nothing started`);
    const estimated = plan.sources.some((s) => s.estimate);
    console.log(
      formatTable(
        [
          'source',
          { header: 'requests', align: 'right' },
          { header: 'units', align: 'right' },
          { header: 'prompt tokens <=', align: 'right' },
          { header: 'completion tokens <=', align: 'right' },
          { header: 'cost <=', align: 'right' },
          ...(estimated ? [{ header: 'est. prompt', align: 'right' as const }, { header: 'est. completion', align: 'right' as const }, { header: 'est. cost (95%)', align: 'right' as const }] : []),
        ],
        plan.sources.map((s) => [
          `${s.model}/${s.source}`,
          String(s.requests),
          String(s.units),
          String(s.promptTokensBound),
          String(s.maxCompletionTokens),
          s.kind === 'local' ? 'local' : usd(s.maxCost),
          ...(estimated
            ? s.estimate
              ? [String(s.estimate.promptTokens), String(s.estimate.completionTokens), s.estimate.cost === null ? 'no price' : `${usd(s.estimate.cost)} (${usd(s.estimate.costLow)}-${usd(s.estimate.costHigh)})`]
              : ['', '', s.kind === 'local' ? 'local' : '']
            : []),
        ]),
      ),
    );
    console.log(`total cost <= ${usd(plan.totalMaxCost)} (prompt tokens at most their UTF-8 bytes plus template tokens; completions at maxTokens)`);
    if (spec.budget) {
      const fits = plan.totalMaxCost !== null && plan.totalMaxCost <= spec.budget.usd;
      console.log(`budget ${usd(spec.budget.usd)}: ${fits ? 'the whole run fits even at the upper bound' : plan.totalMaxCost === null ? 'a source has no price: the run would fail at once' : 'the run stops before the budget, resumable, unless units cost less than their bound (they usually do)'}`);
    }
    if (estimated) {
      const how = { tokenizer: "counted by the endpoint's tokenizer (/tokenize)", pilot: "as the provider counted the pilot's, scaled by bytes", bytes: 'at 4 bytes a token (no usage reported)' };
      console.log(`estimated total cost ${usd(plan.totalEstimate)} (completions at the pilot's mean)`);
      for (const s of plan.sources) if (s.estimate) console.log(`prompt tokens of ${s.model}/${s.source}: ${how[s.estimate.promptTokensFrom]}`);
      for (const s of plan.sources) {
        if (s.estimate) console.log(`pilot ${s.model}/${s.source}: ${s.estimate.pilot.requests} requests SENT (billed), ${s.estimate.pilot.promptTokens} prompt + ${s.estimate.pilot.completionTokens} completion tokens, ${usd(s.estimate.pilot.cost)}`);
      }
    } else {
      console.log('no estimate without a pilot: --pilot N sends N of the run\'s requests per provider source and prices the run from what they used');
    }
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
      .option('--queue <name>', 'task queue of the CPU workers that run the workflow and write shards', CPU_TASK_QUEUE)
      .option('--dry-run', 'print the plan (requests, units, tokens, cost per source) and start nothing')
      .option('--config <file>', 'with --dry-run: the worker config whose provider prices (USD per million tokens) price the plan')
      .option('--pilot <n>', 'with --dry-run: send N of the run\'s requests per provider source (billed) and estimate the cost from their usage', parsePilot),
  ).action(async (specPath: string, opts: CommonFlags & { wait?: boolean; json?: boolean; queue: string; dryRun?: boolean; config?: string; pilot?: number }) => {
    const { readSpecFile } = await import('../config/load');
    const { parseRunSpec } = await import('../config/runSpec');
    const { launchCollection } = await import('../client/collect');
    const spec = parseRunSpec(readSpecFile(specPath), specPath);
    if (opts.pilot !== undefined && !opts.dryRun) throw new Error('--pilot goes with --dry-run (it prices a plan; a run needs no pilot)');
    if (opts.dryRun) return printPlan(spec, (await commandConfig(opts)).dataDir, opts);
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
        result: live?.result,
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
    const budget = record.job === 'collectCorpus' ? budgetLine(runId, live?.progress, live?.result) : undefined;
    if (budget) console.log(`  ${budget}`);
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
      .description('finish a failed, interrupted or budget-stopped run: re-plans from the shards on disk and redoes only what is missing')
      .option('--wait', 'show live progress until the run ends')
      .option('--budget-usd <usd>', 'a collection run: its new budget in USD (raise it to continue a run that reached its budget)', parseUsd),
  ).action(async (runId: string, opts: CommonFlags & { wait?: boolean; budgetUsd?: number }) => {
    const { resumeCollection } = await import('../client/collect');
    await withClient(opts, async (client, _dataDir, config) => {
      const { record, attached } = await resumeCollection(client, config, runId, { budgetUsd: opts.budgetUsd });
      const budget = opts.budgetUsd !== undefined ? ` with a budget of $${opts.budgetUsd}` : '';
      console.log(attached ? (await import('./output')).launchLine(true, runId) : `Resumed run ${runId} (workflow ${record.workflowId})${budget}`);
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

function parsePilot(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 10_000) throw new Error(`--pilot takes a number of requests from 1 to 10000 (got '${value}')`);
  return n;
}

function parseUsd(value: string): number {
  const usd = Number(value);
  if (!Number.isFinite(usd) || usd <= 0) throw new Error(`--budget-usd takes an amount in USD greater than 0, such as 12.5 (got '${value}')`);
  return usd;
}

/** "budget: $0.0123 spent of $0.0500" from a running collection's progress or a completed one's result. */
function budgetLine(runId: string, progress: unknown, result: unknown): string | undefined {
  const live = (progress as import('../workflows/collectCorpus').CollectProgress | undefined)?.budget;
  const done = (result as import('../collect/plan').CollectResult | undefined)?.budget;
  const b = live ?? done;
  if (!b) return undefined;
  const usd = (v: number) => `$${v.toFixed(v < 1 ? 4 : 2)}`;
  const inFlight = live && live.reservedUsd > 0 ? `, up to ${usd(live.reservedUsd)} in flight` : '';
  const reached = b.reached ? `; budget reached: completed shards are kept, continue with met resume ${runId} --budget-usd N` : '';
  return `budget: ${usd(b.spentUsd)} spent of ${usd(b.usd)}${inFlight}${reached}`;
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
