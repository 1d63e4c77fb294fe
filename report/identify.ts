import { canonicalJson, hashHex } from '../common/hash';
import { formatPValue } from '../common/pvalue';
import type { FiringIdentify } from '../config/auditSpec';
import { buildReport, writeReport } from './html';
import type { ReportInput } from './schemas';

/**
 * The page of an identify result (`met identify --html`, `POST /v1/identify?format=html`): met's
 * report page with one identify section (verdict per candidate, statistic, p-value and its Holm
 * adjustment, undefined nulls, and the adjusted p-values as a figure).
 */
export interface IdentifyPageInput {
  y: string;
  stat: string;
  alpha: number;
  candidates: {
    candidate: string;
    statistic: string;
    value: number;
    pvalue: number;
    adjusted: number;
    b: number;
    undefinedNulls: number;
    rejected: boolean;
    testId: string;
  }[];
}

/** A stable id of a result's question and answer (its page's folder). */
export function identifyPageId(result: IdentifyPageInput): string {
  return hashHex(canonicalJson(result)).slice(0, 12);
}

export function identifyReport(result: IdentifyPageInput, now = new Date()): ReportInput {
  return {
    title: `Which model is ${result.y} serving?`,
    meta: {
      runId: `identify-${identifyPageId(result)}`,
      createdAt: now.toISOString(),
      seeds: {},
      workflows: result.candidates.map((c) => ({ id: c.testId, label: `${c.candidate}: ${c.testId}` })),
      notes: [`Each candidate's test is a runTest run (met report TEST_ID); the p-values are Holm-corrected over the ${result.candidates.length} candidates.`],
    },
    sections: [
      {
        kind: 'identify',
        endpoint: result.y,
        alpha: result.alpha,
        candidates: result.candidates.map((c) => ({
          candidate: c.candidate,
          statistic: c.statistic,
          value: c.value,
          pValue: c.pvalue,
          adjusted: c.adjusted,
          b: c.b,
          undefinedNulls: c.undefinedNulls,
          decision: c.rejected ? 'reject' : 'fail_to_reject',
        })),
      },
    ],
  };
}

/** The page as one self-contained HTML string (inline SVG, no PNGs). */
export async function identifyPageHtml(result: IdentifyPageInput): Promise<string> {
  return (await buildReport(identifyReport(result), { png: false })).html;
}

/** Writes dir/index.html (with report.json and the figure's files); returns the page's path. */
export async function writeIdentifyPage(dir: string, result: IdentifyPageInput): Promise<string> {
  return (await writeReport(dir, identifyReport(result), { png: false })).htmlPath;
}

/**
 * An identify result in one line, Holm-adjusted p-values: "not rejected: tiny/q4 p = 0.41;
 * rejected: tiny/f32 p < 0.002 (b = 500)" (most plausible first among the kept, strongest rejection
 * first among the rejected). An audit firing's identify that failed says why.
 */
export function identifySummary(result: Pick<FiringIdentify, 'candidates' | 'error'>): string {
  if (result.error) return `identify failed: ${result.error}`;
  const kept = result.candidates.filter((r) => !r.rejected).sort((a, b) => b.adjusted - a.adjusted);
  const rejected = result.candidates.filter((r) => r.rejected).sort((a, b) => a.adjusted - b.adjusted);
  const shown = (r: FiringIdentify['candidates'][number]) => `${r.candidate} ${formatPValue(r.adjusted, r.b)}`;
  return `not rejected: ${kept.length ? kept.map(shown).join(', ') : 'none'}; rejected: ${rejected.length ? rejected.map(shown).join(', ') : 'none'}`;
}
