// ESLint (flat config, typescript-eslint): the import boundaries of ARCHITECTURE.md and promises
// that are awaited or deliberately dropped. `npx eslint .`; part of `npm test` (scripts/run-tests.js).
import { builtinModules } from 'node:module';
import tseslint from 'typescript-eslint';

/** Top-level folders, by layer (ARCHITECTURE.md). */
const ENTRY = ['bin', 'cli', 'api', 'workers'];
const TOOLING = ['test', 'bench', 'scripts'];
const DOMAIN = ['collect', 'config', 'datasets', 'download', 'models', 'providers', 'report', 'serve', 'stats', 'temporal'];

/** A relative import that climbs into one of `folders` (`../cli/progress`, `../../workers`). */
const into = (folders) => `^(\\.\\./)+(${folders.join('|')})(/|$)`;

const restrict = (message, folders, extra = []) => ({
  'no-restricted-imports': ['error', { patterns: [{ regex: into(folders), message }, ...extra] }],
});

const NODE_BUILTINS = builtinModules.filter((m) => !m.startsWith('_')).map((m) => m.replace(/[/]/g, '\\/'));

export default tseslint.config(
  { ignores: ['node_modules/', '.tools/', '.met/', '.gl/', '.whl/', 'bench/out/', 'test/replay/.edited-*/'] },
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
      '@typescript-eslint/no-floating-promises': ['error', { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['test', 'describe', 'it', 'suite'] }] }],
    },
  },
  {
    files: ['**/*.js'],
    languageOptions: { parser: tseslint.parser, sourceType: 'module' },
  },

  // common/: imports no other project folder.
  {
    files: ['common/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [{ regex: '^\\.\\./', message: 'common/ is the bottom layer: it imports no other project folder.' }] }] },
  },
  // Domain libraries: nothing from the layers above them.
  {
    files: DOMAIN.map((d) => `${d}/**/*.ts`),
    rules: restrict('A domain library imports only other domain libraries and common/ (ARCHITECTURE.md).', ['workflows', 'activities', 'jobs', 'client', ...ENTRY, ...TOOLING]),
  },
  // Activities: domain libraries and common/, never workflows (pure helpers both use live in a domain module).
  {
    files: ['activities/**/*.ts'],
    rules: restrict('Activities import domain libraries and common/; shared pure helpers go down into a domain module, not up into workflows/.', ['workflows', 'jobs', 'client', ...ENTRY, ...TOOLING]),
  },
  // jobs/: what each kind of job is; above workflows and activities, which it names by type only.
  {
    files: ['jobs/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { regex: into(['workflows', 'activities']), allowTypeImports: true, message: 'jobs/ names workflows and activities by type only (`import type`): the client starts workflows by name.' },
            { regex: into(['client', ...ENTRY, ...TOOLING]), message: 'jobs/ is below client/: client/, cli/ and api/ ask it, not the other way round.' },
          ],
        },
      ],
    },
  },
  // Workflows: deterministic code in the sandbox bundle.
  {
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { regex: '^node:', message: 'No Node built-ins in workflows: files, network, clocks and randomness belong in activities.' },
            { regex: `^(${NODE_BUILTINS.join('|')})(/|$)`, message: 'No Node built-ins in workflows: files, network, clocks and randomness belong in activities.' },
            { regex: '^@temporalio/(activity|client|worker|testing)(/|$)', message: 'Workflows import @temporalio/workflow (and @temporalio/common) only.' },
            { regex: into(['activities']), allowTypeImports: true, message: 'Workflows import activities as types only (`import type`), through proxyActivities.' },
            {
              regex: into(['client', 'jobs', 'datasets', 'models', 'providers', 'serve', ...ENTRY, ...TOOLING]),
              message: 'Workflows import pure modules only (common/, config/, stats/, download/catalog, collect/plan, temporal/queues).',
            },
            { regex: '^(\\.\\./)+temporal/(?!queues$)', message: 'Of temporal/, workflows import queues only.' },
            { regex: '^(\\.\\./)+collect/(?!plan$|sampleGenerator$)', allowTypeImports: true, message: 'Of collect/, workflows import the pure plan only.' },
          ],
        },
      ],
    },
  },
  // client/: starts and queries workflows; no CLI, HTTP API or worker code.
  {
    files: ['client/**/*.ts'],
    rules: restrict('client/ is below the entry points: cli/, api/ and workers/ import it, not the other way round.', [...ENTRY, ...TOOLING]),
  },
  // Entry points: anything below them, never tooling.
  {
    files: ENTRY.map((d) => `${d}/**/*.ts`),
    rules: restrict('Product code does not import tests, benchmarks or scripts.', TOOLING),
  },
);
