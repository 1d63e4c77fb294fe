import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ErrorTypes, MetError } from '../common/errors';

/** Reads a YAML or JSON file, with a clear error naming the file when it can't. */
export function readSpecFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new MetError(ErrorTypes.BadRunSpec, `cannot read ${path}: ${(err as Error).message}`);
  }
  const json = extname(path) === '.json';
  try {
    return json ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new MetError(ErrorTypes.BadRunSpec, `${path} is not valid ${json ? 'JSON' : 'YAML'}: ${(err as Error).message}`);
  }
}

/** A worker config file (YAML or JSON), validated, with every problem named. */
export async function readWorkerConfig(path: string): Promise<import('./workers').WorkerConfig> {
  const [{ WorkerConfig }, { formatIssues }] = await Promise.all([import('./workers'), import('../common/issues')]);
  const parsed = WorkerConfig.safeParse(readSpecFile(path));
  if (!parsed.success) throw new MetError(ErrorTypes.BadInput, formatIssues(parsed.error, `${path} is not a valid worker config`));
  return parsed.data;
}
