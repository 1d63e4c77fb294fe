#!/usr/bin/env bash
# Installs scipy into git-ignored .tools/scipy: the independent reference for the Cramér–von Mises
# p-value of the rank-based uniformity test (test/stats/rut.test.ts compares met's p-values with
# scipy.stats.cramervonmises(x, 'uniform')). Pinned version, pip --target, nothing outside
# .tools/scipy is touched. Idempotent: an existing install of the pinned version is kept. Fails
# (exit 1) when the package cannot be had.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/pip-target.sh
SCIPY_VERSION=1.16.3
pip_target .tools/scipy "scipy==$SCIPY_VERSION"
PYTHONPATH=.tools/scipy "$PYTHON" -c 'import scipy, scipy.stats; print("scipy", scipy.__version__)'
