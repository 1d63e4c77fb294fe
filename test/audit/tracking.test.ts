/**
 * Issue #30, the tracking tier: an audit with `statistic: logprob_tracking` asks the endpoint for
 * ONE token at temperature 0 with its top-5 logprobs on each of 10 short probes at every firing,
 * takes its first two firings as its own baseline and tests each later firing against them (a
 * permutation test on the logprobs), with the confirmation rule audits already use. On a 3 s
 * Temporal Schedule against `met serve` (the tiny F32 model, in-process llama.cpp): consistent
 * while F32 is served, differs after the stand-in restarts on the same port serving Q4_0; its
 * requests and tokens per firing are recorded and compared with an MMD audit's on the same schedule.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { DuckDBInstance } from '@duckdb/node-api';
import { WorkflowFailedError } from '@temporalio/client';
import { auditHistory, createAudit, deleteAudit, describeAudit, pauseAudit, resumeAudit, triggerAudit } from '../../client/audits';
import { auditState } from '../../client/console';
import { type AuditSpec, parseAuditSpec } from '../../config/auditSpec';
import { loadLlamaBackend, type LlamaBackend } from '../../models/llama';
import { writeTinyModels } from '../../models/tiny';
import { topLogprobsOf } from '../../providers/generator';
import { startServe, type RunningServe } from '../../serve/server';
import { TextGeneratorBackend } from '../../serve/textGenerator';
import { probeDistances } from '../../stats/tracking';
import { auditFiring } from '../../workflows/auditFiring';
import { cpuWorkerPlan } from '../../workers/cpu';
import { modelWorkerPlans } from '../../workers/model';
import { providerWorkerPlans } from '../../workers/provider';
import { exited, spawnMet } from '../helpers/processes';
import { uniqueName, type TestTemporal } from '../helpers/temporal';
import { useTestEnv } from '../helpers/env';
import { collectRun, waitFor } from '../helpers/audit';

let temporal: TestTemporal;
let duck: DuckDBInstance;
let f32: LlamaBackend;
let q4: LlamaBackend;
let serve: RunningServe;
let plain: RunningServe;
const model = uniqueName('tiny');
const provider = uniqueName('stand');
const dataDir = useTestEnv('met-audit-tracking-', (env) => ({ temporal, duck } = env), {
  setUp: async () => {
    const paths = writeTinyModels(join(dataDir, 'models'));
    f32 = await loadLlamaBackend({ path: paths.fp32, precision: 'fp32', model });
    q4 = await loadLlamaBackend({ path: paths.nf4, precision: 'nf4', model });
    serve = await startServe({ backend: f32, claimModel: model });
    // An endpoint without token-level logprobs (met serve's deterministic text generator): no top_logprobs.
    plain = await startServe({ backend: new TextGeneratorBackend(), claimModel: model });
  },
  beforeClose: async () => {
    await serve?.close();
    await plain?.close();
    await f32?.close();
    await q4?.close();
  },
});

/** Short inputs: the tracking tier's probes (one output token each). */
const PROBES = ['The cat', 'Once', 'She said', 'A dog', 'We went', 'The sun', 'In the', 'He was', 'It is', 'My friend'].map((text, i) => ({
  id: `probe-${i}`,
  text,
}));

async function swapServe(backend: LlamaBackend): Promise<void> {
  const port = serve.port;
  await serve.close();
  serve = await startServe({ backend, claimModel: model, port });
}

const trackingBase = {
  name: 'a',
  corpus: 'c',
  endpoints: [{ kind: 'provider', provider: 'p', model: 'tiny' }],
  prompts: { inline: PROBES },
  statistic: 'logprob_tracking',
  schedule: { interval: '1h' },
};

test('a logprob_tracking spec takes no reference, samplesPerPrompt, scorer, billing or budget; tracking is for it alone', () => {
  const spec = parseAuditSpec(trackingBase);
  assert.deepEqual(spec.tracking, undefined);
  assert.deepEqual(parseAuditSpec({ ...trackingBase, tracking: {} }).tracking, { probes: 32, topK: 5, baselineFirings: 2 });
  const refused: [Record<string, unknown>, RegExp][] = [
    [
      { reference: { kind: 'local', model: 'tiny', precision: 'fp32' } },
      /reference: logprob_tracking compares each endpoint with its own first firings: it takes no reference/,
    ],
    [{ samplesPerPrompt: 5 }, /samplesPerPrompt: .*it takes no samplesPerPrompt/],
    [{ scorer: { model: 'tiny', precision: 'fp32' } }, /scorer applies to the one-sample statistics only/],
    [{ billing: { tokenizer: { model: 'tiny', precision: 'fp32' } } }, /billing: the billing check counts a sample-based audit's completions/],
    [{ budget: { usd: 1 } }, /budget: logprob_tracking sends one short request per probe/],
    [{ tracking: { topK: 21 } }, /tracking.topK is at most 20/],
    [{ tracking: { baselineFirings: 0 } }, /baselineFirings/],
    [{ tracking: { probes: 1001 } }, /tracking.probes is at most 1,000/],
    [{ prompts: { inline: [{ id: 'long', text: 'x'.repeat(4001) }] } }, /a probe has at most 4000 characters/],
  ];
  for (const [extra, message] of refused) assert.throws(() => parseAuditSpec({ ...trackingBase, ...extra }), message, JSON.stringify(extra));
  const sampled = { ...trackingBase, statistic: 'mmd_hamming' };
  assert.throws(() => parseAuditSpec({ ...sampled, samplesPerPrompt: 5 }), /mmd_hamming tests each endpoint against a reference: give reference/);
  assert.throws(
    () => parseAuditSpec({ ...sampled, reference: { kind: 'local', model: 'tiny', precision: 'fp32' } }),
    /mmd_hamming samples each endpoint at every firing: give samplesPerPrompt/,
  );
  assert.throws(
    () => parseAuditSpec({ ...sampled, reference: { kind: 'local', model: 'tiny', precision: 'fp32' }, samplesPerPrompt: 5, tracking: {} }),
    /tracking applies to statistic logprob_tracking only/,
  );
});

test('met serve at temperature 0: repeated F32 top-5 logprobs are identical, Q4_0 top-5 differ on every probe (completions and chat)', async () => {
  const q4serve = await startServe({ backend: q4, claimModel: model });
  try {
    const ask = async (url: string, text: string, endpoint: 'completions' | 'chat') => {
      const body =
        endpoint === 'chat'
          ? { model, messages: [{ role: 'user', content: text }], max_tokens: 1, temperature: 0, logprobs: true, top_logprobs: 5 }
          : { model, prompt: text, max_tokens: 1, temperature: 0, logprobs: 5 };
      const res = await fetch(`${url}/${endpoint === 'chat' ? 'chat/completions' : 'completions'}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      assert.equal(res.status, 200);
      const top = topLogprobsOf(await res.json(), endpoint);
      assert.ok(top && top.length === 5, JSON.stringify(top));
      return top;
    };
    const distances: number[] = [];
    for (const endpoint of ['completions', 'chat'] as const) {
      for (const p of PROBES) {
        const [a, b, c] = [await ask(serve.url, p.text, endpoint), await ask(serve.url, p.text, endpoint), await ask(q4serve.url, p.text, endpoint)];
        assert.deepEqual(a, b, `F32 twice, ${endpoint} '${p.text}'`);
        assert.notDeepEqual(a, c, `F32 vs Q4_0, ${endpoint} '${p.text}'`);
        distances.push(probeDistances([a, c])[0]);
      }
    }
    const mean = distances.reduce((s, d) => s + d, 0) / distances.length;
    console.log(
      `F32 vs Q4_0 top-5 logprobs: mean |difference| per aligned token ${mean.toFixed(3)} nats (min ${Math.min(...distances).toFixed(3)}) over ${distances.length} probes`,
    );
    assert.ok(Math.min(...distances) > 0.01, `every probe moves: ${distances.join(' ')}`);
  } finally {
    await q4serve.close();
  }
});

test(
  'a tracking audit on a 3 s schedule: consistent on F32, differs after the switch to Q4_0 (after the confirmation rule), at least 50x fewer tokens per firing than the MMD audit',
  { timeout: 240_000 },
  async (t) => {
    const cpuQueue = uniqueName('audit-trk-cpu');
    const plainProvider = uniqueName('plain');
    const providers = [
      { name: provider, baseURL: serve.url, concurrentUnits: 2, timeoutMs: 10_000 },
      { name: plainProvider, baseURL: plain.url, concurrentUnits: 1, timeoutMs: 10_000 },
    ];
    const plans = [
      cpuWorkerPlan({ dataDir, duck, taskQueue: cpuQueue }),
      ...modelWorkerPlans({ dataDir, duck, backend: f32, gpu: 'cpu' }),
      ...providerWorkerPlans({ dataDir, duck, providers, env: {} }),
    ];
    const workers = await Promise.all(plans.map((p) => temporal.createWorker({ taskQueue: p.taskQueue, activities: p.activities, ...p.options })));
    const running = workers.map((w) => w.run());
    const name = uniqueName('trk');
    const mmdName = uniqueName('mmd');
    const corpus = 'tracking';
    const schedule = { interval: '3s' };
    try {
      // An endpoint without top logprobs: the firing fails, saying to use a sample-based statistic.
      const noLogprobs = parseAuditSpec({
        ...trackingBase,
        name: uniqueName('plain'),
        corpus,
        endpoints: [{ kind: 'provider', provider: plainProvider, model }],
      });
      const failed = await temporal.client.workflow
        .execute(auditFiring, { taskQueue: cpuQueue, workflowId: uniqueName('plain-firing'), args: [{ spec: noLogprobs }] })
        .then(
          () => undefined,
          (err: unknown) => err,
        );
      assert.ok(failed instanceof WorkflowFailedError, String(failed));
      const chain: string[] = [];
      for (let e: unknown = failed; e instanceof Error; e = e.cause) chain.push(e.message);
      assert.match(
        chain.join(' | '),
        /answered probe 'probe-\d+' without top logprobs: logprob_tracking needs an endpoint that returns them .*; audit this endpoint with a sample-based statistic instead/,
      );

      // The MMD audit the tracking tier is compared with: the same endpoint and schedule, 8 prompts x 20 samples of 24 tokens.
      const sampling = { maxTokens: 24, temperature: 1 };
      await collectRun(temporal, cpuQueue, {
        corpus,
        prompts: { set: 'demo', limit: 8 },
        samplesPerPrompt: 20,
        sampling,
        sources: [{ kind: 'local', model, precision: 'fp32', source: 'reference' }],
      });
      const mmd = parseAuditSpec({
        name: mmdName,
        corpus,
        reference: { kind: 'corpus', corpus, model, source: 'reference' },
        endpoints: [{ kind: 'provider', provider, model }],
        prompts: { set: 'demo', limit: 8 },
        samplesPerPrompt: 20,
        sampling,
        statistic: 'mmd_hamming',
        b: 200,
        L: 100,
        schedule,
        allowShortInterval: true,
      });
      const spec: AuditSpec = parseAuditSpec({
        name,
        corpus,
        endpoints: [{ kind: 'provider', provider, model }],
        prompts: { inline: PROBES },
        statistic: 'logprob_tracking',
        tracking: { probes: PROBES.length, topK: 5, baselineFirings: 2 },
        alpha: 0.05,
        confirmations: 2,
        b: 1000,
        schedule,
        allowShortInterval: true,
      });
      const endpoint = `${model}/${provider}`;
      const history = async (s: AuditSpec) => (await auditHistory(duck, dataDir, s)).rows.filter((r) => r.endpoint === endpoint);
      const settle = async (n: string) => {
        await pauseAudit(temporal.client, n);
        for (const a of (await describeAudit(temporal.client, n)).recent)
          await temporal.client.workflow
            .getHandle(a.workflowId)
            .result()
            .catch(() => undefined);
      };
      // The MMD audit fires once on F32 (its schedule created paused, then triggered), for its recorded cost.
      await createAudit(temporal.client, mmd, { taskQueue: cpuQueue, paused: true });
      await triggerAudit(temporal.client, mmdName);
      await createAudit(temporal.client, spec, { taskQueue: cpuQueue });

      // Phase 1: F32. Two baseline firings, then at least two tested ones: all consistent.
      await waitFor('the MMD firing', 90_000, async () => ((await history(mmd)).length >= 1 ? true : undefined));
      await waitFor('four F32 tracking firings', 60_000, async () => ((await history(spec)).length >= 4 ? true : undefined));
      await settle(name);
      const rows1 = await history(spec);
      t.diagnostic(`F32 tracking firings (p, statistic): ${rows1.map((r) => `${r.pValue}:${r.value.toFixed(4)}`).join(' ')}`);
      assert.deepEqual(
        rows1.slice(0, 2).map((r) => [r.reject, r.pValue, r.n1]),
        [
          [false, 1, 1],
          [false, 1, 2],
        ],
        'the first two firings are the baseline',
      );
      for (const r of rows1.slice(2)) {
        assert.equal(r.statistic, 'logprob_tracking');
        assert.equal(r.n1, 2);
        assert.equal(r.m, PROBES.length);
        assert.equal(r.reject, false, `an F32 firing rejected: p = ${r.pValue}`);
      }
      assert.ok(
        rows1.every((r) => r.verdict === 'consistent' && !r.changed),
        'F32 firings stay consistent',
      );

      // Phase 2: Q4_0 under the same name and port.
      await swapServe(q4);
      await resumeAudit(temporal.client, name);
      const flipped = await waitFor('the verdict to turn to differs', 60_000, async () =>
        (await history(spec)).slice(rows1.length).find((r) => r.verdict === 'differs'),
      );
      await settle(name);
      const rows2 = (await history(spec)).slice(rows1.length);
      t.diagnostic(`Q4_0 tracking firings (p, statistic, verdict): ${rows2.map((r) => `${r.pValue.toFixed(4)}:${r.value.toFixed(4)}:${r.verdict}`).join(' ')}`);
      const at = rows2.findIndex((r) => r.firingId === flipped.firingId);
      // The confirmation rule: the first Q4_0 firing rejects and stays consistent, the second flips it.
      assert.equal(at, 1, 'differs at the second Q4_0 firing');
      assert.ok(rows2[0].reject && rows2[0].verdict === 'consistent' && !rows2[0].changed);
      assert.ok(flipped.reject && flipped.changed);
      assert.ok(flipped.pValue <= 0.01, `p = ${flipped.pValue}`);

      // Cost per firing, from the recorded rows: requests and reported tokens.
      const [mmdRow] = await history(mmd);
      const tracked = [...rows1, ...rows2];
      const tokens = (r: { promptTokens: number | null; completionTokens: number | null }) => (r.promptTokens ?? NaN) + (r.completionTokens ?? NaN);
      const perFiring = tracked.reduce((s, r) => s + tokens(r), 0) / tracked.length;
      const ratio = tokens(mmdRow) / perFiring;
      console.log(
        `tokens per firing: logprob_tracking ${perFiring.toFixed(1)} (${tracked[0].requests} requests, ${tracked[0].promptTokens}+${tracked[0].completionTokens}), mmd_hamming ${tokens(mmdRow)} (${mmdRow.requests} requests, ${mmdRow.promptTokens}+${mmdRow.completionTokens}; p = ${mmdRow.pValue}): ${ratio.toFixed(1)}x fewer`,
      );
      for (const r of tracked) assert.deepEqual([r.requests, r.completionTokens], [PROBES.length, PROBES.length], 'one request and one output token per probe');
      assert.equal(mmdRow.requests, 160);
      assert.ok(ratio >= 50, `tracking's tokens per firing are ${ratio.toFixed(1)}x fewer than MMD's, not 50x`);

      // met audit show: the requests column, and the cost per firing beside the MMD audit's; the page and the API carry them too.
      const child = spawnMet(['audit', 'show', name, '--html', '--address', temporal.address, '--namespace', temporal.namespace, '--data', dataDir]);
      assert.equal(await exited(child), 3, child.output());
      const out = child.output();
      assert.match(out, /cost per endpoint firing/);
      assert.match(out, new RegExp(`${name} \\(this\\) +logprob_tracking +${tracked.length} +10 +`));
      assert.match(out, new RegExp(`${mmdName} +mmd_hamming +1 +160 +[\\d,]+ \\([\\d,]+\\+[\\d,]+\\) +${(tokens(mmdRow) / perFiring).toFixed(1)}x the tokens`));
      const page = readFileSync(join(dataDir, 'reports', `audit-${name}`, 'index.html'), 'utf8');
      assert.match(page, /<th>requests<\/th><th>tokens in\/out<\/th>/);
      assert.match(page, new RegExp(`<td>10</td><td>${tracked[0].promptTokens}/10</td>`));
      const state = await auditState(
        { client: temporal.client, runs: dataDir, duck: async () => duck, readRoot: async () => dataDir },
        await describeAudit(temporal.client, name),
      );
      assert.ok(state.firings.every((f) => f.requests === 10 && f.completionTokens === 10));
    } finally {
      for (const n of [name, mmdName]) await deleteAudit(temporal.client, n).catch(() => undefined);
      workers.forEach((w) => w.shutdown());
      await Promise.all(running);
    }
  },
);
