#!/usr/bin/env python3
"""What idle keep-alive connections cost a proxy: opens N connections to 127.0.0.1:PORT,
sends one keyed GET on each and reads its whole answer, leaves them open and idle, and
prints the growth of the proxy's resident memory (VmRSS summed over PID and its children,
read from /proc) per connection, as one JSON line:

    idle_conns.py [--tls] PORT N PID  ->  {"connections": N, "rss_before": B, "rss_after": A,
                                           "bytes_per_connection": (A - B) / N}

With --tls the connections are TLS (no certificate check: the benchmark's own).

The baseline is read after 300 warm-up requests on one connection, so the figure is what
the N connections add, not the proxy's first allocations. Used by bench/proxy/compare --idle."""
import json
import os
import socket
import ssl
import sys
import time


def rss_bytes(pid):
    """VmRSS of pid and its children (nginx's workers), in bytes."""
    total = 0
    pids = [pid]
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            pids += [int(p) for p in f.read().split()]
    except OSError:
        pass
    for p in pids:
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


def read_answer(sock):
    """Reads one HTTP/1.1 answer with a Content-Length; returns its status."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise RuntimeError("connection closed before the answer's head")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = sock.recv(4096)
        if not chunk:
            raise RuntimeError("connection closed in the answer's body")
        body += chunk
    return int(head.split(b" ")[1])


def request(sock, i):
    sock.sendall(f"GET / HTTP/1.1\r\nHost: bench\r\nX-User-Id: user-{i}\r\n\r\n".encode())
    status = read_answer(sock)
    if status != 200:
        raise RuntimeError(f"answer {status}")


def main():
    args = sys.argv[1:]
    tls = args[:1] == ["--tls"]
    if tls:
        args = args[1:]
    port, n, pid = int(args[0]), int(args[1]), int(args[2])
    ctx = None
    if tls:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.set_alpn_protocols(["http/1.1"])

    def connect():
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        return ctx.wrap_socket(s, server_hostname="bench.test") if ctx else s

    # Warm-up: the proxy's pools and the backends' connections, on one connection.
    with connect() as warm:
        for i in range(300):
            request(warm, i)
    time.sleep(1)
    before = rss_bytes(pid)
    conns = []
    try:
        for i in range(n):
            s = connect()
            conns.append(s)
            request(s, i)
        time.sleep(2)  # let the proxy settle into idle (timers armed, buffers returned)
        after = rss_bytes(pid)
    finally:
        for s in conns:
            s.close()
    print(json.dumps({"connections": n, "rss_before": before, "rss_after": after,
                      "bytes_per_connection": (after - before) / n}))


if __name__ == "__main__":
    main()
