#!/usr/bin/env bash
# Runs every test of the project. Safe to run on a fresh machine: it checks
# for what it needs and says what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

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

cargo test --workspace --locked
