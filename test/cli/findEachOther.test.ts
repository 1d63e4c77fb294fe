import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { freePort } from '../../temporal/devServer';
import { exited, spawnMet, waitUntil } from '../helpers/processes';

/**
 * Commands find each other as a user runs them: `met up --port P` (or `met server start --port P`)
 * records its server in the data folder, and a later `met collect --wait` with no --address finds
 * it. Ctrl-C while watching a run that no worker serves: the missing-worker warning shows first,
 * then a clean message and exit status 130, never a stack trace. Each test starts its own embedded
 * server on a free port; TEMPORAL_ADDRESS and MET_TEMPORAL_PORT are cleared so nothing else is found.
 */
const dir = mkdtempSync(join(tmpdir(), 'met-find-'));
const clean = { TEMPORAL_ADDRESS: undefined, MET_TEMPORAL_PORT: undefined, MET_DATA: undefined };
const stops: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const stop of stops.reverse()) await stop().catch(() => {});
  rmSync(dir, { recursive: true, force: true });
});

function spec(corpus: string): string {
  const file = join(dir, `${corpus}.yaml`);
  writeFileSync(
    file,
    `corpus: ${corpus}\nprompts:\n  inline:\n    - { id: p1, text: "Say hi" }\n    - { id: p2, text: "Say bye" }\nsamplesPerPrompt: 3\nsampling: { maxTokens: 8 }\nsources:\n  - { kind: provider, provider: local, model: m1 }\n`,
  );
  return file;
}

async function met(args: string[]): Promise<{ code: number | string; output: string }> {
  const child = spawnMet(args, clean);
  const code = await exited(child);
  return { code, output: child.output() };
}

test('met up --port P, then met collect --wait with no --address finds that server and completes', async () => {
  const data = join(dir, 'up');
  const serve = spawnMet(['serve', '--port', '0'], clean);
  stops.push(async () => (serve.kill('SIGINT'), exited(serve)));
  await waitUntil('met serve', () => /at (http:\/\/\S+)/.test(serve.output()), 60_000);
  const url = /at (http:\/\/\S+)/.exec(serve.output())![1];
  const workers = join(dir, 'workers.yaml');
  writeFileSync(workers, `providers:\n  - { name: local, baseURL: "${url}", concurrentUnits: 2 }\n`);
  const port = await freePort();
  const up = spawnMet(['up', '--port', String(port), '--headless', '--config', workers, '--data', data], clean);
  stops.push(async () => (up.kill('SIGINT'), exited(up)));
  await waitUntil('met up workers', () => /worker polling met-cpu/.test(up.output()), 90_000);

  const r = await met(['collect', spec('found'), '--wait', '--data', data]);
  assert.equal(r.code, 0, r.output);
  assert.match(r.output, /^Started run found-\S+/m);
  assert.match(r.output, /Run found-\S+ completed\./);
  assert.doesNotMatch(r.output, /warning: no worker polls/, 'met up serves every queue the run needs');
  const status = await met(['server', 'status', '--data', data]);
  assert.match(status.output, new RegExp(`gRPC 127\\.0\\.0\\.1:${port}, health SERVING`));

  up.kill('SIGINT');
  assert.equal(await exited(up), 0, up.output());
});

test('Ctrl-C while --wait watches a run no worker serves: the warning, then a clean stop with exit 130', async () => {
  const data = join(dir, 'server');
  const port = await freePort();
  const started = await met(['server', 'start', '--port', String(port), '--headless', '--data', data]);
  assert.equal(started.code, 0, started.output);
  stops.push(() => met(['server', 'stop', '--data', data]));

  const watch = spawnMet(['collect', spec('orphan'), '--wait', '--data', data], clean);
  await waitUntil('the missing-worker warning', () => /warning: no worker polls met-cpu \(workflows\)/.test(watch.output()), 30_000);
  const t0 = performance.now();
  watch.kill('SIGINT');
  assert.equal(await exited(watch), 130, watch.output());
  assert.ok(performance.now() - t0 < 5000, `stopped ${Math.round(performance.now() - t0)} ms after Ctrl-C`);
  const runId = /Started run (\S+)/.exec(watch.output())?.[1];
  assert.ok(runId, watch.output());
  assert.match(watch.output(), new RegExp(`Stopped watching; run ${runId} goes on`));
  assert.doesNotMatch(watch.output(), /Error|^\s+at /m, 'no error and no stack trace');

  const cancel = await met(['cancel', runId, '--data', data]);
  assert.equal(cancel.code, 0, cancel.output);
});

test('a command that cannot reach Temporal names the address, where it came from, and what to do', async () => {
  const data = join(dir, 'none');
  mkdirSync(data);
  const port = await freePort();
  const r = await met(['collect', spec('nowhere'), '--data', data, '--address', `127.0.0.1:${port}`]);
  assert.equal(r.code, 1, r.output);
  assert.match(r.output, new RegExp(`cannot reach Temporal at 127\\.0\\.0\\.1:${port} \\(address from --address\\)`));
  assert.match(r.output, /check the address/);
  const child = spawnMet(['collect', spec('nowhere'), '--data', data], { ...clean, MET_TEMPORAL_PORT: String(port) });
  assert.equal(await exited(child), 1, child.output());
  assert.match(
    child.output(),
    new RegExp(
      `cannot reach Temporal at 127\\.0\\.0\\.1:${port} \\(address from MET_TEMPORAL_PORT\\).*start the embedded server with 'met server start' or 'met up'`,
      's',
    ),
  );
});

test('a run cancelled while its units run is shown as CANCELLED by met status, met runs and --wait', async () => {
  const data = join(dir, 'cancel');
  const serve = spawnMet(['serve', '--port', '0', '--latency', '300'], clean);
  stops.push(async () => (serve.kill('SIGINT'), exited(serve)));
  await waitUntil('met serve', () => /at (http:\/\/\S+)/.test(serve.output()), 60_000);
  const workers = join(dir, 'slow.yaml');
  writeFileSync(workers, `providers:\n  - { name: local, baseURL: "${/at (http:\/\/\S+)/.exec(serve.output())![1]}", concurrentUnits: 1 }\n`);
  const up = spawnMet(['up', '--port', String(await freePort()), '--headless', '--config', workers, '--data', data], clean);
  stops.push(async () => (up.kill('SIGINT'), exited(up)));
  await waitUntil('met up workers', () => /worker polling met-provider-local/.test(up.output()), 90_000);
  const file = join(dir, 'slow-spec.yaml');
  writeFileSync(
    file,
    `corpus: slow\nprompts:\n  inline:\n    - { id: p1, text: "Say hi" }\nsamplesPerPrompt: 400\nsampling: { maxTokens: 8 }\nunitSize: 20\nsources:\n  - { kind: provider, provider: local, model: m1 }\n`,
  );
  const watch = spawnMet(['collect', file, '--wait', '--data', data], clean);
  await waitUntil('samples arriving', () => /m1\/local +[1-9]\d*\/400/.test(watch.output()), 60_000);
  const runId = /Started run (\S+)/.exec(watch.output())![1];
  assert.equal((await met(['cancel', runId, '--data', data])).code, 0);
  assert.equal(await exited(watch), 1, watch.output());
  assert.match(watch.output(), new RegExp(`Run ${runId} was CANCELLED`));
  assert.doesNotMatch(watch.output(), /CancelledFailure/);
  const status = await met(['status', runId, '--data', data]);
  assert.match(status.output, new RegExp(`^${runId}  collectCorpus  CANCELLED$`, 'm'));
  assert.doesNotMatch(status.output, /failed:/);
  assert.match((await met(['runs', '--data', data])).output, new RegExp(`^${runId} +collectCorpus +CANCELLED`, 'm'));
});

test('a client command given --data that names no folder is refused, saying what --data is for it', async () => {
  const missing = join(dir, 'no-such-folder');
  const r = await met(['collect', spec('missing'), '--data', missing]);
  assert.equal(r.code, 1, r.output);
  assert.match(
    r.output,
    new RegExp(`^met: --data ${missing}: no such folder\\. For met collect, --data names an existing data folder: where runs are recorded \\(runs/\\)`, 'm'),
  );
  assert.doesNotMatch(r.output, /Started run/);
  assert.equal(existsSync(missing), false, 'nothing was created');
});
