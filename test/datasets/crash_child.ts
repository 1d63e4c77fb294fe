/**
 * Child process of crash.test.ts: writes shards one unit after another (`write ROOT FIRST`), or
 * compacts the corpus (`compact ROOT`), printing progress lines, until it is killed.
 */
import { compactCorpus } from '../../datasets/corpus';
import { createDuckDB } from '../../datasets/duck';
import { writeShard } from '../../datasets/shards';
import { syntheticSamples } from '../../datasets/synthetic';

const [mode, root, first] = process.argv.slice(2);
const duck = await createDuckDB();
process.stdout.write('ready\n');
if (mode === 'write') {
  for (let u = Number(first); ; u++) {
    const unitId = `u${u}`;
    const rows = syntheticSamples({
      corpus: 'crash',
      unitId,
      model: 'm',
      source: u % 2 ? 'odd' : 'even',
      prompts: 20,
      firstPrompt: u * 20,
      samplesPerPrompt: 100,
      seed: u,
    });
    await writeShard(duck, root, { corpus: 'crash', kind: 'samples', unitId }, rows);
    process.stdout.write(`done ${unitId}\n`);
  }
} else {
  const r = await compactCorpus(duck, root, 'crash');
  process.stdout.write(`compacted ${r.merged.length}\n`);
}
