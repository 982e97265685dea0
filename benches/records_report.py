#!/usr/bin/env python3
"""The records section of BENCHMARKS.md, from the raw results of benches/records.sh.

    records_report.py RESULTS_DIR [options] > section.md 2> ratios.tsv

stdout: the markdown section; stderr: "label<TAB>value<TAB>target" rows for the ratios
table at the top of BENCHMARKS.md (target: a minimum, "<=X" for a maximum, "-" for none).
"""

import argparse
import csv
import json
import math
import os
import sys

ap = argparse.ArgumentParser()
ap.add_argument("dir")
for opt in ("records", "batch", "seed-concurrency", "seed-rounds", "concurrency", "duration", "warmup", "rounds",
            "server-cpu", "load-cpu", "clk-tck", "view-k", "elapsed"):
    ap.add_argument(f"--{opt}", type=int, required=True)
for opt in ("view-regex", "filter", "accept-encoding", "log-scenarios"):
    ap.add_argument(f"--{opt}", required=True)
a = ap.parse_args()
D = a.dir

VARIANTS = {
    "kb": "Keelbase as shipped",
    "kb_log": "Keelbase, access log on",
    "pb": "PocketBase as shipped (request logs on)",
    "pb_nolog": "PocketBase, request logs off",
}
SCENARIOS = [
    # name, title, request, target (Keelbase ÷ PocketBase, req/s)
    ("view", "View by random id",
     f"`GET /api/collections/posts/records/{{id}}`, id random over {a.view_k:,} seeded ids "
     f"(`oha --rand-regex-url …/records/{a.view_regex}`)", 7),
    ("list", "List with total",
     "`GET /api/collections/posts/records?page=1&perPage=30`", 50),
    ("list_skiptotal", "List with skipTotal",
     "`GET /api/collections/posts/records?page=1&perPage=30&skipTotal=1`", 10),
    ("filter", "Filtered, sorted list with total",
     f"`GET /api/collections/posts/records?filter={a.filter}&sort=-created` (URL-encoded)", 3),
    ("create", "Create",
     "`POST /api/collections/posts/records` with `{\"title\":\"bench\",\"views\":1,\"published\":true}`", 5),
]
BULK_TARGET = 10
RSS_TARGET = 0.25

nan = float("nan")


def read_tsv(name):
    path = os.path.join(D, name)
    if not os.path.exists(path):
        return []
    return list(csv.DictReader(open(path), delimiter="\t"))


def fnum(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return nan


def ratio(x, y):
    return x / y if y and not math.isnan(x) and not math.isnan(y) else nan


def fmt(v, digits=0):
    return "—" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:,.{digits}f}"


def mark(value, target, maximum=False):
    if math.isnan(value):
        return "MISS"
    return "PASS" if (value <= target if maximum else value >= target) else "MISS"


runs = read_tsv("runs.tsv")
rss_rows = read_tsv("rss.tsv")
seed_rows = read_tsv("seed.tsv")
ratios_out = []


def best(variant, scenario):
    mine = [r for r in runs if r["variant"] == variant and r["scenario"] == scenario]
    if not mine:
        return None
    b = max(mine, key=lambda r: fnum(r["req_per_s"]))
    return {
        "rps": fnum(b["req_per_s"]),
        "p50": fnum(b["p50_ms"]),
        "p99": fnum(b["p99_ms"]),
        "ok": fnum(b["ok"]),
        "cpu_best_round": fnum(b["cpu_us_per_req"]),
        "cpu": min(fnum(r["cpu_us_per_req"]) for r in mine),
        "rounds": ", ".join(f'{fnum(r["req_per_s"]):.0f}' for r in mine),
        "cpus": ", ".join(f'{fnum(r["cpu_us_per_req"]):.0f}' for r in mine),
        "encoding": b["encoding"] or "none",
        "statuses": [json.loads(r["statuses"]) for r in mine],
        "errors": [json.loads(r["errors"]) for r in mine],
    }


def seed_rounds(kind):
    out = []
    for row in seed_rows:
        if row["kind"] != kind:
            continue
        path = os.path.join(D, f"{kind}.seed.round{row['round']}.json")
        if not os.path.exists(path):
            continue
        s = json.load(open(path))
        cpu_s = fnum(row.get("server_ticks")) / a.clk_tck
        s["round"] = row["round"]
        s["server_cpu_us_per_record"] = cpu_s * 1e6 / s["ok_records"] if s["ok_records"] else nan
        s["server_busy"] = cpu_s / s["seconds"] if s["seconds"] else nan
        s["client_busy"] = s["client_cpu_s"] / s["seconds"] if s["seconds"] else nan
        s["total_after"] = row.get("total", "?")
        out.append(s)
    return out


def seed(kind):
    """The best bulk-insert round (highest records/s), its CPU per record the lowest."""
    rounds = seed_rounds(kind)
    if not rounds:
        return None
    b = dict(max(rounds, key=lambda s: s["records_per_s"]))
    b["server_cpu_us_per_record"] = min(s["server_cpu_us_per_record"] for s in rounds)
    b["all_rounds"] = ", ".join(f"{s['records_per_s']:.0f}" for s in rounds)
    b["all_cpus"] = ", ".join(f"{s['server_cpu_us_per_record']:.1f}" for s in rounds)
    b["failed_total"] = sum(s["failed_batches"] for s in rounds)
    b["timed_out_any"] = any(s["timed_out"] for s in rounds)
    return b


def peak(variant, phase=None):
    v = [int(r["peak_rss_kib"]) for r in rss_rows
         if r["variant"] == variant and (phase is None or r["phase"] == phase) and r["peak_rss_kib"].isdigit()]
    return max(v) / 1024 if v else nan


out = []
p = out.append
p(f"## Records: Keelbase vs PocketBase on a {a.records:,}-record collection")
p("")
p("The records REST API of both servers side by side (issue 5), from `benches/records.sh`")
p("(`KB_BENCH_ONLY=records bash benches/run.sh` runs it alone). Both get a fresh data dir, a")
p("superuser and a base collection `posts`: `title` (text), `views` (Keelbase `integer`,")
p("PocketBase `number`), `published` (bool), `created`/`updated` (Keelbase system fields,")
p("PocketBase autodate fields). Every API rule is `\"\"`, so the load runs as a guest. Indexes")
p("are the same on both: `(created)` (Keelbase adds it to every collection; PocketBase is")
p("given it explicitly) and `(published, created)`. Batches of at most")
p(f"{a.batch} requests on both (PocketBase's default and Keelbase's default `batch_max_requests`;")
p("PocketBase's batch API is off as shipped and is switched on through its settings).")
p("")
p(f"- **Bulk insert**: the same {a.records:,} records into each through `POST /api/batch`,")
p(f"  {a.batch} creates per batch, {a.seed_concurrency} batches in flight, from")
p("  `benches/records_seed.py` (Python stdlib, bodies encoded before the clock starts) pinned")
p(f"  to CPU {a.load_cpu}. Record *i*: id `r` + *i* zero-padded to 14 digits, `views` a")
p("  deterministic pseudo-random 0..999, `published` ~50 % true. A batch counts only if it")
p(f"  answers 200 with every item 200. {a.seed_rounds} rounds, servers interleaved, each into a")
p("  fresh data dir (the first round's is the table the other scenarios read); best round")
p("  shown, *server CPU µs/record* the lowest over the rounds.")
p(f"- **HTTP scenarios**: oha pinned to CPU {a.load_cpu}, {a.concurrency} connections,")
p(f"  {a.warmup} s warm-up then {a.duration} s measured, `accept-encoding: {a.accept_encoding}`")
p(f"  as a browser sends. Server pinned to CPU {a.server_cpu}. {a.rounds} rounds: in each round")
p("  each server variant is started on its data dir, runs the read scenarios in the order")
p("  below, and is stopped; creates run last, in rounds of their own, since they grow the")
p("  table. Best round (highest req/s) shown; *server CPU µs/req* is the lowest over the")
p("  rounds (it does not drop when something else takes the server's core).")
p("- **Variants**: Keelbase as shipped (access log is debug level, so off) and with its access")
p("  log on (`KEELBASE_LOG_LEVEL=info,keelbase::access=debug`, JSON lines on stderr to a file);")
p("  PocketBase as shipped (it logs every request into its `auxiliary.db`) and with request")
p("  logs off (`PATCH /api/settings {\"logs\":{\"maxDays\":0}}`). Keelbase's request log is a")
p("  tracing line, not a database write, until the logs issue lands.")
if a.log_scenarios.split() != [s[0] for s in SCENARIOS]:
    p(f"  The logging variants ran only: {', '.join(a.log_scenarios.split())}.")
p("- Targets are Keelbase ÷ PocketBase, both as shipped, by req/s (records/s for the bulk")
p("  insert); the same ratio against PocketBase with request logs off is shown too.")
p("- As shipped, Keelbase commits with `synchronous=FULL` (an acknowledged write survives a")
p("  power cut) and PocketBase with `synchronous=NORMAL`. Keelbase compresses JSON answers")
p("  when the client accepts it; PocketBase does not (see *content-encoding*).")
p("- Keelbase reuses a list's `count(*)` answer until the next commit, and for at most 1 s")
p("  (`src/db/counts.rs`); the read scenarios write nothing, so *list with total* and the")
p("  filtered list recount about once a second on Keelbase and on every request on")
p("  PocketBase.")
p(f"- Whole scenario: {a.elapsed // 60} min {a.elapsed % 60} s including setup.")
p("")

# Summary table.
p("| scenario | Keelbase | PocketBase | Keelbase ÷ PocketBase | target | | ÷ PocketBase logs off | | by server CPU per request | Keelbase p99 ms | PocketBase p99 ms |")
p("|---|---:|---:|---:|---:|---|---:|---|---:|---:|---:|")
kbs, pbs = seed("kb"), seed("pb")
if kbs and pbs:
    r = ratio(kbs["records_per_s"], pbs["records_per_s"])
    rc = ratio(pbs["server_cpu_us_per_record"], kbs["server_cpu_us_per_record"])
    p(f"| bulk insert (records/s) | {fmt(kbs['records_per_s'])} | {fmt(pbs['records_per_s'])} | "
      f"**{fmt(r, 2)}×** | ≥ {BULK_TARGET}× | {mark(r, BULK_TARGET)} | — | | {fmt(rc, 2)}× | — | — |")
    ratios_out.append(("Records bulk insert (batch): Keelbase ÷ PocketBase, records/s", r, str(BULK_TARGET)))
    ratios_out.append(("Records bulk insert (batch): Keelbase ÷ PocketBase, by server CPU per record", rc, "-"))
for name, title, _, target in SCENARIOS:
    kb, pb, pbn = best("kb", name), best("pb", name), best("pb_nolog", name)
    if not kb or not pb:
        continue
    r = ratio(kb["rps"], pb["rps"])
    rn = ratio(kb["rps"], pbn["rps"]) if pbn else nan
    rc = ratio(pb["cpu"], kb["cpu"])
    p(f"| {title[0].lower() + title[1:]} (req/s) | {fmt(kb['rps'])} | {fmt(pb['rps'])} | **{fmt(r, 2)}×** | ≥ {target}× | "
      f"{mark(r, target)} | {fmt(rn, 2) + '×' if pbn else '—'} | {mark(rn, target) if pbn else ''} | {fmt(rc, 2)}× | "
      f"{fmt(kb['p99'], 2)} | {fmt(pb['p99'], 2)} |")
    ratios_out.append((f"Records {title[0].lower() + title[1:]}: Keelbase ÷ PocketBase (as shipped), req/s", r, str(target)))
    if pbn:
        ratios_out.append((f"Records {title[0].lower() + title[1:]}: Keelbase ÷ PocketBase (request logs off), req/s", rn, str(target)))
    ratios_out.append((f"Records {title[0].lower() + title[1:]}: Keelbase ÷ PocketBase (as shipped), by server CPU per request", rc, "-"))
rss_kb, rss_pb = peak("kb"), peak("pb")
rr = ratio(rss_kb, rss_pb)
p(f"| peak RSS (MiB, lower is better) | {fmt(rss_kb, 1)} | {fmt(rss_pb, 1)} | **{fmt(rr, 2)}×** | ≤ {RSS_TARGET}× | "
  f"{mark(rr, RSS_TARGET, maximum=True)} | | | — | — | — |")
ratios_out.append(("Records peak RSS: Keelbase ÷ PocketBase (as shipped)", rr, f"<={RSS_TARGET}"))
p("")
p("*÷ PocketBase logs off* is Keelbase as shipped against PocketBase with request logs off,")
p("marked against the same target. *by server CPU per request* = PocketBase's server CPU time")
p("per request ÷ Keelbase's (higher is better for Keelbase), both as shipped.")
p("")

# Bulk insert.
p("### Bulk insert through `POST /api/batch`")
p("")
p("| server | records/s (best round) | seconds | records after | failed batches (all rounds) | server CPU µs/record (lowest) | server CPU busy | client CPU busy | peak RSS MiB | all rounds records/s | all rounds CPU µs/record |")
p("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
for kind, label in (("kb", "Keelbase"), ("pb", "PocketBase")):
    s = seed(kind)
    if not s:
        continue
    p(f"| {label} | **{fmt(s['records_per_s'])}** | {s['seconds']:.2f} | {s['total_after']} | "
      f"{s['failed_total']}{' (timed out)' if s['timed_out_any'] else ''} | **{fmt(s['server_cpu_us_per_record'], 1)}** | "
      f"{fmt(s['server_busy'] * 100)}% | {fmt(s['client_busy'] * 100)}% | {fmt(peak(kind, 'seed'), 1)} | "
      f"{s['all_rounds']} | {s['all_cpus']} |")
p("")
p("*Server CPU busy* (best round) = server CPU time ÷ wall time; under 100 % the server was")
p("waiting (on the single writer, on fsync, on the client), not computing.")
for kind, label in (("kb", "Keelbase"), ("pb", "PocketBase")):
    for s in seed_rounds(kind):
        if s["failures"]:
            p("")
            p(f"{label} bulk-insert failures, round {s['round']} (first {len(s['failures'])}, verbatim):")
            p("")
            for f in s["failures"]:
                p(f"- batch {f['batch']}: status {f['status']}; request `{f['request'][:300]}`; "
                  f"response `{f['response'][:1000]}`")
p("")

# One table per HTTP scenario.
for name, title, request, target in SCENARIOS:
    if not best("kb", name):
        continue
    p(f"### {title}")
    p("")
    p(request + ".")
    p("")
    p("| server | req/s (best round) | p50 ms | p99 ms | 2xx | server CPU µs/req (lowest) | server CPU busy | all rounds req/s | all rounds CPU µs/req | content-encoding |")
    p("|---|---:|---:|---:|---:|---:|---:|---|---|---|")
    for v, label in VARIANTS.items():
        b = best(v, name)
        if not b:
            continue
        p(f"| {label} | **{fmt(b['rps'])}** | {b['p50']:.2f} | {b['p99']:.2f} | {b['ok'] * 100:.1f}% | "
          f"**{fmt(b['cpu'], 1)}** | {fmt(b['cpu_best_round'] * b['rps'] / 1e4)}% | {b['rounds']} | {b['cpus']} | "
          f"{b['encoding']} |")
    kb, kbl, pb, pbn = (best(v, name) for v in VARIANTS)
    lines = []
    for lhs, lname, rhs, rname in ((kb, "Keelbase as shipped", pb, "PocketBase as shipped"),
                                   (kb, "Keelbase as shipped", pbn, "PocketBase logs off"),
                                   (kbl, "Keelbase access log on", pb, "PocketBase as shipped"),
                                   (kbl, "Keelbase access log on", pbn, "PocketBase logs off")):
        if lhs and rhs:
            r = ratio(lhs["rps"], rhs["rps"])
            lines.append(f"- {lname} ÷ {rname}: **{fmt(r, 2)}×** req/s (target ≥ {target}×: {mark(r, target)}), "
                         f"{fmt(ratio(rhs['cpu'], lhs['cpu']), 2)}× by server CPU per request, "
                         f"p99 {fmt(lhs['p99'], 2)} vs {fmt(rhs['p99'], 2)} ms")
    p("")
    p("\n".join(lines))
    # Anything but 2xx, and errors other than requests cut by the deadline.
    odd = []
    for v, label in VARIANTS.items():
        for r in runs:
            if r["variant"] != v or r["scenario"] != name:
                continue
            st = {k: n for k, n in json.loads(r["statuses"]).items() if not k.startswith("2")}
            er = {k: n for k, n in json.loads(r["errors"]).items() if k != "aborted due to deadline"}
            if st or er:
                odd.append(f"- {label}, round {r['round']}: statuses {json.dumps(json.loads(r['statuses']))}, "
                           f"errors {json.dumps(er)}")
    if odd:
        p("")
        p("Non-2xx answers or errors:")
        p("")
        p("\n".join(odd))
    p("")

# Memory and logs.
p("### Peak RSS and request logs")
p("")
p("`VmHWM` of each server process just before it is stopped (one process per phase and")
p("round), in MiB, max over the processes; *threads* = the process's threads at that moment")
p("(max); *log lines* = lines the process wrote to stdout/stderr (max over its processes;")
p("Keelbase's access log is one JSON line per request).")
p("")
p("| server | bulk insert | reads | creates | peak | threads after bulk insert / reads / creates | log lines |")
p("|---|---:|---:|---:|---:|---:|---:|")


def most(v, key, phase=None):
    x = [int(r[key]) for r in rss_rows
         if r["variant"] == v and (phase is None or r["phase"] == phase) and r[key].isdigit()]
    return str(max(x)) if x else "—"


for v, label in VARIANTS.items():
    if most(v, "log_lines") == "—":
        continue
    p(f"| {label} | {fmt(peak(v, 'seed'), 1)} | {fmt(peak(v, 'reads'), 1)} | {fmt(peak(v, 'create'), 1)} | "
      f"**{fmt(peak(v), 1)}** | {most(v, 'threads', 'seed')} / {most(v, 'threads', 'reads')} / "
      f"{most(v, 'threads', 'create')} | {most(v, 'log_lines')} |")
p("")
p(f"Keelbase ÷ PocketBase peak RSS (both as shipped, bulk insert included): **{fmt(rr, 2)}×** "
  f"(target ≤ {RSS_TARGET}×: {mark(rr, RSS_TARGET, maximum=True)}).")
pb_logs_path = os.path.join(D, "pb_logs.tsv")
pb_logs = [l.rstrip("\n").split("\t") for l in open(pb_logs_path) if l.strip()] if os.path.exists(pb_logs_path) else []
if pb_logs:
    p("")
    p("PocketBase rows in `_logs` (its `auxiliary.db`) after each process (saving")
    p("`maxDays: 0` also deletes the stored logs, so each as-shipped count is roughly that")
    p("process's own requests): "
      + ", ".join(f"{VARIANTS.get(v, v).split(' (')[0]} {ph}{'' if rd == '0' else ' r' + rd}: {n}"
                  for v, ph, rd, n in pb_logs) + ".")

print("\n".join(out))
for label, value, target in ratios_out:
    print(f"{label}\t{value:.6f}\t{target}", file=sys.stderr)
