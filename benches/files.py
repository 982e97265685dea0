#!/usr/bin/env python3
"""Files benchmark: Keelbase and PocketBase side by side, one after the other, on loopback.

    python3 benches/files.py [--keelbase target/release/keelbase] [--pocketbase .venv-bench/bin/pocketbase]

Run by hand, never from the tests. Each server runs alone on a fresh data dir, pinned to
CPU 0 (taskset); this client is not pinned. Measured per server:

  (`--no-pin`: the server is not pinned, the second configuration.)

  * upload and download of a 10 MiB file (sequential, MiB/s, best of 3 rounds),
  * upload and download of a 20 KiB PNG (4 client threads, req/s),
  * a 100x100 thumbnail: the first request (generated) and cached requests (req/s),
  * peak RSS of the server during 32 concurrent 10 MiB uploads (sampled every 20 ms),
    against 32 x 10 MiB = 320 MiB of request bodies.

Prints a markdown section for BENCHMARKS.md. Quote the ratios, not the absolute figures:
the machine is shared and noisy.
"""

import argparse
import http.client
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib

EMAIL = "bench@example.com"
PASSWORD = "bench-password-123"
BOUNDARY = "KbBenchBoundary"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def png(width, height):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    # Random pixels: the file is as large as the image (about 20 KiB for 82x82).
    rows = b"".join(b"\0" + os.urandom(width * 3) for _ in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows, 1)) + chunk(b"IEND", b"")


def multipart(field, filename, data):
    head = (
        f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{filename}\"\r\n"
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    return head + data + f"\r\n--{BOUNDARY}--\r\n".encode()


class Client:
    def __init__(self, port, token=None):
        self.port = port
        self.token = token
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def request(self, method, path, body=None, headers=None):
        h = dict(headers or {})
        if self.token:
            h["Authorization"] = self.token
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        self.conn.request(method, path, body=body, headers=h)
        r = self.conn.getresponse()
        data = r.read()
        return r.status, data

    def upload(self, collection, field, filename, data):
        body = multipart(field, filename, data)
        status, out = self.request(
            "POST",
            f"/api/collections/{collection}/records",
            body,
            {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
        )
        if status != 200:
            raise RuntimeError(f"upload failed: {status} {out[:300]!r}")
        return json.loads(out)


class Server:
    def __init__(self, kind, binary, cpu):
        self.kind = kind
        self.port = free_port()
        self.root = tempfile.mkdtemp(prefix=f"files-bench-{kind}-")
        # PocketBase writes migration files beside its data dir: keep both in our folder.
        self.dir = os.path.join(self.root, "data")
        env = dict(os.environ)
        if kind == "keelbase":
            env["RUST_LOG"] = "warn"
            subprocess.run([binary, "--dir", self.dir, "superuser", "upsert", EMAIL, PASSWORD], check=True,
                           stdout=subprocess.DEVNULL, env=env)
            cmd = [binary, "--dir", self.dir, "serve", "--http", f"127.0.0.1:{self.port}"]
        else:
            subprocess.run([binary, "superuser", "upsert", EMAIL, PASSWORD, "--dir", self.dir], check=True,
                           stdout=subprocess.DEVNULL)
            cmd = [binary, "serve", "--http", f"127.0.0.1:{self.port}", "--dir", self.dir]
        pin = ["taskset", "-c", str(cpu)] if cpu is not None else []
        self.proc = subprocess.Popen(pin + cmd, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, env=env)
        deadline = time.time() + 30
        while True:
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
                c.request("GET", "/api/health")
                if c.getresponse().status == 200:
                    break
            except OSError:
                pass
            if time.time() > deadline:
                raise RuntimeError(f"{kind} did not start")
            time.sleep(0.1)
        status, out = Client(self.port).request(
            "POST", "/api/collections/_superusers/auth-with-password", {"identity": EMAIL, "password": PASSWORD})
        self.token = json.loads(out)["token"]

    def pid(self):
        # taskset execs the server: the child pid is the server's.
        return self.proc.pid

    def rss_kib(self):
        with open(f"/proc/{self.pid()}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def make_collection(self):
        c = Client(self.port, self.token)
        if self.kind == "keelbase":
            body = {"name": "media", "schema": {"type": "object", "properties": {
                "file": {"type": "string", "x-file": {"maxSize": 20 * 1024 * 1024, "thumbs": ["100x100"]}}}},
                "listRule": "", "viewRule": "", "createRule": ""}
        else:
            body = {"name": "media", "type": "base", "listRule": "", "viewRule": "", "createRule": "",
                    "fields": [{"name": "file", "type": "file", "maxSelect": 1, "maxSize": 20 * 1024 * 1024,
                                "thumbs": ["100x100"]}]}
        status, out = c.request("POST", "/api/collections", body)
        if status != 200:
            raise RuntimeError(f"collection: {status} {out[:300]!r}")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.root, ignore_errors=True)


def best(rounds, fn):
    return max(fn() for _ in range(rounds))


def run(server, rounds):
    server.make_collection()
    c = Client(server.port)
    big = os.urandom(10 * 1024 * 1024)
    out = {}

    def upload_big():
        n, start = 5, time.perf_counter()
        for i in range(n):
            rec = c.upload("media", "file", f"big{i}.bin", big)
        run.last_big = rec
        return n * 10 / (time.perf_counter() - start)

    out["upload_10mib"] = best(rounds, upload_big)
    rec = run.last_big
    path = f"/api/files/media/{rec['id']}/{rec['file']}"

    def download_big():
        n, start = 10, time.perf_counter()
        for _ in range(n):
            status, data = c.request("GET", path)
            assert status == 200 and len(data) == len(big)
        return n * 10 / (time.perf_counter() - start)

    out["download_10mib"] = best(rounds, download_big)

    small = png(82, 82)
    assert 19000 < len(small) < 22000, len(small)

    def threaded(fn, seconds=3, threads=4):
        count = [0] * threads
        stop = time.perf_counter() + seconds

        def work(i):
            cl = Client(server.port)
            while time.perf_counter() < stop:
                fn(cl)
                count[i] += 1

        ts = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
        start = time.perf_counter()
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        return sum(count) / (time.perf_counter() - start)

    out["upload_20kib"] = best(rounds, lambda: threaded(lambda cl: cl.upload("media", "file", "small.png", small)))
    rec = c.upload("media", "file", "small.png", small)
    spath = f"/api/files/media/{rec['id']}/{rec['file']}"

    def get_small(cl):
        status, data = cl.request("GET", spath)
        assert status == 200 and len(data) == len(small)

    out["download_20kib"] = best(rounds, lambda: threaded(get_small))

    firsts = []
    for _ in range(5):
        r = c.upload("media", "file", "thumb.png", small)
        start = time.perf_counter()
        status, data = c.request("GET", f"/api/files/media/{r['id']}/{r['file']}?thumb=100x100")
        assert status == 200
        firsts.append(time.perf_counter() - start)
    out["thumb_first_ms"] = sorted(firsts)[len(firsts) // 2] * 1000

    def get_thumb(cl):
        status, _ = cl.request("GET", f"{spath}?thumb=100x100")
        assert status == 200

    c.request("GET", f"{spath}?thumb=100x100")
    out["thumb_cached"] = best(rounds, lambda: threaded(get_thumb))

    # Peak RSS during 32 concurrent 10 MiB uploads.
    base = server.rss_kib()
    peak = [base]
    done = threading.Event()

    def sample():
        while not done.is_set():
            try:
                peak[0] = max(peak[0], server.rss_kib())
            except OSError:
                pass
            time.sleep(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    errors = []

    def one(i):
        try:
            Client(server.port).upload("media", "file", f"c{i}.bin", big)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    ts = [threading.Thread(target=one, args=(i,)) for i in range(32)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    done.set()
    sampler.join()
    if errors:
        raise RuntimeError(f"concurrent uploads failed: {errors[0]}")
    out["rss_before_mib"] = base / 1024
    out["rss_peak_mib"] = peak[0] / 1024
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--keelbase", default="target/release/keelbase")
    p.add_argument("--pocketbase", default=".venv-bench/bin/pocketbase")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--no-pin", action="store_true", help="let the server use every core")
    args = p.parse_args()
    results = {}
    for kind, binary in [("keelbase", args.keelbase), ("pocketbase", args.pocketbase)]:
        s = Server(kind, binary, None if args.no_pin else 0)
        try:
            results[kind] = run(s, args.rounds)
        finally:
            s.stop()
        print(f"{kind}: {json.dumps(results[kind])}", file=sys.stderr)
    k, pb = results["keelbase"], results["pocketbase"]
    rows = [
        ("upload 10 MiB (MiB/s, sequential)", "upload_10mib", True),
        ("download 10 MiB (MiB/s, sequential)", "download_10mib", True),
        ("upload 20 KiB PNG (req/s, 4 clients)", "upload_20kib", True),
        ("download 20 KiB PNG (req/s, 4 clients)", "download_20kib", True),
        ("first 100x100 thumbnail (ms, median of 5)", "thumb_first_ms", False),
        ("cached 100x100 thumbnail (req/s, 4 clients)", "thumb_cached", True),
        ("RSS before the concurrent uploads (MiB)", "rss_before_mib", False),
        ("peak RSS, 32 concurrent 10 MiB uploads (MiB)", "rss_peak_mib", False),
    ]
    print("| scenario | Keelbase | PocketBase | Keelbase vs PocketBase |")
    print("|---|---:|---:|---:|")
    for label, key, higher in rows:
        a, b = k[key], pb[key]
        ratio = (a / b) if higher else (b / a if a else 0)
        print(f"| {label} | {a:,.1f} | {b:,.1f} | {ratio:.2f}x {'faster' if higher else 'less' if 'RSS' in label else 'faster'} |")


if __name__ == "__main__":
    main()
