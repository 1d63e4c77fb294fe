import type { Command } from 'commander';
import { commandConfig, dataOption } from './config';

/** `met server start|stop|status`: the embedded Temporal dev server on a SQLite file. */
export function register(program: Command): void {
  const server = program.command('server').description('manage the embedded Temporal dev server (SQLite file under the data folder)');

  dataOption(server.command('start'))
    .description('start the embedded Temporal server (idempotent: reports a running one)')
    .option('--port <port>', 'gRPC port (default 7233, or MET_TEMPORAL_PORT)')
    .option('--ui-port <port>', 'web UI port (default port + 1000)')
    .option('--headless', 'do not serve the web UI')
    .action(async (opts: { data?: string; port?: string; uiPort?: string; headless?: boolean }) => {
      const { startDevServer } = await import('../temporal/devServer');
      const config = await commandConfig({ data: opts.data, port: opts.port });
      const { state, alreadyRunning } = await startDevServer({
        dataDir: config.dataDir,
        port: config.temporal.embeddedPort,
        uiPort: opts.uiPort ? Number(opts.uiPort) : undefined,
        headless: opts.headless,
        namespace: config.temporal.namespace,
        log: (line) => process.stderr.write(`${line}\n`),
      });
      const what = alreadyRunning ? 'already running' : 'started';
      console.log(`Temporal dev server ${what}: pid ${state.pid}, gRPC ${state.ip}:${state.port}, namespace ${state.namespace}`);
      if (state.uiPort) console.log(`Web UI: http://${state.ip}:${state.uiPort}/namespaces/${state.namespace}/workflows`);
      console.log(`Database: ${state.dbFile}\nLog: ${state.logFile}`);
    });

  dataOption(server.command('stop'))
    .description('stop the embedded Temporal server (its SQLite file is kept)')
    .action(async (opts: { data?: string }) => {
      const { stopDevServer } = await import('../temporal/devServer');
      const config = await commandConfig({ data: opts.data });
      const stopped = await stopDevServer(config.dataDir);
      console.log(stopped ? 'Temporal dev server stopped.' : `No embedded Temporal server is running for ${config.dataDir}.`);
    });

  dataOption(server.command('status'))
    .description('report whether the embedded server runs and answers the gRPC health check')
    .option('--json', 'print JSON')
    .action(async (opts: { data?: string; json?: boolean }) => {
      const { devServerStatus } = await import('../temporal/devServer');
      const config = await commandConfig({ data: opts.data });
      const status = await devServerStatus(config.dataDir);
      if (opts.json) {
        console.log(JSON.stringify(status, null, 2));
      } else if (!status.running) {
        console.log(`Not running (data folder ${config.dataDir}). Start it with 'met server start'.`);
      } else {
        const s = status.state!;
        console.log(`Running: pid ${s.pid}, gRPC ${s.ip}:${s.port}, health ${status.healthy ? 'SERVING' : 'NOT SERVING'}`);
        if (s.uiPort) console.log(`Web UI: http://${s.ip}:${s.uiPort}`);
      }
      if (!status.running || !status.healthy) process.exitCode = 3;
    });
}
