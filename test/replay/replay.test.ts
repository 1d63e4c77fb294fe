import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { bundleWorkflowCode, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import { PROJECT_ROOT } from '../../temporal/binary';
import { workflowBundle } from '../../workers/bundle';
import * as workflows from '../../workflows';
import { quietRuntime } from '../helpers/temporal';
import { REPLAY_CASES } from './cases';
import { historyFromJson } from './historyJson';

/**
 * Replays the recorded histories (test/replay/histories/, written by scripts/record-histories.ts)
 * against today's workflow code, in the bundle the workers load. A change that would leave runs in
 * flight stuck (a command added, removed or reordered without `patched()`) fails here. No server:
 * a replay only needs the history.
 */
const HISTORIES = join(PROJECT_ROOT, 'test', 'replay', 'histories');
const QUIET_LOGGER = { trace() {}, debug() {}, info() {}, warn() {}, error() {}, log() {} };

function loadHistory(name: string) {
  return historyFromJson(JSON.parse(readFileSync(join(HISTORIES, `${name}.json`), 'utf8')));
}

test('every workflow has a recorded history, and every case is recorded', () => {
  const recorded = new Set(
    readdirSync(HISTORIES)
      .filter((f) => f.endsWith('.json'))
      .map((f) => f.slice(0, -'.json'.length)),
  );
  for (const name of Object.keys(workflows)) {
    assert.ok(
      REPLAY_CASES.some((c) => c.workflow === name),
      `workflow ${name} has no replay case in test/replay/cases.ts`,
    );
  }
  for (const c of REPLAY_CASES) {
    assert.ok(recorded.has(c.name), `no history for ${c.name}: run npx tsx scripts/record-histories.ts ${c.name}`);
    const history = loadHistory(c.name);
    const started = history.events?.[0].workflowExecutionStartedEventAttributes;
    assert.equal(started?.workflowType?.name, c.workflow, `${c.name}.json is a history of ${c.workflow}`);
  }
  assert.deepEqual([...recorded].sort(), REPLAY_CASES.map((c) => c.name).sort(), 'a history file without a case in cases.ts');
});

test("the recorded histories replay against today's workflow code", { timeout: 120_000 }, async () => {
  quietRuntime();
  const histories = REPLAY_CASES.map((c) => ({ workflowId: `replay-${c.name}`, history: loadHistory(c.name) }));
  const failures: string[] = [];
  let replayed = 0;
  for await (const result of Worker.runReplayHistories({ workflowBundle: await workflowBundle() }, histories)) {
    replayed += 1;
    if (result.error) failures.push(`${result.workflowId}: ${result.error.name}: ${result.error.message}`);
  }
  assert.equal(replayed, REPLAY_CASES.length);
  assert.deepEqual(
    failures,
    [],
    'a workflow change breaks runs in flight: guard it with patched() (docs/development.md: "Changing a workflow with runs in flight")',
  );
});

/** A copy of workflows/systemCheck.ts with `edit` applied, bundled on its own. */
async function bundleEditedSystemCheck(dir: string, edit: (source: string) => string): Promise<WorkflowBundleWithSourceMap> {
  const original = readFileSync(join(PROJECT_ROOT, 'workflows', 'systemCheck.ts'), 'utf8');
  const edited = edit(original);
  assert.notEqual(edited, original, 'the edit must change workflows/systemCheck.ts (did its text change? update this test)');
  const file = join(dir, 'systemCheck.ts');
  writeFileSync(file, edited.replaceAll("from '../", "from '../../../"));
  return bundleWorkflowCode({ workflowsPath: file, logger: QUIET_LOGGER });
}

const PROBES_FIRST = /  const first = await describeWorker\(\);\n  await sleep\(input\.pause\);\n/;

test("a replay fails when a workflow's command order changes without patched(), and passes with it", { timeout: 180_000 }, async () => {
  quietRuntime();
  // Inside the project, so the copy resolves @temporalio/workflow from node_modules.
  const dir = mkdtempSync(join(PROJECT_ROOT, 'test', 'replay', '.edited-'));
  try {
    const history = loadHistory('systemCheck');
    // The timer before the first probe: the recorded run scheduled an activity first.
    const reordered = await bundleEditedSystemCheck(dir, (s) =>
      s.replace(PROBES_FIRST, '  await sleep(input.pause);\n  const first = await describeWorker();\n'),
    );
    await assert.rejects(Worker.runReplayHistory({ workflowBundle: reordered }, history, 'replay-systemCheck'), (err: unknown) => {
      assert.ok(err instanceof DeterminismViolationError, `expected a DeterminismViolationError, got ${String(err)}`);
      return true;
    });
    // The same change behind patched(): old runs take the old branch, new runs the new one.
    const guarded = await bundleEditedSystemCheck(dir, (s) =>
      s
        .replace("import { proxyActivities, sleep } from '@temporalio/workflow';", "import { patched, proxyActivities, sleep } from '@temporalio/workflow';")
        .replace(
          PROBES_FIRST,
          "  let first: SystemCheckResult['first'];\n  if (patched('pause-before-first-probe')) {\n    await sleep(input.pause);\n    first = await describeWorker();\n  } else {\n    first = await describeWorker();\n    await sleep(input.pause);\n  }\n",
        ),
    );
    await Worker.runReplayHistory({ workflowBundle: guarded }, history, 'replay-systemCheck');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.equal(existsSync(dir), false);
});
