"""Hostile and broken clients: whatever a client sends, and whatever it does with the
connection afterwards (hold it open, half-close, reset), it gets its answer and ringlb
keeps serving everyone else."""
import json
import socket
import time
import unittest
from collections import namedtuple

from harness import (E2E, SANITIZED, Conn, HostileE2E, ScriptedBackend, assert_alive_and_serving, build_request,
                     client_connections, connection_end, get, holds_connection, keys_routed_to, released, reset,
                     rss_kib, tcp_connections, wait_until)

CHUNKED_HEAD = b"POST / HTTP/1.1\r\nHost: a\r\nX-User-Id: k\r\nTransfer-Encoding: chunked\r\n\r\n"


class MidBodyErrorTest(E2E):
    """An error found while the body streams to a backend, then the client holds the socket
    open past the lingering close (the session's watchdog fires then)."""

    def setUp(self):
        super().setUp()
        self.start_backends(1)
        self.start_lb(timeouts={"idle": "1s"}, limits={"max_body_bytes": 1000})

    def assert_serving(self):
        self.assertIsNone(self.lb.proc.poll(), "ringlb died:\n" + self.lb.log()[-4000:])
        self.assertEqual(get(self.lb.port, "/", {"X-User-Id": "k"}).status, 200)

    def hold_after(self, head, rest, status):
        with Conn(self.lb.port) as c:
            c.send(head)
            time.sleep(0.3)  # ringlb forwards the head and starts streaming the body
            if rest:
                c.send(rest)
            r = c.read_response()
            self.assertEqual(r.status, status, r.body)
            self.assertEqual(r.header("connection"), "close")
            time.sleep(2.5)  # past the 2 s lingering close, socket still open
        self.assert_serving()

    def test_bad_chunk_then_hold(self):
        self.hold_after(CHUNKED_HEAD, b"5\r\nhello\r\nZZ\r\n", 400)

    def test_chunked_body_over_the_limit_then_hold(self):
        self.hold_after(CHUNKED_HEAD, (b"200\r\n" + b"y" * 512 + b"\r\n") * 3, 413)

    def test_body_too_slow_then_hold(self):
        self.hold_after(b"POST / HTTP/1.1\r\nHost: a\r\nX-User-Id: k\r\nContent-Length: 100\r\n\r\n",
                        b"x" * 10, 408)


# --- Every 4xx ringlb answers, then every way a client can end the connection -------------

LINGER = 0.3  # [timeouts] linger below, in seconds
# Slack on every deadline: sanitizer builds are several times slower.
SLACK = 6.0 if SANITIZED else 2.0

# name, the bytes the client sends, the answer (status, body), and whether a client that
# half-closes right after sending still gets that answer (a request head cut short by the
# client's FIN can never complete: it is closed without one, as nginx does).
ErrorCase = namedtuple("ErrorCase", "name request status body answered_after_half_close")
ERROR_CASES = [
    ErrorCase("400 a TLS ClientHello on the HTTP port",
              b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(32)), 400, b"bad request\n", True),
    ErrorCase("400 the HTTP/2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400, b"bad request\n", True),
    ErrorCase("400 NUL in a header value", b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\x00c\r\n\r\n", 400,
              b"bad request\n", True),
    ErrorCase("400 smuggling: Content-Length and Transfer-Encoding",
              b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
              b"0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n", 400, b"bad request\n", True),
    ErrorCase("400 smuggling: two Content-Lengths",
              b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 10\r\n\r\nabc", 400,
              b"bad request\n", True),
    ErrorCase("405 CONNECT", b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", 405,
              b"method not allowed\n", True),
    ErrorCase("408 a head that never ends", b"GET / HTTP/1.1\r\nHost: a\r\nX-User-Id: k\r\n", 408,
              b"request timeout\n", False),
    ErrorCase("413 a declared body over max_body_bytes, sent anyway",
              b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\n\r\n" + b"x" * 5000, 413,
              b"request body too large\n", True),
    ErrorCase("414 a target over max_header_bytes", b"GET /" + b"u" * 8000 + b" HTTP/1.1\r\nHost: a\r\n\r\n", 414,
              b"uri too long\n", True),
    ErrorCase("417 an unknown expectation",
              b"POST / HTTP/1.1\r\nHost: a\r\nExpect: teapot\r\nContent-Length: 1\r\n\r\nx", 417,
              b"expectation failed\n", True),
    ErrorCase("431 a header block over max_header_bytes",
              b"GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + b"x" * 8000 + b"\r\n\r\n", 431,
              b"request header fields too large\n", True),
]

# What the client does once it has sent its request.
ENDINGS = (
    "hold",              # reads the answer late, then keeps the socket open past the linger
    "trickle",           # reads the answer, then keeps sending a byte every 50 ms
    "flood",             # reads the answer, then sends 2 MiB (the linger drains at most 1 MiB)
    "half_close",        # reads the answer, then shutdown(SHUT_WR)
    "half_close_early",  # shutdown(SHUT_WR) right after the request, then reads
    "reset",             # reads the answer, then SO_LINGER 0 and close: an RST
    "reset_early",       # an RST right after the request, without reading anything
)


class ErrorThenHostileEndingTest(HostileE2E):
    """Each error ringlb answers itself, followed by each way a client can end (or not end)
    the connection: the client gets exactly the answer, Connection: close and then a clean
    FIN (ringlb half-closes and lingers, so the answer is never destroyed by an RST); ringlb
    lets go of its side within [timeouts] linger whatever the client does; and it keeps
    serving."""

    def setUp(self):
        super().setUp()
        self.start_backends(1)
        self.start_lb(timeouts={"client_header": "400ms", "linger": "300ms", "idle": "5s"},
                      limits={"max_header_bytes": 4096, "max_body_bytes": 1000})

    def assert_answer(self, r, case):
        self.assertTrue(r.raw_head.startswith(b"HTTP/1.1 %d " % case.status), r.raw_head)
        self.assertEqual(r.header("connection"), "close", r.raw_head)
        self.assertEqual(r.body, case.body)

    def assert_released(self, client_port, what):
        wait_until(lambda: released(self.lb, client_port), timeout=LINGER + SLACK,
                   what=f"ringlb to close its side ({what})")

    def run_case(self, case, ending):
        c = Conn(self.lb.port, timeout=10)
        try:
            client_port = c.sock.getsockname()[1]
            c.send(case.request)
            if ending == "reset_early":
                reset(c)
                self.assert_released(client_port, "after the client's reset")
                return
            if ending == "half_close_early":
                c.sock.shutdown(socket.SHUT_WR)
                if case.answered_after_half_close:
                    self.assert_answer(c.read_response(), case)
                self.assertEqual(connection_end(c, timeout=LINGER + SLACK), ("eof", b""))
                self.assert_released(client_port, "after the client's FIN")
                return
            if ending == "hold":
                time.sleep(0.1)  # a slow reader: the answer waits for it
            self.assert_answer(c.read_response(), case)
            answered = time.monotonic()
            # ringlb half-closes right after the answer: FIN, no further byte, no RST (which a
            # close with the client's unread bytes in ringlb's socket would send).
            self.assertEqual(connection_end(c, timeout=SLACK), ("eof", b""))
            if ending == "hold":
                self.assert_released(client_port, "while the client holds its socket open")
                time.sleep(max(0.0, answered + 2 * LINGER - time.monotonic()))  # hold on past it
            elif ending == "trickle":
                # Bytes keep coming: the linger is still bounded by its time.
                deadline = answered + 2 * LINGER
                try:
                    while time.monotonic() < deadline:
                        c.send(b"x")
                        time.sleep(0.05)
                except OSError:
                    pass  # ringlb closed and our byte drew an RST
                self.assert_released(client_port, "while the client trickles bytes")
            elif ending == "flood":
                c.sock.settimeout(SLACK)
                try:
                    c.send(b"y" * (2 << 20))
                except OSError:
                    pass  # drained up to its 1 MiB cap, then closed
                self.assert_released(client_port, "while the client floods it")
            elif ending == "half_close":
                c.sock.shutdown(socket.SHUT_WR)
                self.assert_released(client_port, "after the client's FIN")
            elif ending == "reset":
                reset(c)
                self.assert_released(client_port, "after the client's reset")
            else:
                self.fail(f"unknown ending {ending}")
        finally:
            c.close()

    def test_every_error_then_every_ending(self):
        for case in ERROR_CASES:
            for ending in ENDINGS:
                with self.subTest(case=case.name, ending=ending):
                    self.run_case(case, ending)
                    assert_alive_and_serving(self, self.lb, key=f"{case.status}-{ending}")
        # Nothing is left over: ringlb holds no client connection once the last one closed.
        wait_until(lambda: client_connections(self.lb) == 0, timeout=SLACK, what="no client connection left")



# --- Pipelining ------------------------------------------------------------------------------

def pipelined_request(i):
    """The i-th of a varied pipeline: a GET, a POST with a Content-Length body, a chunked POST."""
    headers = {"X-User-Id": f"user-{i}"}
    if i % 3 == 0:
        return build_request("GET", f"/echo?seq={i}", headers), "GET", 0
    body = bytes([65 + i % 26]) * (20 * i)  # under max_body_bytes
    if i % 3 == 1:
        return build_request("POST", f"/echo?seq={i}", headers, body), "POST", len(body)
    headers["Transfer-Encoding"] = "chunked"
    chunked = b"%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n" % (len(body) // 2, body[:len(body) // 2],
                                                      len(body) - len(body) // 2, body[len(body) // 2:])
    return build_request("POST", f"/echo?seq={i}", headers, chunked), "POST", len(body)


# A malformed request in the middle of good ones: its answer, and what it contains.
BAD_IN_PIPELINE = [
    ("two Content-Lengths", b"POST /bad HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400),
    ("Content-Length and Transfer-Encoding",
     b"POST /bad HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("a NUL in a header", b"GET /bad HTTP/1.1\r\nHost: a\r\nX-A: \x00\r\n\r\n", 400),
    ("a space before a colon", b"GET /bad HTTP/1.1\r\nHost : a\r\n\r\n", 400),
    ("a body over max_body_bytes", b"POST /bad HTTP/1.1\r\nHost: a\r\nContent-Length: 2000\r\n\r\n" + b"z" * 2000,
     413),
    ("a head over max_header_bytes", b"GET /bad HTTP/1.1\r\nHost: a\r\nX-Big: " + b"x" * 40000 + b"\r\n\r\n", 431),
]


class PipeliningTest(HostileE2E):
    """Requests sent back to back in one write are answered strictly in order; a malformed
    one ends the connection: the good ones before it are answered, then its error with
    Connection: close, and nothing after it reaches a backend or the client."""

    def setUp(self):
        super().setUp()
        self.start_backends(2)
        # One worker: the access log is then in the order the requests were served.
        self.start_lb(workers=1, timeouts={"linger": "300ms"}, limits={"max_body_bytes": 1000})

    def test_fifty_mixed_requests_in_one_write_are_answered_in_order(self):
        reqs = [pipelined_request(i) for i in range(50)]
        with Conn(self.lb.port, timeout=10) as c:
            c.send(b"".join(raw for raw, _, _ in reqs))
            for i, (_, method, size) in enumerate(reqs):
                r = c.read_response()
                self.assertEqual(r.status, 200, (i, r.raw_head))
                # /echo answers with the head it received: the i-th answer is the i-th request's.
                self.assertTrue(r.body.startswith(f"{method} /echo?seq={i} HTTP/1.1\r\n".encode()), (i, r.body[:80]))
                self.assertEqual(r.header("x-body-bytes"), str(size), i)
                self.assertIsNone(r.header("connection"), r.raw_head)
            self.assertEqual(c.buf, b"")  # not a byte more than 50 answers
            # The connection is still in step: one more request, one more answer.
            r = c.request("GET", "/echo?seq=last", {"X-User-Id": "u"})
            self.assertTrue(r.body.startswith(b"GET /echo?seq=last HTTP/1.1\r\n"), r.body[:80])
        assert_alive_and_serving(self, self.lb)

    def test_a_malformed_request_ends_the_pipeline_there(self):
        for name, bad, status in BAD_IN_PIPELINE:
            with self.subTest(bad=name):
                logged = len(self.lb.access_lines())
                before = [build_request("GET", f"/before/{i}", {"X-User-Id": f"b{i}"}) for i in range(10)]
                after = [build_request("GET", f"/after/{i}", {"X-User-Id": f"a{i}"}) for i in range(10)]
                with Conn(self.lb.port, timeout=10) as c:
                    c.send(b"".join(before) + bad + b"".join(after))
                    for i in range(10):
                        r = c.read_response()
                        self.assertEqual(r.status, 200, (i, r.raw_head))
                        self.assertEqual(r.body, (r.backend + "\n").encode())
                    r = c.read_response()
                    self.assertTrue(r.raw_head.startswith(b"HTTP/1.1 %d " % status), r.raw_head)
                    self.assertEqual(r.header("connection"), "close")
                    # Then the end: a FIN, not one byte of an answer to what followed.
                    self.assertEqual(connection_end(c, timeout=5), ("eof", b""))
                assert_alive_and_serving(self, self.lb, key=f"after-{name}")
                # The access log (one worker: in serving order) shows the ten, the error, the
                # check above, and no request after the malformed one.
                wait_until(lambda: len(self.lb.access_lines()) >= logged + 12, timeout=5, what="access log lines")
                lines = self.lb.access_lines()[logged:]
                self.assertEqual(len(lines), 12, lines)
                self.assertEqual([json.loads(x)["status"] for x in lines], [200] * 10 + [status, 200])
                self.assertEqual([json.loads(x)["path"] for x in lines[:10]], [f"/before/{i}" for i in range(10)])
                self.assertFalse([x for x in lines if "/after/" in x], lines)


# --- A client that resets mid-exchange ------------------------------------------------------

class ClientResetTest(HostileE2E):
    """A client that resets during its head, during either kind of body, while the backend
    is slow and while a large response streams: ringlb lets go of both sides (the backend
    connection is closed, not pooled half-used), and keeps serving."""

    def assert_released(self, client_port, timeout=SLACK):
        wait_until(lambda: released(self.lb, client_port), timeout=timeout,
                   what="ringlb to let go of the reset connection")

    def backend_connections(self, backend):
        return [c for c in tcp_connections(self.lb.proc.pid) if c[1] == backend.port]

    def test_reset_during_the_head(self):
        self.start_backends(1)
        self.start_lb(timeouts={"client_header": "5s"})
        for name, partial in [("mid request line", b"GET /some/pa"),
                              ("after the request line", b"GET / HTTP/1.1\r\n"),
                              ("mid header", b"GET / HTTP/1.1\r\nHost: a\r\nX-User-Id: k\r\nX-Lo"),
                              ("20 KiB into the head", b"GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + b"h" * 20000)]:
            with self.subTest(at=name):
                c = Conn(self.lb.port, timeout=10)
                port = c.sock.getsockname()[1]
                c.send(partial)
                wait_until(lambda: holds_connection(self.lb.proc.pid, self.lb.port, port), what="accepted")
                reset(c)
                self.assert_released(port)
                assert_alive_and_serving(self, self.lb)

    def reset_during_body(self, head, first_part):
        backend = ScriptedBackend("scripted")
        self.backends.append(backend)
        # The backend reads the head and whatever body comes, until ringlb closes.
        backend.queue(lambda conn: (conn.read_head(), conn.wait_closed(timeout=15)))
        self.start_lb(backends=[backend])
        c = Conn(self.lb.port, timeout=10)
        port = c.sock.getsockname()[1]
        c.send(head + first_part)
        upstream = backend.connection(0)
        wait_until(lambda: upstream.received >= len(first_part) // 2, what="body bytes at the backend")
        reset(c)
        reset_at = time.monotonic()
        self.assert_released(port)
        # The backend connection, with half a request on it, is closed rather than kept.
        self.assertTrue(upstream.done.wait(SLACK), "ringlb kept the backend connection open")
        self.assertIsNotNone(upstream.peer_closed_at)
        self.assertLess(upstream.peer_closed_at - reset_at, SLACK)
        self.assertLessEqual(upstream.received, len(head) + len(first_part) + 1024)
        assert_alive_and_serving(self, self.lb, expect_backend="scripted")
        self.assertEqual(len(backend.connections), 2)  # the check above came on a new connection

    def test_reset_during_a_content_length_body(self):
        self.reset_during_body(b"POST /up HTTP/1.1\r\nHost: a\r\nX-User-Id: k\r\nContent-Length: 10000000\r\n\r\n",
                               b"c" * 200000)

    def test_reset_during_a_chunked_body(self):
        chunk = b"4000\r\n" + b"k" * 0x4000 + b"\r\n"
        self.reset_during_body(b"POST /up HTTP/1.1\r\nHost: a\r\nX-User-Id: k\r\nTransfer-Encoding: chunked\r\n\r\n",
                               chunk * 12)

    def test_reset_while_the_backend_is_slow(self):
        self.start_backends(1)
        self.start_lb(timeouts={"backend_response": "10s"})
        backend = self.backends[0]
        c = Conn(self.lb.port, timeout=10)
        port = c.sock.getsockname()[1]
        c.send(build_request("GET", "/slow?ms=1500", {"X-User-Id": "k"}))
        wait_until(lambda: self.backend_connections(backend), what="the request to reach the backend")
        reset(c)
        # Everyone else is served meanwhile, at once.
        t = time.monotonic()
        assert_alive_and_serving(self, self.lb, key="other")
        self.assertLess(time.monotonic() - t, 1.0 + (SLACK if SANITIZED else 0))
        # ringlb does not watch the client while it waits for the backend's head: it lets go
        # when the answer comes and cannot be delivered. Bounded by the backend (1.5 s) here,
        # by [timeouts] backend_response at worst.
        self.assert_released(port, timeout=1.5 + SLACK)
        # The slow exchange's backend connection is closed; only the check's pooled one is left.
        wait_until(lambda: len(self.backend_connections(backend)) <= 1, timeout=SLACK, what="backend connection closed")
        assert_alive_and_serving(self, self.lb)

    def test_reset_while_a_large_response_streams(self):
        self.start_backends(1)
        self.start_lb()
        backend = self.backends[0]
        c = Conn(self.lb.port, timeout=10)
        port = c.sock.getsockname()[1]
        c.send(build_request("GET", "/big?bytes=1000000000", {"X-User-Id": "k"}))
        got = 0
        while got < 1 << 20:  # bounded: 1 GB would come if nothing stopped it
            chunk = c.sock.recv(1 << 16)
            self.assertTrue(chunk, "the response ended early")
            got += len(chunk)
        reset(c)
        self.assert_released(port)
        # The backend connection mid-response is closed too, not pooled.
        wait_until(lambda: not self.backend_connections(backend), timeout=SLACK, what="backend connection closed")
        assert_alive_and_serving(self, self.lb)


# --- A client that never reads its (large) response ----------------------------------------

class NeverReadsTest(HostileE2E):
    """A client asks for 200 MB and never reads: ringlb holds one buffer for it, not the
    response (RSS stays flat), cuts the connection when a write has waited [timeouts] idle,
    closes the backend stream too, and serves others meanwhile."""

    def setUp(self):
        super().setUp()
        self.start_backends(2)
        self.start_lb(timeouts={"idle": "1s"})

    def test_a_client_that_never_reads_is_cut_and_costs_no_memory(self):
        # The big response comes from app-1; everything else goes to app-2, so ringlb's
        # connections to app-1 are the stream's alone.
        streamer = self.backends[0]
        big_key = keys_routed_to(self.lb, "app-1")[0]
        other_keys = keys_routed_to(self.lb, "app-2", count=200)
        for i in range(20):   # warm up: pools, buffers
            assert_alive_and_serving(self, self.lb, key=other_keys[i], expect_backend="app-2")
        base = rss_kib(self.lb.proc.pid)
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.settimeout(10)
        s.connect(("127.0.0.1", self.lb.port))
        port = s.getsockname()[1]
        try:
            s.sendall(build_request("GET", "/big?bytes=200000000", {"X-User-Id": big_key}))
            start = time.monotonic()
            wait_until(lambda: holds_connection(self.lb.proc.pid, self.lb.port, port), what="accepted")
            peak = base
            served = 0
            deadline = start + 1.0 + 3 * SLACK
            while holds_connection(self.lb.proc.pid, self.lb.port, port):
                self.assertLess(time.monotonic(), deadline, "the non-reading client was never cut")
                peak = max(peak, rss_kib(self.lb.proc.pid))
                t = time.monotonic()
                assert_alive_and_serving(self, self.lb, key=other_keys[20 + served % 180], expect_backend="app-2")
                self.assertLess(time.monotonic() - t, 1.0 + (SLACK if SANITIZED else 0))
                served += 1
                time.sleep(0.05)
            cut_after = time.monotonic() - start
            print(f"\nnon-reading client cut after {cut_after:.2f} s; RSS +{peak - base} KiB; "
                  f"{served} served meanwhile")
            self.assertGreaterEqual(served, 3)   # the cut came after [timeouts] idle, not at once
            self.assertLess(peak - base, 32 * 1024)
            # The backend's 200 MB stream is closed too, not left blocked.
            wait_until(lambda: not [c for c in tcp_connections(self.lb.proc.pid) if c[1] == streamer.port],
                       timeout=SLACK, what="the backend stream to be closed")
            # What the client can still read ends (FIN or RST) long before 200 MB.
            got = 0
            s.settimeout(5)
            try:
                while got < 200000000:
                    chunk = s.recv(1 << 16)
                    if not chunk:
                        break
                    got += len(chunk)
            except ConnectionResetError:
                pass
            self.assertLess(got, 50000000)
        finally:
            s.close()
        assert_alive_and_serving(self, self.lb)


if __name__ == "__main__":
    unittest.main()
