#!/usr/bin/env bash
# Builds every cargo-fuzz target in fuzz/ and runs each from its committed seeds.
#
#   scripts/fuzz.sh                 each target for 15 s (what CI runs)
#   scripts/fuzz.sh --seconds N     each target for N seconds
#   scripts/fuzz.sh --runs N        each target for N executions (the long run: 1000000)
#   scripts/fuzz.sh ... TARGET...   only these targets
#
# Fails when a target does not build or when a run finds a crash (libFuzzer writes the input
# to fuzz/artifacts/TARGET/). Prints one line of figures per target (executions, exec/s,
# coverage) and the whole table again at the end.
#
# Needs cargo-fuzz (installed from crates.io when missing) and a toolchain with the address
# sanitizer runtime (the stable x86_64 Linux toolchain has it; RUSTC_BOOTSTRAP=1 lets stable
# take the sanitizer flags). Builds go to $FOG_FUZZ_TARGET_DIR, else
# $HOME/.cache/fog-fuzz-target, so reruns reuse them.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../fuzz"

limit=(-max_total_time=15)
targets=()
while [[ $# -gt 0 ]]; do
    case $1 in
    --seconds) limit=(-max_total_time="$2"); shift 2 ;;
    --runs) limit=(-runs="$2"); shift 2 ;;
    -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
    esac
done

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi
export RUSTC_BOOTSTRAP=1
TARGET_DIR="${FOG_FUZZ_TARGET_DIR:-${HOME:-/tmp}/.cache/fog-fuzz-target}"
mkdir -p "$TARGET_DIR"

if [[ ${#targets[@]} -eq 0 ]]; then
    mapfile -t targets < <(cargo fuzz list)
fi

echo "fuzz.sh: building ${#targets[@]} targets into $TARGET_DIR"
cargo fuzz build --target-dir "$TARGET_DIR"

summary=()
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t" "seeds/$t"
    log=$(mktemp)
    echo "fuzz.sh: $t"
    if ! cargo fuzz run --target-dir "$TARGET_DIR" "$t" "corpus/$t" "seeds/$t" -- \
        "${limit[@]}" -print_final_stats=1 -rss_limit_mb=4096 >"$log" 2>&1; then
        grep -v "^ *#[0-9]* 0x" "$log" | tail -n 80
        echo "fuzz.sh: $t FAILED (a crash or a build error; the input is in fuzz/artifacts/$t/)" >&2
        exit 1
    fi
    runs=$(awk '/stat::number_of_executed_units:/ { print $2 }' "$log")
    rate=$(awk '/stat::average_exec_per_sec:/ { print $2 }' "$log")
    secs=$(awk '/^Done [0-9]+ runs in/ { print $5 }' "$log" | tail -n 1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | awk '{ print $2 }')
    line=$(printf '%-22s %10s runs %6s s %8s exec/s  cov %s' "$t" "${runs:-?}" "${secs:-?}" "$rate" "${cov:-?}")
    echo "fuzz.sh: $line"
    summary+=("$line")
    rm -f "$log"
done

echo
echo "fuzz.sh: every target ran without a crash"
printf '  %s\n' "${summary[@]}"
