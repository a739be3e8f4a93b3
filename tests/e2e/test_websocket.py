"""WebSocket tunnels through the real ringlb, against real WebSocket backends
(python3-websockets, ws_backend.py) and its real client: a handshake routed by its key like
any request, the backend's 101 relayed, then bytes both ways (a 1 MiB message each way, the
frame a backend sends right after its 101, frames a client sent before the 101 came); every
reconnect of a key reaches the same backend; a tunnel silent for [timeouts] tunnel is
closed while a busy one stays; a drain closes only the tunnels whose key moved, spread over
[routing] tunnel_handover; a backend that refuses the upgrade answers as HTTP and the
connection stays HTTP; a protocol not on [server] upgrade is not switched."""
import asyncio
import base64
import os
import socket
import subprocess
import sys
import time
import unittest

from harness import E2E, SANITIZED, Conn, ServerProcess, free_port, metric, rss_kib, wait_until

try:
    import websockets
    import websockets.exceptions
except ImportError:  # scripts/install-deps installs python3-websockets
    websockets = None

WS_BACKEND = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ws_backend.py")


class WsBackend(ServerProcess):
    """A ws_backend.py process: X-Backend on its 101, "hello ID" first, then an echo."""

    def __init__(self, backend_id):
        self.id = backend_id
        self.proc = subprocess.Popen([sys.executable, WS_BACKEND, backend_id], stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("PORT "):
            self.proc.kill()
            raise RuntimeError(f"ws_backend {backend_id} did not start: {line!r}")
        self.port = int(line.split()[1])

    def cleanup(self):
        if self.proc.stdout:
            self.proc.stdout.close()


def run(coro, timeout=30):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def masked_text_frame(text):
    """A client's text frame (RFC 6455 5.2: clients mask), payload under 126 bytes."""
    payload = text.encode()
    mask = os.urandom(4)
    return bytes([0x81, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def read_text_frame(sock, buf):
    """One unmasked text frame from a server (payload under 126 bytes): (text, rest of buf)."""
    while len(buf) < 2 or len(buf) < 2 + (buf[1] & 0x7F):
        chunk = sock.recv(4096)
        if not chunk:
            raise EOFError("closed before a whole frame")
        buf += chunk
    assert buf[0] == 0x81 and buf[1] < 126, buf[:2]
    n = buf[1]
    return buf[2:2 + n].decode(), buf[2 + n:]


@unittest.skipIf(websockets is None, "python3-websockets is not installed (scripts/install-deps)")
class WebSocketTest(E2E):
    def setUp(self):
        super().setUp()
        for i in range(1, 4):
            self.backends.append(WsBackend(f"app-{i}"))
        self.admin_port = free_port()

    def start(self, **kwargs):
        return self.start_lb(admin={"listen": f"127.0.0.1:{self.admin_port}"}, **kwargs)

    def metric(self, name):
        return metric(self.admin_port, name)

    def connect(self, key, path="/chat", **kwargs):
        return websockets.connect(f"ws://127.0.0.1:{self.lb.port}{path}", extra_headers={"X-User-Id": key},
                                  ping_interval=None, max_size=None, open_timeout=10, **kwargs)

    async def attempt(self, key, path="/chat"):
        """A handshake that is expected to fail."""
        ws = await self.connect(key, path=path)
        await ws.close()

    def test_messages_cross_the_tunnel_both_ways(self):
        self.start()

        async def go():
            async with self.connect("alice") as ws:
                backend = ws.response_headers["X-Backend"]
                # What the backend sent right after its 101 arrives first.
                self.assertEqual(await ws.recv(), f"hello {backend}")
                await ws.send("hi")
                self.assertEqual(await ws.recv(), f"{backend}:hi")
                big = os.urandom(1 << 20)
                await ws.send(big)
                self.assertEqual(await ws.recv(), backend.encode() + b":" + big)
                self.assertEqual(self.metric("ringlb_tunnels_open"), 1)
            return backend

        self.assertIn(run(go()), {"app-1", "app-2", "app-3"})
        wait_until(lambda: self.metric("ringlb_tunnels_open") == 0, what="the tunnel to be let go")
        self.assertEqual(self.metric("ringlb_tunnels_total"), 1)

    def test_every_reconnect_of_a_key_reaches_the_same_backend(self):
        self.start()
        keys = [f"user-{i}" for i in range(30)]

        async def owner(key):
            async with self.connect(key) as ws:
                return ws.response_headers["X-Backend"]

        async def go():
            first = {k: await owner(k) for k in keys}
            again = {k: await owner(k) for k in keys}
            return first, again

        first, again = run(go(), timeout=60)
        self.assertEqual(first, again)
        self.assertEqual(set(first.values()), {"app-1", "app-2", "app-3"})

    def test_frames_sent_before_the_101_are_delivered(self):
        self.start()
        key = base64.b64encode(os.urandom(16)).decode()
        handshake = (f"GET /chat HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nX-User-Id: bob\r\n\r\n")
        with socket.create_connection(("127.0.0.1", self.lb.port), timeout=10) as s:
            s.sendall(handshake.encode() + masked_text_frame("early"))
            buf = b""
            while b"\r\n\r\n" not in buf:
                chunk = s.recv(4096)
                self.assertTrue(chunk, f"closed before the 101's head: {buf!r}")
                buf += chunk
            head, _, buf = buf.partition(b"\r\n\r\n")
            self.assertTrue(head.startswith(b"HTTP/1.1 101"), head)
            self.assertIn(b"connection: upgrade", head.lower())
            self.assertIn(b"upgrade: websocket", head.lower())
            backend = [l.split(b":", 1)[1].strip().decode() for l in head.split(b"\r\n")
                       if l.lower().startswith(b"x-backend:")][0]
            hello, buf = read_text_frame(s, buf)
            self.assertEqual(hello, f"hello {backend}")
            echo, buf = read_text_frame(s, buf)
            self.assertEqual(echo, f"{backend}:early")

    def test_a_silent_tunnel_is_closed_after_its_timeout_and_a_busy_one_stays(self):
        self.start(timeouts={"tunnel": "1s"})

        async def silent():
            async with self.connect("quiet") as ws:
                await ws.recv()  # hello
                t0 = time.monotonic()
                with self.assertRaises(websockets.exceptions.ConnectionClosed):
                    await ws.recv()
                return time.monotonic() - t0

        async def busy():
            async with self.connect("chatty") as ws:
                await ws.recv()
                for i in range(12):  # 3 s, a message every 250 ms
                    await asyncio.sleep(0.25)
                    await ws.send(f"m{i}")
                    self.assertTrue((await ws.recv()).endswith(f":m{i}"))
                return True

        async def go():
            return await asyncio.gather(silent(), busy())

        closed_after, busy_ok = run(go())
        # (Measured from when this client read "hello"; ringlb's deadline began when it sent
        # it, which a loaded machine may have done a while before.)
        self.assertGreaterEqual(closed_after, 0.5)
        self.assertLess(closed_after, 5)
        self.assertTrue(busy_ok)

    def test_a_drain_closes_only_the_tunnels_whose_key_moved(self):
        self.start(routing={"tunnel_handover": "2s"})
        keys = [f"user-{i}" for i in range(36)]

        async def go():
            open_ = {}
            for k in keys:
                ws = await self.connect(k)
                await ws.recv()  # hello
                open_[k] = ws
            on = {k: ws.response_headers["X-Backend"] for k, ws in open_.items()}
            drained = {k for k, b in on.items() if b == "app-1"}
            self.assertGreater(len(drained), 3)
            # app-1's tunnels close, each at its moment within the 2 s window (swept once a
            # second); the others are untouched.
            closed_at = {}

            async def watch(k):
                await asyncio.wait_for(open_[k].wait_closed(), 10)
                closed_at[k] = time.monotonic() - t0

            t0 = time.monotonic()
            watchers = [asyncio.create_task(watch(k)) for k in drained]
            await asyncio.to_thread(self.lb.reload, self.backends, states={"app-1": "drain"})
            await asyncio.gather(*watchers)
            for k, ws in open_.items():
                if k in drained:
                    continue
                await ws.send("still here")
                self.assertEqual(await ws.recv(), f"{on[k]}:still here")
            # A moved key reconnects to its next candidate.
            for k in sorted(drained)[:3]:
                async with self.connect(k) as ws:
                    self.assertNotEqual(ws.response_headers["X-Backend"], "app-1")
            for ws in open_.values():
                await ws.close()
            return drained, closed_at

        drained, closed_at = run(go(), timeout=90)
        self.assertEqual(self.metric("ringlb_tunnels_moved_total"), len(drained))
        # Spread, not in one burst: at least two sweeps closed them.
        self.assertGreaterEqual(max(closed_at.values()) - min(closed_at.values()), 0.5, closed_at)
        self.assertLess(max(closed_at.values()), 8, closed_at)  # 2 s window, 1 s sweeps, a reload

    def test_idle_tunnels_hold_no_buffers(self):
        # A tunnel waits for bytes without a buffer: what 300 idle ones add is their sessions
        # and coroutines, far below the 32 KiB two held buffers would cost.
        self.start(workers=1)
        n = 300

        async def go():
            for i in range(20):  # warm up: pools, the first handshakes
                async with self.connect(f"warm-{i}") as ws:
                    await ws.recv()
            base = rss_kib(self.lb.proc.pid)
            tunnels = []
            for i in range(n):
                ws = await self.connect(f"idle-{i}")
                await ws.recv()
                tunnels.append(ws)
            self.assertEqual(self.metric("ringlb_tunnels_open"), n)
            grown = rss_kib(self.lb.proc.pid) - base
            # Still tunnels: each echoes after the measurement.
            for ws in tunnels[:10]:
                await ws.send("x")
                self.assertTrue((await ws.recv()).endswith(":x"))
            for ws in tunnels:
                await ws.close()
            return grown

        grown = run(go(), timeout=120)
        each = grown * 1024 / n
        print(f"\n{n} idle WebSocket tunnels: RSS +{grown} KiB ({each:.0f} bytes each)")
        if not SANITIZED:
            self.assertLess(each, 16 * 1024)

    def test_a_backend_that_refuses_the_upgrade_answers_as_http(self):
        self.start()
        with self.assertRaises(websockets.exceptions.InvalidStatusCode) as caught:
            run(self.attempt("carol", path="/refuse"))
        self.assertEqual(caught.exception.status_code, 403)
        # The connection stays HTTP: a second request on it is answered as well.
        key = base64.b64encode(os.urandom(16)).decode()
        with Conn(self.lb.port) as c:
            for _ in range(2):
                r = c.request("GET", "/refuse", {"X-User-Id": "carol", "Upgrade": "websocket",
                                                 "Connection": "Upgrade", "Sec-WebSocket-Key": key,
                                                 "Sec-WebSocket-Version": "13"})
                self.assertEqual(r.status, 403)
                self.assertEqual(r.body, b"not here\n")
        self.assertEqual(self.metric("ringlb_tunnels_total"), 0)

    def test_a_protocol_not_allowed_is_not_switched(self):
        # With no protocol allowed, the Upgrade header is not forwarded: the backend sees a
        # plain GET and answers it (websockets answers 426 Upgrade Required).
        self.start(server={"upgrade": []})
        with self.assertRaises(websockets.exceptions.InvalidStatusCode) as caught:
            run(self.attempt("dave"))
        self.assertEqual(caught.exception.status_code, 426)
        self.assertEqual(self.metric("ringlb_tunnels_total"), 0)


if __name__ == "__main__":
    unittest.main()
