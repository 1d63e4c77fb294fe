import type { Command } from 'commander';
import { commandConfig, dataOption } from './config';

/** `met demo`: the main job end to end on the embedded default (see cli/demoRun.ts). */
export function register(program: Command): void {
  dataOption(program.command('demo'))
    .description('answer "which model is this endpoint serving?" end to end: serve endpoints, collect, test, report')
    .option('--port <port>', 'embedded Temporal gRPC port (default 7233)')
    .option('--prompts <n>', 'prompts from the shipped demo set', (v) => parseInt(v, 10), 10)
    .option('--samples <n>', 'samples per prompt from each source', (v) => parseInt(v, 10), 24)
    .option('--b <n>', 'permutations behind each p-value', (v) => parseInt(v, 10), 1000)
    .option('--endpoint-port <n>', 'port of the first demo endpoint (the second uses n+1; default: Temporal port + 2100)', (v) => parseInt(v, 10))
    .option('--headless', 'no Temporal web UI')
    .option('--keep-up', 'leave the embedded Temporal server running afterwards')
    .option('--json', 'print the results as JSON at the end')
    .action(
      async (opts: {
        endpointPort?: number;
        data?: string;
        port?: string;
        prompts: number;
        samples: number;
        b: number;
        headless?: boolean;
        keepUp?: boolean;
        json?: boolean;
      }) => {
        const { runDemo, DemoInterrupted } = await import('./demoRun');
        const config = await commandConfig({ data: opts.data, port: opts.port });
        const log = (line: string) => process.stderr.write(`${line}\n`);
        try {
          const result = await runDemo({
            config,
            samplesPerPrompt: opts.samples,
            prompts: opts.prompts,
            b: opts.b,
            headless: opts.headless,
            keepUp: opts.keepUp,
            endpointPort: opts.endpointPort,
            out: opts.json ? process.stderr : process.stdout,
            log,
          });
          if (opts.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
        } catch (err) {
          if (!(err instanceof DemoInterrupted)) throw err;
          log(`met: ${err.message}`);
          process.exit(130);
        }
      },
    );
}
