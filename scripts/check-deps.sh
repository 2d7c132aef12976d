#!/usr/bin/env bash
# Enforces Fog's dependency direction (docs/architecture.md) on the normal (non-dev,
# non-build) dependency trees of the workspace's crates.
#
#   1. Trusted crates do no I/O: the crypto, ORAM, domain and enclave crates never depend
#      on an async runtime, RPC stack, database, logging or CLI crate.
#   2. Trusted crates never reach up: they depend on no protocol, storage, service or
#      client crate of ours.
#   3. The client never depends on a server crate, a database or the enclave.
#   4. Servers never depend on each other.
#   5. The wallet never depends on a server crate, our databases or the enclave; nor do the
#      bindings (fog-ffi) or the web wallet (fog-web), which also never uses tonic or hyper.
#   6. Servers and the service-support crates reach an enclave only through its byte boundary
#      (fog-enclave-api): they never depend on fog-enclave, nor does fog-system, which runs
#      them in-process. fogd, the binary that loads the simulated enclaves and injects them,
#      is the one exception; the boundary crate never depends on the enclave it fronts.
#
# Crates that do not exist yet are skipped (they are named here so that the rules hold the
# day they are added). Exit status 0 when every rule holds, 1 otherwise, 2 on a tool error.
#
# Usage: scripts/check-deps.sh            (from anywhere inside the clone)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# --- the rules' vocabulary -------------------------------------------------------------

# Side of the enclave boundary that must run with no files, sockets, clocks-as-services,
# threads or logs.
TRUSTED=(fog-crypto fog-oram fog-account fog-transaction fog-types fog-enclave-api fog-enclave)

# What trusted crates may not use.
IO_CRATES=(tokio tonic hyper sqlx rusqlite postgres tokio-postgres redb heed lmdb log tracing clap)

# Audited exceptions: "FORBIDDEN:ONLY_PARENT" lets FORBIDDEN into a trusted tree when every
# package that depends on it there is ONLY_PARENT. `log` through dcap-qvl: the DCAP verifier
# (pinned to =0.7.1 in Cargo.toml, so a new version is audited again) declares `log` but calls
# no logging macro in what Fog compiles of it (its `report` feature, which fetches
# collateral and logs, is off); enclaves verify their peers' hardware evidence with it.
ALLOWED_VIA=("log:dcap-qvl")

# Our crates above the trusted layers.
PROTOCOL=(fog-api)
STORAGE=(fog-recovery-db fog-ledger-db)
SERVERS=(fog-ingest-server fog-view-server fog-ledger-server fog-report-server fog-node fogd)
CLIENTS=(fog-client fog-wallet fog-ffi fog-web)
SUPPORT=(fog-ledger-follower fog-host fog-router)

# Database crates: ours and the drivers.
DB_DRIVERS=(sqlx rusqlite postgres tokio-postgres redb heed lmdb)

# --- helpers ---------------------------------------------------------------------------

members() {
    local json
    json=$(cargo metadata --no-deps --format-version 1) || {
        echo "check-deps: cargo metadata failed" >&2
        exit 2
    }
    if command -v jq >/dev/null 2>&1; then
        jq -r '.packages[].name' <<<"$json"
    else
        # Package objects start with name, version, id; dependency entries do not.
        grep -o '"name":"[^"]*","version":"[^"]*","id":"' <<<"$json" | cut -d'"' -f4
    fi
}

mapfile -t MEMBERS < <(members | sort -u)
if [[ ${#MEMBERS[@]} -eq 0 ]]; then
    echo "check-deps: no workspace members found" >&2
    exit 2
fi

is_member() {
    local m
    for m in "${MEMBERS[@]}"; do
        [[ $m == "$1" ]] && return 0
    done
    return 1
}

# The names of every package in the crate's normal dependency tree, itself excluded.
dep_names() {
    local out
    out=$(cargo tree -e normal -p "$1" --prefix none --format '{p}') || {
        echo "check-deps: cargo tree failed for $1" >&2
        exit 2
    }
    awk -v self="$1" 'NF && $1 != self { print $1 }' <<<"$out" | sort -u
}

# allowed_via CRATE FORBIDDEN: whether an ALLOWED_VIA entry covers FORBIDDEN in CRATE's tree
# (every package depending on it there is the named parent).
allowed_via() {
    local crate=$1 forbidden=$2 entry parents
    for entry in "${ALLOWED_VIA[@]}"; do
        [[ ${entry%%:*} == "$forbidden" ]] || continue
        parents=$(cargo tree -e normal -p "$crate" -i "$forbidden" --depth 1 --prefix none \
            --format '{p}' 2>/dev/null | awk 'NF { print $1 }' | sort -u | grep -vxF -- "$forbidden" || true)
        [[ -n $parents && $parents == "${entry#*:}" ]] && return 0
    done
    return 1
}

FAILURES=0
CHECKED=()

# check CRATE RULE FORBIDDEN...: fails for each forbidden name in CRATE's tree.
check() {
    local crate=$1 rule=$2
    shift 2
    is_member "$crate" || return 0
    local deps forbidden
    deps=$(dep_names "$crate")
    for forbidden in "$@"; do
        [[ $forbidden == "$crate" ]] && continue
        if grep -qxF -- "$forbidden" <<<"$deps"; then
            if allowed_via "$crate" "$forbidden"; then
                continue
            fi
            echo "check-deps: FAIL: $crate depends on $forbidden ($rule). Path:"
            cargo tree -e normal -p "$crate" -i "$forbidden" 2>/dev/null | sed 's/^/    /' || true
            FAILURES=$((FAILURES + 1))
        fi
    done
    CHECKED+=("$crate")
}

# --- the rules -------------------------------------------------------------------------

for crate in "${TRUSTED[@]}"; do
    check "$crate" "trusted crates do no I/O" "${IO_CRATES[@]}"
    check "$crate" "trusted crates never depend on protocol, storage, service or client crates" \
        "${PROTOCOL[@]}" "${STORAGE[@]}" "${SERVERS[@]}" "${CLIENTS[@]}"
done

check fog-client "the client never depends on a server, a database or the enclave" \
    "${SERVERS[@]}" "${STORAGE[@]}" "${DB_DRIVERS[@]}" fog-enclave

for server in "${SERVERS[@]}"; do
    [[ $server == fogd ]] && continue # fogd is the one binary that bundles the servers.
    check "$server" "servers never depend on each other" "${SERVERS[@]}"
done

check fog-wallet "the wallet never depends on a server, our databases or the enclave" \
    "${SERVERS[@]}" "${STORAGE[@]}" fog-enclave

check fog-web "the web wallet never depends on a server, a database, the enclave or a native RPC stack" \
    "${SERVERS[@]}" "${STORAGE[@]}" "${DB_DRIVERS[@]}" fog-enclave tonic hyper

check fog-ffi "the client bindings never depend on a server, a database or the enclave" \
    "${SERVERS[@]}" "${STORAGE[@]}" "${DB_DRIVERS[@]}" fog-enclave

for support in "${SUPPORT[@]}"; do
    check "$support" "service-support crates depend on no server" "${SERVERS[@]}"
done

for crate in "${SERVERS[@]}" "${SUPPORT[@]}" fog-system fog-enclave-api; do
    [[ $crate == fogd ]] && continue # the composition root: it loads the simulated enclaves.
    check "$crate" "servers reach an enclave only through fog-enclave-api" fog-enclave
done

# --- report ----------------------------------------------------------------------------

mapfile -t CHECKED < <(printf '%s\n' "${CHECKED[@]}" | sort -u)
SKIPPED=()
for crate in "${TRUSTED[@]}" fog-client "${SERVERS[@]}" fog-wallet fog-ffi fog-web "${SUPPORT[@]}"; do
    is_member "$crate" || SKIPPED+=("$crate")
done
echo "check-deps: checked ${CHECKED[*]:-nothing}"
[[ ${#SKIPPED[@]} -gt 0 ]] && echo "check-deps: not in the workspace yet: ${SKIPPED[*]}"
if [[ $FAILURES -gt 0 ]]; then
    echo "check-deps: $FAILURES violation(s) of the dependency direction"
    exit 1
fi
echo "check-deps: the dependency direction holds"
