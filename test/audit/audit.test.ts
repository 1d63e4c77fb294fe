/**
 * Issue #20's must-show: an audit on a seconds-long interval schedule (a real Temporal Schedule,
 * real workflows, in-process llama.cpp behind `met serve`) watches an endpoint serving the tiny
 * F32 model; the stand-in is then restarted on the same port serving Q4_0, and later F32 again.
 * The audits table shows consistent firings, then differs, then consistent; a loopback webhook
 * receiver (whose URL only the CPU worker's config knows) gets exactly one alert per change, the
 * first after a refused delivery that Temporal retries; deleting the audit removes the schedule.
 * Issue #30's attribution: the audit names two candidate slices collected beforehand from the tiny
 * model at F32 and at Q4_0; the firing that turns the verdict to differs tests its fresh slice
 * against both (Holm), and names Q4_0 as not rejected and F32 as rejected, in its row, its alert,
 * `met audit show`, the HTML page and the console's audit state (GET /v1/audits/{name}).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { DuckDBInstance } from '@duckdb/node-api';
import type { AuditAlert } from '../../activities/audits';
import { auditHistory, createAudit, deleteAudit, describeAudit, listAudits, pauseAudit, resumeAudit, triggerAudit } from '../../client/audits';
import { auditState } from '../../client/console';
import { AuditBody } from '../../api/schemas';
import { firingStamp, nextVerdict, parseAuditSpec, planFiring, planIdentify, readFiringIdentify } from '../../config/auditSpec';
import { type AuditRow } from '../../datasets';
import { loadLlamaBackend, type LlamaBackend } from '../../models/llama';
import { writeTinyModels } from '../../models/tiny';
import { startServe, type RunningServe } from '../../serve/server';
import { cpuWorkerPlan } from '../../workers/cpu';
import { modelWorkerPlans } from '../../workers/model';
import { providerWorkerPlans } from '../../workers/provider';
import { exited, spawnMet } from '../helpers/processes';
import { uniqueName, type TestTemporal } from '../helpers/temporal';
import { useTestEnv } from '../helpers/env';
import { collectRun, waitFor } from '../helpers/audit';

let temporal: TestTemporal;
let duck: DuckDBInstance;
const dataDir = useTestEnv('met-audit-', (env) => ({ temporal, duck } = env), {
  setUp: async () => {
    const paths = writeTinyModels(join(dataDir, 'models'));
    f32 = await loadLlamaBackend({ path: paths.fp32, precision: 'fp32', model });
    q4 = await loadLlamaBackend({ path: paths.nf4, precision: 'nf4', model });
    serve = await startServe({ backend: f32, claimModel: model });
    // The webhook: refuses the very first delivery (503), accepts the rest.
    receiver = createServer((req, res) => {
      void readBody(req).then((text) => {
        const status = received.length === 0 ? 503 : 200;
        received.push({ status, body: JSON.parse(text) as AuditAlert, key: req.headers['idempotency-key'] as string | undefined });
        res.writeHead(status, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    receiverURL = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks/met`;
  },
});
let f32: LlamaBackend;
let q4: LlamaBackend;
let serve: RunningServe;
let receiver: Server;
let receiverURL: string;
const received: { status: number; body: AuditAlert; key: string | undefined }[] = [];
const model = uniqueName('tiny');
const provider = uniqueName('stand');

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

after(async () => {
  await serve?.close();
  await f32?.close();
  await q4?.close();
  await new Promise<void>((resolve) => (receiver ? receiver.close(() => resolve()) : resolve()));
});

/** Restarts the stand-in on the same port with another backend: the provider config's URL stays put. */
async function swapServe(backend: LlamaBackend): Promise<void> {
  const port = serve.port;
  await serve.close();
  serve = await startServe({ backend, claimModel: model, port });
}

const PROMPTS = 8;
const PER_PROMPT = 20;
const sampling = { maxTokens: 24, temperature: 1 };

test(
  'an audit on a 3 s schedule: consistent, then differs after the endpoint switches to Q4_0, then consistent again; one alert per change; delete removes the schedule',
  { timeout: 180_000 },
  async (t) => {
    const cpuQueue = uniqueName('audit-cpu');
    const plans = [
      cpuWorkerPlan({ dataDir, duck, taskQueue: cpuQueue, alerts: { webhookURL: receiverURL, timeoutMs: 5_000 } }),
      ...modelWorkerPlans({ dataDir, duck, backend: f32, gpu: 'cpu' }),
      ...modelWorkerPlans({ dataDir, duck, backend: q4, gpu: 'cpu' }),
      ...providerWorkerPlans({ dataDir, duck, providers: [{ name: provider, baseURL: serve.url, concurrentUnits: 2, timeoutMs: 10_000 }], env: {} }),
    ];
    const workers = await Promise.all(plans.map((p) => temporal.createWorker({ taskQueue: p.taskQueue, activities: p.activities, ...p.options })));
    const running = workers.map((w) => w.run());
    const name = uniqueName('watch');
    try {
      // The reference: a stored slice sampled from the local F32 model.
      await collectRun(temporal, cpuQueue, {
        corpus: 'audit',
        prompts: { set: 'demo', limit: PROMPTS },
        samplesPerPrompt: PER_PROMPT,
        sampling,
        sources: [
          { kind: 'local', model, precision: 'fp32', source: 'reference' },
          // identify's candidates: the tiny model at F32 and at Q4_0, each a slice of its own.
          { kind: 'local', model, precision: 'fp32', source: 'cand-f32' },
          { kind: 'local', model, precision: 'nf4', source: 'cand-q4' },
        ],
      });

      const spec = parseAuditSpec({
        name,
        corpus: 'audit',
        reference: { kind: 'corpus', corpus: 'audit', model, source: 'reference' },
        endpoints: [{ kind: 'provider', provider, model }],
        prompts: { set: 'demo', limit: PROMPTS },
        samplesPerPrompt: PER_PROMPT,
        sampling,
        statistic: 'mmd_hamming',
        identify: {
          candidates: [
            { model, source: 'cand-f32' },
            { model, source: 'cand-q4' },
          ],
        },
        alpha: 0.01,
        confirmations: 2,
        b: 500,
        L: 100,
        schedule: { interval: '3s' },
        allowShortInterval: true,
      });
      await createAudit(temporal.client, spec, { taskQueue: cpuQueue });
      await assert.rejects(createAudit(temporal.client, spec, { taskQueue: cpuQueue }), /audit '.*' exists already/);
      assert.ok((await listAudits(temporal.client)).some((a) => a.name === name && !a.paused));
      const endpoint = `${model}/${provider}`;
      const history = async () => (await auditHistory(duck, dataDir, spec)).rows.filter((r) => r.endpoint === endpoint);
      const settle = async () => {
        // Pause, then let the firings already started finish, so that no firing straddles a swap.
        await pauseAudit(temporal.client, name);
        const d = await describeAudit(temporal.client, name);
        assert.equal(d.paused, true);
        for (const a of d.recent)
          await temporal.client.workflow
            .getHandle(a.workflowId)
            .result()
            .catch(() => undefined);
        return (await history()).length;
      };

      // Phase 1: F32 behind the endpoint; at least two firings, all consistent.
      await waitFor('two F32 firings', 40_000, async () => ((await history()).length >= 2 ? true : undefined));
      const phase1 = await settle();
      const rows1 = await history();
      t.diagnostic(`F32 firings: ${rows1.map((r) => r.pValue.toFixed(3)).join(' ')}`);
      assert.ok(
        rows1.every((r) => r.verdict === 'consistent' && !r.changed),
        'F32 firings stay consistent',
      );

      // Phase 2: the stand-in now serves Q4_0 under the same name and port.
      await swapServe(q4);
      await resumeAudit(temporal.client, name);
      await triggerAudit(temporal.client, name);
      const flipped = await waitFor('the verdict to turn to differs', 60_000, async () => (await history()).slice(phase1).find((r) => r.verdict === 'differs'));
      // One more firing after the flip: still differs, and no second alert.
      await waitFor('a firing after the flip', 30_000, async () => ((await history()).some((r) => r.time > flipped.time) ? true : undefined));
      const phase2 = await settle();
      const rows2 = (await history()).slice(phase1);
      t.diagnostic(`Q4_0 firings: ${rows2.map((r) => `${r.pValue.toFixed(3)}:${r.verdict}`).join(' ')}`);
      assert.ok(flipped.changed && flipped.reject);
      // Attribution at the flip: the fresh Q4_0 slice against both candidates, Holm at the audit's alpha.
      const identified = readFiringIdentify(flipped.identify);
      assert.ok(identified, 'the firing that turned the verdict to differs ran identify');
      t.diagnostic(
        `identify at the flip: ${identified.candidates.map((c) => `${c.candidate} p ${c.pvalue} (Holm ${c.adjusted}, ${c.statistic} ${c.value.toFixed(4)})`).join('; ')}${identified.error ? ` error ${identified.error}` : ''}`,
      );
      assert.equal(identified.error, undefined);
      assert.deepEqual(identified.notRejected, [`${model}/cand-q4`], 'Q4_0 is the only candidate not rejected');
      assert.deepEqual(
        identified.candidates.map((c) => [c.candidate, c.rejected]),
        [
          [`${model}/cand-f32`, true],
          [`${model}/cand-q4`, false],
        ],
      );
      assert.equal(identified.y, `audit:${flipped.model}/${flipped.source}`, "the flip firing's own fresh slice");
      assert.ok(
        (await history()).every((r) => (r.firingId === flipped.firingId) === (r.identify != null)),
        'identify runs at the flip only',
      );
      assert.equal(rows2.filter((r) => r.changed).length, 1);
      const before = rows2.slice(0, rows2.indexOf(rows2.find((r) => r.firingId === flipped.firingId)!));
      assert.ok(
        before.every((r) => r.verdict === 'consistent'),
        'differs only after the rule says so',
      );
      assert.ok(rows2.slice(rows2.findIndex((r) => r.firingId === flipped.firingId)).every((r) => r.verdict === 'differs'));

      // Phase 3: F32 again: the verdict comes back, with its own alert.
      await swapServe(f32);
      await resumeAudit(temporal.client, name);
      const back = await waitFor('the verdict to return to consistent', 60_000, async () =>
        (await history()).slice(phase2).find((r) => r.verdict === 'consistent'),
      );
      await settle();
      assert.ok(back.changed && !back.reject);

      // The whole history: exactly two changes, and the webhook got exactly one alert per change.
      const all: AuditRow[] = await history();
      const changes = all.filter((r) => r.changed);
      // Each firing's slice: the endpoint reported its token usage for every sample.
      for (const r of all) {
        assert.ok(
          r.promptTokens! > 0 && r.completionTokens! > 0 && r.completionTokens! <= PROMPTS * PER_PROMPT * sampling.maxTokens,
          `${r.firingId}: ${r.promptTokens}/${r.completionTokens}`,
        );
      }
      assert.deepEqual(
        changes.map((r) => r.verdict),
        ['differs', 'consistent'],
      );
      const accepted = received.filter((r) => r.status === 200);
      assert.deepEqual(
        accepted.map((r) => [r.body.from, r.body.to, r.body.endpoint, r.body.firingId]),
        [
          ['consistent', 'differs', endpoint, flipped.firingId],
          ['differs', 'consistent', endpoint, back.firingId],
        ],
      );
      assert.equal(received.length, 3, 'the refused first delivery was retried once by Temporal, nothing else was sent');
      assert.equal(received[0].key, received[1].key, 'a retried alert carries the same idempotency key');
      assert.equal(accepted[0].body.pValue, flipped.pValue);
      assert.ok(accepted[0].body.pValue <= 0.01);
      // The alert to differs carries the attribution; the one back to consistent none.
      assert.deepEqual(accepted[0].body.identify, readFiringIdentify(flipped.identify));
      assert.equal(accepted[1].body.identify, undefined);
      // GET /v1/audits/{name}: the console's state of the audit, in the API's schema.
      const state = AuditBody.parse(
        (({ nextFiring, lastFiring, ...a }) => ({
          ...a,
          nextFiring: nextFiring?.toISOString() ?? null,
          lastFiring: lastFiring?.toISOString() ?? null,
          endpoints: a.endpoints.map((e) => ({ ...e, lastFiring: e.lastFiring?.toISOString() ?? null })),
          firings: a.firings.map((f) => ({ ...f, time: f.time.toISOString() })),
        }))(
          await auditState(
            { client: temporal.client, runs: dataDir, duck: async () => duck, readRoot: async () => dataDir },
            await describeAudit(temporal.client, name),
          ),
        ),
      );
      assert.deepEqual(state.firings.find((f) => f.firingId === flipped.firingId)?.identify?.notRejected, [`${model}/cand-q4`]);
      assert.equal(state.firings.filter((f) => f.identify !== null).length, 1);

      // The CLI: `met audit show` lists the firings and the two changes; `met audit delete` removes the schedule, the rows stay.
      const cli = async (...args: string[]) => {
        const child = spawnMet(['audit', ...args, '--address', temporal.address, '--namespace', temporal.namespace, '--data', dataDir]);
        const code = await exited(child);
        return { code, output: child.output() };
      };
      const shown = await cli('show', name, '--html');
      assert.equal(shown.code, 0, shown.output);
      const page = readFileSync(join(dataDir, 'reports', `audit-${name}`, 'index.html'), 'utf8');
      assert.match(page, /<svg/);
      assert.equal((page.match(/consistent → differs|differs → consistent/g) ?? []).length, 2, 'the page lists both changes');
      assert.match(page, new RegExp(`<table id="identify">.*<td>${model}/cand-q4: p = [^<]*</td><td>${model}/cand-f32: p [^<]*</td>`, 's'));
      assert.match(
        shown.output,
        new RegExp(
          `identify, where the verdict turned to differs \\(mmd_hamming, Holm-corrected over 2 candidates at alpha = 0.01\\):\\n  \\S+ ${endpoint}: differs; not rejected: ${model}/cand-q4 p = [^;]+; rejected: ${model}/cand-f32 p `,
        ),
        shown.output,
      );
      assert.match(
        shown.output,
        new RegExp(
          `verdict changes:\\n  \\S+ ${endpoint}: consistent -> differs \\(p (= [^)]+|< [^)]+ \\(b = \\d+\\))\\)\\n  \\S+ ${endpoint}: differs -> consistent`,
        ),
      );
      assert.equal(
        shown.output.split('\n').filter((l) => l.includes(`${endpoint} `) && /consistent|differs/.test(l) && !l.includes('->')).length,
        all.length,
        shown.output,
      );
      const deleted = await cli('delete', name);
      assert.equal(deleted.code, 0, deleted.output);
      await assert.rejects(describeAudit(temporal.client, name), /no audit/);
      assert.ok(!(await listAudits(temporal.client)).some((a) => a.name === name));
      await assert.rejects(triggerAudit(temporal.client, name), /no audit/);
      assert.equal((await history()).length, all.length);
    } finally {
      await deleteAudit(temporal.client, name).catch(() => undefined);
      workers.forEach((w) => w.shutdown());
      await Promise.all(running);
    }
  },
);

test('the audit spec refuses a key, a webhook, and an unknown statistic', () => {
  const base = {
    name: 'a',
    corpus: 'c',
    reference: { kind: 'local', model: 'tiny', precision: 'fp32' },
    endpoints: [{ kind: 'provider', provider: 'p', model: 'm' }],
    prompts: { set: 'demo' },
    samplesPerPrompt: 5,
    schedule: { interval: '1h' },
  };
  assert.equal(parseAuditSpec(base).confirmations, 2);
  assert.throws(
    () => parseAuditSpec({ ...base, endpoints: [{ kind: 'provider', provider: 'p', model: 'm', apiKey: 'sk-x' }] }),
    /API keys never go in a run spec/,
  );
  assert.throws(() => parseAuditSpec({ ...base, webhookURL: 'http://127.0.0.1:1/' }), /not a valid audit spec/);
  assert.throws(() => parseAuditSpec({ ...base, statistic: 'rut' }), /statistic/);
  assert.throws(() => parseAuditSpec({ ...base, schedule: { interval: 'soon' } }), /interval such as/);
  // A typo ('1s' for '1h') is refused, naming the way out; meant on purpose, it is allowed.
  assert.throws(() => parseAuditSpec({ ...base, schedule: { interval: '1s' } }), /'1s' fires more often than once a minute.*allowShortInterval: true/);
  assert.throws(() => parseAuditSpec({ ...base, schedule: { interval: '59999ms' } }), /more often than once a minute/);
  assert.deepEqual(parseAuditSpec({ ...base, schedule: { interval: '1m' } }).schedule, { interval: '1m' });
  assert.equal(parseAuditSpec({ ...base, schedule: { interval: '1s' }, allowShortInterval: true }).allowShortInterval, true);
  // identify: two to 32 candidate slices; not with the tracking tier, which samples no slice.
  assert.throws(() => parseAuditSpec({ ...base, identify: { candidates: [{ model: 'tiny', source: 'f32' }] } }), /at least two candidate slices/);
  const many = Array.from({ length: 33 }, (_, i) => ({ model: 'tiny', source: `s${i}` }));
  assert.throws(() => parseAuditSpec({ ...base, identify: { candidates: many } }), /at most 32 candidates/);
  const { reference: _r, samplesPerPrompt: _s, ...tracking } = base;
  assert.throws(
    () => parseAuditSpec({ ...tracking, statistic: 'logprob_tracking', identify: { candidates: many.slice(0, 2) } }),
    /identify tests an endpoint's slice against candidate slices; logprob_tracking samples none/,
  );
  // allowShortInterval lowers the bound, never removes it.
  assert.throws(() => parseAuditSpec({ ...base, schedule: { interval: '10ms' }, allowShortInterval: true }), /at most once a second/);
});

test('the verdict flips only after `confirmations` consecutive firings that disagree with it', () => {
  const h = (...rs: [boolean, 'consistent' | 'differs'][]) => rs.map(([reject, verdict]) => ({ reject, verdict }));
  assert.equal(nextVerdict([], true, 2), 'consistent', 'one rejection is not enough');
  assert.equal(nextVerdict([], true, 1), 'differs', 'confirmations 1: raw p against alpha');
  assert.equal(nextVerdict(h([true, 'consistent']), true, 2), 'differs');
  assert.equal(nextVerdict(h([true, 'consistent'], [false, 'consistent']), true, 2), 'consistent', 'not consecutive');
  assert.equal(nextVerdict(h([true, 'consistent'], [true, 'differs']), true, 2), 'differs');
  assert.equal(nextVerdict(h([true, 'consistent'], [true, 'differs']), false, 2), 'differs', 'one non-rejection does not clear it');
  assert.equal(nextVerdict(h([true, 'differs'], [false, 'differs']), false, 2), 'consistent');
  assert.equal(nextVerdict(h([true, 'consistent'], [true, 'consistent']), true, 3), 'differs');
  assert.equal(nextVerdict(h([false, 'consistent'], [true, 'consistent']), true, 3), 'consistent');
});

test("a firing's plan: a fresh, per-firing slice per endpoint, and a local reference sampled the same way", () => {
  const stamp = firingStamp(Date.UTC(2026, 10, 30, 10, 50, 5, 250), '01a22c14-ee8b-7ac9-9c1d-5e2f3a4b6c7d');
  assert.equal(stamp, '20261130T105005Z-3a4b6c7d');
  const spec = parseAuditSpec({
    name: 'w',
    corpus: 'c',
    reference: { kind: 'local', model: 'tiny', precision: 'fp32' },
    endpoints: [
      { kind: 'provider', provider: 'p', model: 'tiny' },
      { kind: 'provider', provider: 'p', model: 'tiny', source: 'p-eu' },
    ],
    prompts: { set: 'demo' },
    samplesPerPrompt: 5,
    schedule: { cron: '0 * * * *' },
    alpha: 0.01,
  });
  const plan = planFiring(spec, stamp);
  assert.equal(plan.firingId, `w.${stamp}`);
  assert.deepEqual(
    plan.collections.map((c) => [c.key, c.runId, c.spec.sources.map((s) => s.source)]),
    [
      ['reference', `w.${stamp}.reference`, [`fp32.${stamp}`]],
      ['e0', `w.${stamp}.e0`, [`p.${stamp}`]],
      ['e1', `w.${stamp}.e1`, [`p-eu.${stamp}`]],
    ],
  );
  assert.deepEqual(plan.reference, { corpus: 'c', model: 'tiny', source: `fp32.${stamp}`, seed: 0 });
  assert.deepEqual(
    plan.tests.map((t) => [t.endpoint, t.test.y.source, t.test.x.source, t.test.alpha, t.test.testId]),
    [
      ['tiny/p', `p.${stamp}`, `fp32.${stamp}`, 0.01, `w.${stamp}.e0`],
      ['tiny/p-eu', `p-eu.${stamp}`, `fp32.${stamp}`, 0.01, `w.${stamp}.e1`],
    ],
  );
  // identify: each candidate's test is the endpoint's fresh slice (Y) against the candidate (X) of the audit's corpus.
  assert.equal(planIdentify(spec, plan.tests[0].test), undefined, 'no identify in the spec');
  const withIdentify = parseAuditSpec({
    ...spec,
    identify: {
      candidates: [
        { model: 'tiny', source: 'f32' },
        { model: 'tiny', source: 'q4', samplesPerPrompt: 3 },
      ],
    },
  });
  const planned = planIdentify(withIdentify, plan.tests[1].test)!;
  assert.deepEqual(
    planned.tests.map((t) => [t.testId, `${t.x.corpus}:${t.x.model}/${t.x.source}@${t.x.samplesPerPrompt}`, t.y.source, t.stat, t.alpha, t.b]),
    [
      [`w.${stamp}.e1.c0`, 'c:tiny/f32@undefined', `p-eu.${stamp}`, 'mmd_hamming', 0.01, 1000],
      [`w.${stamp}.e1.c1`, 'c:tiny/q4@3', `p-eu.${stamp}`, 'mmd_hamming', 0.01, 1000],
    ],
  );
});
