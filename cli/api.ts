import type { Command } from 'commander';
import { CPU_TASK_QUEUE } from '../temporal/queues';
import { commandConfig, commonOptions } from './config';

/** `met api`: the HTTP API (OpenAPI document and a browsable UI at /docs). */
export function register(program: Command): void {
  commonOptions(program.command('api'))
    .description('serve met’s HTTP API (perplexity, runs, tests, reports; docs at /docs); needs a running Temporal and workers (met up)')
    .option('--host <host>', 'interface to bind (anything but loopback requires --token-env)', '127.0.0.1')
    .option('--port <port>', 'port of the API (0 picks a free one)', '8080')
    .option('--token-env <NAME>', 'environment variable holding the bearer token every request must carry (never the token itself on the command line)')
    .option('--body-limit <bytes>', 'largest request body', String(2 * 1024 * 1024))
    .option('--queue <name>', 'task queue of the CPU workers that run met’s workflows', CPU_TASK_QUEUE)
    .option('--health-queue <name...>', 'more queues /health reports (model and provider queues)')
    .option('--config <file>', "worker config whose providers' prices give the console the cost of each audit firing")
    .action(
      async (opts: {
        host: string;
        port: string;
        tokenEnv?: string;
        bodyLimit: string;
        queue: string;
        healthQueue?: string[];
        config?: string;
        data?: string;
        address?: string;
        namespace?: string;
      }) => {
        const { ErrorTypes, MetError } = await import('../common/errors');
        const { serveApi } = await import('../api/server');
        const { listenError } = await import('../common/net');
        const token = opts.tokenEnv ? process.env[opts.tokenEnv] : undefined;
        if (opts.tokenEnv && !token)
          throw new MetError(
            ErrorTypes.BadInput,
            `--token-env ${opts.tokenEnv}: that environment variable is empty; export ${opts.tokenEnv}=<a long random token>`,
          );
        // --port is the API's own port, never the embedded Temporal server's (that is MET_TEMPORAL_PORT).
        const config = await commandConfig({ data: opts.data, address: opts.address, namespace: opts.namespace });
        const api = await serveApi(config, {
          host: opts.host,
          port: Number(opts.port),
          token,
          bodyLimit: Number(opts.bodyLimit),
          taskQueue: opts.queue,
          healthQueues: opts.healthQueue,
          prices: opts.config ? providerPrices(await (await import('../config/load')).readWorkerConfig(opts.config)) : undefined,
        }).catch((err: unknown) => {
          throw listenError(err, 'met api', opts.host, Number(opts.port));
        });
        console.log(`met API on ${api.url} (console: ${api.url}/, docs: ${api.url}/docs)${token ? '; bearer token required' : ''}`);
        const stop = async () => {
          await api.close();
          process.exit(0);
        };
        process.once('SIGINT', () => void stop());
        process.once('SIGTERM', () => void stop());
      },
    );
}

/** Per provider, its prices from a worker config (the console's cost per audit firing). */
export function providerPrices(config: import('../config/workers').WorkerConfig): Record<string, import('../collect/estimate').Prices> {
  return Object.fromEntries(config.providers.flatMap((p) => (p.prices ? [[p.name, p.prices]] : [])));
}
