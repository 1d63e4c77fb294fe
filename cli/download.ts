import { existsSync } from 'node:fs';
import type { downloadDataset } from '../workflows/downloadDataset';
import { join } from 'node:path';
import type { Command } from 'commander';
import { commandConfig, commonOptions, dataOption } from './config';

/** `met download NAME|URL`, `met datasets list`, `met prompts build`. */
export function register(program: Command): void {
  commonOptions(program.command('download'))
    .argument('<name-or-url>', 'a catalog entry (met datasets list) or an http(s) URL')
    .description('download (resumable, verified), unpack and convert a dataset as a workflow, with a byte progress bar')
    .option('--out <dir>', 'folder for downloads (default <data>/downloads)')
    .option('--sha256 <hex>', 'expected sha256 of a URL download')
    .action(async (nameOrUrl: string, opts: { out?: string; sha256?: string; data?: string; address?: string }) => {
      const { catalogEntry, CatalogEntry } = await import('../download/catalog');
      const { connectClient } = await import('../temporal/connect');
      const { newRunRecord, saveRunRecord, startOrAttach } = await import('../client/runs');
      const { followProgress } = await import('./progress');
      const { defaultPayloadConverter } = await import('@temporalio/common');
      const config = await commandConfig(opts);
      let entry = catalogEntry(nameOrUrl);
      if (opts.sha256) entry = CatalogEntry.parse({ ...entry, files: entry.files.map((f) => ({ ...f, sha256: opts.sha256 })) });
      const dir = opts.out ?? join(config.dataDir, 'downloads');
      const client = await connectClient(config);
      try {
        const record = newRunRecord({ job: 'downloadDataset', input: { entry, dir } }, `download-${entry.name}`);
        await saveRunRecord(config, record);
        const { attached } = await startOrAttach(client, record);
        console.error((await import('./output')).launchLine(attached, record.runId, 'download', `into ${dir}/${entry.name}`));
        const handle = client.workflow.getHandle<typeof downloadDataset>(record.workflowId);
        const done = handle.result();
        done.catch(() => {});
        // Bytes come from the download activity's heartbeat (durable offset and total).
        await followProgress({
          poll: async () => {
            const d = await handle.describe();
            const p = d.raw.pendingActivities?.find((a) => a.activityType?.name === 'downloadFile')?.heartbeatDetails?.payloads?.[0];
            const beat = p ? defaultPayloadConverter.fromPayload<{ offset: number; total?: number }>(p) : undefined;
            const total = entry.files.reduce((n, f) => n + (f.size ?? 0), 0) || beat?.total || 0;
            return { stages: beat ? [{ name: entry.name, done: beat.offset, total: total || beat.offset, unit: 'bytes' }] : [] };
          },
          until: done,
        });
        const out = await done;
        for (const f of out.files) console.log(`${f.path}  ${f.bytes} bytes  sha256 ${f.sha256}`);
        if (out.extractedTo) console.log(`extracted into ${out.extractedTo}`);
        if (out.converted) console.log(`corpus ${out.converted.corpus}: ${out.converted.samples} samples, ${out.converted.logprobs} logprob rows`);
      } finally {
        await client.connection.close();
      }
    });

  dataOption(program.command('datasets'))
    .argument('[action]', 'list', 'list')
    .description('the download catalog and what is already local')
    .option('--out <dir>', 'folder of downloads (default <data>/downloads)')
    .option('--json', 'print JSON')
    .action(async (_action: string, opts: { out?: string; data?: string; json?: boolean }) => {
      const { CATALOG, fileNameOf } = await import('../download/catalog');
      const dir = opts.out ?? join((await commandConfig(opts)).dataDir, 'downloads');
      const rows = CATALOG.map((e) => {
        const local = e.files.every((f) => existsSync(join(dir, e.name, fileNameOf(f))));
        const partial = !local && e.files.some((f) => existsSync(join(dir, e.name, `${fileNameOf(f)}.part`)));
        return { name: e.name, state: local ? 'local' : partial ? 'partial' : 'remote', description: e.description };
      });
      if (opts.json) {
        const { printJson } = await import('./output');
        printJson(rows);
        return;
      }
      const { formatTable, useColor } = await import('./table');
      console.log(
        formatTable(
          ['name', 'state', 'description'],
          rows.map((r) => [r.name, r.state, r.description]),
          { color: useColor() },
        ),
      );
    });

  const prompts = program.command('prompts').description('prompt sets');
  dataOption(prompts.command('ls'))
    .description("prompt sets a run spec can name with prompts: {set: NAME}: met's shipped sets and the files in <data>/prompts/")
    .option('--json', 'print JSON')
    .action(async (opts: { data?: string; json?: boolean }) => {
      const { existsSync, readdirSync, readFileSync, statSync } = await import('node:fs');
      const { join } = await import('node:path');
      const { shippedPromptSets, shippedPromptSetPath } = await import('../datasets/prompts');
      const lines = (path: string) =>
        readFileSync(path, 'utf8')
          .split('\n')
          .filter((l) => l.trim()).length;
      const rows: { set: string; where: string; prompts: number | null }[] = shippedPromptSets().map((set) => ({
        set,
        where: 'shipped with met',
        prompts: lines(shippedPromptSetPath(set)!),
      }));
      const dir = join((await commandConfig({ data: opts.data })).dataDir, 'prompts');
      if (existsSync(dir)) {
        for (const name of readdirSync(dir).sort()) {
          const m = /^(.+)\.(jsonl|parquet)$/.exec(name);
          if (!m || !statSync(join(dir, name)).isFile()) continue;
          rows.push({ set: m[1], where: `prompts/${name}`, prompts: m[2] === 'jsonl' ? lines(join(dir, name)) : null });
        }
      }
      if (opts.json) return console.log(JSON.stringify(rows, null, 2));
      const { formatTable, useColor } = await import('./table');
      console.log(
        formatTable(
          ['set', 'where', 'prompts'],
          rows.map((r) => [r.set, r.where, r.prompts === null ? '(parquet)' : String(r.prompts)]),
          { color: useColor() },
        ),
      );
    });
  prompts
    .command('build')
    .description('build a prompt-set Parquet file from downloaded sources (filters by words, language; seeded sample)')
    .requiredOption('--input <files...>', '.parquet, .jsonl or .jsonl.gz files')
    .requiredOption('--set <name>', 'name of the prompt set')
    .requiredOption('--out <file.parquet>', 'output file')
    .option('--text-column <name>', 'column holding the prompt text (nested fields with dots: prompt.text)', 'text')
    .option('--id-column <name>', 'column holding a stable id (default: row number)')
    .option('--source-dataset <name>', 'recorded source dataset (default: the set name)')
    .option('--language <code>', 'language recorded for the prompts (and kept, with --lang-column)')
    .option('--lang-column <name>', 'column to filter on --language')
    .option('--messages-column <name>', 'column holding a list of {role, content} (default: one user turn of the text)')
    .option('--min-words <n>', 'keep texts with at least N words', (v) => parseInt(v, 10))
    .option('--max-words <n>', 'keep texts with at most N words', (v) => parseInt(v, 10))
    .option('--count <n>', 'a seeded sample of N prompts', (v) => parseInt(v, 10))
    .option('--seed <n>', 'seed of the sample', (v) => parseInt(v, 10), 0)
    .action(async (opts: Record<string, unknown>) => {
      const { PromptBuildSpec, buildPromptSet } = await import('../download/prompts');
      const { createDuckDB } = await import('../datasets/duck');
      const spec = PromptBuildSpec.parse({
        inputs: opts.input,
        set: opts.set,
        out: opts.out,
        textColumn: opts.textColumn,
        idColumn: opts.idColumn,
        sourceDataset: opts.sourceDataset,
        language: opts.language,
        langColumn: opts.langColumn,
        messagesColumn: opts.messagesColumn,
        minWords: opts.minWords,
        maxWords: opts.maxWords,
        count: opts.count,
        seed: opts.seed,
      });
      const duck = await createDuckDB();
      try {
        const r = await buildPromptSet(duck, spec);
        console.log(`${spec.out}: ${r.rows} prompts (of ${r.considered} rows)`);
      } finally {
        duck.closeSync();
      }
    });
}
