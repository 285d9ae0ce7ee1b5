#!/usr/bin/env bash
# Installs what the tests need beyond a Rust toolchain and Node.js, from
# Debian's packages, if it is missing: Chromium for the browser tests.
# Safe to run again: it installs nothing that is already there.
set -euo pipefail

missing=()
[[ -x /usr/bin/chromium ]] || missing+=(chromium)

if ((${#missing[@]} == 0)); then
  exit 0
fi

sudo=()
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null; then
    sudo=(sudo)
  else
    echo "error: need root (or sudo) to install: ${missing[*]}" >&2
    exit 1
  fi
fi

echo "setup: installing ${missing[*]} from Debian's packages" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update
"${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
