import type { Command } from 'commander';
import { commandConfig } from './config';

/** `met power SPEC [--wait]` runs a power grid; `met report RUN` writes its HTML report and figures. */
export function register(program: Command): void {
  program
    .command('power')
    .argument('<spec>', 'grid spec (YAML or JSON): reference (or references: two for a composite null), alternatives, statistics, samplesPerPrompt, promptSubsets, sims, b')
    .description('run a power-simulation grid as a workflow; with --wait, show progress and print the power table')
    .option('--wait', 'follow progress, then print the table and write the report')
    .option('--data <dir>', 'data folder (default ./.met, or MET_DATA)')
    .option('--address <host:port>', 'Temporal frontend')
    .action(async (specPath: string, opts: { wait?: boolean; data?: string; address?: string }) => {
      const { readSpecFile } = await import('../config/load');
      const { PowerSpec } = await import('../config/powerSpec');
      const { connectClient } = await import('../temporal/connect');
      const { launchPower } = await import('../client/power');
      const { ErrorTypes, MetError } = await import('../common/errors');
      const parsed = PowerSpec.safeParse(readSpecFile(specPath));
      if (!parsed.success) {
        throw new MetError(ErrorTypes.BadRunSpec, `${specPath} is not a valid grid spec:\n${parsed.error.issues.map((i) => `  - ${i.path.join('.')}: ${i.message}`).join('\n')}`);
      }
      const config = await commandConfig(opts);
      const client = await connectClient(config);
      try {
        const { record, attached } = await launchPower(client, config.dataDir, parsed.data);
        console.log(`${attached ? 'Attached to running' : 'Started'} power run ${record.runId}`);
        if (opts.wait) {
          const { watchRun } = await import('./watch');
          await watchRun(client, record);
          if (!process.exitCode) await printAndReport(config.dataDir, record);
        }
      } finally {
        await client.connection.close();
      }
    });

  program
    .command('report')
    .argument('<run>', 'run id (a power grid)')
    .description('write the HTML report (with PNG and SVG figures) of a run and print its table')
    .option('--data <dir>', 'data folder (default ./.met, or MET_DATA)')
    .action(async (runId: string, opts: { data?: string }) => {
      const { loadRunRecord } = await import('../client/runs');
      const config = await commandConfig(opts);
      const record = loadRunRecord(config.dataDir, runId);
      if (record.job !== 'powerSimulation') throw new Error(`met report writes power-grid reports; ${runId} is a ${record.job} run`);
      await printAndReport(config.dataDir, record);
    });
}

async function printAndReport(dataDir: string, record: import('../client/runs').RunRecord): Promise<void> {
  const { createDuckDB } = await import('../datasets/duck');
  const { writePowerReport } = await import('../client/power');
  const { PowerSection } = await import('../report/schemas');
  const { powerTable } = await import('../report/tables');
  const { formatPowerTable } = await import('./table');
  const duck = await createDuckDB();
  try {
    const { report, section } = await writePowerReport(duck, dataDir, record);
    const parsed = PowerSection.parse(section);
    for (const warning of parsed.warnings) console.warn(`warning: ${warning}`);
    console.log(formatPowerTable(powerTable(parsed)));
    console.log(`Report: ${report.htmlPath}`);
  } finally {
    duck.closeSync();
  }
}
