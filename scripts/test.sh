#!/usr/bin/env bash
# Runs every test of the project. Safe to run on a fresh machine: it installs
# what it needs from Debian's packages (scripts/setup.sh) and says what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh

# PostgreSQL: the storage suite runs against it when this URL is set. CI sets
# it; locally it defaults to the service this machine runs, if it answers.
if [[ -z "${CONCLAVE_TEST_POSTGRES_URL:-}" ]]; then
  if (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; then
    export CONCLAVE_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:5432/test"
  else
    echo "note: no PostgreSQL on 127.0.0.1:5432; the PostgreSQL storage suite is skipped" >&2
  fi
fi

# The RFC test vectors live beside the clone, in ../shared/test-vectors.
if [[ -z "${CONCLAVE_TEST_VECTORS:-}" && ! -d ../shared/test-vectors ]]; then
  echo "error: ../shared/test-vectors is missing; set CONCLAVE_TEST_VECTORS to its path" >&2
  exit 1
fi

# The web client: packages, type check and bundle first, so that the server
# built by the Rust tests embeds this tree's client.
if ! command -v npm >/dev/null; then
  echo "error: npm is missing; the web client needs Node.js 20.19 or later with npm" >&2
  exit 1
fi
(cd web && npm ci --no-audit --no-fund && npm run build)

cargo test --workspace --locked

# Web unit tests (SFrame vectors, the Rust<->TypeScript cross test, state), then
# the browser tests in Debian's Chromium against a real `conclave serve`.
(cd web && npx vitest run --project unit && npx vitest run --project browser)
