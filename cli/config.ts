import type { Command } from 'commander';
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
  return command
    .option('--data <dir>', 'data folder or s3://bucket/prefix (default ./.met, or MET_DATA; with a bucket, MET_SCRATCH is the local folder)')
    .option('--address <host:port>', 'Temporal frontend (default: TEMPORAL_ADDRESS, else the embedded server recorded in the data folder, else 127.0.0.1:7233)')
    .option('--namespace <ns>', 'Temporal namespace (default met)');
}

/** Runs `fn` with a Temporal client for the command's config, closing the connection afterwards. */
export async function withClient<T>(flags: CommonFlags, fn: (client: import('@temporalio/client').Client, dataDir: string, config: MetConfig) => Promise<T>): Promise<T> {
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
