#!/usr/bin/env bash
# Creates .venv/ and installs requirements.txt into it; a second run reuses it
# unless requirements.txt changed since the last successful install.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv
STAMP="$VENV/.requirements.sha256"
want="$(sha256sum requirements.txt | cut -d' ' -f1)"
if [[ -x "$VENV/bin/python" && -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]]; then
  exit 0
fi
PYTHON="${PYTHON:-python3}"
if ! "$PYTHON" -c 'import sys; assert sys.version_info >= (3, 10)' 2>/dev/null; then
  echo "setup_venv: need Python >= 3.10 as '$PYTHON' (set PYTHON=...)" >&2
  exit 1
fi
echo "setup_venv: installing requirements.txt into $VENV/ (first run: a few minutes)"
[[ -x "$VENV/bin/python" ]] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet -r requirements.txt
echo "$want" > "$STAMP"
echo "setup_venv: done"
