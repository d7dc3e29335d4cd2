#!/usr/bin/env python3
"""The host's side of tests/programs/udp.c: a UDP echo server on ECHO, and
a client that sends "ping" to the program's LISTEN port (every 200 ms)
until it hears "pong". Runs until then (or 300 s).

usage: udp_peer.py ECHO LISTEN_HOST LISTEN"""

import socket
import sys
import threading
import time

ECHO, HOST, LISTEN = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])

echo = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
echo.bind(("127.0.0.1", ECHO))


def serve():
    while True:
        data, who = echo.recvfrom(65536)
        echo.sendto(data, who)


threading.Thread(target=serve, daemon=True).start()
print("peer: ready", flush=True)

c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
c.settimeout(0.2)
start = time.time()
while time.time() - start < 300:
    c.sendto(b"ping", (HOST, LISTEN))
    try:
        data, _ = c.recvfrom(100)
    except (socket.timeout, ConnectionRefusedError):
        continue
    print(f"peer: heard {data!r}", flush=True)
    if data == b"pong":
        break
