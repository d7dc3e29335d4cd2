#!/usr/bin/env python3
"""Real clients against Debian's BusyBox servers running as programs on
Odonata (tests/sockets.rs starts them): `httpd` on HTTP, `nc -l -e cat` on
ECHO, `telnetd -l /bin/sh` on TELNET (a shell on a pseudo-terminal), and a
host server that the guest's `nc` connects out to.

usage: busybox_net.py HTTP ECHO DONE OUT WWW TELNET
  HTTP, ECHO, DONE, TELNET: host ports forwarded to the guest's 8000, 7000,
    7001, 2323
  OUT: the port this script listens on for the guest's `nc 10.0.2.2 OUT`
  WWW: the directory whose files httpd serves (compared byte for byte)
Prints a line per check with the figures it saw; exits 1 on a failure."""

import http.client
import os
import socket
import sys
import threading
import time

HTTP, ECHO, DONE, OUT = (int(a) for a in sys.argv[1:5])
WWW = sys.argv[5]
TELNET = int(sys.argv[6])
failures = []


def check(name, ok, said=""):
    print(f"{'ok  ' if ok else 'FAIL'} {name} {said}", flush=True)
    if not ok:
        failures.append(name)


def get(path, conn=None):
    c = conn or http.client.HTTPConnection("127.0.0.1", HTTP, timeout=120)
    c.request("GET", path)
    r = c.getresponse()
    return r.status, r.read()


def wait_for_httpd():
    start = time.time()
    while time.time() - start < 400:
        try:
            status, _ = get("/empty")
            if status == 200:
                return time.time() - start
        except OSError:
            pass
        time.sleep(0.3)
    return None


def files():
    for name in ["empty", "small", "one-mib", "eight-mib"]:
        want = open(os.path.join(WWW, name), "rb").read()
        t = time.time()
        status, body = get("/" + name)
        check(f"GET /{name}", status == 200 and body == want, f"({len(body)} of {len(want)} bytes, {time.time() - t:.2f} s)")
    status, _ = get("/missing")
    check("GET /missing is 404", status == 404, f"({status})")


def concurrent(n=64, rounds=3):
    want = open(os.path.join(WWW, "small"), "rb").read()
    good, bad = [0], []
    lock = threading.Lock()

    def one(i):
        try:
            c = http.client.HTTPConnection("127.0.0.1", HTTP, timeout=120)
            for _ in range(rounds):
                c.request("GET", "/small", headers={"Connection": "keep-alive"})
                r = c.getresponse()
                body = r.read()
                with lock:
                    if r.status == 200 and body == want:
                        good[0] += 1
                    else:
                        bad.append((i, r.status))
                if r.will_close:
                    c.close()
                    c = http.client.HTTPConnection("127.0.0.1", HTTP, timeout=120)
        except OSError as e:
            with lock:
                bad.append((i, repr(e)))

    t = time.time()
    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    check(f"{n} concurrent keep-alive clients x {rounds}", good[0] == n * rounds and not bad,
          f"({good[0]} answers in {time.time() - t:.2f} s; failed: {bad[:4]})")


def gone_midway():
    s = socket.create_connection(("127.0.0.1", HTTP), timeout=60)
    s.sendall(b"GET /eight-mib HTTP/1.0\r\n\r\n")
    got = 0
    while got < 200_000:
        b = s.recv(65536)
        if not b:
            break
        got += len(b)
    s.close()
    want = open(os.path.join(WWW, "small"), "rb").read()
    status, body = get("/small")
    check("a client gone midway; the next is served", status == 200 and body == want, f"(read {got} bytes, then closed)")


def slow_reader():
    want = open(os.path.join(WWW, "slow"), "rb").read()
    s = socket.create_connection(("127.0.0.1", HTTP), timeout=120)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
    s.sendall(b"GET /slow HTTP/1.0\r\n\r\n")
    data = b""
    t = time.time()
    while True:
        b = s.recv(8192)
        if not b:
            break
        data += b
        time.sleep(0.002)
    s.close()
    body = data.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in data else b""
    check("a slow reader gets every byte", body == want, f"({len(body)} bytes in {time.time() - t:.2f} s)")


def echo():
    payload = os.urandom(1 << 20)
    s = socket.create_connection(("127.0.0.1", ECHO), timeout=120)
    got = bytearray()

    def reader():
        while len(got) < len(payload):
            b = s.recv(65536)
            if not b:
                break
            got.extend(b)

    th = threading.Thread(target=reader)
    th.start()
    t = time.time()
    s.sendall(payload)
    th.join(120)
    s.close()
    check("nc -l -e cat echoes 1 MiB", bytes(got) == payload, f"({len(got)} bytes back in {time.time() - t:.2f} s)")


class Telnet:
    """A telnet client that answers no option: what the server sends is
    read with its IAC sequences taken out."""

    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.text = bytearray()
        self.raw = bytearray()
        self.closed = False

    def _take(self):
        r = self.raw
        while r:
            if r[0] != 255:
                i = r.find(255)
                i = len(r) if i < 0 else i
                self.text += r[:i]
                del r[:i]
            elif len(r) < 2:
                return
            elif r[1] == 250:  # SB ... IAC SE
                end = r.find(bytes([255, 240]))
                if end < 0:
                    return
                del r[:end + 2]
            elif r[1] in (251, 252, 253, 254):  # WILL WONT DO DONT x
                if len(r) < 3:
                    return
                del r[:3]
            else:
                if r[1] == 255:
                    self.text.append(255)
                del r[:2]

    def until(self, want, timeout=60):
        """Reads until `want` has come after what was read before."""
        start = time.time()
        while want not in self.text:
            if self.closed or time.time() - start > timeout:
                return False
            self.s.settimeout(max(0.1, timeout - (time.time() - start)))
            try:
                b = self.s.recv(4096)
            except OSError:
                return False
            if not b:
                self.closed = True
            self.raw += b
            self._take()
        del self.text[:self.text.index(want) + len(want)]
        return True

    def send(self, line):
        self.s.sendall(line)


def telnet():
    t = Telnet(TELNET)
    start = time.time()
    check("telnetd gives a shell prompt", t.until(b"# "), f"({time.time() - start:.2f} s)")
    t.send(b"echo hello $((6*7)); tty\r\n")
    check("a command's output comes back", t.until(b"hello 42"))
    check("the shell's terminal is a pty", t.until(b"/dev/pts/") and t.until(b"# "))
    t.send(b"sleep 30\r\n")
    t.until(b"sleep 30")
    # Ctrl-C until the prompt is back: one that comes before the shell
    # has started `sleep` reaches the shell instead.
    start = time.time()
    while time.time() - start < 20:
        t.send(b"\x03")
        if t.until(b"# ", 1):
            break
    t.send(b"echo after $?\r\n")
    check("Ctrl-C stops the foreground command", t.until(b"after 130", 20), f"({time.time() - start:.2f} s)")
    t.send(b"exit\r\n")
    start = time.time()
    t.until(b"never printed", 30)
    check("exit ends the session", t.closed, f"(closed after {time.time() - start:.2f} s)")
    t.s.close()


def main():
    out = socket.socket()
    out.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    out.bind(("127.0.0.1", OUT))
    out.listen(1)
    heard = []

    def serve_out():
        out.settimeout(180)
        try:
            c, _ = out.accept()
            c.settimeout(60)
            data = b""
            while not data.endswith(b"\n"):
                b = c.recv(100)
                if not b:
                    break
                data += b
            heard.append(data)
            c.sendall(b"host heard " + data)
            c.close()
        except OSError as e:
            heard.append(repr(e).encode())

    th = threading.Thread(target=serve_out)
    th.start()
    up = wait_for_httpd()
    check("httpd answers", up is not None, f"(after {up or 0:.1f} s)")
    if up is not None:
        files()
        concurrent()
        gone_midway()
        slow_reader()
        echo()
        telnet()
    th.join(180)
    check("the guest's nc reached the host", heard == [b"hello from the guest\n"], f"({heard})")
    try:
        d = socket.create_connection(("127.0.0.1", DONE), timeout=30)
        d.sendall(b"done\n")
        d.close()
    except OSError as e:
        check("told the guest we are done", False, repr(e))
    sys.exit(1 if failures else 0)


main()
