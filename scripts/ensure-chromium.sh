#!/usr/bin/env bash
# Installs what met's report tests and PNG figures need, if missing, from Debian's packages:
#   - chromium: headless browser that opens a report and screenshots it (test/report/chromium.test.ts)
#   - fonts-dejavu-core: the font resvg draws figure text with (report/fonts.ts)
# Idempotent and quick when both are present. CI runs it (.ci/run calls scripts/ensure-*.sh).
# Chromium is never downloaded by npm (no puppeteer/playwright browser download): only Debian's.
set -euo pipefail

CHROMIUM="${MET_CHROMIUM:-/usr/bin/chromium}"
FONT=/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf

missing=()
if [ ! -x "$CHROMIUM" ] && ! command -v chromium >/dev/null 2>&1; then missing+=(chromium); fi
if [ ! -f "$FONT" ]; then missing+=(fonts-dejavu-core); fi

if [ ${#missing[@]} -eq 0 ]; then
  echo "chromium and fonts present: $("${CHROMIUM}" --version 2>/dev/null || chromium --version)"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "missing: ${missing[*]}; this is not a Debian-like system: install Chromium and the DejaVu Sans font with your package manager" >&2
  exit 1
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=(sudo); else
    echo "missing: ${missing[*]}; run as root: apt-get update && apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

echo "installing from Debian: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Wait for apt's lock rather than fail when another install runs; retry the index update once.
APT=("${SUDO[@]}" apt-get -o DPkg::Lock::Timeout=300)
"${APT[@]}" update -qq || { sleep 5; "${APT[@]}" update -qq; }
"${APT[@]}" install -y -qq "${missing[@]}" >/dev/null

if [ ! -x "$CHROMIUM" ] && ! command -v chromium >/dev/null 2>&1; then
  echo "chromium is still missing after apt-get install" >&2
  exit 1
fi
echo "installed: $(chromium --version)"
