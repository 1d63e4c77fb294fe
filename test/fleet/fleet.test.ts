import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { storeSkip, type ObjectStoreKind } from '../helpers/objectStore';
import { checkFleetRun, runPipeline, startFleetEnv, type FleetEnv } from './harness';

/**
 * The fleet, end to end: three `met worker` hosts (separate processes, separate local folders,
 * sharing only Temporal and an S3 server) collect from two `met serve` sources and score with a
 * tiny model; one host is SIGKILLed while it holds a unit. The bucket ends with exactly N sample
 * rows and N logprob rows, read back by `met corpus stats` in a fresh process with an empty cache
 * and by pyarrow from the bucket; `met runs` / `met status` work from a host that did not launch
 * the runs. Against SeaweedFS, a real object store (its SigV4 checks, its ETags, its If-None-Match);
 * against moto only where SeaweedFS is not built (outside CI, no Go). Both stores' object semantics
 * are checked by test/fleet/bucket.test.ts; running this soak twice cost the suite about 40 s.
 * bench/fleet runs the same with 20,000 samples and times it.
 */
const PROMPTS = 40;
const PER_PROMPT = 25; // 2 sources x 40 prompts x 25 = 2,000 samples
const N = 2 * PROMPTS * PER_PROMPT;

const FLEET_STORES: ObjectStoreKind[] = storeSkip('seaweedfs') ? ['moto'] : ['seaweedfs'];

for (const kind of FLEET_STORES) {
  describe(`the fleet on ${kind}`, { skip: storeSkip(kind) }, () => {
    let env: FleetEnv;
    before(async () => {
      env = await startFleetEnv({ temporalAddress: process.env.MET_TEST_TEMPORAL_ADDRESS, store: kind });
    });
    after(async () => {
      await env?.close();
    });

    test('three hosts, one SIGKILLed mid-unit: exactly N samples and N logprobs in the bucket, readable from any host', { timeout: 300_000 }, async (t) => {
      t.diagnostic(`object store: ${kind} at ${env.store.endpoint}`);
      const r = await runPipeline(env, {
        label: `test-${kind}`,
        hosts: 3,
        storage: 's3',
        prompts: PROMPTS,
        samplesPerPrompt: PER_PROMPT,
        unitSize: 100,
        killHost: 2,
        log: (l) => t.diagnostic(l),
      });
      assert.ok(r.killedUnits.length >= 1, 'the killed host held a unit');
      assert.equal(r.samples, N);

      await checkFleetRun(env, r, { samples: N, prompts: PROMPTS, shardsPerKind: 20 });
    });
  });
}
