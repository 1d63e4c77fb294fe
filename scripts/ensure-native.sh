#!/usr/bin/env bash
# Builds met's native scorer (models/native/scorer.cpp, linked to node-llama-cpp's prebuilt
# llama.cpp) into git-ignored .tools/native/, so the first scoring call does not pay for it.
# Needs git and g++ (CXX overrides); downloads nothing. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
node --import tsx models/native/build.ts
