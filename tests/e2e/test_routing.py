"""Affinity and distribution: the same key always reaches the same backend, over fresh
connections, keep-alive and pipelining, and keys spread evenly."""
import collections
import unittest

from harness import E2E, Conn, build_request


class RoutingTest(E2E):
    KEYS = [f"user-{i}" for i in range(3000)]

    def setUp(self):
        super().setUp()
        self.start_backends(4)
        self.start_lb()

    def test_affinity_keepalive_fresh_and_pipelined(self):
        first = self.mapping(self.KEYS)
        # Same keys again on a second keep-alive connection: identical placement.
        self.assertEqual(self.mapping(self.KEYS), first)
        # Fresh connection per request (a sample; each is a new TCP connection).
        for k in self.KEYS[:200]:
            with Conn(self.lb.port) as c:
                self.assertEqual(c.request("GET", "/", {"X-User-Id": k}).backend, first[k])
        # Pipelined: 100 requests in one write, answered in order.
        with Conn(self.lb.port) as c:
            for start in range(0, 1000, 100):
                batch = self.KEYS[start:start + 100]
                c.send(b"".join(build_request("GET", f"/p/{k}", {"X-User-Id": k}) for k in batch))
                for k in batch:
                    r = c.read_response()
                    self.assertEqual(r.status, 200)
                    self.assertEqual(r.backend, first[k], k)

    def test_heads_larger_than_the_first_read(self):
        # A waiting connection's first read lands in a 1 KiB array (session.hpp); heads of
        # every size around and past it must reach the backend whole, on one connection.
        def head(cookie):
            return build_request("GET", "/echo", {"X-User-Id": "big-head", "Cookie": cookie})
        with Conn(self.lb.port) as c:
            for size in (900, 1023, 1024, 1025, 3000, 12000):  # bytes of the whole head
                cookie = "c=" + "v" * (size - len(head("c=")))
                self.assertEqual(len(head(cookie)), size)
                c.send(head(cookie))
                r = c.read_response()
                self.assertEqual(r.status, 200, size)
                self.assertIn(f"Cookie: {cookie}\r\n".encode(), r.body, size)
                self.assertIn(b"X-User-Id: big-head\r\n", r.body, size)

    def test_distribution_within_tolerance(self):
        counts = collections.Counter(self.mapping(self.KEYS).values())
        self.assertEqual(set(counts), {b.id for b in self.backends})
        # 160 points per backend: peak/mean around 1.1; allow +-35% of the fair share.
        fair = len(self.KEYS) / 4
        for backend, n in counts.items():
            self.assertGreater(n, 0.65 * fair, counts)
            self.assertLess(n, 1.35 * fair, counts)

    def test_key_sources_cookie_query_path(self):
        for rule, make in (("cookie:sid", lambda k: ("/", {"Cookie": f"a=1; sid={k}"})),
                           ("query:uid", lambda k: (f"/x?uid={k}&z=1", {})),
                           ("path", lambda k: (f"/items/{k}", {}))):
            self.lb.kwargs["routing"] = {"hash_key": rule}
            self.lb.reload(self.backends)
            seen = {}
            with Conn(self.lb.port) as c:
                for _ in range(2):
                    for k in self.KEYS[:300]:
                        path, headers = make(k)
                        r = c.request("GET", path, headers)
                        self.assertEqual(r.status, 200)
                        self.assertEqual(seen.setdefault(k, r.backend), r.backend, (rule, k))
            self.assertGreater(len(set(seen.values())), 1, rule)

    def test_keyless_requests_spread(self):
        with Conn(self.lb.port) as c:
            seen = collections.Counter(c.request("GET", "/").backend for _ in range(400))
        self.assertEqual(set(seen), {b.id for b in self.backends}, seen)

    def test_access_log_line(self):
        import json
        from harness import wait_until
        with Conn(self.lb.port) as c:
            r = c.request("GET", "/hello?x=1", {"X-User-Id": "alice"})
        line = wait_until(lambda: [l for l in self.lb.access_lines() if '"/hello"' in l], what="log line")[0]
        entry = json.loads(line)
        self.assertEqual(entry["method"], "GET")
        self.assertEqual(entry["path"], "/hello")
        self.assertEqual(entry["status"], 200)
        self.assertEqual(entry["backend"], r.backend)
        self.assertEqual(entry["client"], "127.0.0.1")
        self.assertRegex(entry["key_hash"], "^[0-9a-f]{16}$")
        self.assertNotIn("alice", line)   # the raw key is never logged
        self.assertGreater(entry["bytes"], 0)
        self.assertEqual(entry["retries"], 0)
        for field in ("time", "duration_us"):
            self.assertIn(field, entry)


if __name__ == "__main__":
    unittest.main()
