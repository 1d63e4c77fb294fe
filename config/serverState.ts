import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * What `met server start` / `met up` record about the embedded Temporal server they started
 * (`<data>/temporal/server.json`). Light on purpose (no Temporal client): every command's config
 * reads it to find the server's port when no address is given.
 */
export interface DevServerState {
  pid: number;
  port: number;
  uiPort: number | null;
  ip: string;
  namespace: string;
  dbFile: string;
  logFile: string;
  binary: string;
  startedAt: string;
}

export function serverDir(dataDir: string): string {
  return join(dataDir, 'temporal');
}

export const serverStateFile = (dataDir: string) => join(serverDir(dataDir), 'server.json');

export function readServerState(dataDir: string): DevServerState | undefined {
  try {
    return JSON.parse(readFileSync(serverStateFile(dataDir), 'utf8')) as DevServerState;
  } catch {
    return undefined;
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The recorded server when its process still runs; a stale record (a reboot, a kill -9) is ignored. */
export function liveServerState(dataDir: string): DevServerState | undefined {
  const state = readServerState(dataDir);
  return state && isAlive(state.pid) ? state : undefined;
}
