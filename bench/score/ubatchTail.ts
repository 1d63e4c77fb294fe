/**
 * bench/score/ubatchTail: does a position's logprob depend on how many tokens its ubatch holds?
 * One sequence (66 tokens of the decode check's text) scored by met's native scorer, one sequence
 * per decode, at batch sizes that cut it differently, against batch 128 (one ubatch): the cause of
 * packed scoring's differences (docs/decoding.md).
 *   node --import tsx bench/score/ubatchTail.ts [--model .tools/gemma/gemma-3-270m-F32.gguf] [--length 66]
 */
import { fixedSequences } from '../../models/decodeCheck';
import { NativeScorer } from '../../models/nativeScorer';

const arg = (name: string, fallback: string) => (process.argv.includes(`--${name}`) ? process.argv[process.argv.indexOf(`--${name}`) + 1] : fallback);
const path = arg('model', '.tools/gemma/gemma-3-270m-F32.gguf');
const length = Number(arg('length', '66'));
const { sequences } = await fixedSequences(path, 2048);
const tokens = sequences[2].slice(0, length);
const run = async (batchSize: number) => {
  const scorer = NativeScorer.open(path, { threads: 1, contextSize: 256, batchSize, sequences: 1, flashAttention: 'off', swaFull: false });
  try {
    return (await scorer.score([{ tokens, from: 0 }])).logprobs;
  } finally {
    scorer.close();
  }
};
const reference = await run(128);
for (const batchSize of [length - 1, length - 2, Math.ceil(length / 2), 32, 8, 2, 1]) {
  const got = await run(batchSize);
  let max = 0;
  let at = -1;
  got.forEach((x, i) => {
    const d = Math.abs(x - reference[i]);
    if (d > max) [max, at] = [d, i];
  });
  const tail = length % batchSize;
  console.log(`batch ${batchSize} (ubatches of ${batchSize}, last of ${tail || batchSize}): max |Δ logprob| ${max} nats${at >= 0 ? ` at position ${at}` : ''}`);
}
