import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import { formatVerdictTable } from '../cli/table';
import { followProgress } from '../cli/progress';
import { toStages } from '../cli/watch';
import { type MetConfig, isEmbedded } from '../config/schema';
import { parseRunSpec } from '../config/runSpec';
import { TestSpec } from '../config/testSpec';
import { createDuckDB } from '../datasets/duck';
import type { TestResult } from '../report/schemas';
import { writeReport } from '../report/html';
import { startServe, type RunningServe } from '../serve/server';
import { TextGeneratorBackend } from '../serve/textGenerator';
import { connectClient } from '../temporal/connect';
import { startDevServer, stopDevServer } from '../temporal/devServer';
import { buildWorkerPlans } from '../workers/plans';
import { runWorkers } from '../workers/run';
import type { TestOutcome } from '../activities/tests';
import { launchCollection } from './collect';
import { newRunRecord, saveRunRecord, startOrAttach } from './runs';

/**
 * `met demo`: "which model is this endpoint serving?" answered end to end on the embedded default.
 * Three OpenAI-compatible endpoints run on loopback: the reference, an honest endpoint serving the
 * same model, and a dishonest one that claims the reference's name but serves a degraded model;
 * both of the latter inject 429s so retries show. met collects a corpus from all three through
 * Temporal, tests each endpoint against the reference (MMD-Hamming, permutation p-value), prints
 * the verdicts and writes the HTML report. Every step is a workflow with a deterministic id, so an
 * interrupted demo run again continues where it stopped.
 */
export interface DemoOptions {
  config: MetConfig;
  samplesPerPrompt: number;
  prompts: number;
  b: number;
  headless?: boolean;
  keepUp?: boolean;
  /** Where the verdict table goes (stderr when stdout carries JSON). */
  out?: NodeJS.WritableStream;
  log: (line: string) => void;
}

export interface DemoResult {
  results: TestOutcome[];
  reportPath: string;
  uiUrl?: string;
}

const REFERENCE = 'reference';

export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  const { config, log } = options;
  let uiUrl: string | undefined;
  let startedServer = false;
  if (isEmbedded(config)) {
    const { state, alreadyRunning } = await startDevServer({ dataDir: config.dataDir, port: config.temporal.embeddedPort, headless: options.headless, log });
    startedServer = !alreadyRunning;
    if (state.uiPort) uiUrl = `http://${state.ip}:${state.uiPort}/namespaces/${state.namespace}/workflows`;
    log(`Temporal ${alreadyRunning ? 'already running' : 'started'} at ${state.ip}:${state.port}${uiUrl ? `; UI ${uiUrl}` : ''}`);
  }
  // The "models": the deterministic generator, the degraded one sharpened towards frequent words.
  const endpoints: { name: string; serve: RunningServe; honest: boolean }[] = [];
  const start = async (name: string, skew: number, faults: object) =>
    endpoints.push({ name, honest: skew === 0, serve: await startServe({ backend: new TextGeneratorBackend('demo-model', 'fp32', skew), claimModel: 'demo-model', faults, seed: endpoints.length + 1 }) });
  await start(REFERENCE, 0, {});
  await start('endpoint-a', 0, { fail429: 0.05, retryAfter: 0.1 });
  await start('endpoint-b', 1, { fail429: 0.05, retryAfter: 0.1 });

  const duck = await createDuckDB();
  const abort = new AbortController();
  const providers = endpoints.map((e) => ({ name: `demo-${e.name}`, concurrentUnits: 4, timeoutMs: 10_000 }));
  const { plans, close } = await buildWorkerPlans({ config, queues: ['met-cpu'], workerConfig: { providers, models: [] }, env: {} });
  const workers = runWorkers(config, plans, abort.signal, () => {});
  let client: Client | undefined;
  try {
    client = await connectClient(config);
    const corpus = `demo-${options.prompts}x${options.samplesPerPrompt}`;
    const spec = parseRunSpec({
      corpus,
      runId: `${corpus}-v1`,
      prompts: { set: 'demo', limit: options.prompts },
      samplesPerPrompt: options.samplesPerPrompt,
      sampling: { maxTokens: 16, temperature: 1 },
      // The endpoints' ports change between runs; the run id does not, so a rerun resumes.
      sources: endpoints.map((e) => ({ kind: 'provider', provider: `demo-${e.name}`, model: 'demo-model', source: e.name, baseURL: e.serve.url, concurrency: 16 })),
      unitSize: 200,
      window: 2,
    });
    log(`Collecting ${spec.samplesPerPrompt} samples x ${options.prompts} prompts from ${endpoints.length} endpoints (run ${spec.runId})`);
    const { record } = await launchCollection(client, config.dataDir, spec);
    const handle = client.workflow.getHandle(record.workflowId);
    const done = handle.result();
    done.catch(() => {});
    await followProgress({ poll: async () => toStages('collectCorpus', await handle.query('progress').catch(() => undefined)), until: done, handleSigint: false });
    await done;

    log(`Testing each endpoint against the reference (mmd_hamming, permutation p-value, b = ${options.b})`);
    const results = await Promise.all(
      endpoints
        .filter((e) => e.name !== REFERENCE)
        .map(async (e) => {
          const test = TestSpec.parse({
            testId: `${corpus}-${e.name}-vs-${REFERENCE}`,
            x: { corpus, model: 'demo-model', source: REFERENCE },
            y: { corpus, model: 'demo-model', source: e.name },
            stat: 'mmd_hamming',
            b: options.b,
            seed: 1,
            L: 200,
          });
          const rec = newRunRecord('runTest', test.testId, test, { corpus });
          saveRunRecord(config.dataDir, rec);
          await startOrAttach(client!, rec);
          return (await client!.workflow.getHandle(rec.workflowId).result()) as TestOutcome;
        }),
    );
    const rows: TestResult[] = results.map((r, i) => ({
      endpoint: endpoints[i + 1].name,
      reference: REFERENCE,
      statistic: r.statistic,
      value: r.value,
      pValue: r.pvalue,
      b: r.b,
      decision: r.reject ? 'reject' : 'fail_to_reject',
      n1: r.n1,
      n2: r.n2,
    }));
    (options.out ?? process.stdout).write(`\n${formatVerdictTable(rows)}\n`);
    const dir = join(config.dataDir, 'reports', corpus);
    mkdirSync(dir, { recursive: true });
    const report = await writeReport(dir, {
      title: 'met demo: which model is each endpoint serving?',
      meta: {
        runId: spec.runId!,
        createdAt: new Date().toISOString(),
        seeds: { sampling: spec.sampling.seed, permutations: 1 },
        spec,
        temporalUiUrl: uiUrl,
        notes: [
          'Endpoints are met serve instances on loopback. endpoint-b claims the reference model but serves a degraded one.',
          'The demo models are met serve\'s deterministic text generator (the degraded one sharpened towards frequent words), not GGUF models.',
        ],
      },
      sections: [{ kind: 'test', results: rows.map((r, i) => ({ ...r, nullStatistics: undefined, ...(i >= 0 ? {} : {}) })) }],
    });
    log(`Report: ${report.htmlPath}`);
    if (uiUrl) log(`Temporal UI: ${uiUrl}`);
    return { results, reportPath: report.htmlPath, uiUrl };
  } finally {
    abort.abort();
    await workers.catch(() => {});
    await close();
    await client?.connection.close();
    duck.closeSync();
    for (const e of endpoints) await e.serve.close();
    if (startedServer && !options.keepUp) await stopDevServer(config.dataDir);
  }
}
