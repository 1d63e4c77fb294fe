import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { stringify } from 'yaml';
import { startServe, type RunningServe } from '../../serve/server';
import { TextGeneratorBackend } from '../../serve/textGenerator';
import { freePort, startDevServer, stopDevServer } from '../../temporal/devServer';
import { exited, spawnMet, waitUntil } from '../helpers/processes';
import { uniqueName } from '../helpers/temporal';

/**
 * Issue #28: `met collect --wait` keeps watching across a restart of the Temporal server (the run
 * goes on there), saying on stderr that Temporal is unreachable and that it answers again; and
 * gives up with a clear message when the server stays away past the bound.
 */
const dataDir = mkdtempSync(join(tmpdir(), 'met-watch-outage-'));
let serve: RunningServe;
let port: number;
let address: string;

before(async () => {
  serve = await startServe({ backend: new TextGeneratorBackend(), faults: { latencyMs: 40 } });
  port = await freePort();
  address = `127.0.0.1:${port}`;
  await startDevServer({ dataDir, port, headless: true });
});
after(async () => {
  await stopDevServer(dataDir);
  await serve?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

const metEnv = (extra: NodeJS.ProcessEnv = {}) => ({ MET_DATA: dataDir, TEMPORAL_ADDRESS: address, ...extra });

function setUp(corpus: string, samplesPerPrompt: number) {
  const provider = uniqueName('outage');
  const spec = join(dataDir, `${corpus}.yaml`);
  writeFileSync(
    spec,
    stringify({
      corpus,
      prompts: { set: 'demo', limit: 20 },
      samplesPerPrompt,
      sampling: { maxTokens: 8 },
      sources: [{ kind: 'provider', provider, model: 'm1', concurrency: 4 }],
      unitSize: 50,
      window: 2,
      heartbeatTimeoutSeconds: 10,
    }),
  );
  const config = join(dataDir, `${provider}.yaml`);
  writeFileSync(config, stringify({ providers: [{ name: provider, baseURL: serve.url }] }));
  return { spec, workerArgs: ['worker', '--queue', 'met-cpu', '--provider', provider, '--config', config] };
}

// The waits below add up to about 280 s on a loaded machine: the test's own bound is above them, so a
// stuck run fails with its outputs, not with a bare timeout.
// It was a todo while flaky: twice in early December the run did not complete within 150 s after the
// server came back. A likely cause was fixed (workers/run.ts: a worker that fails for good stops its
// process, so this test starts a new one; test/collect/workerLostServer.test.ts); it then passed in
// every run (two full CI runs, three full-suite and single runs under load 8-11), so it counts again.
test("met collect --wait watches on across a Temporal restart longer than the client's own retries, and the run completes", { timeout: 420_000 }, async (t) => {
  const { spec, workerArgs } = setUp('outage', 60); // 20 prompts x 60 = 1,200 samples at 40 ms, 4 at a time
  let worker = spawnMet(workerArgs, metEnv());
  const workers = [worker];
  const collect = spawnMet(['collect', spec, '--wait'], metEnv());
  try {
    await waitUntil('the run under way', () => /Started run/.test(collect.output()), 60_000);
    await new Promise((r) => setTimeout(r, 2000));
    assert.equal(collect.exitCode, null, `the run ended before the outage:\n${collect.output()}`);
    await stopDevServer(dataDir);
    const down = Date.now();
    // Longer than the gRPC client's own retries (about 20 s), which used to end the watch.
    await waitUntil('the watch to notice', () => /is unreachable, retrying/.test(collect.output()), 60_000);
    assert.equal(collect.exitCode, null, `the watch exited during the outage:\n${collect.output()}`);
    await new Promise((r) => setTimeout(r, 3000));
    await startDevServer({ dataDir, port, headless: true });
    t.diagnostic(`Temporal down for ${((Date.now() - down) / 1000).toFixed(1)} s`);
    // The run needs a worker to finish: one that gave up on the server while it was away is started again.
    let restarts = 0;
    await waitUntil(
      'the watch to end',
      () => {
        if (worker.exitCode !== null && collect.exitCode === null) {
          restarts++;
          worker = spawnMet(workerArgs, metEnv());
          workers.push(worker);
        }
        return collect.exitCode !== null;
      },
      150_000,
    ).catch((err: Error) => assert.fail(`${err.message}\nmet collect --wait:\n${collect.output()}\nworker:\n${worker.output().slice(-4000)}`));
    t.diagnostic(`worker restarted ${restarts} time(s)`);
    assert.equal(collect.exitCode, 0, collect.output());
    const out = collect.output();
    assert.match(out, new RegExp(`Temporal at ${address.replace(/\./g, '\\.')} is unreachable, retrying \\(run \\S+ goes on`));
    assert.match(out, /answers again after \d+ s; watching run/);
    assert.match(out, /Run \S+ completed\./);
  } finally {
    // SIGKILL: a worker shutting down gracefully can wait on a server it lost; this test is not about that.
    collect.kill('SIGKILL');
    for (const w of workers) w.kill('SIGKILL');
    await Promise.all([exited(collect), ...workers.map((w) => exited(w))]);
  }
});

test('a watch gives up, saying why and how to watch again, when Temporal stays away past MET_WATCH_OUTAGE_SECONDS', { timeout: 180_000 }, async () => {
  const { spec } = setUp('away', 10); // no worker: the run waits, the watch with it
  const collect = spawnMet(['collect', spec, '--wait'], metEnv({ MET_WATCH_OUTAGE_SECONDS: '5' }));
  try {
    await waitUntil('the run under way', () => /Started run/.test(collect.output()), 60_000);
    await stopDevServer(dataDir);
    const code = await exited(collect);
    assert.notEqual(code, 0);
    assert.match(collect.output(), /is unreachable, retrying/);
    assert.match(
      collect.output(),
      /has been unreachable for \d+ s: stopped watching\. Run \S+ is recorded and goes on once Temporal is back; met status \S+ --watch follows it again/,
    );
  } finally {
    collect.kill('SIGTERM');
    await exited(collect);
    await startDevServer({ dataDir, port, headless: true });
  }
});
