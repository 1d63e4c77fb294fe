/**
 * bench/corpus: met's shard writer, slice reader and corpus stats at scale, against a plain DuckDB
 * COPY of the same rows measured in the same run (the floor).
 *
 *   node --import tsx bench/corpus/corpus.ts                 # 100,000 rows (quick)
 *   node --import tsx bench/corpus/corpus.ts --rows 1000000  # the full run
 *
 * Rows are sampler-shaped (about 200-character completions, 50-token lists with logprobs) and
 * written as 100 shards over 4 models x 5 sources. Row generation is not timed. The floor runs in a
 * child process (so its memory does not count against met's peak RSS): the same rows are appended
 * into one DuckDB table, then `COPY ... (FORMAT parquet, COMPRESSION zstd)` writes them: once to
 * a single file (DuckDB's default settings: the baseline), once with met's own Parquet settings and
 * once with PARTITION_BY (model, source). Targets (issue 3): write within 1.5x of
 * the plain COPY, slice read under 3 s, peak RSS under 1.5 GB. Writes JSON to bench/out/corpus.json.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { corpusStats, verifyCorpus } from '../../datasets/corpus';
import { createDuckDB, withConnection } from '../../datasets/duck';
import { appendRows } from '../../datasets/chunks';
import { readSlice } from '../../datasets/reader';
import { PARQUET_WRITE_OPTIONS, writeShard } from '../../datasets/shards';
import { syntheticSamples } from '../../datasets/synthetic';
import { FILE_COLUMNS, tableDdl } from '../../datasets/tables';

const PROJECT = resolve(import.meta.dirname, '../..');
const MODELS = ['llama-3-8b', 'mistral-7b', 'qwen-2-7b', 'gemma-2-9b'];
const SOURCES = ['fp32', 'fp16', 'int8', 'nf4', 'api-together'];
const SHARDS = 100;
const SAMPLES_PER_PROMPT = 50;

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : (process.env[`MET_BENCH_${name.toUpperCase()}`] ?? fallback);
}

interface ShardPlan {
  unitId: string;
  model: string;
  source: string;
  firstPrompt: number;
  prompts: number;
  seed: number;
}

function plan(rows: number): ShardPlan[] {
  const perShard = Math.floor(rows / SHARDS);
  if (perShard % SAMPLES_PER_PROMPT !== 0) throw new Error(`--rows must be a multiple of ${SHARDS * SAMPLES_PER_PROMPT}`);
  const prompts = perShard / SAMPLES_PER_PROMPT;
  const out: ShardPlan[] = [];
  for (let i = 0; i < SHARDS; i++) {
    const partition = i % (MODELS.length * SOURCES.length);
    const round = Math.floor(i / (MODELS.length * SOURCES.length));
    out.push({ unitId: `unit-${String(i).padStart(3, '0')}`, model: MODELS[partition % MODELS.length], source: SOURCES[Math.floor(partition / MODELS.length)], firstPrompt: round * prompts, prompts, seed: i + 1 });
  }
  return out;
}

const rowsOf = (p: ShardPlan) => syntheticSamples({ corpus: 'bench', unitId: p.unitId, model: p.model, source: p.source, firstPrompt: p.firstPrompt, prompts: p.prompts, samplesPerPrompt: SAMPLES_PER_PROMPT, seed: p.seed });
const rssMb = () => Math.round(process.resourceUsage().maxRSS / 1024);
const now = () => performance.now() / 1000;
/** CPU seconds of this process (JS and DuckDB's threads): steadier than wall time on a shared machine. */
const cpuSeconds = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1e6;

/** Child process: the floor. Same rows into one table, then plain COPYs. Prints JSON. */
async function floor(rows: number, dir: string): Promise<void> {
  const duck = await createDuckDB();
  const result = await withConnection(duck, async (c) => {
    await c.run(`CREATE TABLE t (${tableDdl('samples')}, model VARCHAR, source VARCHAR)`);
    let ingest = 0;
    const columns = [...FILE_COLUMNS.samples, { name: 'model', field: 'model', type: 'varchar' as const, nullable: false }, { name: 'source', field: 'source', type: 'varchar' as const, nullable: false }];
    for (const p of plan(rows)) {
      const shardRows = rowsOf(p);
      const t0 = now();
      const appender = await c.createAppender('t');
      appendRows(appender, columns, shardRows);
      appender.closeSync();
      ingest += now() - t0;
    }
    let t0 = now();
    const cpu0 = process.cpuUsage();
    await c.run(`COPY t TO '${join(dir, 'floor.parquet')}' (FORMAT parquet, COMPRESSION zstd)`);
    const copySingle = now() - t0;
    const copyCpu = cpuSeconds(process.cpuUsage(cpu0));
    // The same COPY with the Parquet settings met's shards use (ZSTD level 1), for a like-for-like floor.
    t0 = now();
    const cpu1 = process.cpuUsage();
    await c.run(`COPY t TO '${join(dir, 'floor-met-options.parquet')}' (FORMAT parquet, ${PARQUET_WRITE_OPTIONS})`);
    const copyMetOptions = now() - t0;
    const copyMetOptionsCpu = cpuSeconds(process.cpuUsage(cpu1));
    const bytes = { default: statSync(join(dir, 'floor.parquet')).size, metOptions: statSync(join(dir, 'floor-met-options.parquet')).size };
    t0 = now();
    await c.run(`COPY t TO '${join(dir, 'floor-hive')}' (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (model, source))`);
    const copyPartitioned = now() - t0;
    return { ingest, copySingle, copyPartitioned, copyCpu, copyMetOptions, copyMetOptionsCpu, bytes };
  });
  duck.closeSync();
  process.stdout.write(JSON.stringify({ ...result, peakRssMb: rssMb() }));
}

async function main(): Promise<void> {
  const rows = Number(arg('rows', '100000'));
  if (process.argv[2] === '--floor') return floor(Number(process.argv[3]), process.argv[4]);
  const work = mkdtempSync(join(tmpdir(), 'met-bench-corpus-'));
  const root = join(work, 'data');
  const results: Record<string, number | string> = { rows, shards: SHARDS, partitions: MODELS.length * SOURCES.length };
  try {
    console.log(`bench/corpus: ${rows.toLocaleString()} rows as ${SHARDS} shards (${MODELS.length} models x ${SOURCES.length} sources), work dir ${work}`);

    // Floor first, in a child process.
    const child = spawnSync(process.execPath, ['--import', 'tsx', join(PROJECT, 'bench', 'corpus', 'corpus.ts'), '--floor', String(rows), work], { cwd: PROJECT, encoding: 'utf8', maxBuffer: 1 << 20 });
    if (child.status !== 0) throw new Error(`floor child failed: ${child.stderr}`);
    const fl = JSON.parse(child.stdout) as {
      ingest: number;
      copySingle: number;
      copyPartitioned: number;
      copyCpu: number;
      copyMetOptions: number;
      copyMetOptionsCpu: number;
      bytes: { default: number; metOptions: number };
      peakRssMb: number;
    };
    rmSync(join(work, 'floor.parquet'), { force: true });
    rmSync(join(work, 'floor-met-options.parquet'), { force: true });
    rmSync(join(work, 'floor-hive'), { recursive: true, force: true });

    const duck = await createDuckDB();
    // Rows for `concurrency` shards are generated (untimed), then written at once (timed): one
    // writer is one activity; a worker runs a few at once, DuckDB and JS overlapping on 2 cores.
    const writeAll = async (corpus: string, concurrency: number) => {
      let seconds = 0;
      let bytes = 0;
      let cpu = 0;
      const shards = plan(rows);
      for (let i = 0; i < shards.length; i += concurrency) {
        const batch = shards.slice(i, i + concurrency).map((p) => ({ p, rows: rowsOf(p).map((r) => ({ ...r, corpus })) }));
        const t0 = now();
        const cpu0 = process.cpuUsage();
        const written = await Promise.all(batch.map(({ p, rows: shardRows }) => writeShard(duck, root, { corpus, kind: 'samples', unitId: p.unitId }, shardRows)));
        seconds += now() - t0;
        cpu += cpuSeconds(process.cpuUsage(cpu0));
        bytes += written.reduce((a, w) => a + w.bytes, 0);
      }
      return { seconds, bytes, cpu };
    };
    const sequential = await writeAll('bench-seq', 1);
    rmSync(join(root, 'corpus', 'bench-seq'), { recursive: true, force: true });
    const { seconds: write, bytes: writeBytes, cpu: writeCpu } = await writeAll('bench', 2);
    const writeSequential = sequential.seconds;

    let t0 = now();
    const slice = await readSlice(duck, root, { corpus: 'bench', models: [MODELS[0]], sources: [SOURCES[0]], unit: 'char', L: 1000 });
    const sliceChar = now() - t0;
    t0 = now();
    const sliceTok = await readSlice(duck, root, { corpus: 'bench', models: [MODELS[0]], sources: [SOURCES[0]], unit: 'token', L: 50 });
    const sliceToken = now() - t0;
    t0 = now();
    const sub = await readSlice(duck, root, { corpus: 'bench', models: [MODELS[0]], sources: [SOURCES[0]], samplesPerPrompt: 10, seed: 1, L: 1000 });
    const sliceSub = now() - t0;
    t0 = now();
    const stats = await corpusStats(duck, root, 'bench');
    const statsLib = now() - t0;
    t0 = now();
    const cli = spawnSync(process.execPath, [join(PROJECT, 'bin', 'met.js'), 'corpus', 'stats', 'bench', '--data', root], { cwd: PROJECT, encoding: 'utf8' });
    const statsCli = now() - t0;
    if (cli.status !== 0) throw new Error(`met corpus stats failed: ${cli.stderr}`);
    t0 = now();
    const verify = await verifyCorpus(duck, root, 'bench');
    const verifySec = now() - t0;
    if (!verify.ok || verify.rows !== rows || stats.rows.samples !== rows) throw new Error(`corpus check failed: ${JSON.stringify(verify.problems)}`);
    duck.closeSync();

    Object.assign(results, {
      floorIngestSec: fl.ingest,
      floorCopySec: fl.copySingle,
      floorCopyPartitionedSec: fl.copyPartitioned,
      floorPeakRssMb: fl.peakRssMb,
      floorCopyCpuSec: fl.copyCpu,
      floorCopyMetOptionsSec: fl.copyMetOptions,
      floorCopyMetOptionsCpuSec: fl.copyMetOptionsCpu,
      floorBytes: fl.bytes.default,
      floorMetOptionsBytes: fl.bytes.metOptions,
      writeRatioVsCopyMetOptions: write / fl.copyMetOptions,
      writeCpuSec: writeCpu,
      writeSequentialCpuSec: sequential.cpu,
      writeCpuRatioVsCopy: writeCpu / fl.copyCpu,
      writeSec: write,
      writeSequentialSec: writeSequential,
      writeRatioVsCopy: write / fl.copySingle,
      writeRatioVsIngestPlusCopy: write / (fl.ingest + fl.copySingle),
      writeSequentialRatioVsCopy: writeSequential / fl.copySingle,
      shardBytes: writeBytes,
      sliceRows: slice.sample.prompts.length,
      sliceCharL1000Sec: sliceChar,
      sliceTokenL50Sec: sliceToken,
      sliceSubsample10PerPromptSec: sliceSub,
      subsampleRows: sub.sample.prompts.length,
      tokenSliceRows: sliceTok.sample.prompts.length,
      statsSec: statsLib,
      statsCliSec: statsCli,
      verifySec,
      peakRssMb: rssMb(),
    });
    const f = (x: number) => x.toFixed(2);
    const table: [string, string, string][] = [
      ['floor: append rows into one DuckDB table', `${f(fl.ingest)} s`, ''],
      ['floor: plain COPY to one ZSTD Parquet file', `${f(fl.copySingle)} s`, `1.00x (baseline); ${f(fl.copyCpu)} CPU-s`],
      [`floor: the same COPY with met's settings (${PARQUET_WRITE_OPTIONS})`, `${f(fl.copyMetOptions)} s`, `${f(fl.copyMetOptions / fl.copySingle)}x; ${f(fl.copyMetOptionsCpu)} CPU-s; ${(fl.bytes.metOptions / 1e6).toFixed(1)} MB vs ${(fl.bytes.default / 1e6).toFixed(1)} MB`],
      ['floor: COPY ... PARTITION_BY (model, source)', `${f(fl.copyPartitioned)} s`, `${f(fl.copyPartitioned / fl.copySingle)}x`],
      ['met writeShard x100, one at a time (validated, checksum, fsync, rename)', `${f(writeSequential)} s`, `${f(writeSequential / fl.copySingle)}x copy, ${f(writeSequential / (fl.ingest + fl.copySingle))}x ingest+copy; ${f(sequential.cpu)} CPU-s`],
      ['met writeShard x100, two at a time', `${f(write)} s`, `${f(write / fl.copySingle)}x copy (target <= 1.5x), ${f(write / fl.copyMetOptions)}x same-settings copy, ${f(write / (fl.ingest + fl.copySingle))}x ingest+copy; ${f(writeCpu)} CPU-s = ${f(writeCpu / fl.copyCpu)}x`],
      [`slice (1 model, 1 source: ${slice.sample.prompts.length} rows) -> EncodedSample char L=1000`, `${f(sliceChar)} s`, 'target < 3 s'],
      ['same slice, token ids L=50', `${f(sliceToken)} s`, ''],
      [`same slice, 10 samples per prompt (seeded): ${sub.sample.prompts.length} rows`, `${f(sliceSub)} s`, ''],
      ['corpus stats (library)', `${f(statsLib)} s`, ''],
      ['met corpus stats (CLI process)', `${f(statsCli)} s`, ''],
      ['verify (every row re-read, checksummed)', `${f(verifySec)} s`, ''],
      ['peak RSS, met process', `${rssMb()} MB`, 'target < 1536 MB'],
      ['peak RSS, floor process', `${fl.peakRssMb} MB`, ''],
    ];
    const w0 = Math.max(...table.map((r) => r[0].length));
    const w1 = Math.max(...table.map((r) => r[1].length));
    for (const [a, b, c] of table) console.log(`${a.padEnd(w0)}  ${b.padStart(w1)}  ${c}`);
    console.log(`shards on disk: ${(writeBytes / 1e6).toFixed(1)} MB`);
    mkdirSync(join(PROJECT, 'bench', 'out'), { recursive: true });
    writeFileSync(join(PROJECT, 'bench', 'out', 'corpus.json'), `${JSON.stringify(results, null, 2)}\n`);
    console.log('wrote bench/out/corpus.json');
  } finally {
    if (!process.argv.includes('--keep')) rmSync(work, { recursive: true, force: true });
  }
}

await main();
