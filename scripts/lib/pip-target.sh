# Sourced by scripts/ensure-*.sh: `pip_target DIR SPEC` installs a pinned Python package with
# pip --target into a git-ignored folder (no venv; nothing outside DIR is touched). Idempotent: a
# stamp file keeps an install of the same spec. pip's failure fails the caller (set -e).
PYTHON="${MET_PYTHON:-python3}"

pip_target() { # target spec
  local target="$1" spec="$2" stamp="$1/.met-installed"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$spec" ]; then
    echo "$spec: already in $target"
    return
  fi
  rm -rf "$target"
  "$PYTHON" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --no-input --target "$target" "$spec"
  echo "$spec" >"$stamp"
  echo "$spec: installed into $target"
}
