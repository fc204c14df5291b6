#!/usr/bin/env bash
# The one command that passes the tests on a fresh machine: installs the wasm32-wasip2 target
# (through `symphony build`), builds every sample extension into a component, then runs every
# test against those real components. Arguments go to the main `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --quiet -p symphony-cli -- build
# The dashboard test renders the page in Debian's headless Chromium.
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
    echo "installing chromium for the dashboard test…"
    if [ "$(id -u)" -eq 0 ]; then apt-get install -y chromium >/dev/null || { apt-get update >/dev/null && apt-get install -y chromium >/dev/null; }
    else sudo apt-get install -y chromium >/dev/null || { sudo apt-get update >/dev/null && sudo apt-get install -y chromium >/dev/null; }; fi
fi
# The workspace's default members: host crates, SDK, integration tests, the harness tests. The
# same dependency build as `cargo run -p symphony-cli` (one wasmtime), see Cargo.toml. Default
# members echo and hello are tested there, under the real host.
cargo test "$@"
# Sample extensions with unit tests of their own logic, natively and without the host.
samples=()
for manifest in sample-extensions/*/Cargo.toml; do
    dir=$(dirname "$manifest")
    case "$dir" in sample-extensions/echo | sample-extensions/hello) continue ;; esac
    if grep -rqs '#\[cfg(test)\]' "$dir/src"; then
        samples+=(-p "$(sed -n 's/^name = "\(.*\)"$/\1/p' "$manifest" | head -n1)")
    fi
done
if [ "${#samples[@]}" -gt 0 ]; then
    cargo test --lib "${samples[@]}"
fi
