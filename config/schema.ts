import { resolve } from 'node:path';
import { z } from 'zod';
import { type DataLocation, parseDataLocation } from '../common/location';
import { type DevServerState, liveServerState, serverStateFile } from './serverState';

/**
 * The one source of truth for met's process configuration (CLI, workers, API). Parsed once from
 * flags and the environment; tests pass their own `env` record instead of editing process.env.
 * API keys are not here: provider workers read them from their own environment (providers/).
 */
export const TemporalSettings = z.object({
  /** host:port of the Temporal frontend. Unset: the embedded dev server on 127.0.0.1:<port>. */
  address: z.string().min(1).optional(),
  namespace: z.string().min(1).default('met'),
  /** Port of the embedded dev server (gRPC); the web UI is on port + 1000. */
  embeddedPort: z.coerce.number().int().min(1).max(65535).default(7233),
  embeddedHost: z.string().min(1).default('127.0.0.1'),
  /** Where the address came from, in words: error messages say it, so a wrong guess is visible. */
  addressSource: z.string().default('the default'),
  tls: z
    .object({
      serverNameOverride: z.string().optional(),
      serverRootCACertificatePath: z.string().optional(),
      clientCertPath: z.string().optional(),
      clientKeyPath: z.string().optional(),
    })
    .optional(),
  apiKey: z.string().optional(),
});
export type TemporalSettings = z.infer<typeof TemporalSettings>;

export const MetConfig = z.object({
  /**
   * Where corpora, models, the embedded server's SQLite file and logs live. With corpora in a
   * bucket (`corpora`), the local folder for everything else: shards staged before upload, the
   * read cache, the embedded server (MET_SCRATCH, default ./.met).
   */
  dataDir: z.string().min(1),
  /** `s3://bucket/prefix` when `--data`/MET_DATA names a bucket: corpora and run records live there. */
  corpora: z.string().startsWith('s3://').optional(),
  /** Where bucket shards are cached for reading (MET_CACHE, default <dataDir>/cache). */
  cacheDir: z.string().min(1).optional(),
  temporal: TemporalSettings,
});
export type MetConfig = z.infer<typeof MetConfig>;

export interface ConfigFlags {
  data?: string;
  address?: string;
  namespace?: string;
  port?: number | string;
}

/**
 * Builds the config from flags, then the environment, then defaults. The Temporal address: --address,
 * else TEMPORAL_ADDRESS, else the embedded server that `met server start` / `met up` recorded in the
 * data folder (so `met up --port P` and a later `met collect` find each other), else --port /
 * MET_TEMPORAL_PORT / 7233 on loopback. An explicit port (--port, MET_TEMPORAL_PORT) wins over the record.
 */
/**
 * Where --data points: the flag, else MET_DATA, else ./.met. An empty value counts as unset (`||`),
 * so `MET_DATA= met ...` means the default, as everywhere else. `value` is as given (s3:// kept).
 */
export function dataLocation(flags: { data?: string } = {}, env: NodeJS.ProcessEnv = process.env): { value: string; location: DataLocation } {
  const value = flags.data || env.MET_DATA || '.met';
  return { value, location: parseDataLocation(value, flags.data ? '--data' : 'MET_DATA') };
}

export function loadConfig(
  flags: ConfigFlags = {},
  env: NodeJS.ProcessEnv = process.env,
  recorded: (dataDir: string) => DevServerState | undefined = liveServerState,
): MetConfig {
  const tlsEnv = {
    serverNameOverride: env.TEMPORAL_TLS_SERVER_NAME,
    serverRootCACertificatePath: env.TEMPORAL_TLS_CA,
    clientCertPath: env.TEMPORAL_TLS_CERT,
    clientKeyPath: env.TEMPORAL_TLS_KEY,
  };
  const anyTls = Object.values(tlsEnv).some(Boolean) || env.TEMPORAL_TLS === '1';
  const { location } = dataLocation(flags, env);
  const dataDir = resolve(location.kind === 'local' ? location.root : env.MET_SCRATCH || '.met');
  const address = flags.address || env.TEMPORAL_ADDRESS || undefined;
  const port = flags.port || env.MET_TEMPORAL_PORT || undefined;
  const server = address || port ? undefined : recorded(dataDir);
  const addressSource = flags.address
    ? '--address'
    : address
      ? 'TEMPORAL_ADDRESS'
      : flags.port
        ? '--port'
        : port
          ? 'MET_TEMPORAL_PORT'
          : server
            ? `the embedded server recorded in ${serverStateFile(dataDir)} (pid ${server.pid})`
            : `the default: no embedded server is recorded in ${serverStateFile(dataDir)}`;
  return MetConfig.parse({
    dataDir,
    corpora: location.kind === 's3' ? location.url : undefined,
    cacheDir: location.kind === 's3' && env.MET_CACHE ? resolve(env.MET_CACHE) : undefined,
    temporal: {
      address,
      namespace: flags.namespace || env.TEMPORAL_NAMESPACE || undefined,
      embeddedPort: port ?? server?.port,
      embeddedHost: server?.ip,
      addressSource,
      tls: anyTls ? tlsEnv : undefined,
      apiKey: env.TEMPORAL_API_KEY || undefined,
    },
  });
}

/** The address clients connect to: the configured cluster, or the embedded server. */
export function temporalAddress(config: MetConfig): string {
  return config.temporal.address ?? `${config.temporal.embeddedHost}:${config.temporal.embeddedPort}`;
}

export function isEmbedded(config: MetConfig): boolean {
  return config.temporal.address === undefined;
}
