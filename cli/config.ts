import type { ConfigFlags, MetConfig } from '../config/schema';

/**
 * The process config of a command, parsed when its action runs: commands register without loading
 * zod or anything else heavy, so `met --help` starts like a compiled tool.
 */
export async function commandConfig(flags: ConfigFlags): Promise<MetConfig> {
  const { loadConfig } = await import('../config/schema');
  return loadConfig(flags);
}
