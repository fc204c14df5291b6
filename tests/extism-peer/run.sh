#!/usr/bin/env bash
# Symphony beside Extism in one command: installs the wasm32-unknown-unknown target (Extism's
# Rust PDK target), builds the two Extism plugins, builds Symphony's sample components with the
# main workspace, then runs the benchmark in release and prints its table. Arguments go to the
# benchmark (`--json`, `--rounds N`, `--batch N`).
#
# The benchmark has its own target directory (it compiles a second wasmtime, which the main
# workspace never does): $CARGO_TARGET_DIR if set, else /root/.cache/symphony/target-peer when
# /root/.cache/symphony exists, else tests/extism-peer/target.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

# The main workspace builds where CI builds it: the caller's target directory, else the warm
# one in /root/.cache/symphony/target when there is one, else its own ./target.
main_target="${CARGO_TARGET_DIR:-}"
if [[ -z "$main_target" && -d /root/.cache/symphony/target ]]; then
    main_target=/root/.cache/symphony/target
fi
if [[ -z "${CARGO_TARGET_DIR:-}" ]]; then
    if [[ -d /root/.cache/symphony ]]; then
        CARGO_TARGET_DIR=/root/.cache/symphony/target-peer
    else
        CARGO_TARGET_DIR="$here/target"
    fi
fi
export CARGO_TARGET_DIR

rustup target add wasm32-unknown-unknown >&2

echo "building the Extism plugins" >&2
(cd "$here" && cargo build --quiet --profile guest --target wasm32-unknown-unknown \
    -p extism-peer-echo -p extism-peer-text-stats)

echo "building Symphony's sample components" >&2
if [[ -n "$main_target" ]]; then
    (cd "$repo" && CARGO_TARGET_DIR="$main_target" cargo run --quiet -p symphony-cli -- build >&2)
else
    (cd "$repo" && env -u CARGO_TARGET_DIR cargo run --quiet -p symphony-cli -- build >&2)
fi

echo "machine: $(nproc) CPUs, $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(date -u '+%Y-%m-%d %H:%M UTC')" >&2
cd "$here"
cargo run --quiet --release -p symphony-extism-peer -- \
    --plugins "$CARGO_TARGET_DIR/wasm32-unknown-unknown/guest" --repo "$repo" "$@"
