import type { Command } from 'commander';
import { type CommonFlags, commandConfig, commonOptions, withClient } from './config';

/** Every kind of run (collections, scoring, tests, power grids, downloads, ...): `met status RUN`, `met resume RUN`, `met cancel RUN`, `met runs`. */
export function register(program: Command): void {
  commonOptions(
    program
      .command('status')
      .argument('<run>', 'run id (see met runs)')
      .description('show a run: its record from the data folder, and its live state, progress and failure when Temporal is reachable')
      .option('--json', 'print JSON')
      .option('--watch', 'keep showing progress until the run ends'),
  ).action(async (runId: string, opts: CommonFlags & { json?: boolean; watch?: boolean }) => {
    if (opts.watch) return withClient(opts, (client, _dataDir, config) => waitFor(client, runId, config));
    const { loadRunRecord } = await import('../client/runs');
    const config = await commandConfig(opts);
    const record = await loadRunRecord(config, runId);
    const live = await withLiveClient(config, async (client) => {
      const { runState } = await import('../client/runs');
      return runState(client, record);
    });
    const { temporalAddress } = await import('../config/schema');
    const temporal = { reachable: live !== undefined, address: temporalAddress(config), addressSource: config.temporal.addressSource };
    const { collectProgress, JOBS, toStages } = await import('../jobs');
    const stages = live ? toStages(record.job, live.progress, live.inUnits).stages : [];
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
        // Samples sampled but not yet committed inside running units (their heartbeats), per model/source.
        ...(live?.inUnits ? { inUnits: Object.fromEntries(live.inUnits) } : {}),
        stages,
        failure: live?.failure,
        result: live?.result,
        warnings: live?.warnings ?? [],
      });
      return;
    }
    console.log(`${record.runId}  ${record.job}  ${live?.status ?? 'status unknown'}`);
    console.log(
      `  created ${record.createdAt}${record.corpus ? `, corpus ${record.corpus}` : ''}${live?.closeTime && live.startTime ? `; took ${((live.closeTime.getTime() - live.startTime.getTime()) / 1000).toFixed(1)} s` : ''}`,
    );
    if (!live)
      console.log(
        `  Temporal at ${temporal.address} (from ${temporal.addressSource}) is not reachable (met server start, or met up): this is the run's record only`,
      );
    // Failures and warnings quote providers and files: escaped for the terminal.
    const { escapeControls } = await import('../common/text');
    if (live?.failure) console.log(`  failed: ${escapeControls(live.failure)}`);
    for (const w of live?.warnings ?? []) console.log(`  warning: ${escapeControls(w, true)}`);
    // A collection's progress has a line per source, with its rate and errors.
    const sources = collectProgress(live?.progress)?.sources ?? [];
    const budget = budgetLine(runId, JOBS[record.job].budget?.(live?.progress, live?.result));
    if (budget) console.log(`  ${budget}`);
    for (const s of sources) {
      const pct = s.total ? ((100 * s.done) / s.total).toFixed(1) : '100';
      const errors = Object.entries(s.errors)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ');
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
      if (opts.wait) await waitFor(client, runId, config);
    });
  });

  commonOptions(
    program
      .command('cancel')
      .argument('<run>', 'run id')
      .description('cancel a run (completed shards are kept; met resume continues it); a run that does not stop within --wait-seconds is terminated')
      .option('--wait-seconds <s>', 'how long to wait for the run to stop before terminating it', (v) => Number(v), 15),
  ).action(async (runId: string, opts: CommonFlags & { waitSeconds: number }) => {
    const { cancelRun, loadRunRecord } = await import('../client/runs');
    await withClient(opts, async (client, _dataDir, config) => {
      const record = await loadRunRecord(config, runId);
      const outcome = await cancelRun(client, record, Math.max(0, opts.waitSeconds || 0) * 1000);
      if (outcome.terminated) console.log(`Run ${runId} did not stop when cancelled: terminated it. ${outcome.reason}`);
      else console.log(outcome.status === 'CANCELED' ? `Cancelled ${runId}.` : `Run ${runId} is ${outcome.status}.`);
    });
  });

  commonOptions(
    program
      .command('runs')
      .description('list the runs recorded in the data folder, with their status when Temporal is reachable')
      .option('--json', 'print JSON'),
  ).action(async (opts: CommonFlags & { json?: boolean }) => {
    const { listRunRecords, runStatus } = await import('../client/runs');
    const config = await commandConfig(opts);
    const records = await listRunRecords(config);
    const statuses =
      records.length === 0 ? [] : await withLiveClient(config, (client) => Promise.all(records.map(async (r) => (await runStatus(client, r)).status)));
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
    console.log(
      formatTable(
        ['run', 'job', 'status', 'corpus', 'created'],
        rows.map((r) => [r.runId, r.job, r.status ?? '?', r.corpus ?? '', r.createdAt]),
        { color: useColor() },
      ),
    );
    if (!statuses) {
      const { temporalAddress } = await import('../config/schema');
      console.log(`(status ?: Temporal at ${temporalAddress(config)}, from ${config.temporal.addressSource}, is not reachable; met server start, or met up)`);
    }
  });
}

function parseUsd(value: string): number {
  const usd = Number(value);
  if (!Number.isFinite(usd) || usd <= 0) throw new Error(`--budget-usd takes an amount in USD greater than 0, such as 12.5 (got '${value}')`);
  return usd;
}

/** "budget: $0.0123 spent of $0.0500" from a running collection's progress or a completed one's result. */
function budgetLine(runId: string, b: import('../jobs').BudgetState | undefined): string | undefined {
  if (!b) return undefined;
  const usd = (v: number) => `$${v.toFixed(v < 1 ? 4 : 2)}`;
  const inFlight = b.reservedUsd ? `, up to ${usd(b.reservedUsd)} in flight` : '';
  const reached = b.reached ? `; budget reached: completed shards are kept, continue with met resume ${runId} --budget-usd N` : '';
  return `budget: ${usd(b.spentUsd)} spent of ${usd(b.usd)}${inFlight}${reached}`;
}

/** Runs fn with a client when Temporal answers within about a second; undefined otherwise. */
async function withLiveClient<T>(
  config: import('../config/schema').MetConfig,
  fn: (client: import('@temporalio/client').Client) => Promise<T>,
): Promise<T | undefined> {
  const { connectClientIfReachable } = await import('../temporal/connect');
  const client = await connectClientIfReachable(config);
  if (!client) return undefined;
  try {
    return await fn(client);
  } finally {
    await client.connection.close();
  }
}

/** cli/watch.ts's waitForRun, loaded when a command waits (it brings the Temporal client). */
async function waitFor(...args: Parameters<typeof import('./watch').waitForRun>): Promise<void> {
  const { waitForRun } = await import('./watch');
  return waitForRun(...args);
}
