import { mkdirSync } from 'node:fs';
import { writeFileAtomic as writeAtomic } from '../common/files';
import { join } from 'node:path';
import { version as vegaLiteVersion } from 'vega-lite';
import { resolveFigureFonts, type FigureFonts } from './fonts';
import {
  mixturePowerSpec,
  nullHistogramSpec,
  perplexitySpec,
  powerCurveSpec,
  pValueSpec,
  renderPng,
  renderSvg,
  namespaceSvgIds,
  similaritySpec,
  VEGA_VERSION,
  type TopLevelSpec,
} from './plots';
import {
  Report,
  type ConsistencySection,
  type IdentifyCandidate,
  type IdentifySection,
  type PowerSection,
  type ReportInput,
  type TestResult,
  type TestSection,
} from './schemas';
import { calibrationWarnings, formatNumber, formatP, formatPower, mixturePoints, powerPoints, powerTable, verdictText, type PowerTable } from './tables';

/**
 * met's HTML report: one self-contained page (inline SVG figures, inline CSS, no script, no external
 * asset) with the PNG and SVG files of each figure written next to it. `writeReport` is what
 * commands and activities call; `buildReport` does the same in memory (for the HTTP API).
 */

export interface FigureOutput {
  id: string;
  title: string;
  caption: string;
  spec: TopLevelSpec;
  svg: string;
  png?: Buffer;
  width: number;
  height: number;
}

export interface BuiltReport {
  report: Report;
  html: string;
  figures: FigureOutput[];
}

export interface ReportOptions {
  /** Write PNG files (default true). Needs a font; see report/fonts.ts. */
  png?: boolean;
  /** PNG pixel density (default 2). */
  scale?: number;
  /** Font files for PNG text (regular, then bold); default: found on this machine. */
  fontFiles?: string[];
  /** Time shown as "report written"; pass one for byte-identical output. */
  now?: Date;
}

export interface WrittenFigure {
  id: string;
  title: string;
  svgPath: string;
  pngPath?: string;
  specPath: string;
}

export interface WrittenReport {
  htmlPath: string;
  /** The validated input, beside the page, so the numbers can be reread or replotted. */
  dataPath: string;
  figures: WrittenFigure[];
}

/** Validates `input`, renders every figure and writes `dir/index.html`, `dir/report.json` and `dir/figures/*`. */
export async function writeReport(dir: string, input: ReportInput, opts: ReportOptions = {}): Promise<WrittenReport> {
  const built = await buildReport(input, opts);
  const figuresDir = join(dir, 'figures');
  mkdirSync(figuresDir, { recursive: true });
  const figures: WrittenFigure[] = [];
  for (const f of built.figures) {
    const svgPath = join(figuresDir, `${f.id}.svg`);
    const specPath = join(figuresDir, `${f.id}.vl.json`);
    writeAtomic(svgPath, f.svg);
    writeAtomic(specPath, `${JSON.stringify(f.spec, null, 2)}\n`);
    let pngPath: string | undefined;
    if (f.png) {
      pngPath = join(figuresDir, `${f.id}.png`);
      writeAtomic(pngPath, f.png);
    }
    figures.push({ id: f.id, title: f.title, svgPath, pngPath, specPath });
  }
  const dataPath = join(dir, 'report.json');
  writeAtomic(dataPath, `${JSON.stringify(built.report, null, 2)}\n`);
  const htmlPath = join(dir, 'index.html');
  // The page goes last: once it exists, every file it links to does too.
  writeAtomic(htmlPath, built.html);
  return { htmlPath, dataPath, figures };
}

/** Validates the input and renders page and figures in memory. */
export async function buildReport(input: ReportInput, opts: ReportOptions = {}): Promise<BuiltReport> {
  const report = Report.parse(input);
  const wantPng = opts.png ?? true;
  const fonts: FigureFonts | undefined = wantPng ? resolveFigureFonts(opts.fontFiles) : undefined;
  const ids = new Set<string>();
  const figures: FigureOutput[] = [];
  const addFigure = async (sectionIndex: number, name: string, title: string, caption: string, spec: TopLevelSpec): Promise<FigureOutput> => {
    const id = uniqueId(`s${sectionIndex + 1}-${slug(name)}`, ids);
    const rendered = await renderSvg(spec, { fonts });
    const figure: FigureOutput = {
      id,
      title,
      caption,
      spec,
      svg: rendered.svg,
      png: fonts ? renderPng(rendered.svg, { scale: opts.scale, fonts }) : undefined,
      width: rendered.width,
      height: rendered.height,
    };
    figures.push(figure);
    return figure;
  };

  const body: string[] = [];
  for (const [i, section] of report.sections.entries()) {
    if (section.kind === 'power') body.push(await powerSectionHtml(section, i, addFigure));
    else if (section.kind === 'test') body.push(await testSectionHtml(section, i, addFigure));
    else if (section.kind === 'identify') body.push(await identifySectionHtml(section, i, addFigure));
    else body.push(await consistencySectionHtml(section, i, addFigure));
  }
  const html = page(report, body, opts.now ?? new Date());
  return { report, html, figures };
}

type AddFigure = (sectionIndex: number, name: string, title: string, caption: string, spec: TopLevelSpec) => Promise<FigureOutput>;

// ---------------------------------------------------------------------------------------------
// Sections

async function powerSectionHtml(s: PowerSection, index: number, addFigure: AddFigure): Promise<string> {
  const points = powerPoints(s);
  const intervalLabel = `${Math.round(s.ciLevel * 100)}% ${s.ciMethod === 'wilson' ? 'Wilson score' : 'Clopper-Pearson'} intervals`;
  const table = powerTable(s);
  const params = [
    `α = ${s.alpha}`,
    intervalLabel,
    s.unit ? `${s.unit} unit` : undefined,
    s.L ? `L = ${s.L}` : undefined,
    s.b ? `b = ${s.b}` : undefined,
    `${new Set(points.map((p) => p.statistic)).size} statistic(s)`,
    `${s.cells.length} cell(s)`,
  ].filter((p): p is string => p !== undefined);
  const out: string[] = [`<section id="section-${index + 1}">`, `<h2>${esc(s.title)}</h2>`, `<p class="params">${params.map(esc).join(' · ')}</p>`];
  // A null cell whose whole interval lies above α is not calibrated: say so where the numbers are.
  const warnings = [...s.warnings, ...calibrationWarnings(s)];
  if (warnings.length) out.push(`<ul class="warnings">${warnings.map((w) => `<li>⚠ ${esc(w)}</li>`).join('')}</ul>`);
  out.push(powerTableHtml(table));
  const fig = await addFigure(
    index,
    'power',
    'Power versus samples per prompt',
    `Rejection rate at α = ${s.alpha} for each alternative and statistic; shaded: ${intervalLabel} (rejections out of simulations). Grey dashed: nulls (the reference against itself, or against its own weights served with other settings), whose rate is the type-I error and should stay near α.`,
    powerCurveSpec(points, { alpha: s.alpha, intervalLabel }),
  );
  out.push(figureHtml(fig));
  const mixture = mixturePoints(s);
  if (mixture.length > 0) {
    const substitutes = [...new Set(s.mixtureShares.map((x) => x.substitute))];
    const mixFig = await addFigure(
      index,
      'mixture',
      'Power versus the mixed-in share',
      `Rejection rate at α = ${s.alpha} when a share of the requests is served by ${substitutes.join(', ')} (drawn per request); share 0 is the reference itself (type-I error). One panel per API budget (n per prompt × m prompts); shaded: ${intervalLabel}.`,
      mixturePowerSpec(mixture, { alpha: s.alpha, intervalLabel, substitute: substitutes.join(' / ') }),
    );
    out.push(figureHtml(mixFig));
  }
  for (const d of s.nullDistributions) {
    const f = await addFigure(
      index,
      `null-${d.label}-${d.statistic}`,
      `Null distribution: ${d.label}`,
      `${d.values.length} null statistics (${d.statistic}).`,
      nullHistogramSpec(d.values, {
        statistic: d.statistic,
        title: `Null distribution: ${d.label}`,
        observed: d.observed,
        pValue: d.pValue,
        b: d.values.length,
        alpha: s.alpha,
      }),
    );
    out.push(figureHtml(f));
  }
  const rows = points.map((p) => [
    esc(p.series),
    esc(p.statistic),
    num(p.m),
    num(p.nPerPrompt),
    num(p.nPerPrompt * p.m),
    num(p.draws),
    num(p.sims),
    num(p.rejections),
    num(p.power.toFixed(3)),
    num(`[${p.lo.toFixed(3)}, ${p.hi.toFixed(3)}]`),
  ]);
  out.push(
    `<details><summary>All ${points.length} grid points</summary>`,
    tableHtml(['alternative', 'statistic', 'm', 'n per prompt', 'N per side', 'subset draws', 'simulations', 'rejections', 'power', 'interval'], rows, 'cells'),
    '</details>',
    '</section>',
  );
  return out.join('\n');
}

/** The paper-style table: rows alternatives, columns statistics, power [interval] at one sample size. */
export function powerTableHtml(t: PowerTable): string {
  const nText =
    t.ms.length === 1
      ? `n = ${t.nPerPrompt} samples per prompt (N = ${t.nPerPrompt * t.ms[0]} per side, m = ${t.ms[0]})`
      : `n = ${t.nPerPrompt} samples per prompt`;
  const head = `<tr><th scope="col">alternative</th>${t.statistics.map((s) => `<th scope="col" class="num">${esc(s)}</th>`).join('')}</tr>`;
  const body = t.rows
    .map((r) => {
      const cells = t.statistics
        .map((s) => {
          const c = r.cells[s];
          if (!c) return '<td class="num missing">–</td>';
          const shade = `background: rgba(76, 120, 168, ${(0.06 + 0.3 * c.power).toFixed(3)})`;
          return `<td class="num" style="${shade}" title="${c.rejections} of ${c.sims} simulations rejected">${esc(formatPower(c))}</td>`;
        })
        .join('');
      return `<tr${r.isNull ? ' class="null-row"' : ''}><th scope="row">${esc(r.label)}${r.isNull ? ' <span class="note">type-I error</span>' : ''}</th>${cells}</tr>`;
    })
    .join('\n');
  const interval = `${Math.round(t.ciLevel * 100)}% ${t.ciMethod === 'wilson' ? 'Wilson score' : 'Clopper-Pearson'}`;
  return `<table class="paper"><caption>Power at α = ${t.alpha}, ${esc(nText)}; brackets: ${interval} interval.</caption>
<thead>${head}</thead>
<tbody>
${body}
</tbody></table>`;
}

async function testSectionHtml(s: TestSection, index: number, addFigure: AddFigure): Promise<string> {
  const out: string[] = [`<section id="section-${index + 1}">`, `<h2>${esc(s.title)}</h2>`];
  out.push(
    `<ul class="verdicts">${s.results.map((r) => `<li>${verdictBadge(r)} <strong>${esc(r.endpoint)}</strong>: ${esc(verdictText(r))}, ${esc(formatP(r.pValue, r.b, { showB: true }))} <span class="note">(${esc(r.statistic)})</span></li>`).join('\n')}</ul>`,
  );
  out.push(verdictTableHtml(s.results, s.alpha));
  const fig = await addFigure(
    index,
    'pvalues',
    'p-value per endpoint',
    `p-value of each test; the dashed line is α = ${s.alpha}. A p-value at or below α rejects "this endpoint serves the reference model".`,
    pValueSpec(s.results, s.alpha),
  );
  out.push(figureHtml(fig));
  for (const r of s.results) {
    if (!r.nullStatistics?.length) continue;
    const f = await addFigure(
      index,
      `null-${r.endpoint}-${r.statistic}`,
      `Null distribution: ${r.endpoint} vs ${r.reference}`,
      `${r.nullStatistics.length} ${r.statistic} statistics under the null, the observed value, and the smallest value that would reject at α = ${s.alpha}.`,
      nullHistogramSpec(r.nullStatistics, {
        statistic: r.statistic,
        title: `Null distribution: ${r.endpoint} vs ${r.reference}`,
        observed: r.value,
        pValue: r.pValue,
        b: r.b,
        alpha: s.alpha,
      }),
    );
    out.push(figureHtml(f));
  }
  out.push('</section>');
  return out.join('\n');
}

export function verdictTableHtml(results: TestResult[], alpha: number): string {
  const rows = results.map((r) => [
    esc(r.endpoint),
    esc(r.reference),
    verdictBadge(r),
    esc(r.statistic),
    num(formatNumber(r.value)),
    num(formatP(r.pValue, r.b).replace(/^p = /, '')),
    num(r.b),
    num(r.n1),
    num(r.n2),
    r.workflowUrl ? `<a href="${esc(r.workflowUrl)}">workflow</a>` : '',
  ]);
  return tableHtml(
    ['endpoint', 'reference', 'verdict', 'statistic', 'value', 'p-value', 'b', 'n1', 'n2', ''],
    rows,
    'verdict-table',
    `Decisions at α = ${alpha}.`,
  );
}

async function identifySectionHtml(s: IdentifySection, index: number, addFigure: AddFigure): Promise<string> {
  const kept = s.candidates.filter((c) => c.decision !== 'reject').sort((a, b) => b.adjusted - a.adjusted);
  const shown = (c: IdentifyCandidate) => `<strong>${esc(c.candidate)}</strong> ${esc(formatP(c.adjusted, c.b))}`;
  const summary = kept.length
    ? `Not rejected: ${kept.map(shown).join('; ')}.${kept.length > 1 ? ` These ${kept.length} candidates cannot be told apart from the endpoint with these samples.` : ''}`
    : 'Every candidate is rejected: the endpoint matches none of them.';
  const badge = (c: IdentifyCandidate) =>
    c.decision === 'reject' ? '<span class="badge differs">rejected</span>' : '<span class="badge consistent">not rejected</span>';
  const rows = s.candidates.map((c) => [
    esc(c.candidate),
    badge(c),
    esc(c.statistic),
    num(formatNumber(c.value)),
    num(formatP(c.pValue, c.b).replace(/^p = /, '')),
    num(formatP(c.adjusted, c.b).replace(/^p = /, '')),
    num(c.b),
    num(c.undefinedNulls),
  ]);
  const fig = await addFigure(
    index,
    'identify',
    'Holm-adjusted p-value per candidate',
    `The endpoint ${s.endpoint} tested against each candidate; the line is α = ${s.alpha}. A bar left of it rejects "the endpoint serves this candidate".`,
    pValueSpec(
      s.candidates.map((c) => ({ ...c, endpoint: s.endpoint, reference: c.candidate, pValue: c.adjusted, n1: c.n1 ?? 1, n2: c.n2 ?? 1 })),
      s.alpha,
      'Holm-adjusted p-value per candidate',
    ),
  );
  return [
    `<section id="section-${index + 1}">`,
    `<h2>${esc(s.title)}</h2>`,
    `<p>${esc(s.endpoint)} against ${s.candidates.length} candidates, Holm-corrected at α = ${s.alpha}. ${summary}</p>`,
    tableHtml(
      ['candidate', 'verdict', 'statistic', 'value', 'p-value', 'Holm-adjusted', 'b', 'undefined nulls'],
      rows,
      'verdict-table',
      `Decisions on the adjusted p-values at α = ${s.alpha}.`,
    ),
    figureHtml(fig),
    '</section>',
  ].join('\n');
}

function verdictBadge(r: Pick<TestResult, 'decision' | 'reference'>): string {
  return r.decision === 'reject' ? '<span class="badge differs">differs</span>' : '<span class="badge consistent">consistent</span>';
}

async function consistencySectionHtml(s: ConsistencySection, index: number, addFigure: AddFigure): Promise<string> {
  const meanSimilarity = s.summary.meanSimilarity ?? s.prompts.reduce((acc, p) => acc + p.similarity, 0) / s.prompts.length;
  const out: string[] = [`<section id="section-${index + 1}">`, `<h2>${esc(s.title)}: ${esc(s.a.label)} vs ${esc(s.b.label)}</h2>`];
  const kv: [string, string][] = [
    ['side A', `${esc(s.a.label)}${s.a.source ? ` <code>${esc(s.a.source)}</code>` : ''}`],
    ['side B', `${esc(s.b.label)}${s.b.source ? ` <code>${esc(s.b.source)}</code>` : ''}`],
    ['prompts', String(s.prompts.length)],
    ['embedding model', esc(s.embedModel)],
    ['mean cosine similarity', esc(meanSimilarity.toFixed(4))],
    ['perplexity scorer', `${esc(s.scorer)} <span class="note">(both sides scored over the same tokens)</span>`],
  ];
  if (s.summary.perplexityA !== undefined) kv.push([`perplexity of ${esc(s.a.label)}`, esc(formatNumber(s.summary.perplexityA))]);
  if (s.summary.perplexityB !== undefined) kv.push([`perplexity of ${esc(s.b.label)}`, esc(formatNumber(s.summary.perplexityB))]);
  if (s.mmd)
    kv.push([
      'MMD test',
      `${verdictBadge(s.mmd)} ${esc(s.mmd.statistic)} = ${esc(formatNumber(s.mmd.value))}, ${esc(formatP(s.mmd.pValue, s.mmd.b, { showB: true }))} (n1 = ${s.mmd.n1}, n2 = ${s.mmd.n2}, α = ${s.alpha})`,
    ]);
  out.push(kvTable(kv));
  out.push(
    figureHtml(
      await addFigure(
        index,
        'similarity',
        'Answer similarity per prompt',
        `Cosine similarity between the embeddings of the two sides' answers to each prompt (${esc(s.embedModel)}); dashed: mean.`,
        similaritySpec(s.prompts, { a: s.a.label, b: s.b.label, embedModel: s.embedModel, meanSimilarity }),
      ),
    ),
  );
  const ppl = perplexitySpec(s.prompts, { a: s.a.label, b: s.b.label, scorer: s.scorer });
  if (ppl)
    out.push(
      figureHtml(
        await addFigure(
          index,
          'perplexity',
          'Perplexity per prompt',
          `Each prompt's perplexity on both sides under ${esc(s.scorer)}; points on the dashed line are equal.`,
          ppl,
        ),
      ),
    );
  if (s.mmd?.nullStatistics?.length) {
    const m = s.mmd;
    out.push(
      figureHtml(
        await addFigure(
          index,
          'mmd-null',
          `Null distribution: ${s.a.label} vs ${s.b.label}`,
          `${m.nullStatistics!.length} ${m.statistic} statistics under the null and the observed value.`,
          nullHistogramSpec(m.nullStatistics!, {
            statistic: m.statistic,
            title: `MMD null distribution: ${s.a.label} vs ${s.b.label}`,
            observed: m.value,
            pValue: m.pValue,
            b: m.b,
            alpha: s.alpha,
          }),
        ),
      ),
    );
  }
  const rows = s.prompts.map((p) => [
    `<code>${esc(p.promptId)}</code>`,
    p.prompt === undefined ? '' : esc(truncate(p.prompt, 90)),
    num(p.similarity.toFixed(4)),
    p.perplexityA === undefined ? '' : num(formatNumber(p.perplexityA)),
    p.perplexityB === undefined ? '' : num(formatNumber(p.perplexityB)),
  ]);
  out.push(
    `<details${s.prompts.length <= 20 ? ' open' : ''}><summary>Per-prompt values (${s.prompts.length})</summary>`,
    tableHtml(['prompt id', 'prompt', 'similarity', `perplexity ${s.a.label}`, `perplexity ${s.b.label}`], rows, 'prompts'),
    '</details>',
    '</section>',
  );
  return out.join('\n');
}

// ---------------------------------------------------------------------------------------------
// Page

function page(report: Report, sections: string[], now: Date): string {
  const m = report.meta;
  const links = [m.temporalUiUrl ? `<a href="${esc(m.temporalUiUrl)}">Temporal UI</a>` : undefined, '<a href="report.json">data (JSON)</a>']
    .filter(Boolean)
    .join(' · ');
  const kv: [string, string][] = [
    ['run id', `<code>${esc(m.runId)}</code>`],
    ['created', esc(m.createdAt)],
    ['report written', esc(now.toISOString())],
  ];
  if (m.temporalUiUrl) kv.push(['Temporal UI', `<a href="${esc(m.temporalUiUrl)}">${esc(m.temporalUiUrl)}</a>`]);
  if (Object.keys(m.seeds).length)
    kv.push([
      'seeds',
      Object.entries(m.seeds)
        .map(([k, v]) => `${esc(k)} = <code>${esc(String(v))}</code>`)
        .join(', '),
    ]);
  if (Object.keys(m.versions).length)
    kv.push([
      'versions',
      Object.entries(m.versions)
        .map(([k, v]) => `${esc(k)} <code>${esc(v)}</code>`)
        .join(', '),
    ]);
  kv.push([
    'rendered with',
    `vega <code>${esc(VEGA_VERSION)}</code>, vega-lite <code>${esc(vegaLiteVersion)}</code>, resvg, node <code>${esc(process.version)}</code>`,
  ]);
  if (m.workflows.length)
    kv.push([
      'workflows',
      m.workflows.map((w) => (w.url ? `<a href="${esc(w.url)}">${esc(w.label ?? w.id)}</a>` : `<code>${esc(w.label ?? w.id)}</code>`)).join(', '),
    ]);
  const notes = m.notes.length ? `<ul class="notes">${m.notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ul>` : '';
  const spec = m.spec === undefined ? '' : `<details><summary>Run spec</summary><pre>${esc(JSON.stringify(m.spec, null, 2))}</pre></details>`;
  const toc = report.sections.map((s, i) => `<a href="#section-${i + 1}">${esc(sectionTitle(s))}</a>`).join(' · ');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="met">
<title>${esc(report.title)}</title>
<style>${CSS}</style>
</head>
<body>
<main>
<header>
<h1>${esc(report.title)}</h1>
<p class="sub">Run <code>${esc(m.runId)}</code> · ${esc(m.createdAt)} · ${links}</p>
<nav>${toc} · <a href="#run">run metadata</a></nav>
</header>
${notes}
${sections.join('\n')}
<section id="run">
<h2>Run metadata</h2>
${kvTable(kv)}
${spec}
</section>
<footer>Written by met. Figures are Vega-Lite specs rendered to SVG by Vega and to PNG by resvg; each figure links its files.</footer>
</main>
</body>
</html>
`;
}

function sectionTitle(s: Report['sections'][number]): string {
  return s.kind === 'consistency' ? `${s.title}: ${s.a.label} vs ${s.b.label}` : s.title;
}

function figureHtml(f: FigureOutput): string {
  const files = [
    `<a href="figures/${f.id}.svg">SVG</a>`,
    f.png ? `<a href="figures/${f.id}.png">PNG</a>` : undefined,
    `<a href="figures/${f.id}.vl.json">Vega-Lite spec</a>`,
  ]
    .filter(Boolean)
    .join(' · ');
  return `<figure id="fig-${f.id}" class="figure">
<div class="plot" role="img" aria-label="${esc(f.title)}">${namespaceSvgIds(f.svg, f.id)}</div>
<figcaption>${esc(f.caption)} <span class="files">${files}</span></figcaption>
</figure>`;
}

function tableHtml(headers: string[], rows: string[][], cls: string, caption?: string): string {
  const numeric = new Set(rows[0]?.flatMap((cell, i) => (cell.startsWith('<span class="n">') ? [i] : [])) ?? []);
  const head = headers.map((h, i) => `<th scope="col"${numeric.has(i) ? ' class="num"' : ''}>${esc(h)}</th>`).join('');
  const body = rows
    .map((r) => `<tr>${r.map((c) => (c.startsWith('<span class="n">') ? `<td class="num">${c}</td>` : `<td>${c}</td>`)).join('')}</tr>`)
    .join('\n');
  return `<table class="${cls}">${caption ? `<caption>${esc(caption)}</caption>` : ''}<thead><tr>${head}</tr></thead>
<tbody>
${body}
</tbody></table>`;
}

function kvTable(rows: [string, string][]): string {
  return `<table class="kv"><tbody>${rows.map(([k, v]) => `<tr><th scope="row">${k}</th><td>${v}</td></tr>`).join('\n')}</tbody></table>`;
}

function num(v: number | string): string {
  return `<span class="n">${esc(String(v))}</span>`;
}

export function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

function truncate(s: string, n: number): string {
  const chars = [...s.replace(/\s+/g, ' ')];
  return chars.length <= n ? chars.join('') : `${chars.slice(0, n - 1).join('')}…`;
}

function slug(s: string): string {
  return (
    s
      .toLowerCase()
      .replace(/[^a-z0-9_]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 60) || 'figure'
  );
}

function uniqueId(base: string, used: Set<string>): string {
  let id = base;
  for (let i = 2; used.has(id); i++) id = `${base}-${i}`;
  used.add(id);
  return id;
}

const CSS = `
:root { --fg: #1d2330; --muted: #5b6474; --line: #dfe3ea; --bg-alt: #f6f8fb; --accent: #2f5d8c; --bad: #b3261e; --bad-bg: #fdecea; --good: #1f5e9e; --good-bg: #e8f0fa; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--fg); background: #fff; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", Roboto, sans-serif; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 28px 48px; }
header { border-bottom: 1px solid var(--line); margin-bottom: 18px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 20px; margin: 34px 0 10px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
.sub, .params, nav, footer, .note, figcaption { color: var(--muted); }
nav { margin: 6px 0 12px; font-size: 14px; }
a { color: var(--accent); }
code { font: 13px/1.4 ui-monospace, "DejaVu Sans Mono", Menlo, monospace; background: var(--bg-alt); padding: 1px 4px; border-radius: 3px; }
pre { font: 12.5px/1.45 ui-monospace, "DejaVu Sans Mono", Menlo, monospace; background: var(--bg-alt); padding: 12px; overflow: auto; border-radius: 4px; border: 1px solid var(--line); }
table { border-collapse: collapse; margin: 10px 0 18px; font-size: 14px; }
caption { caption-side: top; text-align: left; color: var(--muted); padding-bottom: 6px; font-size: 13.5px; }
th, td { padding: 5px 10px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
thead th { border-bottom: 2px solid #b9c0cc; font-weight: 600; white-space: nowrap; }
tbody tr:nth-child(even) td { background-color: var(--bg-alt); }
.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.paper tbody th { font-weight: 600; white-space: nowrap; }
table.paper td.num { min-width: 10em; }
tr.null-row th, tr.null-row td { font-style: italic; }
table.kv th { color: var(--muted); font-weight: 500; white-space: nowrap; width: 1%; }
.warnings { color: var(--bad); background: var(--bad-bg); padding: 8px 8px 8px 28px; border-radius: 6px; }
.badge { display: inline-block; padding: 0 8px; border-radius: 10px; font-size: 12.5px; font-weight: 600; }
.badge.differs { color: var(--bad); background: var(--bad-bg); }
.badge.consistent { color: var(--good); background: var(--good-bg); }
ul.verdicts { list-style: none; padding: 0; font-size: 16px; }
ul.verdicts li { margin: 4px 0; }
figure { margin: 16px 0 26px; }
.plot { overflow-x: auto; }
.plot svg { max-width: 100%; height: auto; display: block; }
figcaption { font-size: 13.5px; margin-top: 6px; max-width: 80ch; }
.files { white-space: nowrap; margin-left: 6px; }
details { margin: 8px 0 16px; }
summary { cursor: pointer; color: var(--accent); }
footer { margin-top: 40px; font-size: 13px; border-top: 1px solid var(--line); padding-top: 10px; }
@media print { .files, nav, summary { display: none; } details { display: block; } }
`;
