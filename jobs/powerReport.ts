import { join } from 'node:path';
import type { DuckDBInstance } from '@duckdb/node-api';
import { gridReferences, isMix, label, mixComponents, type PowerSpec } from '../config/powerSpec';
import { kindDir, quotedString, withConnection } from '../datasets';
import { writeReport } from '../report/html';
import type { PowerSectionInput } from '../report/schemas';
import type { PowerInput } from '../workflows/powerSimulation';

/** The power section of a run's report, from its cell shards. */
export async function powerSection(duck: DuckDBInstance, dataDir: string, input: PowerInput): Promise<PowerSectionInput> {
  const glob = join(kindDir(dataDir, input.spec.corpus, 'power'), 'part-*.parquet');
  const rows = await withConnection(duck, async (c) =>
    (
      await c.runAndReadAll(
        // union_by_name: shards written before composite nulls and warnings lack those columns.
        `SELECT reference, reference2, alternative, statistic, n_per_prompt, m, sims, rejections, subset_draw, is_null, warnings
         FROM read_parquet(${quotedString(glob)}, union_by_name = true) WHERE run_id = $1 ORDER BY cell_id`,
        [input.runId],
      )
    ).getRowObjects(),
  );
  const name = sliceNames(input.spec);
  return {
    kind: 'power',
    alpha: input.spec.alpha,
    unit: input.spec.unit,
    L: input.spec.L,
    b: input.spec.b,
    warnings: [...new Set(rows.flatMap((r) => listOf(r.warnings)))],
    mixtureShares: mixtureShares(input.spec).map((m) => ({ ...m, alternative: name(m.alternative), substitute: name(m.substitute) })),
    cells: rows.map((r) => ({
      reference: r.reference2 == null ? name(String(r.reference)) : compositeLabel(name(String(r.reference)), name(String(r.reference2))),
      alternative: name(String(r.alternative)),
      statistic: String(r.statistic),
      nPerPrompt: Number(r.n_per_prompt),
      m: Number(r.m),
      sims: Number(r.sims),
      rejections: Number(r.rejections),
      subsetDraw: Number(r.subset_draw),
      isNull: Boolean(r.is_null),
    })),
  };
}

/**
 * The grid's mixtures of the (first) reference with one substitute, as shares of that substitute:
 * each such mixture, the substitute alone (share 1) and the reference (share 0). Empty without mixtures.
 */
export function mixtureShares(spec: PowerSpec): { alternative: string; substitute: string; share: number }[] {
  const reference = gridReferences(spec)[0];
  const out: { alternative: string; substitute: string; share: number }[] = [];
  const substitutes = new Set<string>();
  for (const alt of spec.alternatives) {
    if (!isMix(alt)) continue;
    const all = mixComponents(alt, reference.model);
    const others = all.filter((c) => label(c.source) !== label(reference));
    if (others.length !== 1) continue; // a share needs exactly one substitute besides the reference
    const substitute = label(others[0].source);
    substitutes.add(substitute);
    out.push({ alternative: label(alt), substitute, share: others[0].weight });
  }
  for (const substitute of substitutes) {
    out.push({ alternative: label(reference), substitute, share: 0 });
    if (spec.alternatives.some((a) => !isMix(a) && label(a) === substitute)) out.push({ alternative: substitute, substitute, share: 1 });
  }
  return out;
}

/**
 * Tables and plots name a source `model/source`, as every other command does; the stored cells keep
 * their `model.source` ids (cell ids, shards). Mixtures keep their label.
 */
export function sliceNames(spec: PowerSpec): (stored: string) => string {
  const model = gridReferences(spec)[0]?.model ?? '';
  const sources = [...gridReferences(spec), ...(spec.nulls ?? []), ...spec.alternatives.flatMap((a) => mixComponents(a, model).map((c) => c.source))];
  const names = new Map(sources.map((s) => [label(s), `${s.model}/${s.source}`]));
  return (stored) => names.get(stored) ?? stored;
}

/** How tables and plots name a composite null: the cell rejects only if it rejects against both. */
export function compositeLabel(reference: string, reference2: string): string {
  return `composite {${reference}, ${reference2}}`;
}

function listOf(value: unknown): string[] {
  if (value == null) return [];
  const items = (value as { items?: unknown[] }).items ?? (value as unknown[]);
  return Array.from(items, String);
}

/** The report under <dataDir>/reports; cells read from `readRoot` (a bucket corpus's cache tree), by default the data folder. */
export async function writePowerReport(duck: DuckDBInstance, dataDir: string, run: { runId: string; input: PowerInput }, readRoot = dataDir) {
  const { input } = run;
  const section = await powerSection(duck, readRoot, input);
  const report = await writeReport(join(dataDir, 'reports', run.runId), {
    title: `Power simulation ${run.runId}`,
    meta: { runId: run.runId, createdAt: new Date().toISOString(), seeds: { grid: input.spec.seed }, spec: input.spec },
    sections: [section],
  });
  return { report, section };
}
