#!/usr/bin/env bash
# Installs scipy into git-ignored .tools/scipy: the independent reference for the Cramér–von Mises
# p-value of the rank-based uniformity test (test/stats/rut.test.ts compares met's p-values with
# scipy.stats.cramervonmises(x, 'uniform')). Pinned version, pip --target, nothing outside
# .tools/scipy is touched. Idempotent: an existing install of the pinned version is kept. Fails
# (exit 1) when the package cannot be had.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${MET_PYTHON:-python3}"
SCIPY_VERSION=1.16.3
target=.tools/scipy
spec="scipy==$SCIPY_VERSION"
stamp="$target/.met-installed"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$spec" ]; then
  echo "$spec: already in $target"
else
  rm -rf "$target"
  "$PYTHON" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --no-input --target "$target" "$spec"
  echo "$spec" >"$stamp"
  echo "$spec: installed into $target"
fi
PYTHONPATH="$target" "$PYTHON" -c 'import scipy, scipy.stats; print("scipy", scipy.__version__)'
