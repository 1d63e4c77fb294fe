import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Connection } from '@temporalio/client';
import { ErrorTypes, MetError } from '../common/errors';
import { writeFileAtomic } from '../common/files';
import { resolveTemporalBinary } from './binary';
import { type DevServerState, isAlive, readServerState, serverDir, serverStateFile as stateFile } from '../config/serverState';
import { SEARCH_ATTRIBUTES } from './queues';

/**
 * The embedded Temporal: the real `temporal server start-dev` on a SQLite file under the data
 * folder (WAL mode), detached, with its pid and log beside the database. Start is idempotent.
 */
export interface DevServerOptions {
  dataDir: string;
  port: number;
  /** Web UI port; default port + 1000. */
  uiPort?: number;
  headless?: boolean;
  namespace?: string;
  /** Bind address (loopback by default; the dev server has no auth). */
  ip?: string;
  log?: (line: string) => void;
  env?: NodeJS.ProcessEnv;
}

export type { DevServerState } from '../config/serverState';
export { isAlive, readServerState, serverDir } from '../config/serverState';

/** gRPC health check of the frontend. */
export async function checkHealth(address: string, timeoutMs = 2000): Promise<boolean> {
  let connection: Connection | undefined;
  try {
    connection = await Connection.connect({ address, connectTimeout: timeoutMs });
    const response = await connection.healthService.check({});
    return Number(response.status) === 1; // SERVING
  } catch {
    return false;
  } finally {
    await connection?.close().catch(() => {});
  }
}

async function portIsFree(port: number, ip: string): Promise<boolean> {
  return new Promise((resolvePort) => {
    const server = createServer();
    server.once('error', () => resolvePort(false));
    server.listen({ port, host: ip, exclusive: true }, () => server.close(() => resolvePort(true)));
  });
}

export { freePort } from '../common/net';

function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

export type StartResult = { state: DevServerState; alreadyRunning: boolean };

export async function startDevServer(options: DevServerOptions): Promise<StartResult> {
  try {
    return await startOnce(options);
  } catch (err) {
    // A start-up exit is retried once: a port taken between our check and the server's bind
    // (its HTTP and metrics ports are random) is the usual cause, and it rarely repeats.
    if (!(err instanceof MetError) || !err.message.includes('exited during start-up')) throw err;
    options.log?.(`the Temporal dev server exited during start-up; retrying once`);
    await sleep(500);
    return startOnce(options);
  }
}

async function startOnce(options: DevServerOptions): Promise<StartResult> {
  const ip = options.ip ?? '127.0.0.1';
  const namespace = options.namespace ?? 'met';
  const log = options.log ?? (() => {});
  const dir = serverDir(options.dataDir);
  mkdirSync(dir, { recursive: true });

  const existing = readServerState(options.dataDir);
  if (existing && isAlive(existing.pid)) {
    if (await checkHealth(`${existing.ip}:${existing.port}`)) return { state: existing, alreadyRunning: true };
    throw new MetError(
      ErrorTypes.TemporalUnavailable,
      `a Temporal server (pid ${existing.pid}) from ${options.dataDir} is running but not healthy on port ${existing.port}; ` +
        `see its log ${existing.logFile}, or stop it with 'met server stop' and start again.`,
    );
  }

  const uiPort = options.headless ? null : (options.uiPort ?? options.port + 1000);
  for (const [what, port] of [
    ['gRPC', options.port],
    ['web UI', uiPort],
  ] as const) {
    if (port !== null && !(await portIsFree(port, ip))) {
      throw new MetError(
        ErrorTypes.TemporalUnavailable,
        `port ${port} (${what}) on ${ip} is already in use by another program, so the embedded Temporal server cannot start. ` +
          `Stop that program, or choose other ports with 'met server start --port N' (UI on N+1000, or --headless), ` +
          `or point met at a running Temporal with TEMPORAL_ADDRESS=host:port.`,
      );
    }
  }

  const binary = resolveTemporalBinary({ log, env: options.env });
  const dbFile = join(dir, 'temporal.sqlite');
  const logFile = join(dir, 'server.log');
  const args = [
    'server',
    'start-dev',
    '--db-filename',
    dbFile,
    '--sqlite-pragma',
    'journal_mode=wal',
    '--sqlite-pragma',
    'synchronous=normal',
    '--ip',
    ip,
    '--port',
    String(options.port),
    '--namespace',
    namespace,
    '--log-level',
    'warn',
    ...Object.entries(SEARCH_ATTRIBUTES).flatMap(([k, v]) => ['--search-attribute', `${k}=${v}`]),
    ...(uiPort === null ? ['--headless'] : ['--ui-port', String(uiPort), '--ui-disable-news-fetch']),
  ];
  const out = openSync(logFile, 'a');
  const child = spawn(binary.path, args, { detached: true, stdio: ['ignore', out, out] });
  closeSync(out);
  child.unref();
  const state: DevServerState = {
    pid: child.pid!,
    port: options.port,
    uiPort,
    ip,
    namespace,
    dbFile,
    logFile,
    binary: binary.path,
    startedAt: new Date().toISOString(),
  };
  writeFileAtomic(stateFile(options.dataDir), JSON.stringify(state, null, 2));

  // Poll the health check instead of a fixed wait: a warm start is well under a second.
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (!isAlive(state.pid)) {
      rmSync(stateFile(options.dataDir), { force: true });
      throw new MetError(ErrorTypes.TemporalUnavailable, `the Temporal dev server exited during start-up. Last lines of ${logFile}:\n${tail(logFile)}`);
    }
    if (await checkHealth(`${ip}:${options.port}`, 1000)) {
      await waitForNamespace(`${ip}:${options.port}`, namespace, deadline);
      return { state, alreadyRunning: false };
    }
    await sleep(100);
  }
  await stopDevServer(options.dataDir);
  throw new MetError(ErrorTypes.TemporalUnavailable, `the Temporal dev server did not become healthy within 60 s. Last lines of ${logFile}:\n${tail(logFile)}`);
}

async function waitForNamespace(address: string, namespace: string, deadline: number): Promise<void> {
  const connection = await Connection.connect({ address });
  try {
    while (Date.now() < deadline) {
      try {
        await connection.workflowService.describeNamespace({ namespace });
        return;
      } catch {
        await sleep(100);
      }
    }
  } finally {
    await connection.close();
  }
}

/** Stops the embedded server (SIGTERM, then SIGKILL after a grace period). Returns false if none ran. */
export async function stopDevServer(dataDir: string, graceMs = 10_000): Promise<boolean> {
  const state = readServerState(dataDir);
  if (!state) return false;
  const running = isAlive(state.pid);
  if (running) {
    process.kill(state.pid, 'SIGTERM');
    const deadline = Date.now() + graceMs;
    while (isAlive(state.pid) && Date.now() < deadline) await sleep(50);
    if (isAlive(state.pid)) process.kill(state.pid, 'SIGKILL');
    while (isAlive(state.pid)) await sleep(20);
  }
  rmSync(stateFile(dataDir), { force: true });
  return running;
}

export interface ServerStatus {
  running: boolean;
  healthy: boolean;
  state?: DevServerState;
}

export async function devServerStatus(dataDir: string): Promise<ServerStatus> {
  const state = readServerState(dataDir);
  if (!state || !isAlive(state.pid)) return { running: false, healthy: false, state };
  return { running: true, healthy: await checkHealth(`${state.ip}:${state.port}`), state };
}
