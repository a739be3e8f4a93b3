"""Hostile and broken backends: no byte a backend sends outside the exchange it was asked
for reaches any client, and ringlb keeps serving whatever a backend does."""
import json
import threading
import time
import unittest
from collections import namedtuple

from harness import (E2E, SANITIZED, HostileE2E, Backend, Conn, Ringlb, ScriptedBackend, assert_alive_and_serving,
                     build_request, connection_end, dead_sockets, get, keys_routed_to, ok_response, script,
                     tcp_connections, wait_until)


class UnaskedBytesTest(E2E):
    """A backend connection that holds a byte nobody asked for is closed, never reused."""

    def setUp(self):
        super().setUp()
        self.start_backends(1)
        # One worker, so the next request is sure to find the pooled connection.
        self.start_lb(workers=1)

    def assert_genuine(self, r):
        self.assertTrue(r.raw_head.startswith(b"HTTP/1.1 200 "), r.raw_head)
        self.assertIsNone(r.header("x-stray"), r.raw_head)
        self.assertEqual(r.backend, "app-1")
        self.assertEqual(r.body, b"app-1\n")

    def test_a_stray_response_never_reaches_the_next_client(self):
        # The backend answers, then sends a second response nobody asked for, 20 ms later,
        # on the connection ringlb has just pooled.
        # The next request comes 100 ms later: the stray bytes are there, and a pool that
        # only probes connections idle for longer would miss them.
        for _ in range(3):
            r = get(self.lb.port, "/stray?ms=20", {"X-User-Id": "k"})
            self.assertEqual(r.body, b"ok\n")
            time.sleep(0.1)  # the unasked-for response reaches the pooled connection meanwhile
            self.assert_genuine(get(self.lb.port, "/", {"X-User-Id": "k"}))

    def test_a_204_with_a_body_does_not_leak_into_the_next_response(self):
        with Conn(self.lb.port, timeout=5) as c:
            r = c.request("GET", "/status?code=204&cl=5&body=hello", {"X-User-Id": "k"})
            self.assertEqual(r.status, 204)
            self.assert_genuine(c.request("GET", "/", {"X-User-Id": "k"}))

    def test_a_304_body_sent_late_does_not_reach_anyone(self):
        with Conn(self.lb.port, timeout=5) as c:
            r = c.request("GET", "/status?code=304&cl=5&body=hello&delay_ms=20", {"X-User-Id": "k"})
            self.assertEqual(r.status, 304)
            time.sleep(0.1)  # the late "body" reaches the pooled connection meanwhile
            self.assert_genuine(c.request("GET", "/", {"X-User-Id": "k"}))
        self.assert_genuine(get(self.lb.port, "/", {"X-User-Id": "k"}))

    def test_a_304_with_content_length_and_no_body_is_complete(self):
        # RFC 9110 8.6: a 304's Content-Length describes the representation it did not send.
        with Conn(self.lb.port, timeout=5) as c:
            r = c.request("GET", "/status?code=304&cl=1234", {"X-User-Id": "k"})
            self.assertEqual(r.status, 304)
            self.assertEqual(r.header("content-length"), "1234")
            self.assert_genuine(c.request("GET", "/", {"X-User-Id": "k"}))



# --- A backend that fails at every phase of an exchange ------------------------------------

BACKEND_RESPONSE = 1.0   # [timeouts] backend_response below, in seconds
SLACK = 6.0 if SANITIZED else 2.0
BUFFER = 33 * 1024       # ringlb's buffers: max(16 KiB, max_header_bytes (default 32 KiB) + 1 KiB)
ERROR_BODY = {502: b"bad gateway\n", 504: b"gateway timeout\n"}


def answer(*steps):
    """A script that reads the request head, then takes `steps`."""
    return script(("read_head",), *steps)


def head_of(size):
    """A 200 response head of exactly `size` bytes, blank line included, for a 2-byte body."""
    start = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Pad: "
    return start + b"p" * (size - len(start) - 4) + b"\r\n\r\n"


def interim_forever(conn):
    """103 Early Hints every 100 ms, and never a final response (until ringlb gives up)."""
    conn.read_head()
    deadline = time.monotonic() + 10
    try:
        while time.monotonic() < deadline:
            conn.send(b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n")
            time.sleep(0.1)
    except OSError:
        pass  # ringlb closed it


DRIPPED_BODY = b"".join(b"%02d-drip " % i for i in range(12))  # 96 bytes
DRIPPED_HEAD = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(DRIPPED_BODY)

# expect is one of:
#   ("error", status): ringlb's own error answer; the request was read whole, so the client
#                      connection stays open (no Connection: close) and the next request on
#                      it gets a genuine answer;
#   ("relayed", status, body, closes): the backend's answer, exactly; closes: the client
#                      connection ends after it (a body delimited by the backend's close);
#   ("truncated", head_start, partial): the head, then exactly `partial` body bytes, then the
#                      client connection closes: a broken response cannot be completed or
#                      repaired, only cut.
# marks_down: a reset or close before any byte on a fresh connection marks the backend down
# (its keys go to their next candidate for the back-off); nothing else does.
# seconds: the answer must come within this (plus slack): no fault hangs ringlb past its
# timeouts.
# reusable: a complete, well-framed keep-alive response: ringlb pools that connection and
# the next request reuses it. Every other connection is closed, never reused.
Fault = namedtuple("Fault", "name script expect marks_down seconds reusable", defaults=(False,))
CHUNKED_200 = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
FAULTS = [
    Fault("closes before any byte", answer(("close",)), ("error", 502), True, 0),
    Fault("resets before any byte", answer(("reset",)), ("error", 502), True, 0),
    Fault("half a status line, then closes", answer(("send", b"HTTP/1.1 20"), ("close",)), ("error", 502), False, 0),
    Fault("half a status line, then resets", answer(("send", b"HTTP/1.1 200 O"), ("reset",)), ("error", 502), False, 0),
    Fault("half a head, then closes", answer(("send", b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A"), ("close",)),
          ("error", 502), False, 0),
    Fault("not HTTP at all", answer(("send", b"SSH-2.0-OpenSSH_9.2\r\n"), ("wait_closed", 10)),
          ("error", 502), False, 0),
    Fault("a head one byte larger than ringlb's buffer",
          answer(("send", head_of(BUFFER + 1) + b"ok"), ("wait_closed", 10)), ("error", 502), False, 0),
    Fault("a head exactly as large as ringlb's buffer", answer(("send", head_of(BUFFER) + b"ok"), ("serve", True)),
          ("relayed", 200, b"ok", False), False, 0, True),
    Fault("Content-Length and Transfer-Encoding together",
          answer(("send", b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
                          b"5\r\nhello\r\n0\r\n\r\n"), ("wait_closed", 10)), ("error", 502), False, 0),
    Fault("two different Content-Lengths",
          answer(("send", b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"),
                 ("wait_closed", 10)), ("error", 502), False, 0),
    Fault("two equal Content-Lengths",
          answer(("send", b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello"),
                 ("wait_closed", 10)), ("error", 502), False, 0),
    Fault("a Content-Length that is not a number",
          answer(("send", b"HTTP/1.1 200 OK\r\nContent-Length: 12abc\r\n\r\nhello"), ("wait_closed", 10)),
          ("error", 502), False, 0),
    Fault("a bad chunk size", answer(("send", CHUNKED_200 + b"5\r\nhello\r\nzz\r\n"), ("wait_closed", 10)),
          ("truncated", b"HTTP/1.1 200 OK\r\n", b"5\r\nhello\r\n"), False, 0),
    Fault("a chunk that stops short, then closes", answer(("send", CHUNKED_200 + b"a\r\nhello"), ("close",)),
          ("truncated", b"HTTP/1.1 200 OK\r\n", b"a\r\nhello"), False, 0),
    Fault("a body shorter than its Content-Length, then closes",
          answer(("send", b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello"), ("close",)),
          ("truncated", b"HTTP/1.1 200 OK\r\n", b"hello"), False, 0),
    Fault("a body shorter than its Content-Length, then resets",
          answer(("send", b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello"), ("pause", 0.1), ("reset",)),
          ("truncated", b"HTTP/1.1 200 OK\r\n", b"hello"), False, 0),
    Fault("a body shorter than its Content-Length, then a half-close",
          answer(("send", b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello"), ("half_close",), ("wait_closed", 10)),
          ("truncated", b"HTTP/1.1 200 OK\r\n", b"hello"), False, 0),
    Fault("half a head, then a half-close", answer(("send", b"HTTP/1.1 200 OK\r\nX-A"), ("half_close",),
                                                   ("wait_closed", 10)), ("error", 502), False, 0),
    Fault("a body that stops, then silence", answer(("send", b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello"),
                                                    ("wait_closed", 10)),
          ("truncated", b"HTTP/1.1 200 OK\r\n", b"hello"), False, BACKEND_RESPONSE),
    # Interim responses are skipped, not forwarded (ringlb answers 100 Continue itself), all
    # within the one backend_response deadline for the head. A few are skipped and the answer
    # relayed; a flood of them is not HTTP but an attack (ringlb allows 16): 502 at once,
    # without waiting for the deadline; a slow endless stream is a 504 at the deadline.
    Fault("three interim heads, then the answer",
          answer(("send", b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\n\r\n"
                          b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
                          + ok_response("bad", close=False)), ("serve", True)),
          ("relayed", 200, b"bad\n", False), False, 0, True),
    Fault("1000 100 Continue heads, then the answer",
          answer(("send", b"HTTP/1.1 100 Continue\r\n\r\n" * 1000 + ok_response("bad", close=False)),
                 ("wait_closed", 10)), ("error", 502), False, 0),
    Fault("103 Early Hints every 100 ms, never an answer", interim_forever, ("error", 504), False, BACKEND_RESPONSE),
    Fault("an unsolicited 101 Switching Protocols",
          answer(("send", b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"),
                 ("wait_closed", 10)), ("error", 502), False, 0),
    Fault("a 100 Continue, then a 101",
          answer(("send", b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n"
                          b"Connection: Upgrade\r\n\r\n"), ("wait_closed", 10)), ("error", 502), False, 0),
    Fault("a 204 that carries a Content-Length body",
          answer(("send", b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello"), ("wait_closed", 10)),
          ("relayed", 204, b"", False), False, 0),
    Fault("a 204 that carries a chunked body",
          answer(("send", b"HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
                 ("wait_closed", 10)), ("relayed", 204, b"", False), False, 0),
    Fault("a 304 that carries a body",
          answer(("send", b"HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\nhello"), ("wait_closed", 10)),
          ("relayed", 304, b"", False), False, 0),
    Fault("a second, unasked-for response in the same write",
          answer(("send", ok_response("bad", close=False) + ok_response("stray", close=False)), ("wait_closed", 10)),
          ("relayed", 200, b"bad\n", False), False, 0),
    # Each byte within the timeout: the head well within backend_response (its deadline),
    # then the body a byte every 12 ms, although the whole of it takes longer than
    # backend_response: the body's timeout runs from byte to byte.
    Fault("a response dripped a byte at a time",
          answer(("drip", DRIPPED_HEAD, 0.002), ("drip", DRIPPED_BODY, 0.012), ("serve", True)),
          ("relayed", 200, DRIPPED_BODY, False), False, 0.002 * len(DRIPPED_HEAD) + 0.012 * len(DRIPPED_BODY), True),
    Fault("a head dripped for longer than backend_response",
          answer(("drip", b"HTTP/1.1 200 OK\r\nX-Slow: " + b"s" * 40 + b"\r\nContent-Length: 0\r\n\r\n", 0.05)),
          ("error", 504), False, BACKEND_RESPONSE),
    Fault("silence", answer(("wait_closed", 10)), ("error", 504), False, BACKEND_RESPONSE),
    Fault("a body delimited by the backend's close",
          answer(("send", b"HTTP/1.1 200 OK\r\n\r\nuntil the close"), ("close",)),
          ("relayed", 200, b"until the close", True), False, 0),
]


class BackendFaultsTest(HostileE2E):
    """Each row: a fresh ringlb with two backends, the scripted one and a normal one, and
    routing retries = 0, so the request that meets the fault is answered from it (with
    retries an idempotent GET would move on to the other backend: RetryTest). The client
    gets the right answer within the timeouts; ringlb keeps no connection to the faulty
    backend; passive health marks it down only when it should; ringlb keeps serving."""

    def test_every_fault(self):
        for fault in FAULTS:
            with self.subTest(fault=fault.name):
                try:
                    self.run_fault(fault)
                finally:
                    self.stop_all()

    def stop_all(self):
        log = self.lb.log() if self.lb is not None else ""
        code = self.lb.stop() if self.lb is not None else 0
        for b in self.backends:
            b.stop()
        self.lb, self.backends = None, []
        self.assertEqual(code, 0, "ringlb did not exit cleanly:\n" + log[-4000:])

    def run_fault(self, fault):
        bad, good = ScriptedBackend("bad"), Backend("good")
        self.backends += [bad, good]
        self.lb = Ringlb([bad, good], routing={"retries": 0}, timeouts={"backend_response": "1s"})
        bad_key = keys_routed_to(self.lb, "bad")[0]
        good_key = keys_routed_to(self.lb, "good")[0]
        bad.queue(fault.script)
        kind = fault.expect[0]
        start = time.monotonic()
        with Conn(self.lb.port, timeout=10 + SLACK) as c:
            c.send(build_request("GET", "/", {"X-User-Id": bad_key}))
            if kind == "truncated":
                _, head_start, partial = fault.expect
                end, data = connection_end(c, timeout=fault.seconds + SLACK)
                self.assertEqual(end, "eof", data)
                head, sep, rest = data.partition(b"\r\n\r\n")
                self.assertTrue(head.startswith(head_start), data)
                self.assertEqual(sep, b"\r\n\r\n", data)
                self.assertEqual(rest, partial)     # not a byte more: no error page glued on
                client_open = False
            else:
                r = c.read_response()
                if kind == "error":
                    status = fault.expect[1]
                    self.assertTrue(r.raw_head.startswith(b"HTTP/1.1 %d " % status), r.raw_head)
                    self.assertEqual(r.body, ERROR_BODY[status])
                    self.assertIsNone(r.header("connection"), r.raw_head)  # the request was read whole
                    client_open = True
                else:
                    _, status, body, closes = fault.expect
                    self.assertTrue(r.raw_head.startswith(b"HTTP/1.1 %d " % status), r.raw_head)
                    self.assertEqual(r.body, body)
                    if status == 204:   # RFC 9110 8.6: a 204 declares no framing; none is passed on
                        self.assertIsNone(r.header("content-length"), r.raw_head)
                        self.assertIsNone(r.header("transfer-encoding"), r.raw_head)
                    if closes:
                        self.assertEqual(r.header("connection"), "close", r.raw_head)
                        self.assertEqual(connection_end(c, timeout=SLACK), ("eof", b""))
                    else:
                        self.assertIsNone(r.header("connection"), r.raw_head)
                    client_open = not closes
            self.assertLess(time.monotonic() - start, fault.seconds + SLACK, "answered too late")
            # The next request on the same connection gets a genuine answer, from the faulty
            # backend's default responder unless the fault marked it down.
            expected = "good" if fault.marks_down else "bad"
            if client_open:
                r = c.request("GET", "/", {"X-User-Id": bad_key})
                self.assertEqual((r.status, r.backend, r.body), (200, expected, expected.encode() + b"\n"), r.raw_head)
        if not client_open:
            assert_alive_and_serving(self, self.lb, key=bad_key, expect_backend=expected)
        assert_alive_and_serving(self, self.lb, key=good_key, expect_backend="good")
        # The faulty connection was never reused: the next request for its key came on a new
        # one (unless the backend was marked down); a clean one was.
        self.assertEqual(bad.accepted(), 1 if fault.reusable or fault.marks_down else 2)
        # ringlb keeps no connection to the faulty backend, not even a dead one; only a
        # clean keep-alive one stays pooled.
        held = 1 if fault.reusable else 0
        wait_until(lambda: len([x for x in tcp_connections(self.lb.proc.pid) if x[1] == bad.port]) == held
                   and dead_sockets(self.lb.proc.pid) == 0, timeout=SLACK,
                   what=f"ringlb to hold {held} connections to the faulty backend")
        if not fault.reusable:
            for conn in bad.connections:
                self.assertTrue(conn.done.wait(SLACK), f"backend connection {conn.number} still open")


class RetryTest(HostileE2E):
    """With retries (the default, 2), an idempotent request whose backend fails before any
    response byte moves on to the next candidate: the client never sees the failure. A
    request with a body that was sent cannot be replayed: 502."""

    def setUp(self):
        super().setUp()
        self.bad, self.good = ScriptedBackend("bad"), Backend("good")
        self.backends += [self.bad, self.good]
        self.start_lb(workers=1)
        self.bad_key = keys_routed_to(self.lb, "bad")[0]

    def logged(self, path):
        """The access log entry of the request for `path` (the log is written in batches)."""
        def entry():
            found = [e for e in map(json.loads, self.lb.access_lines()) if e["path"] == path]
            return found[0] if found else None
        return wait_until(entry, timeout=5, what=f"the access log entry for {path}")

    def test_a_get_moves_on_to_the_next_backend(self):
        for ending in ("reset", "close"):
            with self.subTest(ending=ending):
                before = self.bad.accepted()
                path = f"/retried-after-{ending}"
                self.bad.queue(answer((ending,)))
                with Conn(self.lb.port, timeout=10) as c:
                    r = c.request("GET", path, {"X-User-Id": self.bad_key})
                    self.assertEqual((r.status, r.backend), (200, "good"))
                self.assertEqual(self.bad.accepted(), before + 1)  # tried once, not again
                self.assertEqual(self.bad.connections[before].heads[0].split(b" ")[1], path.encode())
                entry = self.logged(path)
                self.assertEqual((entry["status"], entry["backend"], entry["retries"]), (200, "good", 1))
                # The back-off marks it down; wait it out for the next round.
                wait_until(lambda: get(self.lb.port, "/", {"X-User-Id": self.bad_key}).backend == "bad",
                           timeout=10, interval=0.2, what="the back-off to expire")

    def test_a_post_whose_body_was_sent_is_not_replayed(self):
        self.bad.queue(lambda conn: (conn.read_request(), conn.reset()))
        with Conn(self.lb.port, timeout=10) as c:
            r = c.request("POST", "/", {"X-User-Id": self.bad_key}, body=b"payload")
            self.assertTrue(r.raw_head.startswith(b"HTTP/1.1 502 "), r.raw_head)
            self.assertEqual(self.bad.connection(0).bodies, [b"payload"])
            self.assertEqual(self.bad.accepted(), 1)
            # Kept open (the request was read whole) and still serving.
            self.assertEqual(c.request("GET", "/", {"X-User-Id": "k"}).status, 200)
        assert_alive_and_serving(self, self.lb)


class EarlyAnswerTest(HostileE2E):
    """A backend that answers an upload before taking its body (a 413, a 401), then stops
    reading: its answer reaches the client, not a 504 at the deadline, and the connection
    (the backend's, and the client's, whose body was not read) is closed."""

    def setUp(self):
        super().setUp()
        self.bad, self.good = ScriptedBackend("bad"), Backend("good")
        self.backends += [self.bad, self.good]
        self.start_lb(workers=1, timeouts={"backend_response": "1s"})
        self.bad_key = keys_routed_to(self.lb, "bad")[0]

    def test_an_early_413_to_a_stalled_upload_is_relayed(self):
        early = b"HTTP/1.1 413 Content Too Large\r\nContent-Length: 9\r\n\r\ntoo big\r\n"
        self.bad.queue(answer(("send", early), ("pause", 5)))   # and never reads the body
        size = 64 << 20   # far more than the socket buffers on both sides hold, under max_body_bytes
        with Conn(self.lb.port, timeout=10) as c:
            c.send(b"POST /upload HTTP/1.1\r\nHost: a\r\nX-User-Id: %s\r\nContent-Length: %d\r\n\r\n"
                   % (self.bad_key.encode(), size))

            answered = threading.Event()

            def upload():   # until ringlb stops taking it, or the answer is in
                chunk = b"u" * (1 << 16)
                try:
                    for _ in range(size // len(chunk)):
                        if answered.is_set():
                            break
                        c.sock.sendall(chunk)
                except OSError:
                    pass

            sender = threading.Thread(target=upload, daemon=True)
            sender.start()
            try:
                r = c.read_response()
            finally:
                answered.set()
            self.assertEqual((r.status, r.body), (413, b"too big\r\n"), r.raw_head)
            self.assertEqual(r.header("connection"), "close")
            sender.join(timeout=15)
        assert_alive_and_serving(self, self.lb, key=self.bad_key, expect_backend="bad")


class OnlyBackendFailsTest(HostileE2E):
    """One backend, default retries: when it resets a GET before any response byte, there is
    no other candidate to retry on, and the client should be told what happened: 502 Bad
    Gateway, as with retries = 0, not 503 "no backend available", which says no backend was
    tried (and, with Retry-After: 1, invites a retry)."""

    def setUp(self):
        super().setUp()
        self.only = ScriptedBackend("only")
        self.backends.append(self.only)
        self.start_lb()

    def test_the_only_backend_resets_a_get(self):
        # The failover finds no other candidate: the answer is the failure's (502), not a
        # 503 "no backend available" (it answered 503 before the fix).
        self.only.queue(answer(("reset",)))
        with Conn(self.lb.port, timeout=10) as c:
            r = c.request("GET", "/", {"X-User-Id": "k"})
            self.assertEqual(self.only.accepted(), 1)
            self.assertTrue(r.raw_head.startswith(b"HTTP/1.1 502 Bad Gateway\r\n"), r.raw_head)
            self.assertIsNone(r.header("retry-after"))

    def test_with_retries_zero_it_is_502(self):
        self.assertEqual(self.lb.stop(), 0)
        self.start_lb(routing={"retries": 0})
        self.only.queue(answer(("reset",)))
        with Conn(self.lb.port, timeout=10) as c:
            r = c.request("GET", "/", {"X-User-Id": "k"})
            self.assertTrue(r.raw_head.startswith(b"HTTP/1.1 502 Bad Gateway\r\n"), r.raw_head)
            # Then it is down for its back-off: no backend at all is 503 with Retry-After.
            r = c.request("GET", "/", {"X-User-Id": "k"})
            self.assertTrue(r.raw_head.startswith(b"HTTP/1.1 503 "), r.raw_head)
            self.assertEqual(r.header("retry-after"), "1")
        self.assertEqual(self.only.accepted(), 1)
        wait_until(lambda: get(self.lb.port, "/", {"X-User-Id": "k"}).status == 200, timeout=10, interval=0.2,
                   what="the back-off to expire")
        assert_alive_and_serving(self, self.lb, expect_backend="only")


class ForwardedResponseTest(HostileE2E):
    """What ringlb forwards of a backend's response it parsed whole."""

    def setUp(self):
        super().setUp()
        self.backend = ScriptedBackend("b")
        self.backends.append(self.backend)
        self.start_lb(workers=1)

    def test_the_status_line_carries_ringlbs_own_version(self):
        # RFC 9110 6.2: an intermediary sends its own HTTP-version in forwarded messages.
        self.backend.queue(answer(("send", b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello")))
        with Conn(self.lb.port, timeout=10) as c:
            r = c.request("GET", "/", {"X-User-Id": "k"})
            self.assertEqual(r.body, b"hello")
            self.assertTrue(r.raw_head.startswith(b"HTTP/1.1 200 OK\r\n"), r.raw_head)

    def test_a_response_that_declares_chunked_twice_is_not_relayed_as_is(self):
        # RFC 9112 6.1: chunked is applied at most once. ringlb refuses such a request (400);
        # passing such a response on hands the client a head whose framing is not the
        # body's (a client that decodes both codings desynchronises): it is a 502 (it was
        # relayed as is before the fix).
        self.backend.queue(answer(("send", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n"
                                           b"5\r\nhello\r\n0\r\n\r\n"), ("wait_closed", 10)))
        with Conn(self.lb.port, timeout=10) as c:
            r = c.request("GET", "/", {"X-User-Id": "k"})
            self.assertEqual(r.status, 502, r.raw_head)
        assert_alive_and_serving(self, self.lb)

    def test_the_access_log_counts_what_was_sent_before_a_framing_error(self):
        self.backend.queue(answer(("send", CHUNKED_200 + b"5\r\nhello\r\nzz\r\n"), ("wait_closed", 10)))
        with Conn(self.lb.port, timeout=10) as c:
            c.send(build_request("GET", "/", {"X-User-Id": "k"}))
            end, data = connection_end(c, timeout=SLACK)
        self.assertEqual(end, "eof")
        self.assertTrue(data.startswith(b"HTTP/1.1 200 OK\r\n"), data)
        wait_until(lambda: self.lb.access_lines(), timeout=5, what="the access log line")
        entry = json.loads(self.lb.access_lines()[-1])
        self.assertEqual(entry["status"], 502)
        self.assertEqual(entry["bytes"], len(data))


if __name__ == "__main__":
    unittest.main()
