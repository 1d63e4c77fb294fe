import type { Command } from 'commander';

/**
 * `met --help` opens with the commands a newcomer needs; every command's --help ends with one or two
 * examples (test/cli/help.test.ts checks that each has some and that each names its own command).
 */
export const START_HERE = `Start here (docs/quickstart.md audits an endpoint in five minutes):
  met demo                                   the whole job on stand-in endpoints, about 25 s
  met up --config workers.yaml               the embedded Temporal server and your workers, until Ctrl-C
  met collect spec.yaml --wait               sample the sources of a run spec into a corpus
  met test --x C:MODEL/SRC --y C:MODEL/SRC   are two slices from the same model? consistent / differs
  met status RUN                             what a run is doing, why it waits or failed (met runs: all)
`;

export const EXAMPLES: Record<string, string[]> = {
  api: [
    'met api --port 0                                # the HTTP API on a free loopback port; docs at /docs',
    'met up --config workers.yaml --api               # workers and the API in one process',
  ],
  audit: ['met audit create audit.yaml', 'met audit show my-audit --html'],
  'audit create': ['met audit create audit.yaml                     # a Temporal Schedule that tests each endpoint'],
  'audit ls': ['met audit ls'],
  'audit show': ['met audit show my-audit', 'met audit show my-audit --html                  # a history page with the p-values over time'],
  'audit pause': ['met audit pause my-audit'],
  'audit resume': ['met audit resume my-audit'],
  'audit trigger': ['met audit trigger my-audit                       # one firing now'],
  'audit delete': ['met audit delete my-audit'],
  collect: ['met collect examples/quickstart/collect.yaml --wait', 'met collect spec.yaml --dry-run --config workers.yaml   # requests and cost, nothing sent'],
  consistency: ['met consistency --a local:tiny/fp32 --b endpoint:tiny@http://127.0.0.1:8765/v1 --prompts demo --limit 8 --samples 10'],
  corpus: ['met corpus ls', 'met corpus stats quick'],
  'corpus ls': ['met corpus ls'],
  'corpus stats': ['met corpus stats quick'],
  'corpus query': ['met corpus query quick "SELECT source, count(*) FROM samples GROUP BY source"'],
  'corpus verify': ['met corpus verify quick'],
  'corpus compact': ['met corpus compact quick'],
  'corpus export': ['met corpus export quick --out quick.parquet'],
  'corpus push': ['met corpus push quick --to s3://bucket/met'],
  'corpus pull': ['met corpus pull quick --from s3://bucket/met'],
  datasets: ['met datasets list'],
  demo: ['met demo', 'met demo --port 17233 --headless                # another Temporal port, no web UI'],
  doctor: [
    'met doctor                                      # Temporal answers and a CPU worker runs a workflow',
    'met doctor --model model.gguf --flash-attention on   # the batch-invariance check of a decode configuration',
  ],
  identify: ['met identify --y quick:tiny/mine --candidates tiny/fp32,tiny/int8,tiny/nf4   # which candidate is it serving?'],
  download: ['met download met-release'],
  fleet: ['met fleet', 'met fleet --queue met-provider-mine'],
  models: ['met models make-tiny', 'met models ls'],
  'models make-tiny': ['met models make-tiny                            # tiny-F32/F16/Q8_0/Q4_0.gguf in .met/models'],
  'models ls': ['met models ls'],
  'models quantize': ['met models quantize model-F16.gguf --to Q4_0 --out model-Q4_0.gguf'],
  power: ['met power examples/power/grid.yaml --wait'],
  prompts: ['met prompts ls'],
  'prompts ls': ['met prompts ls'],
  'prompts build': ['met prompts build --input data.jsonl --set mine --out .met/prompts/mine.parquet --count 200'],
  report: [
    'met report power-quick-98b27cc115            # a power grid: the power table and figures',
    'met report test-4b22bff3e8f3                 # a test run: the verdict and its null distribution',
    'met report consistency-3f2a9c               # a consistency run: its report again, on this host',
  ],
  status: ['met status quick-0f1a28c822', 'met status quick-0f1a28c822 --watch             # progress until it ends; Ctrl-C stops watching'],
  resume: ['met resume quick-0f1a28c822 --wait', 'met resume quick-0f1a28c822 --budget-usd 20      # continue a run that reached its budget'],
  cancel: ['met cancel quick-0f1a28c822'],
  runs: ['met runs', 'met runs --json'],
  score: ['met score quick --scorer tiny/fp32 --wait'],
  serve: [
    'met serve --port 0                               # the stand-in text generator on a free port',
    'met serve --model .met/models/tiny-Q4_0.gguf --precision nf4 --claim-model tiny-F32   # a dishonest endpoint',
  ],
  server: ['met server start --port 17233', 'met server status'],
  'server start': ['met server start', 'met server start --port 17233 --headless         # later commands in this data folder find it'],
  'server stop': ['met server stop'],
  'server status': ['met server status'],
  stat: ['met stat --input examples/stat/input.json'],
  test: [
    'met test --x quick:tiny/fp32 --y quick:tiny/mine                  # exits 0 consistent, 3 differs',
    'met test --x quick:tiny/fp32 --y quick:tiny/mine --stat rut --scorer tiny/fp32',
    'met test --x quick:tiny/fp32 --y quick:tiny/mine --stat g2 --scorer tiny/fp32   # MET one-sample test',
  ],
  up: [
    'met up --config examples/quickstart/workers.yaml',
    'met up --port 17233 --headless                   # another port, no web UI; later commands find it',
  ],
  worker: ['met worker --queue met-cpu', 'met worker --config workers.yaml --data /srv/met'],
};

/** Adds the examples to every command that has some (by its path, `server start`). */
export function addExamples(program: Command): void {
  program.addHelpText('before', START_HERE);
  const walk = (command: Command, path: string) => {
    for (const sub of command.commands) {
      const name = path ? `${path} ${sub.name()}` : sub.name();
      const lines = EXAMPLES[name];
      if (lines) sub.addHelpText('after', `\nExamples:\n${lines.map((l) => `  $ ${l}`).join('\n')}`);
      walk(sub, name);
    }
  };
  walk(program, '');
}
