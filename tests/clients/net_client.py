#!/usr/bin/env python3
"""Real clients against the kernel's HTTP (port HTTP) and TCP echo (port
ECHO) services, forwarded to 127.0.0.1 by QEMU's user network. Prints one
`client:` line per check and exits non-zero at the first failure.

usage: net_client.py HTTP_PORT ECHO_PORT UDP_ECHO_PORT [HTTP_CONNECTION_LIMIT]
"""
import http.client
import json
import os
import socket
import sys
import threading
import time

HOST = "127.0.0.1"
HTTP, ECHO, UDP = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
# The server's limit of open HTTP connections (MAX_HTTP_CONNECTIONS).
LIMIT = int(sys.argv[4]) if len(sys.argv) > 4 else 80


def check(cond, what):
    if not cond:
        print(f"client: FAILED: {what}", flush=True)
        sys.exit(1)


def get(conn, path):
    conn.request("GET", path)
    r = conn.getresponse()
    return r.status, r.getheader("Content-Type"), r.read()


def wait_ready(limit=120):
    start = time.time()
    while time.time() - start < limit:
        try:
            c = http.client.HTTPConnection(HOST, HTTP, timeout=5)
            status, _, _ = get(c, "/")
            c.close()
            if status == 200:
                return time.time() - start
        except (OSError, http.client.HTTPException):
            time.sleep(0.5)
    check(False, f"no answer on port {HTTP} within {limit} s")


def raw_exchange(data):
    """Sends raw bytes, returns the status line of the answer."""
    s = socket.create_connection((HOST, HTTP), timeout=20)
    s.sendall(data)
    answer = b""
    while b"\r\n" not in answer:
        chunk = s.recv(4096)
        if not chunk:
            break
        answer += chunk
    s.close()
    return answer.split(b"\r\n", 1)[0].decode(errors="replace")


def main():
    waited = wait_ready()
    print(f"client: / answered after {waited:.1f} s", flush=True)

    c = http.client.HTTPConnection(HOST, HTTP, timeout=30)
    status, kind, body = get(c, "/")
    check(status == 200 and kind.startswith("text/html") and b"Odonata" in body, f"GET / -> {status} {kind}")
    status, kind, body = get(c, "/api/net")
    net = json.loads(body)
    check(status == 200 and kind == "application/json" and net["link"] is True and net["rx"] > 0 and net["tx"] > 0, f"/api/net {body!r}")
    status, _, body = get(c, "/api/mem")
    mem = json.loads(body)
    check(status == 200 and 0 < mem["heap_used"] < mem["heap_size"], f"/api/mem {body!r}")
    print(f"client: /api/net {net}; /api/mem heap_used {mem['heap_used']} of {mem['heap_size']}", flush=True)
    status, _, body = get(c, "/api/cpus")
    cpus = json.loads(body)
    check(status == 200 and [x["cpu"] for x in cpus] == [0, 1] and all(0 <= x["idle_percent"] <= 100 for x in cpus), f"/api/cpus {body!r}")
    status, _, body = get(c, "/api/tasks")
    names = {t["name"] for t in json.loads(body)}
    check(status == 200 and {"net", "http-accept", "echo-accept", "http", "stats"} <= names, f"/api/tasks names {names}")
    status, _, body = get(c, "/api/irq")
    irq = json.loads(body)
    check(status == 200 and any(x["count"] > 0 for x in irq), f"/api/irq {body[:200]!r}")
    status, _, body = get(c, "/api/ipi")
    ipi = json.loads(body)
    check(status == 200 and len(ipi) == 2 and sum(x["sent"] for x in ipi) > 0, f"/api/ipi {body!r}")
    print(f"client: /api/cpus {cpus}; /api/tasks {len(names)} names; /api/irq {len(irq)} rows; /api/ipi {ipi}", flush=True)
    status, _, _ = get(c, "/no/such/page")
    check(status == 404, f"unknown path -> {status}")
    # Keep-alive: the same connection for many requests.
    sock = c.sock
    for i in range(50):
        status, _, body = get(c, "/api/net")
        check(status == 200 and json.loads(body)["requests"] > 0, f"keep-alive request {i}")
    check(c.sock is sock, "the connection was kept alive")
    payload = os.urandom(100_000)
    c.request("POST", "/echo", body=payload)
    r = c.getresponse()
    check(r.status == 200 and r.read() == payload, "POST /echo of 100,000 random bytes")
    c.close()
    print("client: GET, JSON, 404, 50 keep-alive requests, POST /echo ok", flush=True)

    # Bad input gets its answer, and the server goes on serving.
    for raw, want in [(b"GARBAGE\r\n\r\n", "400"), (b"GET / HTTP/1.1\r\nX: " + b"a" * 10_000 + b"\r\n\r\n", "431"),
                      (b"GET / HTTP/1.1\r\nContent-Length: nope\r\n\r\n", "400")]:
        line = raw_exchange(raw)
        check(line.startswith(f"HTTP/1.1 {want}"), f"{raw[:20]!r}... -> {line!r}")
        c = http.client.HTTPConnection(HOST, HTTP, timeout=30)
        check(get(c, "/")[0] == 200, "a normal request after bad input")
        c.close()
    print("client: malformed -> 400, oversized header -> 431, each followed by a normal request: ok", flush=True)

    # 1 MiB of random bytes through the echo port, sent and read at once.
    data = os.urandom(1 << 20)
    s = socket.create_connection((HOST, ECHO), timeout=60)
    back = bytearray()

    def reader():
        while len(back) < len(data):
            chunk = s.recv(65536)
            if not chunk:
                break
            back.extend(chunk)

    t = threading.Thread(target=reader)
    t.start()
    start = time.time()
    s.sendall(data)
    t.join(120)
    s.close()
    check(bytes(back) == data, f"echo: {len(back)} of {len(data)} bytes back, equal: {bytes(back) == data}")
    print(f"client: 1 MiB through the echo port came back byte for byte in {time.time() - start:.2f} s", flush=True)

    # A slow reader loses nothing: 512 KiB sent at once, read back in small
    # sips with pauses, while the windows fill and the sender waits.
    data = os.urandom(512 << 10)
    s = socket.create_connection((HOST, ECHO), timeout=60)
    sender = threading.Thread(target=s.sendall, args=(data,))
    sender.start()
    back = bytearray()
    while len(back) < len(data):
        time.sleep(0.002)
        chunk = s.recv(4096)
        if not chunk:
            break
        back.extend(chunk)
    sender.join(60)
    s.close()
    check(bytes(back) == data, f"slow reader: {len(back)} of {len(data)} bytes, equal: {bytes(back) == data}")
    print("client: a slow reader got all 512 KiB back, in order", flush=True)

    # UDP echo.
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.settimeout(10)
    for i in range(5):
        msg = os.urandom(500 + i)
        u.sendto(msg, (HOST, UDP))
        back, _ = u.recvfrom(4096)
        check(back == msg, f"UDP echo {i}: {len(back)} bytes")
    u.close()
    print("client: 5 UDP datagrams echoed", flush=True)

    # A client that stops mid-request is answered 408 and closed; others go on.
    s = socket.create_connection((HOST, HTTP), timeout=40)
    s.sendall(b"GET / HTTP/1.1\r\nHost: slow")
    start = time.time()
    answer = s.recv(4096)
    s.close()
    check(answer.startswith(b"HTTP/1.1 408"), f"slow client -> {answer[:40]!r}")
    c = http.client.HTTPConnection(HOST, HTTP, timeout=30)
    check(get(c, "/api/net")[0] == 200, "a normal request after the slow client")
    c.close()
    print(f"client: a request left unfinished was answered 408 after {time.time() - start:.1f} s", flush=True)

    # Many clients at once, each keeping its connection for its requests.
    conns, per_conn = int(os.environ.get("CONNS", "64")), int(os.environ.get("REQUESTS", "100"))
    failures = []

    def client(n):
        try:
            c = http.client.HTTPConnection(HOST, HTTP, timeout=60)
            for i in range(per_conn):
                status, _, body = get(c, "/")
                if status != 200 or not body.endswith(b"</html>\n"):
                    failures.append(f"connection {n} request {i}: {status}")
                    return
            c.close()
        except Exception as e:  # noqa: BLE001 - any failure is reported
            failures.append(f"connection {n}: {e!r}")

    start = time.time()
    threads = [threading.Thread(target=client, args=(n,)) for n in range(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.time() - start
    check(not failures, f"{len(failures)} concurrent clients failed: {failures[:3]}")
    print(f"client: {conns} concurrent keep-alive connections x {per_conn} requests, every response complete, in {took:.1f} s "
          f"({conns * per_conn / took:.0f} requests/s)", flush=True)

    # Past the server's limit of open HTTP connections, a new one is told
    # 503 and closed; the open ones go on, and once some close, a new one
    # is served again.
    def api_net():
        c = http.client.HTTPConnection(HOST, HTTP, timeout=30)
        status, _, body = get(c, "/api/net")
        c.close()
        check(status == 200, f"/api/net -> {status}")
        return json.loads(body)

    deadline = time.time() + 30
    while api_net()["http_connections"] > 1:
        check(time.time() < deadline, "the earlier clients' connections never all closed")
        time.sleep(0.2)
    limit = LIMIT
    held = []
    for n in range(limit):
        c = http.client.HTTPConnection(HOST, HTTP, timeout=60)
        check(get(c, "/api/net")[0] == 200, f"held connection {n}")
        held.append(c)
    turned_away_before = None
    for n in range(5):
        c = http.client.HTTPConnection(HOST, HTTP, timeout=30)
        c.request("GET", "/api/net")
        r = c.getresponse()
        body = r.read()
        check(r.status == 503 and r.getheader("Connection") == "close", f"connection {limit + n} past the limit -> {r.status} {body!r}")
        c.close()
    for n, c in enumerate(held[limit // 2:]):
        status, _, body = get(c, "/api/net")
        check(status == 200, f"held connection {limit // 2 + n} after the refusals -> {status}")
        if n == 0:
            turned_away_before = json.loads(body)["http_turned_away"]
    check(turned_away_before >= 5, f"/api/net counts the connections turned away: {turned_away_before}")
    for c in held[:limit // 2]:
        c.close()
    deadline = time.time() + 30
    while True:
        c = http.client.HTTPConnection(HOST, HTTP, timeout=30)
        status, _, _ = get(c, "/")
        c.close()
        if status == 200:
            break
        check(time.time() < deadline, f"no new connection served after half the held ones closed: {status}")
        time.sleep(0.2)
    for c in held[limit // 2:]:
        c.close()
    print(f"client: {limit} connections held, the next 5 answered 503 and closed, the held ones still served, "
          f"a new one served once half had closed", flush=True)


main()
