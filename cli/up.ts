import type { Command } from 'commander';
import { CPU_TASK_QUEUE } from '../temporal/queues';
import { commandConfig, dataOption } from './config';

/**
 * `met up`: starts (or attaches to) the embedded Temporal server and runs the local workers in the
 * foreground until Ctrl-C. With TEMPORAL_ADDRESS set it only runs workers against that cluster.
 */
export function register(program: Command): void {
  dataOption(program.command('up'))
    .description('start the embedded Temporal server (unless TEMPORAL_ADDRESS is set) and run local workers until Ctrl-C')
    .option('--config <file>', 'worker config (YAML/JSON): providers and local models to serve')
    .option('--provider <name...>', 'API providers to serve besides those in --config')
    .option('--port <port>', 'embedded server gRPC port (default 7233)')
    .option('--headless', 'no web UI for the embedded server')
    .option('--api [port]', 'also serve the HTTP API on 127.0.0.1 (default port 8080; web console at /, docs at /docs)')
    .action(async (opts: { config?: string; provider?: string[]; data?: string; port?: string; headless?: boolean; api?: string | boolean }) => {
      const { startDevServer } = await import('../temporal/devServer');
      const { runWorkers, shutdownSignal } = await import('../workers/run');
      const { buildWorkerPlans } = await import('../workers/plans');
      const { isEmbedded } = await import('../config/schema');
      const config = await commandConfig({ data: opts.data, port: opts.port });
      const log = (line: string) => process.stderr.write(`${line}\n`);
      // A server this command starts stops with it; one already running is left as it was.
      let startedServer = false;
      if (isEmbedded(config)) {
        const { state, alreadyRunning } = await startDevServer({
          dataDir: config.dataDir,
          port: config.temporal.embeddedPort,
          headless: opts.headless,
          namespace: config.temporal.namespace,
          log,
        });
        startedServer = !alreadyRunning;
        log(`Temporal ${alreadyRunning ? 'already running' : 'started'} on ${state.ip}:${state.port} (pid ${state.pid})`);
        if (state.uiPort) log(`Web UI: http://${state.ip}:${state.uiPort}/namespaces/${state.namespace}/workflows`);
      }
      const { plans, close } = await buildWorkerPlans({
        config,
        providers: opts.provider,
        configFile: opts.config,
        queues: [CPU_TASK_QUEUE],
        env: process.env,
      });
      let stopApi: (() => Promise<void>) | undefined;
      try {
        if (opts.api) {
          const { serveApi } = await import('../api/server');
          const api = await serveApi(config, {
            port: opts.api === true ? 8080 : Number(opts.api),
            healthQueues: plans.map((p) => p.taskQueue).filter((q) => q !== CPU_TASK_QUEUE),
            prices: opts.config ? (await import('./api')).providerPrices(await (await import('../config/load')).readWorkerConfig(opts.config)) : undefined,
          });
          stopApi = api.close;
          log(`HTTP API on ${api.url} (console: ${api.url}/, docs: ${api.url}/docs)`);
        }
        log(
          startedServer
            ? 'workers running; Ctrl-C stops them and the Temporal server met up started'
            : 'workers running; Ctrl-C stops them (the server was already running and keeps running: met server stop)',
        );
        await runWorkers(config, plans, shutdownSignal(log), log);
      } finally {
        await stopApi?.();
        await close();
        if (startedServer) {
          const { stopDevServer } = await import('../temporal/devServer');
          await stopDevServer(config.dataDir);
          log('Temporal server stopped (its history is kept; met server start serves it again)');
        }
      }
    });
}
