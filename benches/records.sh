# shellcheck shell=bash disable=SC2317 # sourced by benches/run.sh; functions run indirectly
# The records scenario of benches/run.sh (issue 5): the records REST API of Keelbase and
# PocketBase side by side on the same `posts` collection of KB_BENCH_RECORDS records.
# Sourced by run.sh, whose helpers it uses (start_server, wait_ready, stop_pid, cpu_ticks,
# peak_rss_kib, summarize, add_ratio, log, die); run it with
#
#   KB_BENCH_ONLY=records bash benches/run.sh
#
# 1. Setup, once per server: a fresh data dir, a superuser, the collection `posts` (title
#    text, views number, published bool, created/updated autodates; every rule "" so the
#    load runs as a guest; the same two indexes on both: (created) and (published,
#    created)), batch size $RECORDS_BATCH on both.
# 2. Bulk insert: benches/records_seed.py (pinned to the load CPU) POSTs the same
#    KB_BENCH_RECORDS records to /api/batch, $RECORDS_BATCH creates per batch,
#    $RECORDS_SEED_CONCURRENCY batches in flight. $RECORDS_SEED_ROUNDS rounds, servers
#    interleaved, each into a fresh data dir; the first round's is the one step 3 reads.
# 3. oha at $RECORDS_CONCURRENCY connections: view by random id, list (with total), list
#    with skipTotal, filtered + sorted list; each server variant is restarted on its data
#    dir for each round, the scenarios run in that order, warm-up then measured run.
#    Creates run last (they grow the table), in rounds of their own.
#
# Server variants: Keelbase as shipped and with its access log on; PocketBase as shipped
# (request logs into its auxiliary.db) and with request logs off (settings logs.maxDays=0).
#
# Knobs: KB_BENCH_RECORDS (100000), KB_BENCH_RECORDS_BATCH (50),
# KB_BENCH_RECORDS_SEED_CONCURRENCY (32), KB_BENCH_RECORDS_SEED_TIMEOUT (600 s),
# KB_BENCH_RECORDS_SEED_ROUNDS (2),
# KB_BENCH_RECORDS_CONCURRENCY (32), KB_BENCH_RECORDS_DURATION (6 s),
# KB_BENCH_RECORDS_WARMUP (1 s), KB_BENCH_RECORDS_ROUNDS (3),
# KB_BENCH_RECORDS_LOG_SCENARIOS (the scenarios the logging variants run; default all:
# "view list list_skiptotal filter create").

RECORDS="${KB_BENCH_RECORDS:-100000}"
RECORDS_BATCH="${KB_BENCH_RECORDS_BATCH:-50}"
RECORDS_SEED_CONCURRENCY="${KB_BENCH_RECORDS_SEED_CONCURRENCY:-32}"
RECORDS_SEED_TIMEOUT="${KB_BENCH_RECORDS_SEED_TIMEOUT:-600}"
RECORDS_SEED_ROUNDS="${KB_BENCH_RECORDS_SEED_ROUNDS:-2}"
RECORDS_CONCURRENCY="${KB_BENCH_RECORDS_CONCURRENCY:-32}"
RECORDS_DURATION="${KB_BENCH_RECORDS_DURATION:-6}"
RECORDS_WARMUP="${KB_BENCH_RECORDS_WARMUP:-1}"
RECORDS_ROUNDS="${KB_BENCH_RECORDS_ROUNDS:-3}"
RECORDS_LOG_SCENARIOS="${KB_BENCH_RECORDS_LOG_SCENARIOS:-view list list_skiptotal filter create}"

RECORDS_EMAIL="bench@example.com"
RECORDS_PASSWORD="bench-password-123"
RECORDS_VARIANTS=(kb kb_log pb pb_nolog)
RECORDS_READS=(view list list_skiptotal filter)
# The filter of the filtered list, and the same URL-encoded.
RECORDS_FILTER='(views > 500 && published = true)'
RECORDS_FILTER_Q='%28views%20%3E%20500%20%26%26%20published%20%3D%20true%29'
RECORDS_CREATE_BODY='{"title":"bench","views":1,"published":true}'

REC=""      # $RESULTS/records
REC_PORT="" # port of the running server

# records_dir KIND [ROUND] : the data dir of kb or pb (shared by a server's variants), or
# of a later bulk-insert round. Each in a folder of its own: both servers write migration
# files beside their data dir (kb_migrations, pb_migrations), and PocketBase applies
# the ones it finds there on start.
records_dir() {
    if [[ -z "${2:-}" || "$2" == 1 ]]; then
        echo "$WORK/records-$1/data"
    else
        echo "$WORK/records-$1-seed$2/data"
    fi
}

# records_view_regex N : a regex of random ids over the first K seeded records, K = N
# rounded down to d×10^m (all N for 100000); prints "REGEX K".
records_view_regex() {
    python3 - "$1" <<'PY'
import sys
n = int(sys.argv[1])
m = len(str(n)) - 1
d = n // 10**m
if d == 1:
    regex = "r" + "0" * (14 - m) + (f"[0-9]{{{m}}}" if m else "")
else:
    regex = "r" + "0" * (13 - m) + f"[0-{d - 1}]" + (f"[0-9]{{{m}}}" if m else "")
print(regex, d * 10**m)
PY
}

# records_api PORT METHOD PATH TOKEN [BODY] : one JSON API call; dies unless 2xx.
records_api() {
    local port=$1 method=$2 path=$3 token=$4 body=${5:-} out code
    local -a args=(-sS --max-time 30 -X "$method" -o "$REC/api.out" -w '%{http_code}'
        -H 'content-type: application/json')
    [[ -n "$token" ]] && args+=(-H "authorization: $token")
    [[ -n "$body" ]] && args+=(--data-binary "$body")
    code="$(curl "${args[@]}" "http://127.0.0.1:$port$path")" || code=000
    out="$(cat "$REC/api.out" 2>/dev/null || true)"
    if [[ "$code" != 2* ]]; then
        die "$method $path on port $port answered $code: $out"
    fi
    printf '%s' "$out"
}

records_token() {
    records_api "$1" POST /api/collections/_superusers/auth-with-password "" \
        "{\"identity\":\"$RECORDS_EMAIL\",\"password\":\"$RECORDS_PASSWORD\"}" |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])'
}

# records_start VARIANT LOGFILE [DIR] : start a server variant on its data dir (or DIR),
# pinned to $SERVER_CPU; sets SERVER_PID and REC_PORT. PocketBase's request logging is
# switched on (maxDays 5, its default) or off (0) through its settings API.
records_start() {
    local variant=$1 logfile=$2 dir=${3:-}
    REC_PORT="$(free_port)"
    case "$variant" in
    kb | kb_log)
        dir="${dir:-$(records_dir kb)}"
        local -a envs=(env -u RUST_LOG -u KEELBASE_LOG_LEVEL -u KEELBASE_DEV
            "KEELBASE_BATCH_MAX_REQUESTS=$RECORDS_BATCH")
        [[ "$variant" == kb_log ]] && envs+=("KEELBASE_LOG_LEVEL=info,keelbase::access=debug")
        start_server "$logfile" "${envs[@]}" "$KEELBASE_BIN" serve --http "127.0.0.1:$REC_PORT" --dir "$dir"
        ;;
    pb | pb_nolog)
        dir="${dir:-$(records_dir pb)}"
        start_server "$logfile" "$POCKETBASE_BIN" serve --http "127.0.0.1:$REC_PORT" --dir "$dir"
        ;;
    esac
    if ! wait_ready "http://127.0.0.1:$REC_PORT/api/health" "$SERVER_PID"; then
        tail -n 20 "$logfile" >&2 || true
        die "$variant did not become ready"
    fi
    if [[ "$variant" == pb || "$variant" == pb_nolog ]]; then
        local days=5 token
        [[ "$variant" == pb_nolog ]] && days=0
        token="$(records_token "$REC_PORT")"
        records_api "$REC_PORT" PATCH /api/settings "$token" \
            "{\"batch\":{\"enabled\":true,\"maxRequests\":$RECORDS_BATCH},\"logs\":{\"maxDays\":$days}}" >/dev/null
    fi
}

# records_stop VARIANT PHASE ROUND LOGFILE [DIR] : record peak RSS, threads (and for
# PocketBase its `_logs` rows), stop the server.
records_stop() {
    local variant=$1 phase=$2 round=$3 logfile=$4 dir=${5:-} rss threads
    rss="$(peak_rss_kib "$SERVER_PID")"
    threads="$(awk '/^Threads:/ { print $2 }' "/proc/$SERVER_PID/status" 2>/dev/null || echo 0)"
    stop_pid "$SERVER_PID"
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$variant" "$phase" "$round" "$rss" "$(wc -l <"$logfile")" "$threads" >>"$REC/rss.tsv"
    if [[ "$variant" == pb* ]]; then
        python3 - "${dir:-$(records_dir pb)}/auxiliary.db" "$variant" "$phase" "$round" >>"$REC/pb_logs.tsv" <<'PY' || true
import sqlite3, sys
try:
    n = sqlite3.connect(sys.argv[1]).execute("SELECT count(*) FROM _logs").fetchone()[0]
except Exception as e:
    n = f"unknown ({e})"
print("\t".join(sys.argv[2:5] + [str(n)]))
PY
    fi
}

# records_setup KIND ROUND : fresh data dir, superuser, collection, bulk insert
# (measured). Round 1 builds the data dir the other scenarios read; the data dirs of
# later rounds are thrown away.
records_setup() {
    local kind=$1 round=$2 dir logfile token coll ticks0 ticks1 rc=0 out
    dir="$(records_dir "$kind" "$round")"
    logfile="$REC/$kind.seed.round$round.log"
    out="$REC/$kind.seed.round$round.json"
    rm -rf "$(dirname "$dir")"
    mkdir -p "$(dirname "$dir")"
    case "$kind" in
    kb)
        "$KEELBASE_BIN" superuser upsert "$RECORDS_EMAIL" "$RECORDS_PASSWORD" --dir "$dir" >"$REC/$kind.superuser.log" 2>&1 ||
            die "keelbase superuser upsert failed: $(cat "$REC/$kind.superuser.log")"
        coll='{"name":"posts","schema":{"type":"object","properties":{"title":{"type":"string"},"views":{"type":"integer"},"published":{"type":"boolean"}}},"listRule":"","viewRule":"","createRule":"","updateRule":"","deleteRule":"","indexes":[{"name":"idx_pub","fields":["published","created"]}]}'
        ;;
    pb)
        "$POCKETBASE_BIN" superuser upsert "$RECORDS_EMAIL" "$RECORDS_PASSWORD" --dir "$dir" >"$REC/$kind.superuser.log" 2>&1 ||
            die "pocketbase superuser upsert failed: $(cat "$REC/$kind.superuser.log")"
        # Keelbase indexes `created` on every collection; PocketBase gets the same index.
        coll='{"name":"posts","type":"base","listRule":"","viewRule":"","createRule":"","updateRule":"","deleteRule":"","fields":[{"name":"title","type":"text"},{"name":"views","type":"number"},{"name":"published","type":"bool"},{"name":"created","type":"autodate","onCreate":true},{"name":"updated","type":"autodate","onCreate":true,"onUpdate":true}],"indexes":["CREATE INDEX idx_created ON posts (created)","CREATE INDEX idx_pub ON posts (published, created)"]}'
        ;;
    esac
    records_start "$kind" "$logfile" "$dir"
    token="$(records_token "$REC_PORT")"
    records_api "$REC_PORT" POST /api/collections "$token" "$coll" >"$REC/$kind.collection.json"
    log "records: $kind bulk insert round $round: $RECORDS records, $RECORDS_BATCH per batch, $RECORDS_SEED_CONCURRENCY in flight"
    ticks0="$(cpu_ticks "$SERVER_PID")"
    taskset -c "$LOAD_CPU" python3 "$ROOT/benches/records_seed.py" --url "http://127.0.0.1:$REC_PORT" \
        --records "$RECORDS" --batch "$RECORDS_BATCH" --concurrency "$RECORDS_SEED_CONCURRENCY" \
        --timeout "$RECORDS_SEED_TIMEOUT" --out "$out" || rc=$?
    ticks1="$(cpu_ticks "$SERVER_PID")"
    if ((rc != 0)); then
        log "warning: $kind bulk insert had failures (see $out)"
    fi
    # The collection's size as the server sees it.
    local total
    total="$(records_api "$REC_PORT" GET '/api/collections/posts/records?perPage=1' "" |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["totalItems"])')"
    printf '%s\t%s\t%s\t%s\t%s\n' "$kind" "$round" "$((ticks1 - ticks0))" "$total" "$rc" >>"$REC/seed.tsv"
    records_stop "$kind" seed "$round" "$logfile" "$dir"
    log "records: $kind holds $total records"
    ((round > 1)) && rm -rf "$(dirname "$dir")"
    return 0
}

# records_args SCENARIO : the oha target arguments of a scenario (port $REC_PORT).
records_args() {
    local base="http://127.0.0.1:$REC_PORT/api/collections/posts/records"
    case "$1" in
    view) printf '%s\n' --rand-regex-url "$base/$RECORDS_VIEW_REGEX" ;;
    list) printf '%s\n' "$base?page=1&perPage=30" ;;
    list_skiptotal) printf '%s\n' "$base?page=1&perPage=30&skipTotal=1" ;;
    filter) printf '%s\n' "$base?filter=$RECORDS_FILTER_Q&sort=-created" ;;
    create) printf '%s\n' -m POST -T application/json -d "$RECORDS_CREATE_BODY" "$base" ;;
    esac
}

# records_probe VARIANT SCENARIO : one request by curl, as the load would send it: keep
# the answer, note its status and content-encoding.
records_probe() {
    local variant=$1 scenario=$2 base="http://127.0.0.1:$REC_PORT/api/collections/posts/records" url
    local -a args=(-sS --max-time 10 -o "$REC/$variant.$scenario.probe.json" -D "$REC/$variant.$scenario.probe.headers"
        -H "accept-encoding: identity")
    case "$scenario" in
    view) url="$base/r$(printf '%014d' $((RECORDS_VIEW_K - 1)))" ;;
    create)
        url="$base"
        args+=(-X POST -H 'content-type: application/json' --data-binary "$RECORDS_CREATE_BODY")
        ;;
    *) url="$(records_args "$scenario")" ;;
    esac
    curl "${args[@]}" "$url" || true
    # The Content-Encoding of the answer to what oha sends.
    if [[ "$scenario" != create ]]; then
        curl -sS --max-time 10 -o /dev/null -D - -H "accept-encoding: $ACCEPT_ENCODING" "$url" |
            awk -F': *' 'tolower($1) == "content-encoding" { gsub(/\r/, "", $2); print $2 }' \
                >"$REC/$variant.$scenario.encoding"
    else
        echo "n/a" >"$REC/$variant.$scenario.encoding"
    fi
    local status
    status="$(awk 'NR == 1 { print $2 }' "$REC/$variant.$scenario.probe.headers" 2>/dev/null || true)"
    if [[ "$status" != 200 ]]; then
        log "warning: records $variant $scenario: $url answered ${status:-nothing}: $(head -c 500 "$REC/$variant.$scenario.probe.json" 2>/dev/null || true)"
    fi
}

# records_load VARIANT SCENARIO ROUND : warm-up, then the measured oha run; one row.
records_load() {
    local variant=$1 scenario=$2 round=$3 out ticks0 ticks1 stats cpu_us
    local -a target
    mapfile -t target < <(records_args "$scenario")
    out="$REC/$variant.$scenario.round$round.json"
    ((round == 1)) && records_probe "$variant" "$scenario"
    local -a oha=(taskset -c "$LOAD_CPU" "$LOAD_TOOL_BIN" --no-tui -H "accept-encoding: $ACCEPT_ENCODING"
        --output-format json -c "$RECORDS_CONCURRENCY")
    timeout $((RECORDS_WARMUP + 60)) "${oha[@]}" -z "${RECORDS_WARMUP}s" "${target[@]}" >/dev/null
    ticks0="$(cpu_ticks "$SERVER_PID")"
    timeout $((RECORDS_DURATION + 60)) "${oha[@]}" -z "${RECORDS_DURATION}s" "${target[@]}" >"$out"
    ticks1="$(cpu_ticks "$SERVER_PID")"
    stats="$(summarize "$out")"
    cpu_us="$(awk -v t="$((ticks1 - ticks0))" -v hz="$CLK_TCK" '{ printf "%.2f", t / hz * 1e6 / ($5 > 0 ? $5 : 1) }' <<<"$stats")"
    # shellcheck disable=SC2086 # $stats is five space-separated numbers
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$variant" "$scenario" "$round" $stats "$cpu_us" \
        "$(python3 -c 'import json, sys; r = json.load(open(sys.argv[1])); print(json.dumps(r.get("statusCodeDistribution", {}), separators=(",", ":")))' "$out")" \
        "$(python3 -c 'import json, sys; r = json.load(open(sys.argv[1])); print(json.dumps(r.get("errorDistribution", {}), separators=(",", ":")))' "$out")" \
        "$(cat "$REC/$variant.$scenario.encoding" 2>/dev/null || echo '?')" >>"$REC/runs.tsv"
    log "records $variant $scenario round $round: $(awk '{ printf "%s req/s, p99 %s ms, ok %s", $1, $3, $4 }' <<<"$stats"), ${cpu_us} µs CPU/req"
}

# records_wants VARIANT SCENARIO : whether this variant runs this scenario.
records_wants() {
    [[ "$1" == kb || "$1" == pb ]] || [[ " $RECORDS_LOG_SCENARIOS " == *" $2 "* ]]
}

scenario_records() {
    [[ "$LOAD_TOOL" == oha ]] || die "the records scenario needs oha (--rand-regex-url, POST bodies)"
    REC="$RESULTS/records"
    mkdir -p "$REC"
    printf 'variant\tscenario\tround\treq_per_s\tp50_ms\tp99_ms\tok\trequests\tcpu_us_per_req\tstatuses\terrors\tencoding\n' >"$REC/runs.tsv"
    printf 'variant\tphase\tround\tpeak_rss_kib\tlog_lines\tthreads\n' >"$REC/rss.tsv"
    printf 'kind\tround\tserver_ticks\ttotal\trc\n' >"$REC/seed.tsv"
    : >"$REC/pb_logs.tsv"
    read -r RECORDS_VIEW_REGEX RECORDS_VIEW_K < <(records_view_regex "$RECORDS")
    local started=$SECONDS variant scenario round logfile

    for ((round = 1; round <= RECORDS_SEED_ROUNDS; round++)); do
        records_setup kb "$round"
        records_setup pb "$round"
    done

    for ((round = 1; round <= RECORDS_ROUNDS; round++)); do
        for variant in "${RECORDS_VARIANTS[@]}"; do
            logfile="$REC/$variant.reads.round$round.log"
            records_start "$variant" "$logfile"
            for scenario in "${RECORDS_READS[@]}"; do
                records_wants "$variant" "$scenario" && records_load "$variant" "$scenario" "$round"
            done
            records_stop "$variant" reads "$round" "$logfile"
        done
    done
    for ((round = 1; round <= RECORDS_ROUNDS; round++)); do
        for variant in "${RECORDS_VARIANTS[@]}"; do
            records_wants "$variant" create || continue
            logfile="$REC/$variant.create.round$round.log"
            records_start "$variant" "$logfile"
            records_load "$variant" create "$round"
            records_stop "$variant" create "$round" "$logfile"
        done
    done
    local elapsed=$((SECONDS - started))
    log "records: done in ${elapsed}s"

    python3 "$ROOT/benches/records_report.py" "$REC" >"$SECTIONS/30-records.md" 2>"$REC/ratios.tsv" \
        --records "$RECORDS" --batch "$RECORDS_BATCH" --seed-concurrency "$RECORDS_SEED_CONCURRENCY" \
        --seed-rounds "$RECORDS_SEED_ROUNDS" \
        --concurrency "$RECORDS_CONCURRENCY" --duration "$RECORDS_DURATION" --warmup "$RECORDS_WARMUP" \
        --rounds "$RECORDS_ROUNDS" --server-cpu "$SERVER_CPU" --load-cpu "$LOAD_CPU" --clk-tck "$CLK_TCK" \
        --view-regex "$RECORDS_VIEW_REGEX" --view-k "$RECORDS_VIEW_K" --filter "$RECORDS_FILTER" \
        --accept-encoding "$ACCEPT_ENCODING" --log-scenarios "$RECORDS_LOG_SCENARIOS" \
        --elapsed "$elapsed" || die "records report failed"
    local label value target
    while IFS=$'\t' read -r label value target; do
        add_ratio "$label" "$value" "$target"
    done <"$REC/ratios.tsv"
}
