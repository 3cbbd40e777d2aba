#!/usr/bin/env bash
# Creates .venv/, installs requirements.txt into it, then installs wsvis-tf
# itself editable (`pip install -e .`: the console scripts wsvis-pipeline,
# wsvis-evaluate, ... in .venv/bin/, importing this checkout's code).
# A second run does nothing: requirements.txt is installed again only when it
# changed, the project only when pyproject.toml, requirements.txt or the
# checkout's location changed (both checks are stamps in .venv/).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv
REQ_STAMP="$VENV/.requirements.sha256"
PROJECT_STAMP="$VENV/.wsvis_tf.sha256"
PYTHON="${PYTHON:-python3}"

want="$(sha256sum requirements.txt | cut -d' ' -f1)"
if [[ ! -x "$VENV/bin/python" || ! -f "$REQ_STAMP" \
      || "$(cat "$REQ_STAMP")" != "$want" ]]; then
  if ! "$PYTHON" -c 'import sys; assert sys.version_info >= (3, 10)' \
      2>/dev/null; then
    echo "setup_venv: need Python >= 3.10 as '$PYTHON' (set PYTHON=...)" >&2
    exit 1
  fi
  echo "setup_venv: installing requirements.txt into $VENV/" \
       "(first run: a few minutes)"
  [[ -x "$VENV/bin/python" ]] || "$PYTHON" -m venv "$VENV"
  # setuptools builds wsvis-tf below (70.1: no separate `wheel` package).
  "$VENV/bin/python" -m pip install --quiet --upgrade pip 'setuptools>=70.1'
  "$VENV/bin/python" -m pip install --quiet -r requirements.txt
  echo "$want" > "$REQ_STAMP"
fi

if [[ -L "$VENV" ]]; then
  # .venv links to another checkout's environment (git worktrees sharing
  # one). An editable install here would point that environment's imports
  # and console scripts at this checkout, under whoever uses it; binaries
  # here run with PYTHONPATH=. or `python -m experiments.<binary>`, and
  # Bazel tests from their runfiles.
  echo "setup_venv: $VENV links to $(readlink -f "$VENV"); not installing" \
       "this checkout into it"
  exit 0
fi
want="$(cat pyproject.toml requirements.txt <(pwd -P) | sha256sum \
        | cut -d' ' -f1)"
if [[ -f "$PROJECT_STAMP" && "$(cat "$PROJECT_STAMP")" == "$want" \
      && -x "$VENV/bin/wsvis-pipeline" ]]; then
  exit 0
fi
echo "setup_venv: installing wsvis-tf into $VENV/ (editable)"
# Built with the venv's own setuptools and without dependencies (installed
# above): offline and a few seconds. A venv made before this step may lack
# setuptools (Python >= 3.12 venvs have none) or have one older than 70.1,
# which needs the `wheel` package to build.
if ! "$VENV/bin/python" - <<'EOF' 2>/dev/null
import importlib.util
import setuptools
version = tuple(int(x) for x in setuptools.__version__.split('.')[:2])
assert version >= (70, 1) or (
    version >= (64, 0) and importlib.util.find_spec('wheel') is not None)
EOF
then
  "$VENV/bin/python" -m pip install --quiet 'setuptools>=70.1'
fi
"$VENV/bin/python" -m pip install --quiet --no-deps --no-build-isolation \
  --editable .
echo "$want" > "$PROJECT_STAMP"
echo "setup_venv: done"
