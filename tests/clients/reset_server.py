#!/usr/bin/env python3
"""Accepts TCP connections on 127.0.0.1:PORT and resets each one (SO_LINGER
0, then close) after a moment: what the network test's guest-side client
must see as a reset.

usage: reset_server.py PORT
"""
import socket
import struct
import sys
import time

s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen()
while True:
    c, _ = s.accept()
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    time.sleep(0.3)
    c.close()
