import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { ErrorTypes, MetError } from '../common/errors';
import type { ConfigFlags, MetConfig } from '../config/schema';

/**
 * The process config of a command, parsed when its action runs: commands register without loading
 * zod or anything else heavy, so `met --help` starts like a compiled tool.
 */
export async function commandConfig(flags: ConfigFlags): Promise<MetConfig> {
  const { loadConfig } = await import('../config/schema');
  return loadConfig(flags);
}

/** The flags every command that talks to Temporal takes. */
export interface CommonFlags {
  data?: string;
  address?: string;
  namespace?: string;
}

export function commonOptions(command: Command): Command {
  const withOptions = command
    .option('--data <dir>', 'data folder or s3://bucket/prefix (default ./.met, or MET_DATA; with a bucket, MET_SCRATCH is the local folder)')
    .option('--address <host:port>', 'Temporal frontend (default: TEMPORAL_ADDRESS, else the embedded server recorded in the data folder, else 127.0.0.1:7233)')
    .option('--namespace <ns>', 'Temporal namespace (default met)');
  // A worker writes into its data folder and makes it; every other command here is a client, for
  // which --data only locates what is already there (the run registry, the recorded server).
  if (command.name() !== 'worker') withOptions.hook('preAction', (_cmd, action) => refuseMissingData(action.name(), action.opts<{ data?: string }>().data));
  return withOptions;
}

/**
 * A client command given `--data` that names no folder is refused (it used to create it, record the
 * run there and work against the workers' folder instead), saying what --data means for it.
 */
export function refuseMissingData(command: string, data: string | undefined): void {
  // A bucket, or any URL-like value: the config's own check says what it makes of those.
  if (!data || /^[a-z][a-z0-9+.-]*:/i.test(data) || existsSync(data)) return;
  throw new MetError(
    ErrorTypes.BadInput,
    `--data ${data}: no such folder. For met ${command}, --data names an existing data folder: where runs are recorded (runs/) and ` +
      `where met up or met server start recorded the embedded Temporal server (temporal/server.json). Workers write corpora into ` +
      `their own data folder (met up --data, met worker --data); give that one, or leave --data out for ./.met.`,
  );
}

/** Runs `fn` with a Temporal client for the command's config, closing the connection afterwards. */
export async function withClient<T>(
  flags: CommonFlags,
  fn: (client: import('@temporalio/client').Client, dataDir: string, config: MetConfig) => Promise<T>,
): Promise<T> {
  const { connectClient } = await import('../temporal/connect');
  const config = await commandConfig(flags);
  const client = await connectClient(config);
  try {
    return await fn(client, config.dataDir, config);
  } finally {
    await client.connection.close();
  }
}

/** `--data` alone, for commands that use the data folder but not Temporal. */
export function dataOption(command: Command): Command {
  return command.option('--data <dir>', 'data folder (default ./.met, or MET_DATA)');
}
