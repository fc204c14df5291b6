#!/usr/bin/env bash
# The one command that passes the tests on a fresh machine: installs the wasm32-wasip2 target
# (through `symphony build`), builds every sample extension into a component, then runs every
# test in the workspace against those real components.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --quiet -p symphony-cli -- build
cargo test --workspace "$@"
