// Entry of met's statistics worker threads. A worker inherits the parent's execArgv, which carries
// `--import tsx` when run that way but not when tsx was registered from code (bin/met.js), so the
// TypeScript loader is registered here (registering twice is harmless), then the worker module loads.
import { register } from 'tsx/esm/api';
import { workerData } from 'node:worker_threads';

register();
await import(workerData.entry);
