// A `met serve` with the deterministic generator in its own process (so the benchmark's client and
// server do not share an event loop). Prints its URL on stdout, serves until SIGTERM. An optional
// JSON argument adds serve options (faults, batch), e.g. '{"faults":{"latencyMs":20}}'.
import { startServe, type ServeOptions } from '../../serve/server';
import { TextGeneratorBackend } from '../../serve/textGenerator';

const extra = (process.argv[2] ? JSON.parse(process.argv[2]) : {}) as Partial<ServeOptions>;
const server = await startServe({ backend: new TextGeneratorBackend(), backendConcurrency: 64, ...extra });
process.stdout.write(`${server.url}\n`);
process.on('SIGTERM', () => void server.close().then(() => process.exit(0)));
