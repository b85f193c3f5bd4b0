#!/usr/bin/env bash
# Fuzz smoke run: every cargo-fuzz target in fuzz/fuzz_targets for ${FUZZ_SECONDS:-20} s each.
# Installs cargo-fuzz if missing; works on a stable toolchain through RUSTC_BOOTSTRAP=1.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${FUZZ_SECONDS:-20}"
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi
export RUSTC_BOOTSTRAP=1
# The targets write their inputs as files: a RAM disk keeps the runs fast when there is one.
if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then
    export TMPDIR=/dev/shm
fi
# Seeds for view_files: each view's payload in a store of the bundled sample (the first byte
# picks the view, as the target reads it; the payload follows the 56-byte header of
# views/FORMAT.md). Random bytes rarely get past a view file's directory.
seed_view_files() {
    local store
    store=$(mktemp -d)
    (cd .. && cargo run -q -p sluice-cli -- --db "$store" import tests/data/small/msgs.jsonl >/dev/null)
    mkdir -p corpus/view_files
    local i=0
    for view in keys feeds types contacts tangles backlinks; do
        { printf "\\$(printf %03o "$i")"; tail -c +57 "$store/views/$view.view"; } >"corpus/view_files/seed-$view"
        i=$((i + 1))
    done
    rm -rf "$store"
}
seed_view_files
targets=$(cargo fuzz list)
if [ -z "$targets" ]; then
    echo "fuzz/smoke.sh: no fuzz targets found" >&2
    exit 1
fi
for target in $targets; do
    echo "== fuzz $target for ${seconds}s"
    cargo fuzz run "$target" -- -max_total_time="$seconds"
done
