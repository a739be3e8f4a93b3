"""TLS termination through the real ringlb, with certificates made here by the openssl
command line (a throwaway CA and leaves; no key is committed) and Python's ssl module as the
client: requests over TLS 1.2 and 1.3 reach the backend with X-Forwarded-Proto: https; SNI
picks the certificate (wildcards too), an unknown name gets the default one, or a refusal
with strict_sni; ALPN answers http/1.1 and refuses a client offering only h2; sessions
resume by ticket, also on another instance holding the same ticket key file; SIGHUP swaps a
renewed certificate in and a bad one is refused while the old one serves on; garbage
instead of a ClientHello, a handshake that stalls and one reset midway are cut while the
process serves on; a WebSocket crosses a TLS tunnel; and an idle TLS connection's cost is
measured."""
import json
import os
import shutil
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

from harness import E2E, SANITIZED, Conn, Ringlb, free_port, metric, rss_kib, wait_until

OPENSSL = shutil.which("openssl")


class Pki:
    """A CA and leaf certificates signed by it, in a temporary directory."""

    def __init__(self):
        self.dir = tempfile.TemporaryDirectory(prefix="ringlb-tls-")
        self.ca_key, self.ca = self.path("ca.key"), self.path("ca.pem")
        self.run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                 "-keyout", self.ca_key, "-out", self.ca, "-days", "2", "-subj", "/CN=ringlb test CA")

    def path(self, name):
        return os.path.join(self.dir.name, name)

    def run(self, *args):
        r = subprocess.run([OPENSSL, *args], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, f"openssl {' '.join(args)}: {r.stderr}"
        return r.stdout

    def leaf(self, name, dns, serial):
        """(cert, key) for `dns` names, signed by the CA, with a known serial."""
        key, csr, cert, ext = (self.path(f"{name}.{x}") for x in ("key", "csr", "pem", "ext"))
        with open(ext, "w") as f:
            f.write("subjectAltName=" + ",".join(f"DNS:{d}" for d in dns) + "\n")
        self.run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key,
                 "-out", csr, "-subj", f"/CN={dns[0]}")
        self.run("x509", "-req", "-in", csr, "-CA", self.ca, "-CAkey", self.ca_key, "-set_serial", str(serial),
                 "-days", "2", "-extfile", ext, "-out", cert)
        return cert, key

    def ticket_key(self, name):
        path = self.path(name)
        with open(path, "wb") as f:
            f.write(os.urandom(80))
        return path

    def close(self):
        self.dir.cleanup()


def client_context(pki, alpn=("http/1.1",), max_version=None):
    ctx = ssl.create_default_context(cafile=pki.ca)
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    if max_version:
        ctx.maximum_version = max_version
    return ctx


class TlsConn(Conn):
    """Conn over TLS: the same request/response helpers, on an SSL socket."""

    def __init__(self, port, ctx, name="a.test", session=None, timeout=20.0):
        raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock = ctx.wrap_socket(raw, server_hostname=name, session=session)
        self.buf = b""


def serial_of(sock):
    return int(sock.getpeercert()["serialNumber"], 16)


@unittest.skipIf(OPENSSL is None, "the openssl command line is not installed")
class TlsTest(E2E):
    def setUp(self):
        super().setUp()
        self.pki = Pki()
        self.addCleanup(self.pki.close)
        self.a = self.pki.leaf("a", ["a.test", "*.a.test"], 101)
        self.b = self.pki.leaf("b", ["b.test"], 202)
        self.start_backends(2)
        self.admin_port = free_port()

    def tls(self, **extra):
        return {"certificates": [{"cert": self.a[0], "key": self.a[1]}, {"cert": self.b[0], "key": self.b[1]}],
                **extra}

    def start(self, timeouts=None, **extra):
        return self.start_lb(admin={"listen": f"127.0.0.1:{self.admin_port}"}, tls=self.tls(**extra),
                             timeouts=timeouts)

    def metric(self, name):
        return metric(self.admin_port, name)

    def test_requests_over_tls_12_and_13_reach_the_backend_as_https(self):
        self.start()
        for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            with TlsConn(self.lb.port, client_context(self.pki, max_version=version)) as c:
                self.assertEqual(c.sock.version(), "TLSv1.2" if version == ssl.TLSVersion.TLSv1_2 else "TLSv1.3")
                self.assertEqual(c.sock.selected_alpn_protocol(), "http/1.1")
                r = c.request("GET", "/echo", {"X-User-Id": "u1", "X-Forwarded-Proto": "http"})
                self.assertEqual(r.status, 200)
                self.assertIn(b"\r\nX-Forwarded-Proto: https\r\n", r.body)
                self.assertNotIn(b"X-Forwarded-Proto: http\r\n", r.body)
                # Keep-alive, pipelining and a body of 1 MiB each way on one connection.
                c.send(b"".join(b"GET /p%d HTTP/1.1\r\nHost: t\r\nX-User-Id: u1\r\n\r\n" % i for i in range(5)))
                self.assertEqual([c.read_response().status for _ in range(5)], [200] * 5)
                r = c.request("POST", "/", {"X-User-Id": "u1"}, os.urandom(1 << 20))
                self.assertEqual(r.status, 200)
                self.assertEqual(r.header("x-body-bytes"), str(1 << 20))
                r = c.request("GET", "/big?bytes=1048576", {"X-User-Id": "u1"})
                self.assertEqual(len(r.body), 1 << 20)
        self.assertGreaterEqual(self.metric('ringlb_tls_handshakes_total{result="ok"}'), 2)

    def test_sni_picks_the_certificate_and_strict_sni_refuses_unknown_names(self):
        self.start()
        ctx = client_context(self.pki)
        for name, serial in (("a.test", 101), ("B.TEST", 202), ("www.a.test", 101)):
            with TlsConn(self.lb.port, ctx, name=name) as c:
                self.assertEqual(serial_of(c.sock), serial, name)
                self.assertEqual(c.request("GET", "/", {"X-User-Id": "u"}).status, 200)
        # A name no certificate holds gets the first (the client does not verify the name).
        loose = client_context(self.pki)
        loose.check_hostname = False
        with TlsConn(self.lb.port, loose, name="other.test") as c:
            self.assertEqual(serial_of(c.sock), 101)
        self.lb.reload(self.backends, tls=self.tls(strict_sni=True))
        with self.assertRaises(ssl.SSLError) as refused:
            TlsConn(self.lb.port, loose, name="other.test")
        self.assertIn("UNRECOGNIZED NAME", str(refused.exception).upper().replace("_", " "))
        with TlsConn(self.lb.port, ctx, name="b.test") as c:
            self.assertEqual(c.request("GET", "/", {"X-User-Id": "u"}).status, 200)

    def test_alpn_answers_http11_and_refuses_only_h2(self):
        self.start()
        with TlsConn(self.lb.port, client_context(self.pki, alpn=("h2", "http/1.1"))) as c:
            self.assertEqual(c.sock.selected_alpn_protocol(), "http/1.1")
        with TlsConn(self.lb.port, client_context(self.pki, alpn=None)) as c:
            self.assertIsNone(c.sock.selected_alpn_protocol())
            self.assertEqual(c.request("GET", "/", {"X-User-Id": "u"}).status, 200)
        with self.assertRaises(ssl.SSLError) as refused:
            TlsConn(self.lb.port, client_context(self.pki, alpn=("h2",)))
        self.assertIn("NO APPLICATION PROTOCOL", str(refused.exception).upper().replace("_", " "))

    def test_min_version_13_refuses_tls12(self):
        self.start(min_version="1.3")
        with self.assertRaises(ssl.SSLError):
            TlsConn(self.lb.port, client_context(self.pki, max_version=ssl.TLSVersion.TLSv1_2))
        with TlsConn(self.lb.port, client_context(self.pki)) as c:
            self.assertEqual(c.sock.version(), "TLSv1.3")

    def test_sessions_resume_by_ticket_on_an_instance_sharing_the_key_file(self):
        keys = [self.pki.ticket_key("t1.key")]
        self.start(ticket_keys=keys)
        other = Ringlb(self.backends, tls=self.tls(ticket_keys=keys))
        self.addCleanup(other.stop)
        alone = Ringlb(self.backends, tls=self.tls())  # its own random ticket key
        self.addCleanup(alone.stop)
        for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            ctx = client_context(self.pki, max_version=version)
            with TlsConn(self.lb.port, ctx) as c:
                self.assertEqual(c.request("GET", "/", {"X-User-Id": "u"}).status, 200)  # the ticket came
                session = c.sock.session
                self.assertFalse(c.sock.session_reused)
            with TlsConn(other.port, ctx, session=session) as c:
                self.assertTrue(c.sock.session_reused, f"{version}: the other instance did not resume")
                self.assertEqual(c.request("GET", "/", {"X-User-Id": "u"}).status, 200)
            with TlsConn(alone.port, ctx, session=session) as c:
                self.assertFalse(c.sock.session_reused, f"{version}: resumed without the key")
            # A resumed connection hands out a ticket in turn (a TLS 1.3 client uses one
            # once): every connection of a client resumes, not every other one.
            for _ in range(3):
                with TlsConn(self.lb.port, ctx, session=session) as c:
                    self.assertTrue(c.sock.session_reused, f"{version}: a chained resumption")
                    self.assertEqual(c.request("GET", "/", {"X-User-Id": "u"}).status, 200)
                    session = c.sock.session
        self.assertGreaterEqual(self.metric('ringlb_tls_handshakes_total{result="resumed"}'), 6)
        # A rotation: the new key first, the old one still decrypts its tickets.
        ctx = client_context(self.pki, max_version=ssl.TLSVersion.TLSv1_2)
        with TlsConn(self.lb.port, ctx) as c:
            c.request("GET", "/", {"X-User-Id": "u"})
            session = c.sock.session
        self.lb.reload(self.backends, tls=self.tls(ticket_keys=[self.pki.ticket_key("t2.key"), keys[0]]))
        with TlsConn(self.lb.port, ctx, session=session) as c:
            self.assertTrue(c.sock.session_reused)

    def test_sighup_swaps_a_renewed_certificate_and_refuses_a_bad_one(self):
        self.start()
        ctx = client_context(self.pki)
        held = TlsConn(self.lb.port, ctx)  # open across both reloads
        self.addCleanup(held.close)
        self.assertEqual(held.request("GET", "/", {"X-User-Id": "u"}).status, 200)
        renewed = self.pki.leaf("a2", ["a.test", "*.a.test"], 303)
        shutil.copy(renewed[0], self.a[0])
        shutil.copy(renewed[1], self.a[1])
        self.lb.reload(self.backends, tls=self.tls())
        with TlsConn(self.lb.port, ctx) as c:
            self.assertEqual(serial_of(c.sock), 303)
        # A key that does not match: the reload fails and says why; the renewed set serves on.
        shutil.copy(self.b[1], self.a[1])
        self.lb.reload(self.backends, tls=self.tls(), expect="reload of")
        self.assertIn("does not match certificate", self.lb.log())
        with TlsConn(self.lb.port, ctx) as c:
            self.assertEqual(serial_of(c.sock), 303)
        with open(self.a[0], "w") as f:
            f.write("not a certificate\n")
        count = self.lb.log().count("reload of")
        self.lb.reload(self.backends, tls=self.tls(), expect="reload of")
        self.assertGreater(self.lb.log().count("reload of"), count)
        self.assertIn("tls: certificate " + self.a[0], self.lb.log())
        self.assertEqual(held.request("GET", "/", {"X-User-Id": "u"}).status, 200)
        with TlsConn(self.lb.port, ctx) as c:
            self.assertEqual(serial_of(c.sock), 303)

    def test_the_admin_api_reloads_certificates_and_says_why_not(self):
        self.start()
        ctx = client_context(self.pki)
        renewed = self.pki.leaf("a3", ["a.test", "*.a.test"], 404)
        shutil.copy(renewed[0], self.a[0])
        shutil.copy(renewed[1], self.a[1])

        def post_reload():
            with Conn(self.admin_port) as c:
                r = c.request("POST", "/v1/reload", {"Content-Type": "application/json"},
                              host=f"127.0.0.1:{self.admin_port}")
            return r.status, json.loads(r.body)

        status, doc = post_reload()
        self.assertEqual(status, 200, doc)
        self.assertTrue(doc["reloaded"])
        with TlsConn(self.lb.port, ctx) as c:  # the workers run it once the answer comes
            self.assertEqual(serial_of(c.sock), 404)
        shutil.copy(self.b[1], self.a[1])
        status, doc = post_reload()
        self.assertEqual(status, 422)
        self.assertIn("does not match certificate", doc["error"]["message"])
        with TlsConn(self.lb.port, ctx) as c:
            self.assertEqual(serial_of(c.sock), 404)

    def test_hostile_handshakes_are_cut_and_the_process_serves_on(self):
        self.start(timeouts={"client_header": "1s"})
        ctx = client_context(self.pki)
        # Garbage instead of a ClientHello: an alert or a close, at once.
        with socket.create_connection(("127.0.0.1", self.lb.port), timeout=5) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: plain\r\n\r\n")
            data = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            self.assertNotIn(b"HTTP/1.1", data)
        # A ClientHello that stops halfway: cut at client_header.
        hello = bytes([0x16, 0x03, 0x01, 0x02, 0x00]) + b"\x01\x00\x01\xfc\x03\x03" + os.urandom(40)
        with socket.create_connection(("127.0.0.1", self.lb.port), timeout=10) as s:
            s.sendall(hello)
            started = time.monotonic()
            self.assertEqual(s.recv(4096), b"")
            self.assertLess(time.monotonic() - started, 5)
            self.assertGreater(time.monotonic() - started, 0.5)
        # A client that resets mid-handshake.
        for _ in range(20):
            s = socket.create_connection(("127.0.0.1", self.lb.port), timeout=5)
            s.sendall(hello)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()
        # A record header announcing more than a record may hold.
        with socket.create_connection(("127.0.0.1", self.lb.port), timeout=5) as s:
            s.sendall(bytes([0x16, 0x03, 0x01, 0xff, 0xff]) + b"\x00" * 64)
            self.assertIn(s.recv(4096)[:1], (b"", b"\x15"))  # nothing, or an alert
        with TlsConn(self.lb.port, ctx) as c:
            self.assertEqual(c.request("GET", "/", {"X-User-Id": "u"}).status, 200)
        self.assertGreaterEqual(self.metric('ringlb_tls_handshakes_total{result="failed"}'), 22)
        self.assertIsNone(self.lb.proc.poll())

    def test_an_idle_tls_connection_is_parked_and_serves_again(self):
        self.start()
        ctx = client_context(self.pki)
        conns = [TlsConn(self.lb.port, ctx) for _ in range(5)]
        for c in conns:
            self.assertEqual(c.request("GET", "/", {"X-User-Id": "u"}).status, 200)
        wait_until(lambda: self.metric("ringlb_connections_parked") == 5, timeout=10, what="five parked")
        for round_ in range(2):  # parked, served, parked again, served again
            for c in conns:
                r = c.request("GET", "/echo", {"X-User-Id": "u"})
                self.assertEqual(r.status, 200)
                self.assertIn(b"X-Forwarded-Proto: https", r.body)
            wait_until(lambda: self.metric("ringlb_connections_parked") == 5, timeout=10,
                       what=f"five parked again ({round_})")
        # A client that leaves while parked, and one that sends its close_notify first.
        conns[0].sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conns[0].sock.close()
        conns[1].sock.unwrap().close()
        wait_until(lambda: self.metric("ringlb_connections_parked") == 3, timeout=10, what="three left parked")
        # Only resumed, never new: no handshake for a parked connection's requests.
        self.assertEqual(self.metric('ringlb_tls_handshakes_total{result="ok"}'), 5)
        for c in conns[2:]:
            c.close()

    def test_a_tls_client_that_half_closes_or_resets_midway_costs_nothing_else(self):
        self.start_lb(admin={"listen": f"127.0.0.1:{self.admin_port}"}, tls=self.tls(), workers=1)
        ctx = client_context(self.pki)
        # A request, then a TCP half-close (no close_notify): the answer still comes.
        with TlsConn(self.lb.port, ctx) as c:
            c.send(b"GET /slow?ms=100 HTTP/1.1\r\nHost: t\r\nX-User-Id: k\r\n\r\n")
            socket.socket.shutdown(c.sock, socket.SHUT_WR)  # the TCP side only: the TLS state stays
            self.assertEqual(c.read_response().status, 200)
        # A request, a half-close, then a reset while the backend is still answering.
        for _ in range(5):
            c = TlsConn(self.lb.port, ctx)
            c.send(b"GET /slow?ms=300 HTTP/1.1\r\nHost: t\r\nX-User-Id: k\r\n\r\n")
            socket.socket.shutdown(c.sock, socket.SHUT_WR)
            time.sleep(0.05)
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            c.sock.close()
        # A backend that answers and then sends a response nobody asked for, on the
        # connection ringlb pooled: it never reaches the next TLS client.
        for _ in range(3):
            with TlsConn(self.lb.port, ctx) as c:
                self.assertEqual(c.request("GET", "/stray?ms=20", {"X-User-Id": "k"}).body, b"ok\n")
            time.sleep(0.1)
            with TlsConn(self.lb.port, ctx) as c:
                r = c.request("GET", "/", {"X-User-Id": "k"})
                self.assertIsNone(r.header("x-stray"), r.raw_head)
                self.assertEqual(r.body, b"app-1\n" if r.backend == "app-1" else b"app-2\n")
        # Every client connection and its session ended: nothing open, nothing parked.
        wait_until(lambda: self.metric("ringlb_connections_open") == 0, timeout=10, what="no connection left")
        self.assertIsNone(self.lb.proc.poll())

    def test_a_parked_tls_connection_timed_out_ends_with_a_close_notify(self):
        self.start(timeouts={"idle": "2s"})
        c = TlsConn(self.lb.port, client_context(self.pki))
        self.addCleanup(c.close)
        self.assertEqual(c.request("GET", "/", {"X-User-Id": "u"}).status, 200)
        wait_until(lambda: self.metric("ringlb_connections_parked") == 1, what="parked")
        c.sock.settimeout(10)
        # A clean TLS end reads as b""; a bare TCP close would raise SSLEOFError.
        self.assertEqual(c.sock.recv(1024), b"")
        self.assertEqual(self.metric("ringlb_connections_parked"), 0)

    @unittest.skipIf(SANITIZED, "RSS under ASan measures the sanitizer's shadow memory")
    def test_an_idle_tls_connection_costs_little(self):
        self.start()
        ctx = client_context(self.pki)
        warm = [TlsConn(self.lb.port, ctx) for _ in range(20)]
        for c in warm:
            c.request("GET", "/", {"X-User-Id": "w"})
        time.sleep(0.5)
        before = rss_kib(self.lb.proc.pid)
        n = 400
        conns = []
        for i in range(n):
            c = TlsConn(self.lb.port, ctx)
            self.assertEqual(c.request("GET", "/", {"X-User-Id": f"u{i}"}).status, 200)
            conns.append(c)
        wait_until(lambda: self.metric("ringlb_connections_parked") == n + len(warm), timeout=20,
                   what="every connection parked")
        time.sleep(0.5)  # the sessions' memory is given back 250 ms after the last parking
        per_conn = (rss_kib(self.lb.proc.pid) - before) * 1024 / n
        print(f"\nidle TLS connection after one request: {per_conn:.0f} bytes of RSS each ({n} connections)",
              file=sys.stderr)
        # asio::ssl alone would hold two 17 KiB buffers per connection; here OpenSSL releases its
        # record buffers while idle, the connection is parked, and what is left is OpenSSL's state
        # (nginx and HAProxy: about 15.5 KB; ringlb about 18 KB here, 20 KB unparked:
        # bench/proxy/RESULTS.md).
        self.assertLess(per_conn, 19 * 1024)
        for c in warm + conns:
            c.close()


@unittest.skipIf(OPENSSL is None, "the openssl command line is not installed")
class TlsWebSocketTest(E2E):
    def test_a_websocket_crosses_a_tls_tunnel(self):
        try:
            import asyncio
            import websockets
        except ImportError:
            self.skipTest("python3-websockets is not installed")
        from test_websocket import WsBackend
        pki = Pki()
        self.addCleanup(pki.close)
        cert = pki.leaf("a", ["a.test"], 7)
        self.backends.append(WsBackend("app-1"))
        self.start_lb(tls={"certificates": [{"cert": cert[0], "key": cert[1]}]})
        ctx = client_context(pki, alpn=None)

        async def go():
            async with websockets.connect(f"wss://a.test:{self.lb.port}/chat", ssl=ctx,
                                          host="127.0.0.1", port=self.lb.port, server_hostname="a.test",
                                          extra_headers={"X-User-Id": "k"}, ping_interval=None,
                                          max_size=None, open_timeout=10) as ws:
                self.assertEqual(await ws.recv(), "hello app-1")
                big = os.urandom(256 << 10)
                await ws.send(big)
                self.assertEqual(await ws.recv(), b"app-1:" + big)
                for i in range(50):
                    await ws.send(f"m{i}")
                    self.assertEqual(await ws.recv(), f"app-1:m{i}")

        asyncio.run(asyncio.wait_for(go(), 30))


if __name__ == "__main__":
    unittest.main()
