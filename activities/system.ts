import { hostname } from 'node:os';

export interface WorkerDescription {
  host: string;
  pid: number;
  node: string;
  queues: string[];
}

/** Activities about the worker itself, for `met doctor` and health checks. */
export function createSystemActivities(deps: { queues: string[] }) {
  return {
    async describeWorker(): Promise<WorkerDescription> {
      return { host: hostname(), pid: process.pid, node: process.version, queues: deps.queues };
    },
  };
}
export type SystemActivities = ReturnType<typeof createSystemActivities>;
