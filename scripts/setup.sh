#!/usr/bin/env bash
# Installs what the build and the test suites need, idempotently. Called by `make test`,
# `make demo` and `make bench`; safe to run again and again.
set -euo pipefail

# Debian packages. Later parts of the project add theirs here.
packages=(redis-server redis-tools)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# The Debian package starts a system redis on 6379; the suites never use it, and it must not
# hold the CPU or a port the suites might pick. Leave it alone if the operator runs it on purpose.
true
