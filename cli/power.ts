import type { Command } from 'commander';
import { CPU_TASK_QUEUE } from '../temporal/queues';
import { commandConfig, commonOptions } from './config';

/** `met power SPEC [--wait]` runs a power grid; `met report RUN` writes its HTML report and figures. */
export function register(program: Command): void {
  commonOptions(program.command('power'))
    .argument(
      '<spec>',
      'grid spec (YAML or JSON): reference (or references: two for a composite null), alternatives, statistics, samplesPerPrompt, promptSubsets, sims, b',
    )
    .description('run a power-simulation grid as a workflow; with --wait, show progress and print the power table')
    .option('--wait', 'follow progress, then print the table and write the report')
    .option('--queue <name>', 'task queue of the CPU workers that run the grid', CPU_TASK_QUEUE)
    .option('--json', 'print the run (and with --wait the power table and report path) as JSON on stdout; messages go to stderr')
    .action(async (specPath: string, opts: { wait?: boolean; data?: string; address?: string; namespace?: string; queue: string; json?: boolean }) => {
      const { readSpecFile } = await import('../config/load');
      const { PowerSpec } = await import('../config/powerSpec');
      const { connectClient } = await import('../temporal/connect');
      const { launchPower } = await import('../client/power');
      const { ErrorTypes, MetError } = await import('../common/errors');
      const parsed = PowerSpec.safeParse(readSpecFile(specPath));
      if (!parsed.success) {
        const { formatIssues } = await import('../common/issues');
        throw new MetError(ErrorTypes.BadRunSpec, formatIssues(parsed.error, `${specPath} is not a valid grid spec`));
      }
      const config = await commandConfig(opts);
      const client = await connectClient(config);
      try {
        const { launchLine, printJson } = await import('./output');
        const { record, attached } = await launchPower(client, config, parsed.data, opts.queue);
        const say = (line: string) => (opts.json ? process.stderr : process.stdout).write(`${line}\n`);
        say(launchLine(attached, record.runId, 'power'));
        let outcome: Awaited<ReturnType<typeof printAndReport>> | undefined;
        if (opts.wait) {
          const { watchRun } = await import('./watch');
          await watchRun(client, record, say);
          if (!process.exitCode) outcome = await printAndReport(config, record, !opts.json);
        }
        if (opts.json)
          printJson({ runId: record.runId, workflowId: record.workflowId, attached, ...(opts.wait ? { completed: !process.exitCode, ...outcome } : {}) });
      } finally {
        await client.connection.close();
      }
    });

  commonOptions(program.command('report'))
    .argument('<run>', 'run id (a power grid, a test or a consistency run)')
    .description('write the HTML report (with PNG and SVG figures) of a power grid, a test run or a consistency run and print its table or verdict')
    .action(async (runId: string, opts: { data?: string; address?: string; namespace?: string }) => {
      const { loadRunRecord } = await import('../client/runs');
      const config = await commandConfig(opts);
      const record = await loadRunRecord(config, runId);
      // A consistency run's report is rebuilt on this host from what the run left (client/consistency.ts).
      if (record.job === 'consistencyReport') return consistencyReport(config, record);
      await printAndReport(config, record);
    });
}

/**
 * Writes the run's report (its kind says how, jobs/); prints its power table or verdict (unless
 * print is false) and the page's path, and returns them. With a bucket, the page is published.
 */
async function printAndReport(config: import('../config/schema').MetConfig, record: import('../client/runs').RunRecord, print = true) {
  const { hasReport, JOBS, REPORTED, reportOf } = await import('../jobs');
  const { ErrorTypes, MetError } = await import('../common/errors');
  if (!hasReport(record.job))
    throw new MetError(ErrorTypes.BadInput, `met report writes the reports of ${REPORTED.join(', ')} runs; ${record.runId} is a ${JOBS[record.job].title} run`);
  const { createDuckDB } = await import('../datasets/duck');
  const duck = await createDuckDB();
  try {
    // With --data s3://..., corpora are read from this host's cache of the bucket.
    const { openCorpora } = await import('../datasets/corpora');
    const corpora = openCorpora(duck, config);
    const result = async () => {
      const { connectClient } = await import('../temporal/connect');
      const client = await connectClient(config);
      try {
        return (await client.workflow.getHandle(record.workflowId).result()) as unknown;
      } finally {
        await client.connection.close();
      }
    };
    const written = await reportOf({ duck, dataDir: config.dataDir, readRoot: (corpus, kinds) => corpora.readRoot(corpus, kinds), result }, record);
    if (!written) return undefined;
    // With a bucket, a report written here is copied beside the runs, for every host (reports/<run>/).
    const { dirname } = await import('node:path');
    const published = written.section ? await corpora.publishFiles(`reports/${record.runId}`, dirname(written.htmlPath)) : undefined;
    const { calibrationWarnings, powerTable, verdictLine } = await import('../report/tables');
    const { PowerSection, TestSection } = await import('../report/schemas');
    let table: ReturnType<typeof powerTable> | undefined;
    const warnings: string[] = [];
    if (written.section?.kind === 'power') {
      const parsed = PowerSection.parse(written.section);
      warnings.push(...parsed.warnings, ...calibrationWarnings(parsed));
      for (const warning of warnings) console.warn(`warning: ${warning}`);
      table = powerTable(parsed);
      const { formatPowerTable } = await import('./table');
      if (print) console.log(formatPowerTable(table));
    } else if (written.section?.kind === 'test' && print) {
      for (const r of TestSection.parse(written.section).results) console.log(verdictLine(r));
    }
    if (print) console.log(`Report: ${written.htmlPath}${published && corpora.kind === 's3' ? ` (and ${published}/index.html)` : ''}`);
    return { table, warnings, report: written.htmlPath };
  } finally {
    duck.closeSync();
  }
}

/** A consistency run's report, written again here (client/consistency.ts says from what); prints the MMD verdict and the page's path. */
async function consistencyReport(config: import('../config/schema').MetConfig, record: import('../client/runs').RunRecord) {
  const { writeConsistencyRunReport } = await import('../client/consistency');
  const { connectClient } = await import('../temporal/connect');
  const { formatP, verdictOf } = await import('../report/tables');
  let client: import('@temporalio/client').Client | undefined;
  try {
    const { htmlPath, report, from } = await writeConsistencyRunReport(config, record, async () => (client = await connectClient(config)));
    const section = report.sections[0];
    const m = section?.kind === 'consistency' ? section.mmd : undefined;
    if (section?.kind === 'consistency' && m) {
      const similarity = section.summary?.meanSimilarity;
      console.log(
        `${section.a.label} vs ${section.b.label}: ${verdictOf(m.decision === 'reject')} at α = ${section.alpha} (${m.statistic}, ${formatP(m.pValue, m.b, { showB: true })})${similarity === undefined ? '' : `; mean answer similarity ${similarity.toFixed(4)}`}`,
      );
    }
    console.log(`Report: ${htmlPath} (from ${from})`);
  } finally {
    await client?.connection.close();
  }
}
