#!/usr/bin/env bash
# Makes sure Debian's bazel-bootstrap 4.2.3, the rule packages WORKSPACE points
# at and a JDK are installed (apt); does nothing when they already are.
set -euo pipefail
need=()
command -v bazel >/dev/null 2>&1 || need+=(bazel-bootstrap)
[[ -d /usr/share/bazel/rules/java ]] || need+=(bazel-rules-java)
[[ -d /usr/share/bazel/tools/platforms ]] || need+=(bazel-platforms)
command -v javac >/dev/null 2>&1 || need+=(default-jdk-headless)
if [[ ${#need[@]} -eq 0 ]]; then
  exit 0
fi
SUDO=""
if [[ "$(id -u)" != 0 ]]; then
  command -v sudo >/dev/null 2>&1 || {
    echo "setup_bazel: need root or sudo to apt-get install ${need[*]}" >&2
    exit 1
  }
  SUDO=sudo
fi
echo "setup_bazel: apt-get install ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
if ! $SUDO apt-get install -y -q "${need[@]}" >/dev/null; then
  $SUDO apt-get update -q >/dev/null
  $SUDO apt-get install -y -q "${need[@]}" >/dev/null
fi
