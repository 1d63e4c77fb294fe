import type { Command } from 'commander';
import { CPU_TASK_QUEUE } from '../temporal/queues';
import { commandConfig, commonOptions } from './config';

/** `met power SPEC [--wait]` runs a power grid; `met report RUN` writes the HTML report and figures of a grid, a test or a consistency run. */
export function register(program: Command): void {
  commonOptions(program.command('power'))
    .argument('<spec>', 'grid spec (YAML or JSON): reference (or references: two for a composite null), alternatives, statistics, samplesPerPrompt, promptSubsets, sims, b')
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
        if (opts.json) printJson({ runId: record.runId, workflowId: record.workflowId, attached, ...(opts.wait ? { completed: !process.exitCode, ...outcome } : {}) });
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
      if (record.job === 'runTest') return testReport(config, record);
      if (record.job === 'consistencyReport') return consistencyReport(config, record);
      if (record.job !== 'powerSimulation') throw new Error(`met report writes the reports of power grids, tests and consistency runs; ${runId} is a ${record.job} run`);
      await printAndReport(config, record);
    });
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
      console.log(`${section.a.label} vs ${section.b.label}: ${verdictOf(m.decision === 'reject')} at α = ${section.alpha} (${m.statistic}, ${formatP(m.pValue, m.b, { showB: true })})${similarity === undefined ? '' : `; mean answer similarity ${similarity.toFixed(4)}`}`);
    }
    console.log(`Report: ${htmlPath} (from ${from})`);
  } finally {
    await client?.connection.close();
  }
}

/** A test run's verdict page (client/testReport.ts); prints the verdict line and the page's path. */
async function testReport(config: import('../config/schema').MetConfig, record: import('../client/runs').RunRecord) {
  const { createDuckDB } = await import('../datasets/duck');
  const { writeTestReport } = await import('../client/testReport');
  const { verdictLine } = await import('../report/tables');
  const duck = await createDuckDB();
  try {
    const { openCorpora } = await import('../datasets/corpora');
    const corpora = openCorpora(duck, config);
    const spec = record.input as import('../config/testSpec').TestSpec;
    const { htmlPath, results } = await writeTestReport(duck, config.dataDir, record, await corpora.readRoot(spec.x.corpus, ['tests']));
    for (const r of results) console.log(verdictLine(r));
    console.log(`Report: ${htmlPath}`);
  } finally {
    duck.closeSync();
  }
}

/** Writes the report; prints the table (unless print is false) and returns it with the report's path. */
async function printAndReport(config: import('../config/schema').MetConfig, record: import('../client/runs').RunRecord, print = true) {
  const { createDuckDB } = await import('../datasets/duck');
  const { writePowerReport } = await import('../client/power');
  const { PowerSection } = await import('../report/schemas');
  const { powerTable } = await import('../report/tables');
  const { formatPowerTable } = await import('./table');
  const duck = await createDuckDB();
  try {
    // With --data s3://..., the cells are read from this host's cache of the bucket corpus.
    const { openCorpora } = await import('../datasets/corpora');
    const corpora = openCorpora(duck, config);
    const readRoot = await corpora.readRoot((record.input as import('../workflows/powerSimulation').PowerInput).spec.corpus, ['power']);
    const { report, section } = await writePowerReport(duck, config.dataDir, record, undefined, readRoot);
    // With a bucket, the report is copied beside the runs, for every host (reports/<run>/).
    const { dirname } = await import('node:path');
    const published = await corpora.publishFiles(`reports/${record.runId}`, dirname(report.htmlPath));
    const parsed = PowerSection.parse(section);
    const { calibrationWarnings } = await import('../report/tables');
    const warnings = [...parsed.warnings, ...calibrationWarnings(parsed)];
    for (const warning of warnings) console.warn(`warning: ${warning}`);
    const table = powerTable(parsed);
    if (print) {
      console.log(formatPowerTable(table));
      console.log(`Report: ${report.htmlPath}${corpora.kind === 's3' ? ` (and ${published}/index.html)` : ''}`);
    }
    return { table, warnings, report: report.htmlPath };
  } finally {
    duck.closeSync();
  }
}
