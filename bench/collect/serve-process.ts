// A `met serve` with the deterministic generator in its own process (so the benchmark's client and
// server do not share an event loop). Prints its URL on stdout, serves until SIGTERM.
import { startServe } from '../../serve/server';
import { TextGeneratorBackend } from '../../serve/textGenerator';

const server = await startServe({ backend: new TextGeneratorBackend(), backendConcurrency: 64 });
process.stdout.write(`${server.url}\n`);
process.on('SIGTERM', () => void server.close().then(() => process.exit(0)));
