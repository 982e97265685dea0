#!/usr/bin/env python3
"""Bulk-insert N records into a `posts` collection through `POST /api/batch`.

Used by benches/records.sh (the records scenario of benches/run.sh); stdlib only.

    records_seed.py --url http://127.0.0.1:8090 --records 100000 --batch 50 \
        --concurrency 32 --timeout 600 --out seed.json

Record i (0 <= i < N) is, on every server alike:
    id        "r" + i zero-padded to 14 digits (15 chars, [a-z0-9])
    title     "post i"
    views     a deterministic pseudo-random integer in 0..999
    published a deterministic pseudo-random bool, ~50 % true
The records are cut into batches of --batch creates, all encoded before the clock starts;
--concurrency threads, each with its own keep-alive connection, take the next batch until
none is left or --timeout seconds have passed. A batch counts only if the answer is 200
with every item 200. The first failures are kept verbatim (request and response) in the
JSON report.
"""

import argparse
import http.client
import json
import os
import sys
import threading
import time
import urllib.parse


def record(i):
    # Knuth's multiplicative hash: deterministic, well spread, no state.
    x = (i * 2654435761 + 0x9E3779B9) % (1 << 32)
    return {
        "id": f"r{i:014d}",
        "title": f"post {i}",
        "views": x % 1000,
        "published": (x >> 16) & 1 == 1,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--collection", default="posts")
    ap.add_argument("--records", type=int, required=True)
    ap.add_argument("--batch", type=int, default=50)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--timeout", type=float, default=600.0)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    u = urllib.parse.urlsplit(args.url)
    host, port = u.hostname, u.port or 80
    item_url = f"/api/collections/{args.collection}/records"
    bodies = []
    for start in range(0, args.records, args.batch):
        items = [
            {"method": "POST", "url": item_url, "body": record(i)}
            for i in range(start, min(start + args.batch, args.records))
        ]
        bodies.append((len(items), json.dumps({"requests": items}, separators=(",", ":")).encode()))

    lock = threading.Lock()
    state = {"next": 0, "ok_batches": 0, "ok_records": 0, "failed_batches": 0, "failures": [],
             "statuses": {}}
    t0 = time.monotonic()
    deadline = t0 + args.timeout
    headers = {"content-type": "application/json", "accept-encoding": "identity"}

    def fail(idx, body, status, text):
        with lock:
            state["failed_batches"] += 1
            state["statuses"][str(status)] = state["statuses"].get(str(status), 0) + 1
            if len(state["failures"]) < 5:
                req = body.decode()
                state["failures"].append({
                    "batch": idx,
                    "request": f"POST /api/batch ({len(req)} bytes) " + (req if len(req) <= 600 else req[:600] + "…"),
                    "status": status,
                    "response": text if len(text) <= 4000 else text[:4000] + "…",
                })

    def worker():
        conn = None
        while True:
            with lock:
                idx = state["next"]
                if idx >= len(bodies) or time.monotonic() >= deadline:
                    break
                state["next"] += 1
            n, body = bodies[idx]
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(host, port, timeout=60)
                conn.request("POST", "/api/batch", body, headers)
                resp = conn.getresponse()
                data = resp.read()
                status = resp.status
                if resp.getheader("connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as e:
                if conn is not None:
                    conn.close()
                conn = None
                fail(idx, body, "exception", repr(e))
                continue
            text = data.decode("utf-8", "replace")
            if status != 200:
                fail(idx, body, status, text)
                continue
            try:
                items = json.loads(text)
                bad = [it for it in items if it.get("status") != 200]
            except (ValueError, AttributeError):
                bad = ["unparsable"]
                items = []
            if bad or len(items) != n:
                fail(idx, body, f"200 with item errors", text)
                continue
            with lock:
                state["ok_batches"] += 1
                state["ok_records"] += n
                state["statuses"]["200"] = state["statuses"].get("200", 0) + 1
        if conn is not None:
            conn.close()

    cpu0 = os.times()
    threads = [threading.Thread(target=worker) for _ in range(args.concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    secs = time.monotonic() - t0
    cpu1 = os.times()
    report = {
        "records": args.records,
        "batch": args.batch,
        "concurrency": args.concurrency,
        "batches": len(bodies),
        "batches_sent": state["next"],
        "ok_batches": state["ok_batches"],
        "ok_records": state["ok_records"],
        "failed_batches": state["failed_batches"],
        "timed_out": state["next"] < len(bodies),
        "seconds": secs,
        "records_per_s": state["ok_records"] / secs if secs > 0 else 0.0,
        "client_cpu_s": (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system),
        "statuses": state["statuses"],
        "failures": state["failures"],
    }
    with open(args.out, "w") as f:
        json.dump(report, f, indent=1)
    print(f"{report['ok_records']} records in {secs:.2f} s = {report['records_per_s']:.0f} records/s, "
          f"{report['failed_batches']} failed batches, client CPU {report['client_cpu_s']:.2f} s",
          file=sys.stderr)
    sys.exit(0 if report["failed_batches"] == 0 and not report["timed_out"] else 1)


if __name__ == "__main__":
    main()
