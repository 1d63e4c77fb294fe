/**
 * Worker identities: what a `met worker` tells Temporal about itself on each queue it polls, so
 * `met fleet` and the HTTP API's /health can say which host, met version, model, GPU and corpus
 * location serve a queue (Temporal's DescribeTaskQueue returns each poller's identity).
 *
 *   <pid>@<host>/<queue> met=<version> [model=<name>/<precision>] [gpu=<n>] [data=<folder|s3://...>] [scorer: <backend>]
 *
 * No runtime dependencies.
 */
export interface WorkerIdentity {
  pid: number;
  host: string;
  queue: string;
  version?: string;
  model?: string;
  gpu?: string;
  data?: string;
  scorer?: string;
}

export function formatIdentity(i: Omit<WorkerIdentity, 'pid' | 'host'> & { pid: number; host: string }): string {
  const tags = [
    i.version ? `met=${i.version}` : undefined,
    i.model ? `model=${i.model}` : undefined,
    i.gpu !== undefined ? `gpu=${i.gpu}` : undefined,
    i.data ? `data=${i.data}` : undefined,
  ].filter(Boolean);
  return `${i.pid}@${i.host}/${i.queue}${tags.length ? ` ${tags.join(' ')}` : ''}${i.scorer ? ` scorer: ${i.scorer}` : ''}`;
}

/** The parts of an identity met formatted; undefined for any other (another SDK's worker, the CLI). */
export function parseIdentity(identity: string): WorkerIdentity | undefined {
  const m = /^(\d+)@([^/\s]+)\/(\S+)(.*)$/.exec(identity);
  if (!m) return undefined;
  let rest = m[4];
  let scorer: string | undefined;
  const at = rest.indexOf(' scorer: ');
  if (at >= 0) {
    scorer = rest.slice(at + ' scorer: '.length);
    rest = rest.slice(0, at);
  }
  const tags = Object.fromEntries(
    rest
      .trim()
      .split(/\s+/)
      .filter((t) => t.includes('='))
      .map((t) => [t.slice(0, t.indexOf('=')), t.slice(t.indexOf('=') + 1)]),
  );
  return { pid: Number(m[1]), host: m[2], queue: m[3], version: tags.met, model: tags.model, gpu: tags.gpu, data: tags.data, scorer };
}
