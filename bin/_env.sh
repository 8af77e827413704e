# Shared by bin/serve and bin/test: a .venv with the pinned requirements, installed once per change.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON_BIN="${PYTHON:-$(command -v python3.11 || command -v python3)}"

ensure_venv() {  # $1: the requirements file to install
  local requirements="$1" stamp=".venv/.installed-$(basename "$1")"
  if [ ! -x .venv/bin/python ]; then
    "$PYTHON_BIN" -m venv .venv
    .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
  fi
  local wanted
  wanted="$(cat requirements*.txt | sha256sum | cut -c1-16)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$wanted" ]; then
    # (this machine's pip config names extra indexes that may be absent: drop those warnings)
    .venv/bin/python -m pip install -q --disable-pip-version-check -r "$requirements" \
      2> >(grep -v "is ignored: it is neither" >&2)
    echo "$wanted" > "$stamp"
  fi
}
