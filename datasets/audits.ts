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
      `SELECT corpus, audit, firing_id, epoch_ms(time) AS time_ms, endpoint, model, source, reference, test_id, statistic, value, p_value, alpha, n1, n2, m, reject, verdict, changed, confirmations, prompt_tokens, completion_tokens, counted_completion_tokens, billing_ratio, billing_max_ratio, requests, tracking, identify
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
        requests: o.requests === null ? null : Number(o.requests),
        tracking: o.tracking as string | null,
        identify: o.identify as string | null,
      }),
    );
  });
}

/** What an audit's firings cost per endpoint firing, for one audit of a corpus's `audits` table. */
export interface AuditCost {
  audit: string;
  statistic: string;
  /** Endpoint firings with a recorded request count (rows written before that column have none). */
  firings: number;
  requests: number;
  promptTokens: number;
  completionTokens: number;
}

/**
 * Mean requests and tokens per endpoint firing of every audit in a corpus (`met audit show` puts
 * an audit's cost beside the others': a tracking tier's beside the sample-based tests'). Rows
 * without a request count (older shards) or without reported usage are left out.
 */
export async function readAuditCosts(duck: DuckDBInstance, root: string, corpus: string): Promise<AuditCost[]> {
  const dir = kindDir(root, corpus, 'audits');
  if (!existsSync(dir) || !readdirSync(dir).some(isShardFile)) return [];
  return withConnection(duck, async (c) => {
    const reader = await c.runAndReadAll(
      `SELECT audit, statistic, count(*) AS firings, avg(requests) AS requests, avg(prompt_tokens) AS prompt_tokens, avg(completion_tokens) AS completion_tokens
       FROM ${withAddedColumns('audits', `read_parquet(${quotedString(kindGlob(root, corpus, 'audits'))}${unionByNameOption('audits')})`)}
       WHERE requests IS NOT NULL AND prompt_tokens IS NOT NULL GROUP BY audit, statistic ORDER BY audit, statistic`,
    );
    return reader.getRowObjects().map((o) => ({
      audit: String(o.audit),
      statistic: String(o.statistic),
      firings: Number(o.firings),
      requests: Number(o.requests),
      promptTokens: Number(o.prompt_tokens),
      completionTokens: Number(o.completion_tokens),
    }));
  });
}
