import { existsSync, readdirSync } from 'node:fs';
import type { DuckDBInstance } from '@duckdb/node-api';
import { quotedString, withConnection } from './duck';
import { isShardFile, kindDir } from './paths';
import { AuditRow } from './schemas';
import { unionByNameOption } from './tables';
import { kindGlob, withAddedColumns } from './views';

/** The `audits` rows of one audit in a corpus, oldest first (none yet: an empty list). */
export async function readAuditRows(duck: DuckDBInstance, root: string, corpus: string, audit: string): Promise<AuditRow[]> {
  const dir = kindDir(root, corpus, 'audits');
  if (!existsSync(dir) || !readdirSync(dir).some(isShardFile)) return [];
  return withConnection(duck, async (c) => {
    const reader = await c.runAndReadAll(
      `SELECT corpus, audit, firing_id, epoch_ms(time) AS time_ms, endpoint, model, source, reference, test_id, statistic, value, p_value, alpha, n1, n2, m, reject, verdict, changed, confirmations, prompt_tokens, completion_tokens, counted_completion_tokens, billing_ratio, billing_max_ratio
       FROM ${withAddedColumns('audits', `read_parquet(${quotedString(kindGlob(root, corpus, 'audits'))}${unionByNameOption('audits')})`)} WHERE audit = $1 ORDER BY time, firing_id, endpoint`,
      [audit],
    );
    return reader.getRowObjects().map((o) =>
      AuditRow.parse({
        corpus: o.corpus,
        audit: o.audit,
        firingId: o.firing_id,
        time: new Date(Number(o.time_ms)),
        endpoint: o.endpoint,
        model: o.model,
        source: o.source,
        reference: o.reference,
        testId: o.test_id,
        statistic: o.statistic,
        value: o.value,
        pValue: o.p_value,
        alpha: o.alpha,
        n1: o.n1,
        n2: o.n2,
        m: o.m,
        reject: o.reject,
        verdict: o.verdict,
        changed: o.changed,
        confirmations: o.confirmations,
        promptTokens: o.prompt_tokens === null ? null : Number(o.prompt_tokens),
        completionTokens: o.completion_tokens === null ? null : Number(o.completion_tokens),
        countedCompletionTokens: o.counted_completion_tokens === null ? null : Number(o.counted_completion_tokens),
        billingRatio: o.billing_ratio as number | null,
        billingMaxRatio: o.billing_max_ratio as number | null,
      }),
    );
  });
}
