/**
 * Progress inside a unit (issue 27): a unit's samples count in the workflow's progress only once its
 * shard is committed, so a collection of one large unit used to show 0% until its end. Running units
 * report what they sampled in their heartbeats, and `met status` adds it: here a 30-sample unit from a
 * provider limited to 3 requests per second shows progress within 10 s of its first sample, while
 * nothing is committed yet.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DuckDBInstance } from '@duckdb/node-api';
import { launchCollection } from '../../client/collect';
import { runState } from '../../client/runs';
import { parseRunSpec } from '../../config/runSpec';
import { startServe } from '../../serve/server';
import { TextGeneratorBackend } from '../../serve/textGenerator';
import { cpuWorkerPlan } from '../../workers/cpu';
import { providerWorkerPlans } from '../../workers/provider';
import { useTestEnv } from '../helpers/env';
import { exited, spawnMet } from '../helpers/processes';
import { uniqueName, withPlanWorkers, type TestTemporal } from '../helpers/temporal';
import type { CollectProgress } from '../../workflows/collectCorpus';

let temporal: TestTemporal;
let duck: DuckDBInstance;
const dataDir = useTestEnv('met-unit-progress-', (env) => ({ temporal, duck } = env));

test('a collection shows samples inside its running unit within 10 s of the first sample, before any shard is committed', { timeout: 120_000 }, async () => {
  const serve = await startServe({ backend: new TextGeneratorBackend(), seed: 2, faults: { rps: 3 } });
  try {
    const provider = uniqueName('slow');
    const taskQueue = uniqueName('progress-cpu');
    const spec = parseRunSpec({
      corpus: uniqueName('progress'),
      prompts: { inline: [{ id: 'p0', text: 'Tell me about tides.' }] },
      samplesPerPrompt: 30,
      unitSize: 30,
      sampling: { maxTokens: 8 },
      sources: [{ kind: 'provider', provider, model: 'm', baseURL: serve.url }],
    });
    const plans = [
      cpuWorkerPlan({ dataDir, duck, taskQueue }),
      ...providerWorkerPlans({ dataDir, duck, providers: [{ name: provider, concurrentUnits: 1, timeoutMs: 10_000, allowSpecBaseURL: true }], env: {} }),
    ];
    await withPlanWorkers(temporal, plans, async () => {
      const { record } = await launchCollection(temporal.client, dataDir, spec, taskQueue);
      const deadline = Date.now() + 60_000;
      while (serve.stats().requests === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      const firstSample = Date.now();
      let seen: { samples: number; committed: number } | undefined;
      while (!seen && Date.now() - firstSample < 10_000) {
        const state = await runState(temporal.client, record);
        const inUnit = state.inUnits?.get(`m/${provider}`)?.samples ?? 0;
        const committed = (state.progress as CollectProgress | undefined)?.sources[0]?.done ?? 0;
        if (inUnit > 0) seen = { samples: inUnit, committed };
        else await new Promise((r) => setTimeout(r, 500));
      }
      assert.ok(seen, 'no in-unit progress within 10 s of the first sample');
      const after = (Date.now() - firstSample) / 1000;
      assert.equal(seen.committed, 0, 'the unit had not committed: the progress came from its heartbeat');
      // met status (the CLI) shows it as the source's done count.
      const child = spawnMet(['status', record.runId, '--json', '--address', temporal.address, '--namespace', temporal.namespace, '--data', dataDir]);
      assert.equal(await exited(child), 0, child.output());
      const status = JSON.parse(child.output().slice(child.output().indexOf('{')));
      assert.ok(status.stages[0].done > 0 && status.stages[0].done <= 30, JSON.stringify(status.stages));
      console.log(`in-unit progress (${seen.samples} samples) visible ${after.toFixed(1)} s after the first sample`);
      await temporal.client.workflow.getHandle(record.workflowId).result();
    });
  } finally {
    await serve.close();
  }
});
