import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { constants, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import proto from '@temporalio/proto';
import { stringify } from 'yaml';
import { startServe, type RunningServe } from '../../serve/server';
import { TextGeneratorBackend } from '../../serve/textGenerator';
import { freePort, startDevServer, stopDevServer } from '../../temporal/devServer';
import { CPU_TASK_QUEUE, providerTaskQueue } from '../../temporal/queues';
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

function setUp(corpus: string, samplesPerPrompt: number, prompts: object = { set: 'demo', limit: 20 }) {
  const provider = uniqueName('outage');
  const spec = join(dataDir, `${corpus}.yaml`);
  writeFileSync(
    spec,
    stringify({
      corpus,
      prompts,
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
  return { spec, provider, workerArgs: ['worker', '--queue', 'met-cpu', '--provider', provider, '--config', config] };
}

/** A worker's log without most of its poll retries (a line each per poller and retry while Temporal was away). */
function workerLog(output: string): string {
  const lines = output.split('\n');
  const polls = lines.filter((l) => /gRPC call poll_\w+ retried/.test(l));
  const kept = lines.filter((l) => !/gRPC call poll_\w+ retried/.test(l) || polls.indexOf(l) >= polls.length - 4);
  const dropped = polls.length > 4 ? `(${polls.length - 4} earlier poll retry warnings left out)\n` : '';
  return (dropped + kept.join('\n')).slice(-12000);
}

/**
 * What a run that did not complete is waiting for, as the server sees it: the run's status, its
 * pending workflow task and activities (attempts, last failures, heartbeats), the last events of its
 * history, and who polls its queues and when they last did. A CI failure shows only the test's message.
 */
async function describeStuck(output: string, queues: string[]): Promise<string> {
  const runId = /Started run (\S+)/.exec(output)?.[1];
  let connection: Connection | undefined;
  const lines: string[] = [];
  try {
    connection = await Connection.connect({ address, connectTimeout: 5000 });
    const client = new Client({ connection, namespace: 'met' });
    const { workflowService } = connection;
    if (runId) {
      const handle = client.workflow.getHandle(`collectCorpus/${runId}`);
      const d = await handle.describe();
      lines.push(`run ${runId}: ${d.status.name}, history ${d.historyLength} events`);
      const wft = d.raw.pendingWorkflowTask;
      if (wft)
        lines.push(
          `pending workflow task: ${JSON.stringify({ state: wft.state, attempt: wft.attempt, scheduled: wft.scheduledTime, started: wft.startedTime })}`,
        );
      for (const a of d.raw.pendingActivities ?? []) {
        lines.push(
          `pending activity ${JSON.stringify({ id: a.activityId, type: a.activityType?.name, state: a.state, attempt: a.attempt, scheduled: a.scheduledTime, lastStarted: a.lastStartedTime, lastHeartbeat: a.lastHeartbeatTime, nextAttempt: a.nextAttemptScheduleTime, lastFailure: a.lastFailure?.message, lastWorker: a.lastWorkerIdentity })}`,
        );
      }
      const events = (await handle.fetchHistory()).events ?? [];
      for (const e of events.slice(-25)) {
        const ms = Number(e.eventTime?.seconds ?? 0) * 1000 + Math.floor((e.eventTime?.nanos ?? 0) / 1e6);
        lines.push(`  event ${String(e.eventId)} ${new Date(ms).toISOString()} ${proto.temporal.api.enums.v1.EventType[e.eventType ?? 0]}`);
      }
    }
    for (const queue of queues) {
      for (const [kind, taskQueueType] of [
        ['workflow', 1],
        ['activity', 2],
      ] as const) {
        const r = await workflowService.describeTaskQueue({ namespace: 'met', taskQueue: { name: queue }, taskQueueType });
        const pollers = (r.pollers ?? []).map((p) => {
          const ms = Number(p.lastAccessTime?.seconds ?? 0) * 1000;
          return `${p.identity} last ${new Date(ms).toISOString()}`;
        });
        lines.push(`${queue} (${kind}) pollers: ${pollers.join('; ') || 'none'}`);
      }
    }
  } catch (err) {
    lines.push(`(describing the run failed: ${(err as Error).message})`);
  } finally {
    await connection?.close().catch(() => undefined);
  }
  lines.push(`now ${new Date().toISOString()}`);
  return lines.join('\n');
}

// The waits below add up to about 280 s on a loaded machine: the test's own bound is above them, so a
// stuck run fails with its outputs, not with a bare timeout.
// It was a todo while flaky: twice in early December the run did not complete within 150 s after the
// server came back. A likely cause was fixed (workers/run.ts: a worker that fails for good stops its
// process, so this test starts a new one; test/collect/workerLostServer.test.ts); it then passed in
// every run (two full CI runs, three full-suite and single runs under load 8-11), so it counts again.
// It still failed in about 1 of 8 CI runs (December 6): the outage began while prepareRun ran on a
// loaded machine, its completion was dropped, and the run waited on its 10-minute start-to-close
// timeout with the worker polling. The CPU steps now heartbeat (the next case shows it every time).
test("met collect --wait watches on across a Temporal restart longer than the client's own retries, and the run completes", { timeout: 420_000 }, async (t) => {
  const { spec, provider, workerArgs } = setUp('outage', 60); // 20 prompts x 60 = 1,200 samples at 40 ms, 4 at a time
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
    ).catch(async (err: Error) =>
      assert.fail(
        `${err.message}\nmet collect --wait:\n${collect.output()}\n` +
          `as Temporal sees it:\n${await describeStuck(collect.output(), [CPU_TASK_QUEUE, providerTaskQueue(provider)])}\n` +
          `worker (pid ${worker.pid}, ${worker.exitCode === null ? 'running' : `exited ${worker.exitCode}`}):\n${workerLog(worker.output())}`,
      ),
    );
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

// A step that does not heartbeat is known lost only at its start-to-close timeout (10 minutes for
// the CPU steps) when it finishes while Temporal is away: the SDK retries the completion for about
// 10 s, then drops it ("Network error while completing activity"). The case above failed so in CI
// when its outage began during prepareRun on a loaded machine. Here prepareRun reads its prompts
// from a named pipe, so it is held until the server is gone: it finishes during the outage.
test(
  'a CPU step that finished while Temporal was away is run again after its heartbeat timeout, not its start-to-close timeout',
  { timeout: 300_000 },
  async (t) => {
    const prompts = Array.from({ length: 20 }, (_, i) => JSON.stringify({ id: `p${i}`, text: `prompt number ${i}` })).join('\n') + '\n';
    const dir = join(dataDir, 'prompts');
    mkdirSync(dir, { recursive: true });
    const pipe = join(dir, 'held.jsonl');
    execFileSync('mkfifo', [pipe]);
    writeFileSync(join(dir, 'held.jsonl.tmp'), prompts);
    const { spec, provider, workerArgs } = setUp('lost', 10, { file: pipe }); // 20 prompts x 10 = 200 samples
    const worker = spawnMet(workerArgs, metEnv());
    const collect = spawnMet(['collect', spec, '--wait'], metEnv());
    // Opening a pipe to write waits for its reader: prepareRun, which then waits for the prompts.
    const held = open(pipe, 'w');
    try {
      const writer = await Promise.race([held, new Promise<undefined>((r) => setTimeout(r, 90_000, undefined))]);
      assert.ok(writer, `prepareRun did not read its prompts within 90 s:\n${collect.output()}\nworker:\n${workerLog(worker.output())}`);
      // A retry reads the same prompts from a plain file (the pipe is read once).
      renameSync(join(dir, 'held.jsonl.tmp'), pipe);
      await stopDevServer(dataDir);
      await writer.writeFile(prompts);
      await writer.close();
      await waitUntil('the worker to give up on reporting prepareRun', () => /Network error while completing activity/.test(worker.output()), 60_000).catch(
        (err: Error) => assert.fail(`${err.message}\nworker:\n${workerLog(worker.output())}`),
      );
      await startDevServer({ dataDir, port, headless: true });
      const back = Date.now();
      await waitUntil('the run to complete', () => collect.exitCode !== null, 150_000).catch(async (err: Error) =>
        assert.fail(
          `${err.message}\nmet collect --wait:\n${collect.output()}\n` +
            `as Temporal sees it:\n${await describeStuck(collect.output(), [CPU_TASK_QUEUE, providerTaskQueue(provider)])}\n` +
            `worker:\n${workerLog(worker.output())}`,
        ),
      );
      t.diagnostic(`completed ${((Date.now() - back) / 1000).toFixed(1)} s after Temporal came back`);
      assert.equal(collect.exitCode, 0, collect.output());
      assert.match(collect.output(), /Run \S+ completed\./);
    } finally {
      collect.kill('SIGKILL');
      worker.kill('SIGKILL');
      await Promise.all([exited(collect), exited(worker)]);
      // A writer still waiting for a reader is let go.
      const reader = await open(pipe, constants.O_RDONLY | constants.O_NONBLOCK).catch(() => undefined);
      await reader?.close();
      await held.then((w) => w.close()).catch(() => undefined);
    }
  },
);

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
