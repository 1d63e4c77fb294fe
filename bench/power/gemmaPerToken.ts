/**
 * bench/power/gemmaPerToken: what each test costs an auditor on a real model, in the endpoint's own
 * currency (requests and tokens), for 80% power at alpha 0.05 (issue #30). Gemma 3 270M at F32 is
 * the honest endpoint and Q4_0 the substitute, both served by `met serve` (in-process llama.cpp).
 *
 * - The sample-based tests (MMD-Hamming, RUT, one-sample G²) come from a power grid written by
 *   bench/power/gemma.ts (pass it with --grid, or the newest on pools of --per-prompt is read):
 *   power at n calls per prompt over its prompts, read only where the grid's independent-pool control
 *   sits within alpha's interval (docs/calibration.md). Tokens per call: the grid prompts' own prompt
 *   tokens (met serve's usage) plus the pools' mean completion length.
 * - Log-probability tracking (stats/tracking.ts, the audit tier): each probe asked through met serve
 *   for ONE token at temperature 0 with its top-5 logprobs, F32 twice (the baseline) and Q4_0 once.
 *   Its power is simulated on those real answers: P probes drawn from the set, the new firing's
 *   answer to each probe is Q4_0's with the scenario's share (the switch happens after the baseline),
 *   and the permutation test decides, `--sims` times per P. Tokens: 3 firings (2 baseline + 1) x
 *   the drawn probes' prompt tokens + 1.
 *
 *   node --import tsx bench/power/gemmaPerToken.ts [--per-prompt 400] [--grid FILE] [--sims 500] [--seed 1]
 *
 * One command: without --grid and without a grid on pools of --per-prompt in bench/out, it runs
 * bench/power/gemma.ts first (sampling both pools, scoring them, the grid at n = 2, 4, 8, 16).
 *
 * Writes bench/out/power-per-token-<time>.{json,md,svg}. Needs `bash scripts/ensure-gemma.sh` and the
 * F32/Q4_0 files bench/power/gemma.ts writes.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createDuckDB } from '../../datasets';
import { withConnection } from '../../datasets/duck';
import { loadLlamaBackend } from '../../models/llama';
import { topLogprobsOf } from '../../providers/generator';
import { renderSvg, tokenPowerSpec, type TokenPowerPoint } from '../../report/plots';
import { startServe } from '../../serve/server';
import { Rng } from '../../stats/rng';
import { trackingTest, type TopLogprobs } from '../../stats/tracking';
import { PROMPT_TEXTS } from './gemmaPrompts';

const arg = (name: string) => (process.argv.includes(`--${name}`) ? process.argv[process.argv.indexOf(`--${name}`) + 1] : undefined);
const SIMS = Number(arg('sims') ?? 500);
const SEED = Number(arg('seed') ?? 1);
const ALPHA = 0.05;
const TARGET = 0.8;
const PER_PROMPT = Number(arg('per-prompt') ?? 400);
const files = { F32: '.tools/gemma/gemma-3-270m-F32.gguf', Q4_0: '.tools/gemma/gemma-3-270m-Q4_0.gguf' } as const;

interface GridRow {
  test: string;
  against: string;
  n: number;
  calls: number;
  power: number;
  interval: string;
}
interface Grid {
  prompts: number;
  perPrompt: number;
  tokens: number;
  sims: number;
  table: GridRow[];
}
/** The newest grid bench/power/gemma.ts wrote on pools of PER_PROMPT per prompt with every statistic. */
const newestGrid = () =>
  readdirSync('bench/out')
    .filter((f) => /^power-gemma-\d+\.json$/.test(f))
    .sort()
    .map((f) => join('bench/out', f))
    .filter((f) => {
      const g = JSON.parse(readFileSync(f, 'utf8')) as Grid;
      return g.perPrompt === PER_PROMPT && ['mmd_hamming', 'rut', 'g_squared'].every((t) => g.table.some((r) => r.test === t));
    })
    .at(-1);
mkdirSync('bench/out', { recursive: true });
let gridFile = arg('grid') ?? newestGrid();
if (!gridFile) {
  // One command: sample, score and simulate the grid first (pools kept in bench/out, reused by a rerun).
  const gridArgs = [
    '--per-prompt',
    String(PER_PROMPT),
    '--parallel',
    '16',
    '--sims',
    String(SIMS),
    '--n',
    '2,4,8,16',
    '--statistics',
    'mmd_hamming,rut,g_squared',
    '--pools',
    'F32,Q4_0',
  ];
  console.error(`no grid on pools of ${PER_PROMPT} per prompt yet: node --import tsx bench/power/gemma.ts ${gridArgs.join(' ')}`);
  const run = spawnSync(process.execPath, ['--import', 'tsx', 'bench/power/gemma.ts', ...gridArgs], { stdio: 'inherit' });
  if (run.status !== 0) throw new Error(`bench/power/gemma.ts exited with ${run.status}`);
  gridFile = newestGrid();
  if (!gridFile) throw new Error('bench/power/gemma.ts wrote no grid');
}
for (const path of Object.values(files)) if (!existsSync(path)) throw new Error(`${path} is missing: bench/power/gemma.ts re-encodes Gemma`);
const grid = JSON.parse(readFileSync(gridFile, 'utf8')) as Grid;
console.error(`grid: ${gridFile} (${grid.prompts} prompts, ${grid.perPrompt} completions per prompt per pool, ${grid.sims} simulations per cell)`);

// The grid's prompts, and the tracking probes: short inputs, one output token each.
const GRID_PROMPTS = PROMPT_TEXTS.slice(0, grid.prompts);
const PROBES = [
  'The cat',
  'Once',
  'She said',
  'A dog',
  'We went',
  'The sun',
  'In the',
  'He was',
  'It is',
  'My friend',
  'The capital of France is',
  'Two plus two equals',
  'The sky is',
  'I like to eat',
  'The book was',
  'Yesterday I',
  'The meeting',
  'Water boils at',
  'My name is',
  'The car',
  'At night',
  'The river',
  'Please',
  'Thank you for',
  'The weather today',
  'The first step',
  'Our team',
  'The price of',
  'A good idea',
  'In 1999,',
  'The recipe calls for',
  'Children often',
  'The door opened',
  'Music is',
  'The computer',
  'Every morning',
  'The garden',
  'Dear Sir,',
  'The answer is',
  'Scientists say',
  'The movie',
  'On Monday',
  'The teacher',
  'Coffee or',
  'The word',
  'Happy birthday',
  'The president',
  'Under the bridge',
  'The road to',
  'A small',
  'The best',
  'Why do',
  'How to',
  'The story begins',
  'Red, green and',
  'The ocean',
  'Breaking news:',
  'The old man',
  'Paris is',
  'The quick brown fox',
  'One day',
  'The moon',
  'Summer is',
  'The end of',
];

const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
const f32 = await loadLlamaBackend({ path: files.F32, precision: 'fp32', model: 'gemma-3-270m', threads: 1, log: (l) => console.error(l) });
const q4 = await loadLlamaBackend({ path: files.Q4_0, precision: 'nf4', model: 'gemma-3-270m', threads: 1, log: (l) => console.error(l) });
const serveF32 = await startServe({ backend: f32, claimModel: 'gemma-3-270m' });
const serveQ4 = await startServe({ backend: q4, claimModel: 'gemma-3-270m' });
const duck = await createDuckDB();
try {
  /** One token at temperature 0 with its top-5 logprobs, as the audit's probes ask (completions route). */
  const ask = async (url: string, prompt: string) => {
    const res = await fetch(`${url}/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gemma-3-270m', prompt, max_tokens: 1, temperature: 0, logprobs: 5 }),
    });
    if (res.status !== 200) throw new Error(`met serve answered ${res.status}: ${await res.text()}`);
    const data = (await res.json()) as { usage: { prompt_tokens: number; completion_tokens: number } };
    const top = topLogprobsOf(data, 'completions');
    if (!top?.length) throw new Error(`no top logprobs for '${prompt}'`);
    return { top, promptTokens: data.usage.prompt_tokens, completionTokens: data.usage.completion_tokens };
  };

  // Tracking: the real answers.
  const baselineA: TopLogprobs[] = [];
  const baselineB: TopLogprobs[] = [];
  const switched: TopLogprobs[] = [];
  const probeTokens: number[] = [];
  for (const text of PROBES) {
    const a = await ask(serveF32.url, text);
    const b = await ask(serveF32.url, text);
    const c = await ask(serveQ4.url, text);
    baselineA.push(a.top);
    baselineB.push(b.top);
    switched.push(c.top);
    probeTokens.push(a.promptTokens + a.completionTokens);
  }
  const repeatsIdentical = baselineA.every((t, j) => JSON.stringify(t) === JSON.stringify(baselineB[j]));
  const topTokenChanged = baselineA.filter((t, j) => t[0][0] !== switched[j][0][0]).length;
  const shift = mean(baselineA.map((t, j) => trackingTest([[t]], [switched[j]], { b: 1, seed: 1 }).value * 2));
  console.error(
    `tracking: ${PROBES.length} probes; F32 asked twice gives identical top-5: ${repeatsIdentical}; Q4_0's most likely token differs on ${topTokenChanged}; mean |F32 - Q4_0| per aligned token ${shift.toFixed(3)} nats`,
  );

  const shares = [1, 0.5, 0.25, 0.1, 0];
  const scenarioOf = (share: number) => (share === 1 ? 'Q4_0 serves every request' : share === 0 ? 'F32 (null)' : `Q4_0 serves ${share * 100}% of requests`);
  const probeCounts = [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 64];
  const rng = new Rng(SEED);
  const tracking: { share: number; probes: number; power: number; tokens: number; requests: number }[] = [];
  for (const share of shares) {
    for (const P of probeCounts) {
      let rejections = 0;
      let tokens = 0;
      for (let s = 0; s < SIMS; s++) {
        const chosen = Array.from(rng.shuffle(Int32Array.from(PROBES.map((_, i) => i))).subarray(0, P));
        const current = chosen.map((j) => (rng.float() < share ? switched[j] : baselineB[j]));
        // The baseline's second firing is the answer the honest endpoint gives again; the null's new firing is a third F32 answer (identical).
        const r = trackingTest([chosen.map((j) => baselineA[j]), chosen.map((j) => baselineB[j])], current, { b: 1000, seed: SEED + s });
        if (r.pvalue <= ALPHA) rejections++;
        tokens += 3 * chosen.reduce((t, j) => t + probeTokens[j], 0);
      }
      tracking.push({ share, probes: P, power: rejections / SIMS, tokens: tokens / SIMS, requests: 3 * P });
    }
  }

  // The sample-based tests, from the grid: tokens per call from the prompts and the pools.
  const promptTokens = mean(await Promise.all(GRID_PROMPTS.map(async (p) => (await ask(serveF32.url, p)).promptTokens)));
  const dataDir = join('bench', 'out', `gemma-power-data-p${grid.prompts}-n${grid.perPrompt}-t${grid.tokens}`);
  const completionTokens = Number(
    (
      await withConnection(duck, (c) =>
        c.runAndReadAll(`SELECT avg(len(token_ids)) FROM read_parquet('${dataDir}/corpus/gemma/samples/model=gemma-3-270m/source=*/*.parquet')`),
      )
    ).getRows()[0][0],
  );
  const perCall = promptTokens + completionTokens;
  const interval = (s: string) =>
    s
      .match(/\[([\d.]+), ([\d.]+)\]/)
      ?.slice(1)
      .map(Number);
  const controlOk = (test: string, n: number) => {
    const c = grid.table.find((r) => r.test === test && r.n === n && r.against.includes('(control)'));
    const ci = c ? interval(c.interval) : undefined;
    return ci !== undefined && ci[0] <= ALPHA;
  };
  const againstOf = (share: number) => (share === 1 ? 'Q4_0' : share === 0 ? 'F32 (null)' : `Q4_0 at share ${share}`);
  const TESTS: Record<string, string> = { mmd_hamming: 'MMD-Hamming', rut: 'RUT', g_squared: 'one-sample G²' };
  const tests = [...new Set(grid.table.map((r) => r.test))];
  const points: TokenPowerPoint[] = [];
  const rows: string[] = [];
  for (const share of shares) {
    for (const test of tests) {
      const cells = grid.table.filter((r) => r.test === test && r.against === againstOf(share)).sort((a, b) => a.n - b.n);
      const read = cells.filter((r) => controlOk(test, r.n));
      for (const r of read) points.push({ test: TESTS[test] ?? test, scenario: scenarioOf(share), tokens: r.calls * perCall, power: r.power });
      const hit = read.find((r) => r.power >= TARGET);
      const last = read.at(-1);
      const beyond = cells.filter((r) => !controlOk(test, r.n)).map((r) => r.n);
      rows.push(
        `| ${scenarioOf(share)} | ${TESTS[test] ?? test} | ${
          share === 0
            ? read.length
              ? `type-I ${read.map((r) => r.power.toFixed(3)).join(' / ')} at ${read.map((r) => r.calls).join(' / ')} calls`
              : 'no calibrated budget'
            : hit
              ? `**${hit.calls}** (power ${hit.power.toFixed(2)})`
              : last
                ? `> ${last.calls} (power ${last.power.toFixed(2)} at ${last.calls})`
                : 'no calibrated budget'
        } | ${share === 0 ? '' : hit ? Math.round(hit.calls * perCall).toLocaleString('en-US') : last ? `> ${Math.round(last.calls * perCall).toLocaleString('en-US')}` : ''} | ${
          test === 'rut'
            ? `+ ${hit ? hit.calls * 20 : '…'} local reference completions (k = 20 per call); `
            : test === 'g_squared'
              ? 'reference logprobs of every endpoint completion; '
              : ''
        }${beyond.length ? `control above alpha at n = ${beyond.join(', ')} (not read)` : 'control within alpha at every n'} |`,
      );
    }
    const t = tracking.filter((r) => r.share === share);
    const hit = t.find((r) => r.power >= TARGET);
    for (const r of t) if (share > 0) points.push({ test: 'tracking', scenario: scenarioOf(share), tokens: r.tokens, power: r.power });
    rows.push(
      `| ${scenarioOf(share)} | tracking (top-5, temperature 0) | ${
        share === 0
          ? `type-I ${Math.max(...t.map((r) => r.power)).toFixed(3)} at most (1 to 64 probes)`
          : hit
            ? `**${hit.requests}** (${hit.probes} probes x 3 firings; power ${hit.power.toFixed(2)})`
            : `> ${t.at(-1)!.requests}`
      } | ${share === 0 ? '' : hit ? Math.round(hit.tokens).toLocaleString('en-US') : ''} | ${hit ? `${Math.round(hit.tokens / 3)} tokens per firing; ` : ''}detects a change after its baseline only |`,
    );
  }
  const table = [`| scenario | test | API calls for ${TARGET * 100}% power | endpoint tokens | also needs / notes |`, '|---|---|---|---|---|', ...rows].join(
    '\n',
  );
  console.log(table);
  const spec = tokenPowerSpec(
    points.filter((p) => p.scenario !== scenarioOf(0)),
    {
      alpha: ALPHA,
      target: TARGET,
      title: 'Gemma 3 270M, F32 served honestly or replaced by Q4_0: power against endpoint tokens',
      subtitle: `${grid.prompts} prompts, pools of ${grid.perPrompt} per prompt; sample tests only where the control sits within α; tracking counts its 2 baseline firings. Grey dashes: 80% power.`,
    },
  );
  const svg = (await renderSvg(spec)).svg;
  const stamp = Date.now();
  const out = `bench/out/power-per-token-${stamp}`;
  writeFileSync(`${out}.md`, `${table}\n`);
  writeFileSync(`${out}.svg`, svg);
  writeFileSync(
    `${out}.json`,
    JSON.stringify(
      {
        bench: 'power/gemmaPerToken',
        grid: gridFile,
        sims: SIMS,
        promptTokens,
        completionTokens,
        perCall,
        probes: PROBES.length,
        repeatsIdentical,
        topTokenChanged,
        shift,
        tracking,
        points,
      },
      null,
      2,
    ),
  );
  console.log(`wrote ${out}.{md,svg,json}`);
} finally {
  duck.closeSync();
  await serveF32.close();
  await serveQ4.close();
  await f32.close();
  await q4.close();
}
