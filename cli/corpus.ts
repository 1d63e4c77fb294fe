import { join, resolve } from 'node:path';
import { escapeControls } from '../common/text';
import type { Command } from 'commander';
import { ErrorTypes, MetError } from '../common/errors';
import { printJson } from './output';

/**
 * `met corpus ls|stats|query|compact|export|verify|push|pull`: the Parquet corpora under
 * <data>/corpus/. `--data` is a folder (default ./.met, or MET_DATA) or s3://bucket/prefix, which
 * read-only commands sync into the local cache first (MET_CACHE, default $MET_SCRATCH/cache; see
 * datasets/corpora.ts). S3 settings come from the AWS SDK's environment (AWS_ENDPOINT_URL,
 * AWS_REGION, AWS_ACCESS_KEY_ID, ...; MET_S3_ENDPOINT is still read as the endpoint).
 */
interface DataOpts {
  data?: string;
  json?: boolean;
}

/** `met corpus export`'s format: --format, else what --out ends in (.jsonl, .parquet), else parquet; a contradiction is an error. */
export function exportFormat(format: string | undefined, out: string | undefined): 'parquet' | 'jsonl' {
  const fromOut = out?.toLowerCase().endsWith('.jsonl') ? 'jsonl' : out?.toLowerCase().endsWith('.parquet') ? 'parquet' : undefined;
  if (format !== undefined && format !== 'parquet' && format !== 'jsonl')
    throw new MetError(ErrorTypes.BadInput, `--format must be parquet or jsonl, got '${format}'`);
  if (format && fromOut && format !== fromOut)
    throw new MetError(ErrorTypes.BadInput, `--format ${format} but --out ends in .${fromOut}: give one or make them agree`);
  return format ?? fromOut ?? 'parquet';
}

const DATA_HELP = 'data folder or s3://bucket/prefix (default ./.met, or MET_DATA)';

/** Runs fn with a DuckDB instance of its own, closed afterwards whatever happens. */
async function withDuck<T>(fn: (duck: import('../datasets/duck').DuckDBInstance) => Promise<T>): Promise<T> {
  const { createDuckDB } = await import('../datasets/duck');
  const duck = await createDuckDB();
  try {
    return await fn(duck);
  } finally {
    duck.closeSync();
  }
}

/** --data's value and location (config/schema.ts's rule: the flag, else MET_DATA, else ./.met). */
async function dataOf(opts: DataOpts) {
  const { dataLocation } = await import('../config/schema');
  return dataLocation(opts);
}

async function s3Client() {
  const { s3ClientFromEnv } = await import('../datasets/corpora');
  return s3ClientFromEnv();
}

/** The bucket corpora of an s3:// --data value: local scratch and cache from MET_SCRATCH / MET_CACHE. */
async function bucketCorpora(value: string, duck: import('../datasets/duck').DuckDBInstance) {
  const { loadConfig } = await import('../config/schema');
  const { BucketCorpora, openCorpora } = await import('../datasets/corpora');
  const corpora = openCorpora(duck, loadConfig({ data: value }), await s3Client());
  if (!(corpora instanceof BucketCorpora)) throw new Error(`${value} is not a bucket`);
  return corpora;
}

/** A local root for a --data value; an s3:// location is synced into the local cache (by checksum) for `corpus`. */
async function localRoot(opts: DataOpts, corpus: string): Promise<string> {
  const { value, location } = await dataOf(opts);
  if (location.kind === 'local') return resolve(location.root);
  return withDuck(async (duck) => {
    const corpora = await bucketCorpora(value, duck);
    const root = await corpora.readRoot(corpus);
    const r = corpora.lastSync;
    process.stderr.write(`pulled ${location.url} corpus ${corpus}: ${r.downloaded} downloaded, ${r.cached} cached, ${r.removed} removed\n`);
    return root;
  });
}

async function localOnly(opts: DataOpts, message: string): Promise<string> {
  const { location } = await dataOf(opts);
  if (location.kind === 's3') throw new MetError(ErrorTypes.BadInput, message);
  return resolve(location.root);
}

/** A DuckDB scalar (string, number, bigint, boolean) as text. */
const scalarText = (v: unknown): string =>
  typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean' ? v.toString() : JSON.stringify(v);

/** `met corpus query|ls|stats` rows: completions and ids escaped for the terminal (common/text.ts), one line per row. */
export function formatQueryTable(columns: string[], rows: unknown[][]): string {
  const cell = (v: unknown) => escapeControls(v === null || v === undefined ? 'NULL' : typeof v === 'object' ? JSON.stringify(v) : scalarText(v), true);
  const text = rows.map((r) =>
    r.map((v) => {
      const s = cell(v);
      return s.length > 60 ? `${s.slice(0, 57)}...` : s;
    }),
  );
  const widths = columns.map((c, i) => Math.max(c.length, ...text.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]))
      .join('  ')
      .trimEnd();
  return [line(columns), line(widths.map((w) => '-'.repeat(w))), ...text.map(line)].join('\n');
}

const fmtBytes = (n: number) => (n >= 1e9 ? `${(n / 1e9).toFixed(2)} GB` : n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : `${(n / 1e3).toFixed(1)} kB`);

export function register(program: Command): void {
  const corpus = program.command('corpus').description('inspect, query, verify, compact and export Parquet corpora');

  corpus
    .command('ls')
    .description('list corpora with shards, rows and bytes per kind')
    .option('--data <dir>', DATA_HELP)
    .option('--json', 'print JSON')
    .action(async (opts: DataOpts) => {
      const { value, location } = await dataOf(opts);
      const { listCorpusSummaries } = await import('../datasets/corpus');
      await withDuck(async (duck) => {
        let root = location.kind === 'local' ? resolve(location.root) : '';
        if (location.kind === 's3') {
          // Every corpus in the bucket, synced into the cache: the same table as for a folder.
          const corpora = await bucketCorpora(value, duck);
          for (const name of await corpora.listCorpora()) root = await corpora.readRoot(name);
          if (!root) return opts.json ? printJson([]) : console.log(`no corpora at ${location.url}`);
        }
        const list = await listCorpusSummaries(duck, root);
        if (opts.json) return printJson(list);
        if (list.length === 0) return console.log(`no corpora under ${join(root, 'corpus')}`);
        const rows = list.flatMap((c) => Object.entries(c.kinds).map(([kind, k]) => [c.name, kind, k.shards, k.rows, fmtBytes(k.bytes)]));
        console.log(formatQueryTable(['corpus', 'kind', 'shards', 'rows', 'size'], rows));
      });
    });

  corpus
    .command('stats')
    .argument('<name>', 'corpus name')
    .description('rows per model/source/prompt, incomplete prompts, null completions, duplicate keys, logprob coverage')
    .option('--data <dir>', DATA_HELP)
    .option('--json', 'print JSON')
    .action(async (name: string, opts: DataOpts) => {
      const root = await localRoot(opts, name);
      const { corpusStats } = await import('../datasets/corpus');
      await withDuck(async (duck) => {
        const s = await corpusStats(duck, root, name);
        if (opts.json) return printJson(s);
        console.log(
          `corpus ${s.corpus}: ${
            Object.entries(s.rows)
              .map(([k, n]) => `${n} ${k} rows in ${s.shards[k as keyof typeof s.shards]} shards`)
              .join(', ') || 'empty'
          }; ${s.units} sample units`,
        );
        if (s.samples.length) {
          console.log(
            formatQueryTable(
              ['model', 'source', 'rows', 'prompts', 'per prompt', 'incomplete prompts', 'null completions', 'finish reasons'],
              s.samples.map((p) => [
                p.model,
                p.source,
                p.rows,
                p.prompts,
                p.minPerPrompt === p.maxPerPrompt ? p.minPerPrompt : `${p.minPerPrompt}-${p.maxPerPrompt}`,
                p.incompletePrompts,
                p.nullCompletions,
                Object.entries(p.finishReasons)
                  .map(([r, n]) => `${r}:${n}`)
                  .join(' '),
              ]),
            ),
          );
        }
        if (s.logprobs.length)
          console.log(
            formatQueryTable(
              ['scorer', 'precision', 'logprob rows', 'samples covered'],
              s.logprobs.map((l) => [l.scorerModel, l.scorerPrecision, l.rows, l.samplesCovered]),
            ),
          );
        console.log(s.duplicateKeys === 0 ? 'duplicate sample keys: none' : `duplicate sample keys: ${s.duplicateKeys}\n  ${s.duplicateExamples.join('\n  ')}`);
      });
    });

  corpus
    .command('query')
    .argument('<name>', 'corpus name')
    .argument('<sql>', 'DuckDB SQL over the views samples, logprobs, prompts, tests, power')
    .description('run SQL against a corpus, e.g. "SELECT model, source, count(*) FROM samples GROUP BY ALL"')
    .option('--data <dir>', DATA_HELP)
    .option('--json', 'print JSON rows')
    .option('--limit <n>', 'rows to print in the table (default 100)', '100')
    .action(async (name: string, sql: string, opts: DataOpts & { limit: string }) => {
      const root = await localRoot(opts, name);
      const { queryCorpus } = await import('../datasets/corpus');
      await withDuck(async (duck) => {
        const r = await queryCorpus(duck, root, name, sql);
        if (opts.json) return printJson(r.rows.map((row) => Object.fromEntries(r.columns.map((c, i) => [c, row[i]]))));
        const limit = Number(opts.limit);
        console.log(formatQueryTable(r.columns, r.rows.slice(0, limit)));
        console.log(`(${r.rows.length} row${r.rows.length === 1 ? '' : 's'}${r.rows.length > limit ? `, first ${limit} shown` : ''})`);
      });
    });

  corpus
    .command('verify')
    .argument('<name>', 'corpus name')
    .description(
      'check every shard (readable, row count and checksum match its footer, right folder), no unit twice, no duplicate keys; corrupt shards are quarantined so resume redoes them (in a folder). Exits 1 on any problem',
    )
    .option('--data <dir>', DATA_HELP)
    .option('--no-quarantine', 'only report corrupt shards, leave them in place')
    .option('--json', 'print JSON')
    .action(async (name: string, opts: DataOpts & { quarantine: boolean }) => {
      const { value, location } = await dataOf(opts);
      const { verifyCorpus } = await import('../datasets/corpus');
      await withDuck(async (duck) => {
        let root = location.kind === 'local' ? resolve(location.root) : '';
        let uncounted: string[] = [];
        if (location.kind === 's3') {
          // A bucket: every object is checked against its metadata as it enters the cache (a mismatch
          // stops the sync and names the object), then the cached tree is verified as a folder;
          // objects without met metadata are reported (readers never count them). Nothing is moved.
          const corpora = await bucketCorpora(value, duck);
          root = await corpora.readRoot(name);
          uncounted = [...corpora.uncounted].sort();
        }
        const r = await verifyCorpus(duck, root, name, { quarantine: location.kind === 'local' && opts.quarantine });
        const { SHARD_KINDS } = await import('../datasets/tables');
        const kindOf = (url: string) =>
          (url.split('/').find((p) => (SHARD_KINDS as readonly string[]).includes(p)) ?? 'samples') as (typeof SHARD_KINDS)[number];
        for (const url of uncounted)
          r.problems.push({
            kind: kindOf(url),
            problem: 'corrupt',
            path: url,
            message: 'no met-rows/met-checksum metadata: not a shard met committed, never counted (delete it)',
          });
        r.ok = r.problems.length === 0;
        if (opts.json) printJson(r);
        else {
          console.log(`corpus ${name}: ${r.shards} shards, ${r.rows} rows checked`);
          for (const p of r.problems)
            console.log(
              `  ${p.problem.toUpperCase()} ${p.kind}${p.path ? ` ${p.path}` : ''}: ${p.message}${p.quarantinedTo ? `\n    moved to ${p.quarantinedTo} (run met resume to redo its unit)` : ''}`,
            );
          if (r.tempFiles.length) console.log(`  note: ${r.tempFiles.length} temporary file(s) from writers in progress or crashes (never read as data)`);
          console.log(r.ok ? 'OK' : `FAILED: ${r.problems.length} problem(s)`);
        }
        if (!r.ok) process.exitCode = 1;
      });
    });

  corpus
    .command('compact')
    .argument('<name>', 'corpus name')
    .description("merge each partition folder's shards into one (atomic; rows, units and checksums preserved)")
    .option('--data <dir>', 'data folder (default ./.met, or MET_DATA)')
    .option('--kind <kind>', 'only this kind (samples, logprobs, prompts, tests, power)')
    .option('--json', 'print JSON')
    .action(async (name: string, opts: DataOpts & { kind?: string }) => {
      const root = await localOnly(opts, 'compact works on a local corpus: pull it, compact it, then push it');
      const { compactCorpus } = await import('../datasets/corpus');
      const { SHARD_KINDS } = await import('../datasets/tables');
      if (opts.kind && !(SHARD_KINDS as readonly string[]).includes(opts.kind))
        throw new MetError(ErrorTypes.BadInput, `--kind must be one of ${SHARD_KINDS.join(', ')}`);
      await withDuck(async (duck) => {
        const r = await compactCorpus(duck, root, name, { kinds: opts.kind ? [opts.kind as (typeof SHARD_KINDS)[number]] : undefined });
        if (opts.json) return printJson(r);
        for (const m of r.merged)
          console.log(`merged ${m.inputs} ${m.kind} shards (${Object.values(m.partition).join(' / ') || 'all'}) into ${m.path}: ${m.rows} rows`);
        for (const s of r.skipped) console.log(`skipped ${s.kind} ${Object.values(s.partition).join(' / ')}: ${s.reason}`);
        for (const q of r.quarantined) console.log(`quarantined a corrupt shard: ${q}`);
        if (r.merged.length === 0 && r.skipped.length === 0) console.log('nothing to compact');
        if (r.skipped.length) process.exitCode = 1;
      });
    });

  corpus
    .command('export')
    .argument('<name>', 'corpus name')
    .description('write one kind of a corpus (partition columns included) to one Parquet or JSONL file')
    .option('--format <format>', "parquet or jsonl (default: from --out's extension, else parquet)")
    .option('--kind <kind>', 'samples (default), logprobs, prompts, tests or power', 'samples')
    .option('--out <path>', 'output file (default ./<name>-<kind>.<format>)')
    .option('--data <dir>', DATA_HELP)
    .action(async (name: string, opts: DataOpts & { format?: string; kind: string; out?: string }) => {
      const format = exportFormat(opts.format, opts.out);
      const { SHARD_KINDS } = await import('../datasets/tables');
      if (!(SHARD_KINDS as readonly string[]).includes(opts.kind)) throw new MetError(ErrorTypes.BadInput, `--kind must be one of ${SHARD_KINDS.join(', ')}`);
      const root = await localRoot(opts, name);
      const { exportCorpus } = await import('../datasets/corpus');
      await withDuck(async (duck) => {
        const out = resolve(opts.out ?? `${name}-${opts.kind}.${format}`);
        const r = await exportCorpus(duck, root, name, { kind: opts.kind as (typeof SHARD_KINDS)[number], format, out });
        console.log(`wrote ${r.rows} ${opts.kind} rows to ${r.path}`);
      });
    });

  corpus
    .command('push')
    .argument('<name>', 'corpus name')
    .requiredOption('--to <s3>', 's3://bucket/prefix')
    .option('--data <dir>', 'local data folder (default ./.met, or MET_DATA)')
    .description('upload the valid shards a remote corpus lacks (verified first; unchanged ones are skipped)')
    .action(async (name: string, opts: DataOpts & { to: string }) => {
      const { parseLocation, S3CorpusStore } = await import('../datasets/s3');
      const root = await localOnly(opts, '--data must be a local folder; the remote is --to');
      await withDuck(async (duck) => {
        const r = await S3CorpusStore.at(await s3Client(), parseLocation(opts.to, '--to')).push(duck, root, name);
        console.log(`pushed corpus ${name} to ${opts.to}: ${r.uploaded} uploaded, ${r.unchanged} already there`);
      });
    });

  corpus
    .command('pull')
    .argument('<name>', 'corpus name')
    .requiredOption('--from <s3>', 's3://bucket/prefix')
    .option('--data <dir>', 'local data folder (default ./.met, or MET_DATA)')
    .description("download a remote corpus's shards that are missing locally")
    .action(async (name: string, opts: DataOpts & { from: string }) => {
      const { parseLocation, S3CorpusStore } = await import('../datasets/s3');
      const root = await localOnly(opts, '--data must be a local folder; the remote is --from');
      await withDuck(async (duck) => {
        const r = await S3CorpusStore.at(await s3Client(), parseLocation(opts.from, '--from')).pull(duck, root, name);
        console.log(`pulled corpus ${name} from ${opts.from}: ${r.downloaded} downloaded, ${r.unchanged} already here`);
      });
    });
}
