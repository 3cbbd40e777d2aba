#!/usr/bin/env bash
# Runs `bazel test //...` with the venv's python3 first on PATH and ends with
# one line `N passed, N failed`. Arguments are bazel test options (`--x=y`)
# or target patterns: patterns replace //... (`tools/bazel_test.sh
# //tests/core/...`), unless all of them subtract (`-//tests/experiments/...`).
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
options=()
targets=()
adds=0
for arg in "$@"; do
  case "$arg" in
    -//* | -:* | -@*) targets+=("$arg") ;;
    -*) options+=("$arg") ;;
    *) targets+=("$arg"); adds=1 ;;
  esac
done
[[ $adds -eq 1 ]] || targets=(//... ${targets[@]+"${targets[@]}"})
# A missing BUILD dependency fails only in Bazel's sandbox: name it first.
if ! python3 tools/check_build_deps.py; then
  echo "0 passed, 1 failed"
  exit 1
fi
log="$(mktemp)"
bazel test ${options[@]+"${options[@]}"} -- "${targets[@]}" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
passed=$(grep -cE '^//[^ ]+ +(\(cached\) )?PASSED' "$log" || true)
failed=$(grep -cE '^//[^ ]+ +(\(cached\) )?(FAILED|TIMEOUT|FLAKY|INCOMPLETE|NO STATUS)' "$log" || true)
rm -f "$log"
if [[ $rc -ne 0 && $failed -eq 0 ]]; then
  # A build or analysis error stops Bazel before any test ran.
  failed=1
  echo "bazel test exited with $rc before reporting test results"
fi
echo "$passed passed, $failed failed"
exit $rc
