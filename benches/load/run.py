#!/usr/bin/env python3
"""Load on `shelfready serve`, on loopback only, bounded in count and time.

    python3 benches/load/run.py uploaders  [--binary B] [--batch DIR] [--clients 40] [--seconds 120]
                                           [--kill-at S] [--queue-capacity 200]
    python3 benches/load/run.py slow       [--binary B] [--connections 1000]

`uploaders`: N clients each upload 1-3 photos of the batch (amazon-main) in a loop for the
given time, honouring Retry-After on 503. Reports requests/s, status counts, latency p50/p99,
the server's peak RSS, and whether every batch answered 202 settled with all its photos.
With --kill-at S the server is killed with SIGKILL S seconds in, started again on the same
data folder, and the run goes on: the same check then says what a kill cost.

`slow`: opens N connections that send half a request header and stop, then times /healthz.

Standard library only. The server runs in a temp folder and is stopped at the end.
"""

import argparse
import http.client
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid


def start(binary, data, extra=()):
    p = subprocess.Popen(
        [binary, "serve", "--listen", "127.0.0.1:0", "--data-dir", data, *extra],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("SHELFREADY_")},
    )
    for line in p.stderr:
        m = re.search(r"listening on http://([0-9.]+):(\d+)", line)
        if m:
            threading.Thread(target=lambda: [None for _ in p.stderr], daemon=True).start()
            return p, int(m.group(2))
    raise SystemExit("the server did not start")


def peak_rss_mb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def multipart(files):
    boundary = uuid.uuid4().hex
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="specs"\r\n\r\namazon-main\r\n'.encode()]
    for name, data in files:
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n'
            f"Content-Type: image/png\r\n\r\n".encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return boundary, b"".join(parts)


def request(port, method, path, body=None, headers=None, timeout=300):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        return r.status, r.read(), dict(r.getheaders())
    finally:
        c.close()


def uploaders(a):
    photos = sorted(os.listdir(a.batch))
    data = {n: open(os.path.join(a.batch, n), "rb").read() for n in photos}
    tmp = tempfile.mkdtemp(prefix="shelfready-load-")
    dir_ = os.path.join(tmp, "data")
    state = {"port": None, "proc": None}
    extra = ["--queue-capacity", str(a.queue_capacity)]
    state["proc"], state["port"] = start(a.binary, dir_, extra)
    lock = threading.Lock()
    results, accepted = [], []
    peak = [0.0]
    end = time.monotonic() + a.seconds
    stop = threading.Event()

    def client(i):
        rnd = random.Random(i)
        while time.monotonic() < end:
            files = [(n, data[n]) for n in rnd.sample(photos, rnd.randint(1, 3))]
            boundary, body = multipart(files)
            t = time.monotonic()
            try:
                status, text, headers = request(
                    state["port"], "POST", "/v1/batches", body,
                    {"Content-Type": f"multipart/form-data; boundary={boundary}"})
            except OSError:
                status, text, headers = 0, b"", {}
            took = time.monotonic() - t
            with lock:
                results.append((status, took))
                if status == 202:
                    accepted.append((json.loads(text)["id"], len(files)))
            if status == 503:
                time.sleep(min(float(headers.get("Retry-After", "1")), 5))
            elif status == 0:
                time.sleep(0.5)

    def watch_rss():
        while not stop.is_set():
            peak[0] = max(peak[0], peak_rss_mb(state["proc"].pid))
            time.sleep(0.5)

    threading.Thread(target=watch_rss, daemon=True).start()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(a.clients)]
    started = time.monotonic()
    for t in threads:
        t.start()
    killed_with = None
    if a.kill_at:
        time.sleep(a.kill_at)
        with lock:
            killed_with = len(accepted)
        state["proc"].send_signal(signal.SIGKILL)
        state["proc"].wait()
        state["proc"], state["port"] = start(a.binary, dir_, extra)
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    # Every answered batch must settle with all its photos.
    deadline = time.monotonic() + 1800
    lost, settled = [], 0
    for bid, n in accepted:
        while True:
            status, text, _ = request(state["port"], "GET", f"/v1/batches/{bid}")
            s = json.loads(text) if status == 200 else {}
            if s.get("state") == "settled" or time.monotonic() > deadline:
                break
            time.sleep(1)
        if s.get("state") == "settled" and len(s.get("assets", [])) == n and "received" not in s.get("outputs", {}):
            settled += 1
        else:
            lost.append(bid)
    stop.set()
    peak[0] = max(peak[0], peak_rss_mb(state["proc"].pid))
    state["proc"].send_signal(signal.SIGTERM)
    state["proc"].wait(60)
    codes = {}
    for s, _ in results:
        codes[s] = codes.get(s, 0) + 1
    lat = sorted(t for _, t in results)
    p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] if lat else 0
    accepted_lat = sorted(t for s, t in results if s == 202)
    out = {
        "clients": a.clients, "seconds": round(elapsed, 1), "requests": len(results),
        "requests_per_s": round(len(results) / elapsed, 2), "statuses": codes,
        "latency_p50_s": round(p(0.5), 3), "latency_p99_s": round(p(0.99), 3),
        "accepted_p50_s": round(statistics.median(accepted_lat), 3) if accepted_lat else None,
        "photos_accepted": sum(n for _, n in accepted),
        "batches_accepted": len(accepted), "batches_settled_complete": settled, "batches_lost": lost,
        "peak_rss_mb": round(peak[0], 1), "killed_after_batches": killed_with,
        "queue_capacity": a.queue_capacity,
        "cpu": cpu(),
    }
    print(json.dumps(out, indent=2))
    subprocess.run(["rm", "-rf", tmp])


def slow(a):
    import socket
    tmp = tempfile.mkdtemp(prefix="shelfready-slow-")
    proc, port = start(a.binary, os.path.join(tmp, "data"))
    socks = []

    def open_all():
        for _ in range(a.connections):
            try:
                s = socket.create_connection(("127.0.0.1", port), timeout=60)
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                socks.append(s)
            except OSError:
                pass

    opener = threading.Thread(target=open_all)
    start_t = time.monotonic()
    opener.start()
    # /healthz every half second while the slow clients pile up and are cut off.
    times = []
    while time.monotonic() - start_t < 30:
        t = time.monotonic()
        try:
            status, _, _ = request(port, "GET", "/healthz", timeout=60)
        except OSError as e:
            status = str(e)
        times.append((round(t - start_t, 1), status, round(time.monotonic() - t, 3)))
        time.sleep(0.5)
    opener.join()
    closed = 0
    for s in socks:
        s.settimeout(15)
        try:
            if s.recv(1) == b"":
                closed += 1
        except OSError:
            closed += 1
        s.close()
    proc.send_signal(signal.SIGTERM)
    proc.wait(60)
    lat = sorted(x[2] for x in times)
    print(json.dumps({"slow_connections": a.connections, "opened": len(socks),
                      "healthz_asked": len(times),
                      "healthz_ok": sum(1 for x in times if x[1] == 200),
                      "healthz_p50_s": lat[len(lat) // 2], "healthz_max_s": lat[-1],
                      "healthz": times,
                      "slow_closed_by_server": closed, "cpu": cpu()}, indent=2))
    subprocess.run(["rm", "-rf", tmp])


def cpu():
    try:
        with open("/proc/cpuinfo") as f:
            names = [l.split(":", 1)[1].strip() for l in f if l.startswith("model name")]
        return f"{names[0]}, {len(names)} cores"
    except OSError:
        return "unknown"


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["uploaders", "slow"])
    ap.add_argument("--binary", default="target/release/shelfready")
    ap.add_argument("--batch", default="target/bench-realistic")
    ap.add_argument("--clients", type=int, default=40)
    ap.add_argument("--seconds", type=float, default=120)
    ap.add_argument("--kill-at", type=float, default=0)
    # Small enough that the queue fills under the load and drains in minutes afterwards.
    ap.add_argument("--queue-capacity", type=int, default=200)
    ap.add_argument("--connections", type=int, default=1000)
    a = ap.parse_args()
    (uploaders if a.mode == "uploaders" else slow)(a)
