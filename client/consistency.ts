import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import { consistencyReportInput } from '../activities/consistency';
import { ErrorTypes, MetError } from '../common/errors';
import { planConsistency, type ConsistencyPlan, type ConsistencySpec } from '../config/consistencySpec';
import { writeReport } from '../report/html';
import { Report } from '../report/schemas';
import type { ConsistencyOutcome } from '../workflows/consistencyReport';
import { newRunRecord, readPublishedReport, type RunRecord, type RunsAt, runStatus, saveRunRecord, startOrAttach } from './runs';

/** Launches (or attaches to) the consistency run of a spec; the plan is recorded for `met resume`. */
export async function launchConsistency(
  client: Client,
  dataDir: RunsAt,
  spec: ConsistencySpec,
  taskQueue?: string,
): Promise<{ record: RunRecord; attached: boolean }> {
  const plan = planConsistency(spec);
  const record = newRunRecord({ job: 'consistencyReport', input: plan }, plan.id, { taskQueue });
  await saveRunRecord(dataDir, record);
  const { attached } = await startOrAttach(client, record);
  return { record, attached };
}

/**
 * `met report RUN` for a consistency run: its report written again in `<data>/reports/<id>/` (page,
 * figures, report.json) from the numbers the run left: the report.json its worker wrote when this
 * host has it (or the bucket's copy, --data s3://...), else the completed workflow's result (the
 * worker's host elsewhere). Temporal is asked only in that last case.
 */
export async function writeConsistencyRunReport(
  at: RunsAt,
  record: RunRecord,
  connect: () => Promise<Client>,
): Promise<{ htmlPath: string; dataPath: string; report: Report; from: string }> {
  const dataDir = typeof at === 'string' ? at : at.dataDir;
  const dir = join(dataDir, 'reports', record.runId);
  const local = join(dir, 'report.json');
  let input: unknown;
  let from: string;
  if (existsSync(local)) {
    input = JSON.parse(readFileSync(local, 'utf8'));
    from = local;
  } else {
    const published = await readPublishedReport(at, record.runId, 'report.json');
    if (published !== undefined) {
      input = JSON.parse(published);
      from = `the bucket's reports/${record.runId}/report.json`;
    } else {
      const client = await connect();
      const { status } = await runStatus(client, record);
      if (status !== 'COMPLETED')
        throw new MetError(
          ErrorTypes.NotFound,
          `run ${record.runId} is ${status}: a consistency run's report is written when it completes (met status ${record.runId})`,
        );
      const outcome = (await client.workflow.getHandle(record.workflowId).result()) as ConsistencyOutcome;
      const plan = record.input as ConsistencyPlan;
      input = consistencyReportInput({
        id: plan.id,
        spec: plan.spec,
        a: plan.a,
        b: plan.b,
        comparison: outcome.comparison,
        mmd: outcome.mmd,
        workflowId: record.workflowId,
        createdAt: record.createdAt,
      });
      from = `the result of workflow ${record.workflowId}`;
    }
  }
  const parsed = Report.safeParse(input);
  if (!parsed.success)
    throw new MetError(
      ErrorTypes.BadInput,
      `the numbers of run ${record.runId} (${from}) are not a readable report: ${parsed.error.issues[0]?.message ?? 'invalid'}`,
    );
  const written = await writeReport(dir, parsed.data);
  return { htmlPath: written.htmlPath, dataPath: written.dataPath, report: parsed.data, from };
}
