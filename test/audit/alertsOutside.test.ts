import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CancelledFailure } from '@temporalio/common';
import { Context } from '@temporalio/activity';
import { undeliveredAlerts } from '../../client/audits';
import { parseAuditSpec } from '../../config/auditSpec';
import { providerTaskQueue } from '../../temporal/queues';
import { auditFiring } from '../../workflows/auditFiring';
import { startTestTemporal, uniqueName, withPlanWorkers } from '../helpers/temporal';
import { REPLAY_PROVIDER, REPLAY_QUEUES } from '../replay/cases';
import { cpuActivities, sampling } from '../replay/standIns';

/**
 * Issue #28: a verdict change is recorded at once and its webhook call runs as a workflow of its
 * own (deliverAuditAlert), so a webhook that hangs delays no firing, and `met audit show` lists the
 * alert as undelivered. The firing's other steps are the replay stand-ins (test/replay/standIns.ts):
 * what is tested here is the workflow's order of things, not collection or statistics.
 */
test('a hanging webhook: firings end on time, one after another; the alerts are listed as undelivered', { timeout: 120_000 }, async () => {
  const temporal = await startTestTemporal();
  const name = uniqueName('hang').replace(/[^A-Za-z0-9-]/g, '-');
  let calls = 0;
  const hangingWebhook = {
    async sendAuditAlert(): Promise<{ sent: boolean }> {
      calls += 1;
      // A webhook that accepts the connection and never answers: only cancellation (or the activity's timeout) ends it.
      await new Promise((_, reject) => Context.current().cancellationSignal.addEventListener('abort', () => reject(new CancelledFailure('cancelled'))));
      return { sent: true };
    },
  };
  try {
    const spec = parseAuditSpec({
      name,
      corpus: 'replay',
      reference: { kind: 'corpus', corpus: 'replay', model: 'tiny', source: 'fp32' },
      endpoints: [{ kind: 'provider', provider: REPLAY_PROVIDER, model: 'm1' }],
      prompts: {
        inline: [
          { id: 'p0', text: 'a' },
          { id: 'p1', text: 'b' },
        ],
      },
      samplesPerPrompt: 3,
      sampling: { maxTokens: 4, temperature: 1 },
      b: 10,
      unitSize: 3,
      schedule: { interval: '1h' },
    });
    const plans = [
      { taskQueue: REPLAY_QUEUES.cpu, activities: { ...cpuActivities(), ...hangingWebhook } },
      { taskQueue: providerTaskQueue(REPLAY_PROVIDER), activities: sampling },
    ];
    await withPlanWorkers(temporal, plans, async () => {
      // Two firings as the schedule starts them (workflow id audit-<name>-<time>), one after the other.
      for (const k of [1, 2]) {
        const started = Date.now();
        const result = await temporal.client.workflow.execute(auditFiring, {
          taskQueue: REPLAY_QUEUES.cpu,
          workflowId: `audit-${name}-2026-01-0${k}T00:00:00Z`,
          args: [{ spec }],
        });
        const took = Date.now() - started;
        console.log(`firing ${k}: ${took} ms, alerts ${JSON.stringify(result.alerts)}`);
        assert.equal(result.alerts.length, 1);
        assert.deepEqual(
          result.alerts.map((a) => a.queued),
          [true],
        );
        assert.ok(took < 20_000, `firing ${k} took ${took} ms while its webhook hangs`);
      }
      let undelivered: Awaited<ReturnType<typeof undeliveredAlerts>> = [];
      const deadline = Date.now() + 15_000;
      while (Date.now() < deadline) {
        // Both webhook calls under way before the list is read: read after, a list can still say 'waiting'.
        const called = calls;
        undelivered = await undeliveredAlerts(temporal.client, name);
        if (undelivered.length === 2 && called >= 2 && undelivered.every((u) => /try 1/.test(u.detail))) break;
        await new Promise((r) => setTimeout(r, 250));
      }
      assert.equal(undelivered.length, 2, JSON.stringify(undelivered));
      for (const u of undelivered) {
        assert.equal(u.status, 'RUNNING');
        assert.match(u.alertId, new RegExp(`^${name}/`));
        assert.match(u.detail, /try 1; no answer yet/);
      }
      for (const u of undelivered) await temporal.client.workflow.getHandle(u.workflowId).terminate('test done');
    });
  } finally {
    await temporal.close();
  }
});
