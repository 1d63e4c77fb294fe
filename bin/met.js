#!/usr/bin/env node
// Entry point of the `met` executable. Runs the JavaScript that `npm install` built into dist/
// (scripts/build.js) while it matches the sources; otherwise the TypeScript sources through tsx,
// saying so in one line, so edited sources never run stale.
import { fileURLToPath } from 'node:url';
import { distStale } from './dist.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const stale = process.env.MET_FROM_SOURCE === '1' ? 'MET_FROM_SOURCE=1' : distStale(root);
let main;
if (stale === undefined) {
  if (process.env.MET_DEBUG === '1') process.setSourceMapsEnabled(true);
  ({ main } = await import('../dist/met.js'));
} else {
  if (process.env.MET_FROM_SOURCE !== '1') process.stderr.write(`met: running from TypeScript (${stale}); npm run build makes met start fast\n`);
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('../cli/main.ts'));
}
await main(process.argv);
