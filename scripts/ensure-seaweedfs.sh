#!/usr/bin/env bash
# Builds SeaweedFS's `weed` (Apache-2.0), a real S3-compatible server for the fleet tests beside moto,
# into git-ignored .tools/seaweedfs/weed from the Go module proxy. Pinned to one commit; idempotent:
# an existing build of the pinned version is kept. The build is long (hundreds of packages) on a
# 2-core machine, so it runs at low priority with one package at a time and says how long it took.
# Needs go. Fails (exit 1) when the module cannot be had or does not build.
set -euo pipefail
cd "$(dirname "$0")/.."
WEED_VERSION=v0.0.0-20261109003541-7506e5f91cd6
DIR=.tools/seaweedfs
STAMP="$DIR/.met-installed"

if [[ -x "$DIR/weed" && -f "$STAMP" && "$(cat "$STAMP")" == "$WEED_VERSION" ]]; then
  echo "weed $WEED_VERSION already built"; exit 0
fi
command -v go >/dev/null || { echo "ensure-seaweedfs: go is not installed" >&2; exit 1; }
mkdir -p "$DIR"
rm -f "$STAMP"
t0=$(date +%s)
MODULE=github.com/seaweedfs/seaweedfs
# `go install MODULE/weed@VERSION` refuses a module whose go.mod has replace directives (SeaweedFS has
# one), so the pinned source is fetched into the module cache and built as the main module there,
# its own go.sum checking every dependency.
SRC=$(GOFLAGS=-mod=mod go mod download -json "$MODULE@$WEED_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[[ -d "$SRC" ]] || { echo "ensure-seaweedfs: $MODULE@$WEED_VERSION could not be downloaded" >&2; exit 1; }
OUTPUT="$(pwd)/$DIR/weed"
# -p 1 and GOMAXPROCS=1 at low priority: the machine's other work (tests, a dev server) keeps a core.
(cd "$SRC" && GOFLAGS="-mod=readonly -buildvcs=false" GOMAXPROCS=1 CGO_ENABLED=0 \
  nice -n 15 go build -p 1 -trimpath -ldflags='-s -w' -o "$OUTPUT.partial" ./weed)
mv "$OUTPUT.partial" "$OUTPUT"
echo "$WEED_VERSION" > "$STAMP"
echo "weed $WEED_VERSION built in $(( $(date +%s) - t0 )) s"
"$DIR/weed" version
