import type { Command } from 'commander';
import { commandConfig, dataOption } from './config';

/** `met models make-tiny`: the small GGUF models tests and the demo use, made by met itself. */
export function register(program: Command): void {
  const models = program.command('models').description('local models');
  dataOption(models.command('make-tiny'))
    .description("write met's tiny llama-architecture model as tiny-F32/F16/Q8_0/Q4_0.gguf (deterministic, seconds)")
    .option('--out <dir>', 'output folder (default <data>/models)')
    .option('--seed <n>', 'weight seed', (v) => parseInt(v, 10), 42)
    .action(async (opts: { out?: string; data?: string; seed: number }) => {
      const { join } = await import('node:path');
      const { writeTinyModels } = await import('../models/tiny');
      const dir = opts.out ?? join((await commandConfig({ data: opts.data })).dataDir, 'models');
      const paths = writeTinyModels(dir, { seed: opts.seed });
      for (const [precision, path] of Object.entries(paths)) console.log(`${precision.padEnd(5)} ${path}`);
    });
  dataOption(models.command('ls'))
    .description('the GGUF files in the models folder: size, exact GGUF type, met precision class')
    .option('--dir <dir>', 'folder to list (default <data>/models)')
    .option('--json', 'print JSON')
    .action(async (opts: { dir?: string; data?: string; json?: boolean }) => {
      const { existsSync, readdirSync, statSync } = await import('node:fs');
      const { join } = await import('node:path');
      const { readGgufFileInfo } = await import('node-llama-cpp');
      const { fileTypeOf, precisionOf } = await import('../models/ggufType');
      const dir = opts.dir ?? join((await commandConfig({ data: opts.data })).dataDir, 'models');
      if (!existsSync(dir)) throw new Error(`no models folder at ${dir} (met models make-tiny writes one; --dir names another)`);
      const { checkGgufHeader } = await import('../models/ggufHeader');
      const rows = [];
      let bad = 0;
      for (const name of readdirSync(dir)
        .filter((n) => n.endsWith('.gguf'))
        .sort()) {
        const path = join(dir, name);
        try {
          // Counts and lengths checked against the file first (a malformed header must not hang the reader); the header only is read.
          checkGgufHeader(path);
          const info = await readGgufFileInfo(path, { readTensorInfo: true });
          const type = fileTypeOf(info);
          rows.push({
            file: name,
            mb: Math.round(statSync(path).size / 1e6),
            type,
            precision: precisionOf(type) ?? 'none (convert with met models quantize)',
            architecture: String(info.metadata.general?.architecture ?? '?'),
          });
        } catch (err) {
          // One bad file is reported, and the others are still listed.
          bad += 1;
          const { escapeControls } = await import('../common/text');
          console.error(`met: skipped ${escapeControls(name)}: ${escapeControls(err instanceof Error ? err.message : String(err))}`);
          rows.push({ file: name, mb: Math.round(statSync(path).size / 1e6), type: 'unreadable', precision: 'none', architecture: '?' });
        }
      }
      if (bad > 0) process.exitCode = 1;
      if (opts.json) return console.log(JSON.stringify(rows, null, 2));
      if (!rows.length) return console.log(`no .gguf files in ${dir}`);
      const { formatTable } = await import('./table');
      console.log(
        formatTable(
          ['file', 'MB', 'GGUF type', 'precision', 'architecture'],
          rows.map((r) => [r.file, String(r.mb), r.type, r.precision, r.architecture]),
        ),
      );
    });
  models
    .command('quantize <in.gguf>')
    .description(
      "write a GGUF file's weights at F32, F16, Q8_0 or Q4_0 (from F32/F16/BF16, Q4_0/Q4_1/Q5_0/Q5_1/Q8_0 or the K-quants Q4_K/Q5_K/Q6_K), for the precision experiment on a model you hold one file of",
    )
    .requiredOption('--to <type>', 'F32 | F16 | Q8_0 | Q4_0')
    .requiredOption('--out <file.gguf>', 'output file (written atomically)')
    .action(async (input: string, opts: { to: string; out: string }) => {
      const { z } = await import('zod');
      const to = z.enum(['F32', 'F16', 'Q8_0', 'Q4_0']).safeParse(opts.to);
      if (!to.success) throw new Error(`--to must be F32, F16, Q8_0 or Q4_0, not '${opts.to}'`);
      const { quantizeGguf } = await import('../models/ggufFile');
      const started = performance.now();
      const r = quantizeGguf(input, to.data, opts.out, (line) => console.error(line));
      console.log(`${opts.out}: ${r.converted} of ${r.tensors} tensors at ${to.data}, the rest F32 (${((performance.now() - started) / 1000).toFixed(1)} s)`);
    });
}
