"""[rate_limit] through the real ringlb against real backends: a client above the limit
gets 429s at the configured rate (counted over a window) while one below it is never
refused and keys do not interfere; a quiet key gets its burst and then waits the interval;
every 429 carries Retry-After and the RateLimit fields and keeps the connection; a request
whose body was not read is refused with Connection: close; a dry run refuses nothing and
logs; a flood of distinct keys evicts from a fixed table and a key held at its limit stays
held; a reload keeps every key's state."""
import json
import threading
import time
import unittest

from harness import E2E, Conn, free_port, metric, wait_until


class RateLimitTest(E2E):
    def setUp(self):
        super().setUp()
        self.start_backends(2)
        self.admin_port = free_port()

    def start(self, **rate_limit):
        return self.start_lb(admin={"listen": f"127.0.0.1:{self.admin_port}"}, rate_limit=rate_limit)

    def metric(self, name):
        return metric(self.admin_port, name)

    def assert_429(self, r, quota, window):
        self.assertEqual(r.status, 429)
        self.assertEqual(r.body, b"too many requests\n")
        self.assertGreaterEqual(int(r.header("retry-after")), 1)
        self.assertEqual(r.header("ratelimit-policy"), f'"ringlb";q={quota};w={window}')
        self.assertEqual(r.header("ratelimit"), f'"ringlb";r=0;t={r.header("retry-after")}')
        self.assertIsNone(r.header("connection"))  # the connection stays

    def test_above_the_limit_429s_at_the_rate_below_it_none_and_keys_do_not_interfere(self):
        self.start(rate="20/s", burst=5)
        slow = {"statuses": []}

        def below_the_limit():
            # 10/s against a 20/s limit, at the same time as the flood of another key.
            with Conn(self.lb.port) as c:
                for _ in range(20):
                    slow["statuses"].append(c.request("GET", "/", {"X-User-Id": "calm"}).status)
                    time.sleep(0.1)

        t = threading.Thread(target=below_the_limit)
        t.start()
        allowed = refused = 0
        with Conn(self.lb.port) as c:
            started = time.monotonic()
            while time.monotonic() - started < 2.0:
                r = c.request("GET", "/", {"X-User-Id": "greedy"})
                if r.status == 200:
                    allowed += 1
                else:
                    self.assert_429(r, 20, 1)
                    refused += 1
            elapsed = time.monotonic() - started
        t.join()
        # GCRA lets the burst through at once and then one request every 50 ms: 5 + 20/s
        # over the window (the client's clock brackets the server's: at most one more).
        expected = 5 + 20 * elapsed
        self.assertGreater(refused, allowed, "the flood was not above the limit")
        self.assertLessEqual(allowed, expected + 1)
        self.assertGreaterEqual(allowed, expected - 3)
        self.assertEqual(slow["statuses"], [200] * 20)
        self.assertEqual(self.metric("ringlb_rate_limited_total"), refused)
        self.assertEqual(self.metric('ringlb_own_responses_total{code="429"}'), refused)

    def test_a_quiet_key_gets_its_burst_then_waits_one_interval(self):
        self.start(rate="2/s", burst=3, by="header:X-Api-Key")
        with Conn(self.lb.port) as c:
            for _ in range(3):
                self.assertEqual(c.request("GET", "/", {"X-Api-Key": "k1"}).status, 200)
            r = c.request("GET", "/", {"X-Api-Key": "k1"})
            self.assert_429(r, 2, 1)
            self.assertEqual(r.header("retry-after"), "1")  # 500 ms, rounded up
            # Another key, and a request without the limit's key, are not held by k1's limit.
            self.assertEqual(c.request("GET", "/", {"X-Api-Key": "k2"}).status, 200)
            self.assertEqual(c.request("GET", "/").status, 200)
            # Pipelined refusals come back whole and in order on the same connection.
            c.send(b"".join(b"GET /p%d HTTP/1.1\r\nHost: t\r\nX-Api-Key: k1\r\n\r\n" % i for i in range(3)))
            for _ in range(3):
                self.assert_429(c.read_response(), 2, 1)
            time.sleep(0.55)
            self.assertEqual(c.request("GET", "/", {"X-Api-Key": "k1"}).status, 200)
            self.assertEqual(c.request("GET", "/", {"X-Api-Key": "k1"}).status, 429)

    def test_a_refused_request_whose_body_was_not_read_closes_the_connection(self):
        self.start(rate="1/m", burst=1)
        with Conn(self.lb.port) as c:
            self.assertEqual(c.request("GET", "/", {"X-User-Id": "u"}).status, 200)
            c.send(b"POST /upload HTTP/1.1\r\nHost: t\r\nX-User-Id: u\r\nContent-Length: 100000\r\n\r\n" + b"x" * 10)
            r = c.read_response()
            self.assertEqual(r.status, 429)
            self.assertEqual(r.header("connection"), "close")
            self.assertEqual(r.header("ratelimit-policy"), '"ringlb";q=1;w=60')
            self.assertGreaterEqual(int(r.header("retry-after")), 59)
            self.assertTrue(c.is_closed())
        # An HTTP/1.0 client asking to keep the connection is refused and the connection
        # closed, as every HTTP/1.0 answer of ringlb's is.
        with Conn(self.lb.port) as c:
            c.send(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\nX-User-Id: u\r\n\r\n")
            r = c.read_response()
            self.assertEqual(r.status, 429)
            self.assertEqual(r.header("connection"), "close")
            self.assertTrue(c.is_closed())
        # A HEAD gets the head alone, and the connection serves on.
        with Conn(self.lb.port) as c:
            r = c.request("HEAD", "/", {"X-User-Id": "u"})
            self.assertEqual(r.status, 429)
            self.assertEqual(r.body, b"")
            self.assertEqual(c.request("GET", "/", {"X-User-Id": "other"}).status, 200)

    def test_a_dry_run_refuses_nothing_and_logs_what_it_would_have(self):
        self.start(rate="5/s", burst=1, by="client_ip", dry_run=True)
        with Conn(self.lb.port) as c:
            statuses = [c.request("GET", f"/d{i}", {"X-User-Id": str(i)}).status for i in range(20)]
        self.assertEqual(statuses, [200] * 20)
        over = self.metric("ringlb_rate_limit_dry_run_total")
        self.assertGreaterEqual(over, 15)
        self.assertEqual(self.metric("ringlb_rate_limited_total"), 0)
        wait_until(lambda: len(self.lb.access_lines()) >= 20, what="20 access log lines")
        lines = [json.loads(line) for line in self.lb.access_lines()]
        self.assertEqual(sum(1 for e in lines if e.get("rate_limited")), over)
        self.assertNotIn("rate_limited", lines[0])  # the first request was within the limit
        self.assertTrue(all(e["status"] == 200 for e in lines))

    def test_distinct_keys_past_the_table_evict_but_a_held_key_stays_held(self):
        self.start(rate="1/m", burst=3, table_size=64)
        with Conn(self.lb.port) as c:
            for _ in range(3):
                self.assertEqual(c.request("GET", "/", {"X-User-Id": "held"}).status, 200)
            self.assertEqual(c.request("GET", "/", {"X-User-Id": "held"}).status, 429)
            # 2000 one-request keys through a 64-slot table.
            for i in range(2000):
                self.assertEqual(c.request("GET", "/", {"X-User-Id": f"flood-{i}"}).status, 200)
            self.assertGreater(self.metric("ringlb_rate_limit_evictions_total"), 1000)
            # A key three requests ahead outlives keys one request ahead.
            self.assertEqual(c.request("GET", "/", {"X-User-Id": "held"}).status, 429)

    def test_a_reload_keeps_every_keys_state(self):
        self.start(rate="1/m", burst=2)
        with Conn(self.lb.port) as c:
            for _ in range(2):
                self.assertEqual(c.request("GET", "/", {"X-User-Id": "u"}).status, 200)
            self.assertEqual(c.request("GET", "/", {"X-User-Id": "u"}).status, 429)
        # The same table size: the same table, under the new rule (a burst of 3 gives u one more).
        self.lb.reload(self.backends, rate_limit={"rate": "1/m", "burst": 3})
        with Conn(self.lb.port) as c:
            self.assertEqual(c.request("GET", "/", {"X-User-Id": "u"}).status, 200)
            self.assertEqual(c.request("GET", "/", {"X-User-Id": "u"}).status, 429)
        # Rate limiting off: nothing is refused.
        self.lb.reload(self.backends, rate_limit=None)
        with Conn(self.lb.port) as c:
            self.assertEqual([c.request("GET", "/", {"X-User-Id": "u"}).status for _ in range(5)], [200] * 5)


if __name__ == "__main__":
    unittest.main()
