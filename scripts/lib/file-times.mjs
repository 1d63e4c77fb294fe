// A node:test reporter that writes one line per test file: the sum of its top-level tests' durations, longest first. `npm test` sends it to a file and prints it after the summary,
// so that whoever trims the suite sees where its minutes go.
export default async function* fileTimes(source) {
  const files = new Map();
  for await (const event of source) {
    if ((event.type !== 'test:pass' && event.type !== 'test:fail') || event.data.nesting !== 0 || !event.data.file) continue;
    const span = files.get(event.data.file) ?? { ms: 0, tests: 0 };
    span.ms += event.data.details?.duration_ms ?? 0;
    span.tests += 1;
    files.set(event.data.file, span);
  }
  const root = `${process.cwd()}/`;
  const rows = [...files].sort((a, b) => b[1].ms - a[1].ms);
  const total = rows.reduce((s, [, f]) => s + f.ms, 0);
  yield `# test time by file (sum of its top-level tests; ${(total / 1000).toFixed(0)} s in all)\n`;
  for (const [file, f] of rows) yield `${(f.ms / 1000).toFixed(1).padStart(7)} s  ${String(f.tests).padStart(3)} tests  ${file.replace(root, '')}\n`;
}
