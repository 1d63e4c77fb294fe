#!/bin/bash
# Not run by CI: `bash scripts/crash-soak.sh [N]` runs test/datasets/crash.test.ts (SIGKILLs of a
# shard writer at random points) N times in a row (default 20) while a CPU hog, one busy loop per
# core, runs: the test waits for conditions, so load may slow it but must not fail it.
set -u
cd "$(dirname "$0")/.."
hogs=()
for _ in $(seq "$(nproc)"); do (while :; do :; done) & hogs+=($!); done
trap 'kill "${hogs[@]}" 2>/dev/null' EXIT
pass=0; fail=0
runs=${1:-20}
for i in $(seq "$runs"); do
  s=$(date +%s)
  if node --import tsx --test --test-reporter=tap test/datasets/crash.test.ts > "${TMPDIR:-/tmp}/met-crash-$i.tap" 2>&1; then pass=$((pass+1)); r=ok; else fail=$((fail+1)); r=FAIL; fi
  echo "run $i: $r in $(( $(date +%s)-s )) s"
done
echo "crash.test.ts under a CPU hog: $pass passed, $fail failed of $runs"
[ "$fail" -eq 0 ]
