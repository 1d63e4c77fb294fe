import type { DuckDBInstance } from '@duckdb/node-api';
import { kindDir, quotedString, withConnection, writeShard, type SampleRow } from '../../datasets';
import { TextGeneratorBackend } from '../../serve/textGenerator';

/**
 * A small corpus for power grids: sources of one toy model that differ by how much their word
 * distribution is sharpened (skew 0 is the reference; larger skews are easier to detect).
 */
export async function writePowerCorpus(
  duck: DuckDBInstance,
  dataDir: string,
  corpus: string,
  sources: readonly (readonly [source: string, skew: number])[],
  options: { prompts?: number; perPrompt?: number; maxTokens?: number } = {},
): Promise<void> {
  const prompts = options.prompts ?? 10;
  const perPrompt = options.perPrompt ?? 60;
  for (const [index, [source, skew]] of sources.entries()) {
    const backend = new TextGeneratorBackend('toy', 'fp32', skew);
    const rows: SampleRow[] = [];
    for (let p = 0; p < prompts; p++) {
      for (let s = 0; s < perPrompt; s++) {
        // Each source draws with its own seeds, so two sources of equal skew are independent samples.
        const g = await backend.generate({
          prompt: `prompt ${p}`,
          maxTokens: options.maxTokens ?? 12,
          temperature: 1,
          topP: 1,
          seed: 1000 * p + s + 7_000_000 * index,
        });
        rows.push({
          corpus,
          runId: 'fixture',
          unitId: 'u0',
          model: 'toy',
          source,
          promptSet: 'fixture',
          promptId: `p${p}`,
          sampleIndex: s,
          prompt: `prompt ${p}`,
          completion: g.text,
          tokenIds: g.tokenIds,
          tokenLogprobs: null,
          finishReason: g.finishReason,
          sampling: { temperature: 1, topP: 1, maxTokens: options.maxTokens ?? 12, stop: [], endpoint: 'completions' },
          seed: s,
          providerModel: null,
          requestId: null,
          latencyMs: null,
          createdAt: new Date(0),
        });
      }
    }
    await writeShard(duck, dataDir, { corpus, kind: 'samples', partition: { model: 'toy', source }, unitId: 'u0' }, rows);
  }
}

export interface StoredCell {
  cellId: string;
  reference: string;
  reference2: string | null;
  alternative: string;
  rejections: number;
  sims: number;
  seed: number;
  simSeeds: number[];
  simStatistics: number[];
  simPvalues: number[];
  simStatistics2: number[] | null;
  simPvalues2: number[] | null;
  warnings: string[];
}

/** Every stored cell row of a run, by cell id (duplicates, if any, all returned: callers check). */
export async function storedCells(duck: DuckDBInstance, dataDir: string, corpus: string, runId: string): Promise<StoredCell[]> {
  const glob = `${kindDir(dataDir, corpus, 'power')}/part-*.parquet`;
  const rows = await withConnection(duck, async (c) =>
    (
      await c.runAndReadAll(
        `SELECT cell_id, reference, reference2, alternative, rejections, sims, seed, sim_seeds, sim_statistics, sim_pvalues, sim_statistics2, sim_pvalues2, warnings
         FROM read_parquet(${quotedString(glob)}) WHERE run_id = $1 ORDER BY cell_id`,
        [runId],
      )
    ).getRowObjectsJS(),
  );
  const numbers = (v: unknown) => (v == null ? null : (v as unknown[]).map(Number));
  return rows.map((r) => ({
    cellId: String(r.cell_id),
    reference: String(r.reference),
    reference2: r.reference2 == null ? null : String(r.reference2),
    alternative: String(r.alternative),
    rejections: Number(r.rejections),
    sims: Number(r.sims),
    seed: Number(r.seed),
    simSeeds: numbers(r.sim_seeds)!,
    simStatistics: numbers(r.sim_statistics)!,
    simPvalues: numbers(r.sim_pvalues)!,
    simStatistics2: numbers(r.sim_statistics2),
    simPvalues2: numbers(r.sim_pvalues2),
    warnings: (r.warnings as unknown[]).map(String),
  }));
}
