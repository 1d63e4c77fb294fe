import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { version } from '../../package.json';
import { formatIdentity, parseIdentity } from '../../temporal/identity';
import { exited, spawnMet, waitUntil } from '../helpers/processes';
import { startTestTemporal, uniqueName, type TestTemporal } from '../helpers/temporal';

/** Worker identity on Temporal (host, pid, met version, model, GPU, data) and `met fleet`, which reads it back from DescribeTaskQueue. */
let temporal: TestTemporal;
const dir = mkdtempSync(join(tmpdir(), 'met-fleet-cmd-'));
before(async () => {
  temporal = await startTestTemporal();
});
after(async () => {
  await temporal?.close();
  rmSync(dir, { recursive: true, force: true });
});

test('worker identities round-trip', () => {
  const id = formatIdentity({
    pid: 42,
    host: 'gpu-7',
    queue: 'met-gpu-llama-fp16',
    version: '0.1.0',
    model: 'llama/fp16',
    gpu: '0',
    data: 's3://b/p',
    scorer: 'llama.cpp in-process',
  });
  assert.equal(id, '42@gpu-7/met-gpu-llama-fp16 met=0.1.0 model=llama/fp16 gpu=0 data=s3://b/p scorer: llama.cpp in-process');
  assert.deepEqual(parseIdentity(id), {
    pid: 42,
    host: 'gpu-7',
    queue: 'met-gpu-llama-fp16',
    version: '0.1.0',
    model: 'llama/fp16',
    gpu: '0',
    data: 's3://b/p',
    scorer: 'llama.cpp in-process',
  });
  assert.deepEqual(parseIdentity('17@h/met-cpu'), {
    pid: 17,
    host: 'h',
    queue: 'met-cpu',
    version: undefined,
    model: undefined,
    gpu: undefined,
    data: undefined,
    scorer: undefined,
  });
  assert.equal(parseIdentity('some other worker'), undefined);
});

test('met fleet shows which host, pid, version and data location poll a queue, and an unpolled queue as such', { timeout: 120_000 }, async () => {
  const queue = uniqueName('fleet-q');
  const idle = uniqueName('fleet-idle');
  const env = {
    TEMPORAL_ADDRESS: temporal.address,
    TEMPORAL_NAMESPACE: temporal.namespace,
    MET_DATA: 's3://fleet-cmd/prefix',
    MET_SCRATCH: dir,
    AWS_ENDPOINT_URL: 'http://127.0.0.1:9',
    AWS_ACCESS_KEY_ID: 'x',
    AWS_SECRET_ACCESS_KEY: 'x',
  };
  const worker = spawnMet(['worker', '--queue', queue], env, dir);
  try {
    await waitUntil('the worker polling', () => worker.output().includes(`worker polling ${queue}`) || worker.exitCode !== null, 60_000);
    assert.equal(worker.exitCode, null, worker.output());
    // met fleet answers from Temporal only: the bucket (an unreachable endpoint here) holds no runs it needs.
    // The worker logs "polling" as its pollers start; Temporal lists a poller once its first poll
    // arrives, so met fleet is asked again until both kinds show (under load that takes seconds).
    type QueueState = { queue: string; kind: string; pollers: { host?: string; pid?: number; version?: string; data?: string }[] };
    let states: QueueState[] = [];
    const polled = (kind: string) => states.find((s) => s.queue === queue && s.kind === kind)?.pollers.length === 1;
    await waitUntil(
      'met fleet to list the worker on both kinds of its queue',
      async () => {
        const fleet = spawnMet(['fleet', '--queue', queue, idle, '--json', '--data', dir], { ...env, MET_DATA: '' }, dir);
        let stdout = '';
        fleet.stdout!.on('data', (d) => (stdout += d));
        assert.equal(await exited(fleet), 0, fleet.output());
        states = JSON.parse(stdout) as QueueState[];
        return polled('workflow') && polled('activity');
      },
      60_000,
    ).catch((error: Error) => assert.fail(`${error.message}: ${JSON.stringify(states)}`));
    for (const kind of ['workflow', 'activity']) {
      const mine = states.find((s) => s.queue === queue && s.kind === kind)!;
      assert.equal(mine.pollers.length, 1, JSON.stringify(states));
      assert.deepEqual(
        [mine.pollers[0].host, mine.pollers[0].pid, mine.pollers[0].version, mine.pollers[0].data],
        [hostname(), worker.pid, version, 's3://fleet-cmd/prefix'],
      );
    }
    assert.deepEqual(states.find((s) => s.queue === idle && s.kind === 'activity')!.pollers, []);
  } finally {
    worker.kill('SIGTERM');
    await exited(worker);
  }
});
