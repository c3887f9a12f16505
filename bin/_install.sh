# Sourced by bin/test and bin/demo: make .venv match requirements.lock, then cd to the root.
# Reinstalls only when the lock file (or pyproject.toml, which names the package's entry
# points) has changed since the last successful install.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

install_venv() {
  local venv="$ROOT/.venv"
  local stamp="$venv/.requirements.sha256"
  if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
  fi
  local want
  want="$(sha256sum requirements.lock pyproject.toml)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return 0
  fi
  "$venv/bin/python" -m pip install --quiet --require-hashes -r requirements.lock
  "$venv/bin/python" -m pip install --quiet --no-deps -e .
  # Written last: an interrupted install leaves no stamp and is redone next time.
  printf '%s\n' "$want" >"$stamp"
}

install_venv
