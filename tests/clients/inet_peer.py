#!/usr/bin/env python3
"""The host's side of tests/programs/inet.c: an echo server on ECHO (a
connection whose first bytes are "reset" is reset: closed with SO_LINGER
0), and a client that connects to the program's LISTEN port, sends "ping\\n"
and reads until the end. Runs until the client is done (or 300 s).

usage: inet_peer.py ECHO LISTEN_HOST LISTEN"""

import socket
import struct
import sys
import threading
import time

ECHO, HOST, LISTEN = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])


def echo_one(c):
    try:
        first = True
        while True:
            b = c.recv(65536)
            if not b:
                break
            if first and b.startswith(b"reset"):
                c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                break
            first = False
            c.sendall(b)
    except OSError:
        pass
    c.close()


def echo_server(s):
    while True:
        c, _ = s.accept()
        threading.Thread(target=echo_one, args=(c,), daemon=True).start()


s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", ECHO))
s.listen(16)
threading.Thread(target=echo_server, args=(s,), daemon=True).start()
print("peer: ready", flush=True)

start = time.time()
while time.time() - start < 300:
    try:
        c = socket.create_connection((HOST, LISTEN), timeout=5)
    except OSError:
        time.sleep(0.2)
        continue
    try:
        c.settimeout(60)
        c.sendall(b"ping\n")
        got = b""
        while True:
            b = c.recv(100)
            if not b:
                break
            got += b
        print(f"peer: heard {got!r}", flush=True)
        if got == b"pong\n":
            break
    except OSError as e:
        print(f"peer: {e!r}", flush=True)
    finally:
        c.close()
