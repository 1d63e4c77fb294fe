import { writeFileAtomic } from '../common/files';
import { join } from 'node:path';
import { formatPValue, pValueText } from '../common/pvalue';
import { billingOver, type FiringIdentify } from '../config/auditSpec';
import { esc } from './html';
import { identifySummary } from './identify';
import { type AuditPoint, auditHistorySpec, namespaceSvgIds, renderSvg } from './plots';

/**
 * `met audit show NAME --html`: one self-contained page with the audit's p-values and statistics
 * over time per endpoint (verdict changes marked) and the table of changes.
 */
export interface AuditPageInput {
  name: string;
  statistic: string;
  alpha: number;
  /** Permutation or bootstrap draws per test: a p-value of 0 prints as below 1/(b + 1). */
  b?: number;
  confirmations: number;
  schedule: string;
  /**
   * billingRatio: completion tokens billed over counted by the claimed model's tokenizer, and
   * billingMaxRatio the audit's threshold (a billing check only; the column shows when a point has one).
   */
  points: (AuditPoint & {
    firingId: string;
    reject: boolean;
    n: number;
    billingRatio?: number | null;
    billingMaxRatio?: number | null;
    /** What the firing cost at the endpoint: requests and reported tokens (null where unknown). */
    requests?: number | null;
    promptTokens?: number | null;
    completionTokens?: number | null;
    /** Attribution (audit spec identify) at the firing that turned the verdict to differs. */
    identify?: FiringIdentify | null;
  })[];
}

export async function writeAuditPage(dir: string, input: AuditPageInput): Promise<string> {
  const iso = (d: Date) => d.toISOString().replace(/\.\d+Z$/, 'Z');
  const figure = input.points.length
    ? (await renderSvg(auditHistorySpec(input.points, { alpha: input.alpha, statistic: input.statistic, title: `audit ${input.name}` }))).svg
    : '<p>No firings recorded yet.</p>';
  const changes = input.points.filter((p) => p.changed);
  const identified = input.points.flatMap((p) => (p.identify ? [{ p, identify: p.identify }] : []));
  const candidateCell = (c: FiringIdentify['candidates'][number]) => `${c.candidate}: ${formatPValue(c.adjusted, c.b)} (raw ${pValueText(c.pvalue, c.b)})`;
  const billed = input.points.some((p) => p.billingMaxRatio != null);
  const billing = (p: AuditPageInput['points'][number]) =>
    p.billingRatio == null ? '-' : `${p.billingRatio.toFixed(3)}${billingOver(p) ? ` (over ${p.billingMaxRatio})` : ''}`;
  const row = (cells: string[]) => `<tr>${cells.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`;
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>audit ${esc(input.name)}</title>
<style>body{font-family:system-ui,sans-serif;margin:2rem;max-width:60rem}table{border-collapse:collapse}td,th{padding:.2rem .6rem;border-bottom:1px solid #ddd;text-align:left}.differs{color:#b2182b}</style></head>
<body>
<h1>audit ${esc(input.name)}</h1>
<p>${esc(input.statistic)} at α = ${input.alpha}, ${esc(input.schedule)}; a verdict flips after ${input.confirmations} consecutive firings that disagree with it.</p>
<figure>${figure}</figure>
<h2>Verdict changes</h2>
${changes.length ? `<table id="changes"><thead><tr><th>time</th><th>endpoint</th><th>change</th><th>p-value</th></tr></thead><tbody>${changes.map((c) => row([iso(c.time), c.endpoint, c.verdict === 'differs' ? 'consistent → differs' : 'differs → consistent', pValueText(c.pValue, input.b)])).join('\n')}</tbody></table>` : '<p>None.</p>'}
${
  identified.length
    ? `<h2>Which model, where the verdict turned to differs</h2>
<p>The endpoint's slice of that firing against each candidate slice, ${esc(input.statistic)}, Holm-adjusted p-values at α = ${input.alpha}.</p>
<table id="identify"><thead><tr><th>time</th><th>endpoint</th><th>not rejected</th><th>rejected</th></tr></thead><tbody>
${identified
  .map(({ p, identify }) =>
    identify.error
      ? row([iso(p.time), p.endpoint, identifySummary(identify), ''])
      : row([
          iso(p.time),
          p.endpoint,
          identify.candidates
            .filter((c) => !c.rejected)
            .sort((a, b) => b.adjusted - a.adjusted)
            .map(candidateCell)
            .join('; ') || 'none',
          identify.candidates
            .filter((c) => c.rejected)
            .sort((a, b) => a.adjusted - b.adjusted)
            .map(candidateCell)
            .join('; ') || 'none',
        ]),
  )
  .join('\n')}</tbody></table>`
    : ''
}
<h2>Firings</h2>
<table id="firings"><thead><tr><th>time</th><th>endpoint</th><th>p-value</th><th>${esc(input.statistic)}</th><th>n</th><th>verdict</th><th>requests</th><th>tokens in/out</th>${billed ? '<th>billed/counted tokens</th>' : ''}</tr></thead><tbody>
${input.points.map((p) => `<tr${p.verdict === 'differs' ? ' class="differs"' : ''}>${[iso(p.time), p.endpoint, pValueText(p.pValue, input.b), p.value.toPrecision(4), String(p.n), p.verdict + (p.changed ? ' (changed)' : ''), p.requests == null ? '-' : String(p.requests), p.promptTokens == null ? '-' : `${p.promptTokens}/${p.completionTokens}`, ...(billed ? [billing(p)] : [])].map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`).join('\n')}
</tbody></table>
</body></html>
`;
  const file = join(dir, 'index.html');
  writeFileAtomic(file, html);
  return file;
}

/**
 * The same figure as the web console shows it (GET /v1/audits/{name}/chart): one endpoint or all,
 * ids prefixed so that several charts inlined in one page keep their own clip paths. Vega escapes
 * every text it draws, so names reach the SVG as text, never as markup.
 */
export async function auditChartSvg(points: AuditPoint[], opts: { alpha: number; statistic: string; title: string; idPrefix: string }): Promise<string> {
  const { svg } = await renderSvg(auditHistorySpec(points, { alpha: opts.alpha, statistic: opts.statistic, title: opts.title }));
  return namespaceSvgIds(svg, opts.idPrefix);
}
