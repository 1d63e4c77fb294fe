#!/usr/bin/env bash
# Installs the Python tools met's corpus tests use as independent peers, into git-ignored .tools/:
#   .tools/pyarrow  pyarrow, a second Parquet reader (reads met's shards back in the round-trip test)
#   .tools/moto     moto's S3-compatible server on loopback (tests of s3:// corpus locations)
#   .tools/numpy    numpy, to write fixtures in the MET release's own pickle format (test/download)
# Pinned versions, pip --target (no venv needed, nothing outside .tools/ is touched). Idempotent:
# an existing install of the pinned version is kept. Fails (exit 1) when a package cannot be had.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/pip-target.sh
PYARROW_VERSION=26.0.1
MOTO_VERSION=5.2.5
NUMPY_VERSION=2.2.6

pip_target .tools/pyarrow "pyarrow==$PYARROW_VERSION"
pip_target .tools/moto "moto[server]==$MOTO_VERSION"
pip_target .tools/numpy "numpy==$NUMPY_VERSION"

PYTHONPATH=.tools/pyarrow "$PYTHON" -c 'import pyarrow.parquet, pyarrow.dataset; print("pyarrow", pyarrow.__version__)'
PYTHONPATH=.tools/moto "$PYTHON" -c 'import moto, moto.server; print("moto", moto.__version__)'
PYTHONPATH=.tools/numpy "$PYTHON" -c 'import numpy; print("numpy", numpy.__version__)'
