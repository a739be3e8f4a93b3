"""Hostile and broken clients: whatever a client sends, and whatever it does with the
connection afterwards (hold it open, half-close, reset), it gets its answer and ringlb
keeps serving everyone else."""
import time
import unittest

from harness import E2E, Conn, get

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


if __name__ == "__main__":
    unittest.main()
