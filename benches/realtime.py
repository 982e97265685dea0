#!/usr/bin/env python3
"""Realtime fan-out load (issue 11): SUBSCRIBERS guest SSE clients subscribe to
`rtbench/*`, then CREATES records are created at RATE per second by a superuser; every
subscriber should get every create. Reports delivered % and the latency of each delivery,
from just before the create request was sent to the event's arrival at the subscriber
(so it includes the request and the commit; the same clock, one process).

The SSE wire protocol is PocketBase's, so the same tool measures Keelbase (`--server kb`)
and PocketBase (`--server pb`); only the collection definition differs. Stdlib only: raw
asyncio sockets, chunked transfer decoding, SSE framing.

  python3 benches/realtime.py --url http://127.0.0.1:8090 --email E --password P \
      [--server kb|pb] [--subscribers 500] [--creates 200] [--rate 200] \
      [--rule 'published = true'] [--pid SERVER_PID] [--out result.json]

Exit status 0 when every event was delivered, 1 otherwise. Run by benches/realtime.sh.
"""

import argparse
import asyncio
import json
import statistics
import sys
import time
from urllib.parse import urlparse

COLLECTION = "rtbench"


class Http:
    """One keep-alive HTTP/1.1 connection: request() returns (status, body bytes)."""

    def __init__(self, host, port):
        self.host, self.port = host, port
        self.reader = self.writer = None

    async def request(self, method, path, body=None, token=None):
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        data = b"" if body is None else json.dumps(body).encode()
        head = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}",
                "Content-Type: application/json", f"Content-Length: {len(data)}",
                "Accept-Encoding: identity"]
        if token:
            head.append(f"Authorization: {token}")
        self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + data)
        await self.writer.drain()
        status, headers = await read_head(self.reader)
        if headers.get("transfer-encoding", "").lower() == "chunked":
            out = bytearray()
            async for chunk in chunks(self.reader):
                out += chunk
            payload = bytes(out)
        else:
            payload = await self.reader.readexactly(int(headers.get("content-length", "0")))
        return status, payload

    def close(self):
        if self.writer is not None:
            self.writer.close()


async def read_head(reader):
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionError("connection closed before the response")
    status = int(status_line.split()[1])
    headers = {}
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b"\n", b""):
            return status, headers
        k, _, v = line.decode("latin-1").partition(":")
        headers[k.strip().lower()] = v.strip()


async def chunks(reader):
    """The chunks of a chunked body, until its last chunk."""
    while True:
        size_line = await reader.readline()
        if not size_line:
            return
        size = int(size_line.split(b";")[0].strip() or b"0", 16)
        if size == 0:
            await reader.readline()
            return
        data = await reader.readexactly(size)
        await reader.readexactly(2)
        yield data


class Subscriber:
    def __init__(self):
        self.client_id = None
        self.connected = asyncio.Event()
        self.latencies = []
        self.seen = set()
        self.error = None


async def subscribe_one(host, port, sub, sent, rule_check):
    """Open the stream, wait for PB_CONNECT, then collect record events until cancelled."""
    try:
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(f"GET /api/realtime HTTP/1.1\r\nHost: {host}:{port}\r\n"
                     "Accept: text/event-stream\r\nAccept-Encoding: identity\r\n\r\n".encode())
        await writer.drain()
        status, headers = await read_head(reader)
        if status != 200:
            raise ConnectionError(f"GET /api/realtime: {status}")
        chunked = headers.get("transfer-encoding", "").lower() == "chunked"
        buf = b""

        async def body():
            if chunked:
                async for c in chunks(reader):
                    yield c
            else:
                while True:
                    c = await reader.read(65536)
                    if not c:
                        return
                    yield c

        async for c in body():
            buf += c
            while b"\n\n" in buf:
                block, buf = buf.split(b"\n\n", 1)
                fields = {}
                for line in block.split(b"\n"):
                    if line.startswith(b":"):
                        continue
                    k, _, v = line.partition(b":")
                    fields[k] = v
                event = fields.get(b"event", b"")
                if event == b"PB_CONNECT":
                    sub.client_id = fields.get(b"id", b"").decode()
                    sub.connected.set()
                    continue
                try:
                    record = json.loads(fields.get(b"data", b"{}"))["record"]
                    i = int(record["title"])
                except (ValueError, KeyError, TypeError):
                    continue
                now = time.perf_counter()
                if i in sent and i not in sub.seen and rule_check(record):
                    sub.seen.add(i)
                    sub.latencies.append(now - sent[i])
    except asyncio.CancelledError:
        raise
    except Exception as e:  # noqa: BLE001 - reported per subscriber
        sub.error = repr(e)
        sub.connected.set()


def percentile(values, p):
    if not values:
        return None
    values = sorted(values)
    k = min(len(values) - 1, max(0, round(p / 100 * (len(values) - 1))))
    return values[k]


def peak_rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


async def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", required=True)
    ap.add_argument("--email", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--server", choices=["kb", "pb"], default="kb")
    ap.add_argument("--subscribers", type=int, default=500)
    ap.add_argument("--creates", type=int, default=200)
    ap.add_argument("--rate", type=float, default=200.0, help="creates per second")
    ap.add_argument("--rule", default="", help="listRule/viewRule of the collection")
    ap.add_argument("--timeout", type=float, default=30.0, help="seconds to wait after the last create")
    ap.add_argument("--pid", type=int, help="server pid, for its peak RSS")
    ap.add_argument("--out")
    args = ap.parse_args()
    u = urlparse(args.url)
    host, port = u.hostname, u.port or 80

    admin = Http(host, port)
    status, body = await admin.request("POST", "/api/collections/_superusers/auth-with-password",
                                       {"identity": args.email, "password": args.password})
    if status != 200:
        sys.exit(f"superuser login: {status} {body[:200]!r}")
    token = json.loads(body)["token"]
    rules = {"listRule": args.rule, "viewRule": args.rule, "createRule": None,
             "updateRule": None, "deleteRule": None}
    if args.server == "kb":
        collection = {"name": COLLECTION, "schema": {"type": "object", "properties": {
            "title": {"type": "string"}, "published": {"type": "boolean"}}}, **rules}
    else:
        collection = {"name": COLLECTION, "type": "base", **rules, "fields": [
            {"name": "title", "type": "text"}, {"name": "published", "type": "bool"}]}
    status, body = await admin.request("POST", "/api/collections", collection, token)
    if status != 200:
        sys.exit(f"create collection: {status} {body[:300]!r}")

    sent = {}
    subs = [Subscriber() for _ in range(args.subscribers)]
    tasks = []
    started = time.perf_counter()
    # Connect in waves, so the listener's backlog is never the bottleneck.
    for i in range(0, len(subs), 50):
        wave = subs[i:i + 50]
        for s in wave:
            tasks.append(asyncio.create_task(
                subscribe_one(host, port, s, sent, lambda r: True)))
        await asyncio.wait_for(asyncio.gather(*(s.connected.wait() for s in wave)), 30)
    failed = [s for s in subs if s.error or not s.client_id]
    if failed:
        sys.exit(f"{len(failed)} subscribers failed to connect: {failed[0].error}")
    posters = [Http(host, port) for _ in range(8)]
    for i in range(0, len(subs), 8):
        batch = subs[i:i + 8]
        results = await asyncio.gather(*(
            posters[j].request("POST", "/api/realtime",
                               {"clientId": s.client_id, "subscriptions": [f"{COLLECTION}/*"]})
            for j, s in enumerate(batch)))
        bad = [r for r in results if r[0] != 204]
        if bad:
            sys.exit(f"subscribe: {bad[0][0]} {bad[0][1][:200]!r}")
    connect_secs = time.perf_counter() - started

    # Creates, paced at --rate, up to 8 in flight.
    creators = [Http(host, port) for _ in range(8)]
    interval = 1.0 / args.rate if args.rate > 0 else 0.0
    write_latencies = []
    t0 = time.perf_counter()

    async def create(i, conn):
        sent[i] = time.perf_counter()
        status, body = await conn.request(
            "POST", f"/api/collections/{COLLECTION}/records",
            {"title": str(i), "published": True}, token)
        write_latencies.append(time.perf_counter() - sent[i])
        if status != 200:
            raise RuntimeError(f"create {i}: {status} {body[:200]!r}")

    pending = set()
    free = list(creators)
    for i in range(args.creates):
        due = t0 + i * interval
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        while not free:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for d in done:
                free.append(d.conn)
                d.result()
        conn = free.pop()
        t = asyncio.create_task(create(i, conn))
        t.conn = conn
        pending.add(t)
    for t in pending:
        await t
    writes_secs = time.perf_counter() - t0

    expected = args.subscribers * args.creates
    deadline = time.perf_counter() + args.timeout
    while sum(len(s.seen) for s in subs) < expected and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for c in [admin, *posters, *creators]:
        c.close()

    latencies = [x for s in subs for x in s.latencies]
    delivered = len(latencies)
    ms = lambda v: None if v is None else round(v * 1000, 2)  # noqa: E731
    result = {
        "server": args.server,
        "rule": args.rule,
        "subscribers": args.subscribers,
        "creates": args.creates,
        "rate": args.rate,
        "expected": expected,
        "delivered": delivered,
        "delivered_pct": round(100.0 * delivered / expected, 3) if expected else 100.0,
        "subscribers_missing_events": sum(1 for s in subs if len(s.seen) < args.creates),
        "subscriber_errors": sum(1 for s in subs if s.error),
        "latency_ms": {"p50": ms(percentile(latencies, 50)), "p99": ms(percentile(latencies, 99)),
                       "max": ms(max(latencies) if latencies else None),
                       "mean": ms(statistics.fmean(latencies) if latencies else None)},
        "write_ms": {"p50": ms(percentile(write_latencies, 50)),
                     "p99": ms(percentile(write_latencies, 99))},
        "connect_secs": round(connect_secs, 3),
        "writes_secs": round(writes_secs, 3),
        "peak_rss_kib": peak_rss_kib(args.pid) if args.pid else None,
    }
    text = json.dumps(result, indent=2)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    print(text)
    return 0 if delivered == expected else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
