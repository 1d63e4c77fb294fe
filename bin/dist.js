// Whether dist/ (built by scripts/build.js) matches the sources on disk. dist/build.json lists every
// bundled source file with its size and modification time; one that differs, or is gone, makes
// dist/ stale, so a developer editing sources never runs old code. Plain JavaScript: it runs before
// any TypeScript loader.
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** undefined when `<root>/<distDir>` is up to date, else why not (one short phrase). */
export function distStale(root, distDir = 'dist') {
  let stamp;
  try {
    stamp = JSON.parse(readFileSync(join(root, distDir, 'build.json'), 'utf8'));
  } catch {
    return `${distDir}/ is not built`;
  }
  for (const [file, [size, mtimeMs]] of Object.entries(stamp.sources ?? {})) {
    let s;
    try {
      s = statSync(join(root, file));
    } catch {
      return `${file} is gone since the last build`;
    }
    if (s.size !== size || s.mtimeMs !== mtimeMs) return `${file} changed since the last build`;
  }
  return undefined;
}
