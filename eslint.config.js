// ESLint (flat config, typescript-eslint): the import boundaries of ARCHITECTURE.md and promises
// that are awaited or deliberately dropped. `npx eslint .`; part of `npm test` (scripts/run-tests.js).
import { builtinModules } from 'node:module';
import tseslint from 'typescript-eslint';

/** Top-level folders, by layer (ARCHITECTURE.md). Entry points and domain libraries bottom to top: each imports only those before it. */
const ENTRY = ['workers', 'api', 'cli', 'bin'];
const TOOLING = ['test', 'bench', 'scripts'];
const DOMAIN = ['stats', 'config', 'temporal', 'datasets', 'report', 'download', 'collect', 'providers', 'models', 'serve'];
/** Every rule below covers scripts in JavaScript too (bin/met.js, stats/workerBoot.mjs). */
const SOURCES = '**/*.{ts,js,mjs}';
const under = (folder) => `${folder}/${SOURCES}`;

/** A relative import that climbs into one of `folders` (`../cli/progress`, `../../workers`). */
const into = (folders) => `^(\\.\\./)+(${folders.join('|')})(/|$)`;

const restrict = (message, folders, extra = []) => ({
  'no-restricted-imports': ['error', { patterns: [{ regex: into(folders), message }, ...extra] }],
});

const NODE_BUILTINS = builtinModules.filter((m) => !m.startsWith('_')).map((m) => m.replace(/[/]/g, '\\/'));

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', '.tools/', '.met/', '.gl/', '.whl/', 'bench/out/', 'test/replay/.edited-*/'] },
  {
    files: ['**/*.ts'],
    languageOptions: {
      parser: tseslint.parser,
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { '@typescript-eslint': tseslint.plugin },
    rules: {
      // A promise nobody awaits loses its errors: await it, or mark it `void` with a reason nearby.
      // node:test's test() and describe() return promises the runner itself awaits.
      '@typescript-eslint/no-floating-promises': [
        'error',
        { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['test', 'describe', 'it', 'suite'] }] },
      ],
    },
  },
  // typescript-eslint's recommended type-checked rules on every TypeScript file. Two adjustments:
  // names that start with _ are deliberately unused (a destructured field dropped from a row, a type
  // parameter kept for inference), and tests and benches may read JSON bodies as `any`: the
  // assertion that follows each read is the check, so the no-unsafe-* rules would only ask for casts.
  ...tseslint.configs.recommendedTypeChecked.map((c) => ({ ...c, files: ['**/*.ts'] })),
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' },
      ],
      // Passing on what was caught, or an AbortSignal's reason, is how met rethrows: its type is unknown (or lib.dom's any).
      '@typescript-eslint/only-throw-error': ['error', { allowThrowingUnknown: true, allowThrowingAny: true }],
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingUnknown: true, allowThrowingAny: true }],
      // Activities and the implementations of async interfaces are async by contract (a throw becomes a
      // rejected promise, which Temporal and the callers rely on), whether or not their body awaits.
      '@typescript-eslint/require-await': 'off',
      // Node's typings declare module functions as methods (path.join, fs.existsSync), so destructuring
      // a dynamic import trips this rule; met's classes never hand out unbound methods that use this.
      '@typescript-eslint/unbound-method': 'off',
    },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      // Assertion messages print DuckDB values and parsed JSON as they come; the assertion is the check.
      '@typescript-eslint/restrict-template-expressions': 'off',
      '@typescript-eslint/no-base-to-string': 'off',
      '@typescript-eslint/no-explicit-any': 'off',
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: { parser: tseslint.parser, sourceType: 'module' },
  },

  // common/: imports no other project folder.
  {
    files: [under('common')],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ regex: '^\\.\\./', message: 'common/ is the bottom layer: it imports no other project folder.' }] }],
    },
  },
  // Domain libraries: nothing from the layers above them, nor from a library listed after them in DOMAIN.
  ...DOMAIN.map((d, i) => ({
    files: [under(d)],
    rules: restrict(`A domain library imports only common/ and the libraries below it (${DOMAIN.slice(0, i).join(', ') || 'none'}; ARCHITECTURE.md).`, [
      ...DOMAIN.slice(i + 1),
      'workflows',
      'activities',
      'jobs',
      'client',
      ...ENTRY,
      ...TOOLING,
    ]),
  })),
  // Activities: domain libraries and common/, never workflows (pure helpers both use live in a domain module).
  {
    files: [under('activities')],
    rules: restrict('Activities import domain libraries and common/; shared pure helpers go down into a domain module, not up into workflows/.', [
      'workflows',
      'jobs',
      'client',
      ...ENTRY,
      ...TOOLING,
    ]),
  },
  // jobs/: what each kind of job is; above workflows and activities, which it names by type only.
  {
    files: [under('jobs')],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: into(['workflows', 'activities']),
              allowTypeImports: true,
              message: 'jobs/ names workflows and activities by type only (`import type`): the client starts workflows by name.',
            },
            { regex: into(['client', ...ENTRY, ...TOOLING]), message: 'jobs/ is below client/: client/, cli/ and api/ ask it, not the other way round.' },
          ],
        },
      ],
    },
  },
  // Workflows: deterministic code in the sandbox bundle.
  {
    files: [under('workflows')],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { regex: '^node:', message: 'No Node built-ins in workflows: files, network, clocks and randomness belong in activities.' },
            {
              regex: `^(${NODE_BUILTINS.join('|')})(/|$)`,
              message: 'No Node built-ins in workflows: files, network, clocks and randomness belong in activities.',
            },
            { regex: '^@temporalio/(activity|client|worker|testing)(/|$)', message: 'Workflows import @temporalio/workflow (and @temporalio/common) only.' },
            {
              regex: into(['activities']),
              allowTypeImports: true,
              message: 'Workflows import activities as types only (`import type`), through proxyActivities.',
            },
            {
              regex: into(['client', 'jobs', 'datasets', 'models', 'providers', 'report', 'serve', ...ENTRY, ...TOOLING]),
              message: 'Workflows import pure modules only (common/, config/, stats/, download/catalog, collect/plan, temporal/queues).',
            },
            { regex: '^(\\.\\./)+download/(?!catalog$)', message: 'Of download/, workflows import the catalog only.' },
            { regex: '^(\\.\\./)+temporal/(?!queues$)', message: 'Of temporal/, workflows import queues only.' },
            { regex: '^(\\.\\./)+collect/(?!plan$|sampleGenerator$)', allowTypeImports: true, message: 'Of collect/, workflows import the pure plan only.' },
          ],
        },
      ],
    },
  },
  // client/: starts and queries workflows; no CLI, HTTP API or worker code.
  {
    files: [under('client')],
    rules: restrict('client/ is below the entry points: cli/, api/ and workers/ import it, not the other way round.', [...ENTRY, ...TOOLING]),
  },
  // Entry points: anything below them and the entry points listed before them (cli/ starts api/ and workers/), never tooling.
  ...ENTRY.map((d, i) => ({
    files: [under(d)],
    rules: restrict(
      `An entry point imports the layers below it and ${ENTRY.slice(0, i).join(', ') || 'no other entry point'}; never tests, benchmarks or scripts.`,
      [...ENTRY.slice(i + 1), ...TOOLING],
    ),
  })),
);
