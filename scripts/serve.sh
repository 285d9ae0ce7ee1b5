#!/usr/bin/env bash
# Builds the web client and runs the server with it embedded. Needs a Rust
# toolchain, Node.js 20.19 or later and npm; the client's packages come from
# the npm registry, pinned by web/package-lock.json. Extra arguments go to
# `conclave serve` (e.g. --http 0.0.0.0:8080).
set -euo pipefail
cd "$(dirname "$0")/.."

(cd web && npm ci --no-audit --no-fund && npm run build)
exec cargo run --release --locked -p conclave -- serve "$@"
