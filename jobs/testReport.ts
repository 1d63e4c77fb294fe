import { join } from 'node:path';
import type { DuckDBInstance } from '@duckdb/node-api';
import { ErrorTypes, MetError } from '../common/errors';
import type { TestSpec } from '../config/testSpec';
import { kindDir, quotedString, withConnection } from '../datasets';
import { writeReport } from '../report/html';
import type { TestResult } from '../report/schemas';

/**
 * `met report RUN` of a test run: the verdict page (verdict, statistic, p-value, and the null
 * distribution with the observed statistic) from the row the test stored in its corpus's tests/
 * shards, so it needs no Temporal. `readRoot` is where the corpus is read (a bucket's cache tree).
 */
export async function writeTestReport(
  duck: DuckDBInstance,
  dataDir: string,
  record: { runId: string; input: TestSpec },
  readRoot = dataDir,
): Promise<{ htmlPath: string; alpha: number; results: TestResult[] }> {
  const spec = record.input;
  const glob = join(kindDir(readRoot, spec.x.corpus, 'tests'), 'part-*.parquet');
  const rows = await withConnection(
    duck,
    async (c) =>
      (
        await c
          .runAndReadAll(
            `SELECT x_model, x_source, y_model, y_source, statistic, value, p_value, alpha, decision, b, n1, n2, null_statistics
         FROM read_parquet(${quotedString(glob)}, union_by_name = true) WHERE test_id = $1 ORDER BY created_at DESC LIMIT 1`,
            [spec.testId],
          )
          .catch(() => undefined)
      )?.getRowObjects() ?? [],
  );
  if (rows.length === 0) {
    throw new MetError(
      ErrorTypes.BadInput,
      `test run ${record.runId} has no stored result in corpus '${spec.x.corpus}' (${readRoot}): it has not completed, or ran against another data folder (met status ${record.runId})`,
    );
  }
  const r = rows[0];
  const list = r.null_statistics as unknown as { items?: unknown[] } | unknown[] | null;
  const nulls = list == null ? undefined : Array.from(Array.isArray(list) ? list : (list.items ?? []), Number);
  const results: TestResult[] = [
    {
      endpoint: `${String(r.y_model ?? spec.y.model)}/${String(r.y_source ?? spec.y.source)}`,
      reference: `${String(r.x_model)}/${String(r.x_source)}`,
      statistic: String(r.statistic),
      value: Number(r.value),
      pValue: Number(r.p_value),
      b: Number(r.b),
      decision: r.decision === 'reject' ? 'reject' : 'fail_to_reject',
      n1: Number(r.n1),
      n2: Number(r.n2 ?? r.n1),
      ...(nulls?.length ? { nullStatistics: nulls } : {}),
    },
  ];
  const report = await writeReport(join(dataDir, 'reports', record.runId), {
    title: `Test ${record.runId}: is ${results[0].endpoint} the same model as ${results[0].reference}?`,
    meta: { runId: record.runId, createdAt: new Date().toISOString(), seeds: { permutations: spec.seed }, spec },
    sections: [{ kind: 'test', alpha: Number(r.alpha), results }],
  });
  return { htmlPath: report.htmlPath, alpha: Number(r.alpha), results };
}
