// A node:test reporter for `npm test`'s closing lines: the run's counts as the runner reports them
// (`# pass N`, `# fail N`, ... from its closing diagnostics) and one line per test file, the sum of
// its top-level tests' durations, longest first, so that whoever trims the suite sees where its
// minutes go. (It replaces a TAP file: a third reporter makes Node 20 warn about listeners.)
export default async function* closingLines(source) {
  const files = new Map();
  const counts = [];
  for await (const event of source) {
    if (event.type === 'test:diagnostic' && event.data.nesting === 0 && /^(tests|pass|fail|cancelled|skipped|todo) \d+$/.test(event.data.message)) {
      counts.push(`# ${event.data.message}\n`);
    }
    if ((event.type !== 'test:pass' && event.type !== 'test:fail') || event.data.nesting !== 0 || !event.data.file) continue;
    const span = files.get(event.data.file) ?? { ms: 0, tests: 0 };
    span.ms += event.data.details?.duration_ms ?? 0;
    span.tests += 1;
    files.set(event.data.file, span);
  }
  yield* counts;
  const root = `${process.cwd()}/`;
  const rows = [...files].sort((a, b) => b[1].ms - a[1].ms);
  const total = rows.reduce((s, [, f]) => s + f.ms, 0);
  yield `# test time by file (sum of its top-level tests; ${(total / 1000).toFixed(0)} s in all)\n`;
  for (const [file, f] of rows) yield `${(f.ms / 1000).toFixed(1).padStart(7)} s  ${String(f.tests).padStart(3)} tests  ${file.replace(root, '')}\n`;
}
