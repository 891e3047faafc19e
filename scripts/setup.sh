#!/usr/bin/env bash
# Installs what the build and the test suites need, idempotently. Called by `make test`,
# `make demo` and `make bench`; safe to run again and again.
#
# Debian packages come from scripts/packages/*.txt (one package a line; each part of the
# project owns its own list: core.txt, c.txt, ruby.txt, python.txt).
set -euo pipefail
cd "$(dirname "$0")/.."

mapfile -t packages < <(cat scripts/packages/*.txt | sed 's/#.*//' | tr -s ' \t' '\n' | grep -v '^$' | sort -u)

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
