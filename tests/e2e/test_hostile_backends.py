"""Hostile and broken backends: no byte a backend sends outside the exchange it was asked
for reaches any client, and ringlb keeps serving whatever a backend does."""
import time
import unittest

from harness import E2E, Conn, get


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


if __name__ == "__main__":
    unittest.main()
