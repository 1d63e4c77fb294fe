import { writeTinyModels } from '../../models/tiny';
import { loadLlamaBackend } from '../../models/llama';
async function main() {
  console.log('writing'); const paths = writeTinyModels('/tmp/nd/models'); console.log('written');
  const settings = [{ batchSize: 128, threads: 1 }, { batchSize: 1, threads: 1 }, { batchSize: 3, threads: 1 }];
  const outs: string[][] = [];
  const lps: number[][] = [];
  for (const s of settings) {
    console.log('loading', JSON.stringify(s));
    const b = await loadLlamaBackend({ path: paths.fp32, precision: 'fp32', ...s, log: (l: string) => console.log(l) });
    const o: string[] = []; const l: number[] = [];
    for (let p = 0; p < 8; p++) for (let k = 0; k < 40; k++) {
      const g = await b.generate({ prompt: `Story ${p}: once upon a time`, maxTokens: 24, temperature: 1, topP: 1, seed: 1000 * p + k });
      o.push(g.text); l.push((g.tokenLogprobs ?? []).reduce((a: number, c: number) => a + c, 0));
    }
    outs.push(o); lps.push(l);
    await b.close();
  }
  for (let i = 1; i < settings.length; i++) {
    const diff = outs[i].filter((t, j) => t !== outs[0][j]).length;
    const dl = Math.max(...lps[i].map((v, j) => Math.abs(v - lps[0][j])));
    console.log(JSON.stringify(settings[i]), 'differing completions', diff, '/', outs[0].length, 'max |sum logprob diff|', dl);
  }
}
void main();
