"""Every row of the error table: the right status, a short body, the connection closed
where the framing is unknown, and ringlb still serving afterwards."""
import socket
import time
import unittest

from harness import E2E, Backend, Conn, free_port, get, wait_until


class ErrorTableTest(E2E):
    def setUp(self):
        super().setUp()
        self.start_backends(2)
        self.start_lb(timeouts={"client_header": "1s", "backend_response": "1s", "connect": "1s"},
                      limits={"max_header_bytes": 4096, "max_body_bytes": 1000})

    def expect(self, raw, status, closed=True):
        with Conn(self.lb.port) as c:
            c.send(raw)
            r = c.read_response()
            self.assertEqual(r.status, status, r.body)
            self.assertLess(len(r.body), 100)   # short bodies
            if closed:
                self.assertEqual(r.header("connection"), "close")
                self.assertTrue(c.is_closed(), "connection must be closed")
        self.assertEqual(get(self.lb.port, "/", {"X-User-Id": "still-up"}).status, 200)
        return r

    def test_smuggling_cl_and_te(self):
        self.expect(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
                    b"0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n", 400)

    def test_smuggling_two_content_lengths(self):
        self.expect(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 10\r\n\r\nabc", 400)

    def test_invalid_chunk_size(self):
        self.expect(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", 400)

    def test_obs_fold(self):
        self.expect(b"GET / HTTP/1.1\r\nHost: a\r\nX-Long: a\r\n folded\r\n\r\n", 400)

    def test_nul_in_header(self):
        self.expect(b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\x00c\r\n\r\n", 400)

    def test_space_before_colon_and_missing_host(self):
        self.expect(b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400)
        self.expect(b"GET / HTTP/1.1\r\nX-A: b\r\n\r\n", 400)

    def test_header_block_too_large(self):
        self.expect(b"GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + b"x" * 8000 + b"\r\n\r\n", 431)

    def test_uri_too_long(self):
        self.expect(b"GET /" + b"u" * 8000 + b" HTTP/1.1\r\nHost: a\r\n\r\n", 414)

    def test_body_too_large(self):
        self.expect(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\n\r\n" + b"x" * 5000, 413)
        # Chunked bodies have no declared size: cut when the decoded size passes the limit.
        self.expect(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                    + b"400\r\n" + b"y" * 1024 + b"\r\n" + b"400\r\n" + b"y" * 1024 + b"\r\n0\r\n\r\n", 413)

    def test_slow_head(self):
        start = time.monotonic()
        with Conn(self.lb.port) as c:
            c.send(b"GET / HTTP/1.1\r\nHost: a\r\n")   # and nothing more
            r = c.read_response()
            self.assertEqual(r.status, 408)
            self.assertTrue(c.is_closed())
        self.assertLess(time.monotonic() - start, 5)

    def test_connect_is_not_a_tunnel_and_absolute_form_is_not_an_open_proxy(self):
        self.expect(b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", 405)
        with Conn(self.lb.port) as c:
            r = c.request("GET", "http://example.com/echo?q=1", {"X-User-Id": "k"})
            self.assertEqual(r.status, 200)
            self.assertIn(r.backend, {b.id for b in self.backends})   # our backend, not example.com
            head = r.body.decode()
            self.assertTrue(head.startswith("GET /echo?q=1 HTTP/1.1\r\n"), head)
            self.assertIn("Host: example.com\r\n", head)

    def test_expectation_failed(self):
        self.expect(b"POST / HTTP/1.1\r\nHost: a\r\nExpect: teapot\r\nContent-Length: 1\r\n\r\nx", 417)

    def test_backend_timeout_504(self):
        with Conn(self.lb.port) as c:
            r = c.request("GET", "/slow?ms=3000", {"X-User-Id": "k"})
            self.assertEqual(r.status, 504)
        self.assertEqual(get(self.lb.port, "/", {"X-User-Id": "k"}).status, 200)

    def test_backend_reset_502(self):
        # Every backend resets: retries are exhausted and the client gets 502.
        with Conn(self.lb.port) as c:
            r = c.request("POST", "/reset", {"X-User-Id": "k"}, body=b"abc")
            self.assertEqual(r.status, 502)
        self.assertEqual(get(self.lb.port, "/", {"X-User-Id": "k"}).status, 200)

    def test_no_backend_503(self):
        for b in self.backends:
            b.kill()
        with Conn(self.lb.port) as c:
            r = c.request("GET", "/", {"X-User-Id": "k"})
            self.assertEqual(r.status, 503 if r.status == 503 else 502)
        # Both are now marked down: no eligible backend at all is 503 with Retry-After.
        r = get(self.lb.port, "/", {"X-User-Id": "k2"})
        self.assertEqual(r.status, 503)
        self.assertEqual(r.header("retry-after"), "1")
        # The answer keeps an HTTP/1.1 connection (the request was read whole), and closes an
        # HTTP/1.0 keep-alive one: it does not say keep-alive, so that client would not reuse it.
        with Conn(self.lb.port) as c:
            self.assertEqual(c.request("GET", "/", {"X-User-Id": "k4"}).status, 503)
            self.assertFalse(c.is_closed(timeout=0.3))
        with Conn(self.lb.port) as c:
            c.send(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\nX-User-Id: k5\r\n\r\n")
            r = c.read_response()
            self.assertEqual((r.status, r.header("connection")), (503, "close"))
            self.assertTrue(c.is_closed(timeout=5))
        # And it recovers once a backend answers again (back-off expires).
        revived = Backend("app-1", port=self.backends[0].port)
        self.backends.append(revived)
        wait_until(lambda: get(self.lb.port, "/", {"X-User-Id": "k3"}).status == 200, timeout=10,
                   what="recovery after back-off")


class HopByHopTest(E2E):
    def setUp(self):
        super().setUp()
        self.start_backends(1)
        self.start_lb()

    def test_request_headers_forwarded(self):
        with Conn(self.lb.port) as c:
            r = c.request("GET", "/echo", {"Connection": "keep-alive, X-Secret", "X-Secret": "s",
                                           "Keep-Alive": "timeout=5", "TE": "trailers", "Upgrade": "h2c",
                                           "Proxy-Authorization": "Basic x", "X-Forwarded-For": "10.1.1.1",
                                           "X-Forwarded-Proto": "https", "X-Keep": "yes"})
        head = r.body.decode().lower()
        for gone in ("x-secret", "keep-alive:", "\r\nte:", "upgrade", "proxy-authorization", "connection: keep-alive, x-secret"):
            self.assertNotIn(gone, head)
        self.assertIn("x-keep: yes", head)
        self.assertIn("x-forwarded-for: 10.1.1.1, 127.0.0.1", head)
        self.assertIn("x-forwarded-proto: http\r\n", head)

    def test_no_bare_cr_from_a_backend_status_line_reaches_the_client(self):
        # RFC 9112 2.2: a bare CR must not be sent. llhttp's strict mode makes the backend's
        # line a parse error (502); the status line is also cut at any CR, so the client's
        # head has only CRLFs either way.
        with Conn(self.lb.port) as c:
            r = c.request("GET", "/bare-cr", {"X-User-Id": "k"})
            self.assertEqual(r.status, 502)
            self.assertNotIn(b"\r", r.raw_head.replace(b"\r\n", b""))
            self.assertEqual(c.request("GET", "/", {"X-User-Id": "k"}).status, 200)  # still serving

    def test_connection_cannot_strip_framing(self):
        with Conn(self.lb.port) as c:
            r = c.request("POST", "/echo", {"Connection": "Content-Length"}, body=b"hello")
            self.assertEqual(r.status, 200)
            self.assertEqual(r.header("x-body-bytes"), "5")
            self.assertIn("content-length: 5", r.body.decode().lower())

    def test_http10_and_connection_close(self):
        with Conn(self.lb.port) as c:
            c.send(b"GET / HTTP/1.0\r\n\r\n")
            r = c.read_response()
            self.assertEqual(r.status, 200)
            self.assertTrue(c.is_closed())
        with Conn(self.lb.port) as c:
            r = c.request("GET", "/", {"Connection": "close"})
            self.assertEqual(r.header("connection"), "close")
            self.assertTrue(c.is_closed())


if __name__ == "__main__":
    unittest.main()
