// Builds met's native addon (models/native/: the scorer, scorer.cpp, and the batched generator,
// generator.cpp) into .tools/native/, linked against the prebuilt llama.cpp that node-llama-cpp
// ships for this platform, with the headers of that exact llama.cpp release taken from
// node-llama-cpp's source bundle. Needs git and a C++17 compiler
// (g++ or clang++; CXX overrides); downloads nothing. Idempotent: the output is keyed by a hash
// of the source, the headers' release and the library, so a rebuild happens only when one changes.
// `node --import tsx models/native/build.ts` prints the addon's path; models/nativeScorer.ts
// builds on first use too (scripts/ensure-native.sh runs it ahead in CI).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const modules = join(root, 'node_modules');

/** The addon's sources: the scorer, the batched generator and what they share (all hashed; the .cpp files compiled). */
const SOURCES = ['scorer.cpp', 'generator.cpp', 'shared.h'];

export function llamaLibDir(): string {
  const platform = `${process.platform}-${process.arch}`;
  const dir = join(modules, '@node-llama-cpp', platform, 'bins', platform);
  if (!existsSync(join(dir, 'llama-addon.node')))
    throw new Error(`node-llama-cpp has no prebuilt CPU binaries for ${platform} (looked in ${dir}); run npm install`);
  return dir;
}

function libraryName(dir: string, prefix: string): string {
  const out = execFileSync('ls', [dir], { encoding: 'utf8' })
    .split('\n')
    .filter((f) => f.startsWith(prefix) && f.endsWith('.so'));
  if (out.length !== 1) throw new Error(`expected one ${prefix}*.so in ${dir}, found ${out.length}`);
  return out[0];
}

export function nativeBuildKey(): string {
  const libDir = llamaLibDir();
  const hash = createHash('sha256');
  for (const file of SOURCES) hash.update(readFileSync(join(root, 'models', 'native', file)));
  hash.update(readFileSync(join(root, 'models', 'native', 'build.ts')));
  const llamaLib = join(libDir, libraryName(libDir, 'libllama.'));
  hash.update(`${llamaLib}:${statSync(llamaLib).size}`);
  hash.update(readFileSync(join(modules, 'node-llama-cpp', 'llama', 'llama.cpp.info.json')));
  return hash.digest('hex').slice(0, 16);
}

export function nativeAddonPath(): string {
  return join(root, '.tools', 'native', `met-scorer-${nativeBuildKey()}.node`);
}

/** The headers of node-llama-cpp's llama.cpp release, from its git bundle (cached). */
function headers(outDir: string): string {
  const bundle = join(modules, 'node-llama-cpp', 'llama', 'gitRelease.bundle');
  const info = JSON.parse(readFileSync(join(modules, 'node-llama-cpp', 'llama', 'llama.cpp.info.json'), 'utf8')) as { tag: string };
  const dir = join(outDir, `include-${info.tag}`);
  if (existsSync(join(dir, 'llama.h'))) return dir;
  const repo = join(outDir, 'bundle-git');
  rmSync(repo, { recursive: true, force: true });
  mkdirSync(repo, { recursive: true });
  const git = (...args: string[]) => execFileSync('git', ['-C', repo, ...args], { maxBuffer: 64 << 20 });
  git('init', '-q');
  git('fetch', '-q', bundle, 'HEAD');
  const tmp = `${dir}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const files = git('ls-tree', '--name-only', 'FETCH_HEAD', 'include/', 'ggml/include/').toString().trim().split('\n');
  for (const file of files) if (file.endsWith('.h')) writeFileSync(join(tmp, file.split('/').pop()!), git('show', `FETCH_HEAD:${file}`));
  rmSync(repo, { recursive: true, force: true });
  renameSync(tmp, dir);
  return dir;
}

export function buildNative({ quiet = false }: { quiet?: boolean } = {}): string {
  const out = nativeAddonPath();
  if (existsSync(out)) return out;
  const outDir = dirname(out);
  mkdirSync(outDir, { recursive: true });
  const libDir = llamaLibDir();
  const include = headers(outDir);
  const cxx = process.env.CXX || 'g++';
  const tmp = `${out}.${process.pid}.tmp`;
  const args = [
    // fast-math lets the reductions vectorize (exp, max); they touch only met's loops, whose sums run
    // in double, and llama.cpp's own code is prebuilt.
    '-std=c++17',
    '-O3',
    '-ffast-math',
    '-fPIC',
    '-shared',
    '-fexceptions',
    '-DNAPI_VERSION=8',
    '-DNAPI_CPP_EXCEPTIONS',
    '-DNODE_ADDON_API_DISABLE_DEPRECATED',
    `-I${join(modules, 'node-addon-api')}`,
    `-I${join(modules, 'node-api-headers', 'include')}`,
    `-I${include}`,
    ...SOURCES.filter((f) => f.endsWith('.cpp')).map((f) => join(root, 'models', 'native', f)),
    `-L${libDir}`,
    `-l:${libraryName(libDir, 'libllama.')}`,
    `-l:${libraryName(libDir, 'libggml.')}`,
    '-l:libggml-base.so',
    `-Wl,-rpath,${libDir}`,
    '-o',
    tmp,
  ];
  if (!quiet) console.error(`building met's native scorer (${cxx}, once per change) -> ${out}`);
  try {
    execFileSync(cxx, args, { stdio: quiet ? 'pipe' : 'inherit' });
  } catch (error) {
    rmSync(tmp, { force: true });
    const e = error as { stderr?: Buffer; message: string };
    throw new Error(`building the native scorer failed (${cxx} ${args.slice(-6).join(' ')}): ${e.stderr?.toString().slice(-2000) ?? e.message}`);
  }
  renameSync(tmp, out);
  return out;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  console.log(buildNative());
}
