"""Zones: two ringlb instances, one in zone a and one in zone b, in front of three backends
in each zone (their health checked actively). Each instance keeps every key in its own
zone; when zone a loses a backend, only a share of zone a's keys (over-provisioning 1.4:
1 - 2/3 x 1.4 = 7%) spills to zone b and no other key moves; when zone a is gone, its
instance routes every key exactly as zone b's does; zone b's instance never changes; and
everything comes back when zone a recovers. Keyless requests (peak-EWMA) stay in the zone
and each backend's predicted response time shows in the admin API."""
import json
import unittest

from harness import E2E, SANITIZED, Conn, Ringlb, free_port, get, port_open, wait_until

KEYS = [f"user-{i}" for i in range(1000 if SANITIZED else 3000)]
CHECK = {"check": "http", "path": "/health", "interval": "200ms", "fast_interval": "200ms",
         "down_interval": "200ms", "timeout": "150ms", "rise": 1, "fall": 1}


def set_health(backend, code):
    assert get(backend.port, f"/set-health?code={code}").status == 200


class ZonesTest(E2E):
    def setUp(self):
        super().setUp()
        self.start_backends(3, prefix="a-")
        self.start_backends(3, prefix="b-")
        zones = {b.id: b.id[0] for b in self.backends}
        self.admin_port = free_port()
        common = dict(health=CHECK, zones=zones)
        # The zone-a instance answers keyless requests by peak-EWMA and has an admin port.
        self.lb = Ringlb(self.backends, server_zone="a",
                         routing={"balance_factor": 0, "zone_order": ["b"], "keyless": "peak-ewma"},
                         admin={"listen": f"127.0.0.1:{self.admin_port}"}, **common)
        self.lb_b = Ringlb(self.backends, server_zone="b", routing={"balance_factor": 0}, **common)
        wait_until(lambda: port_open(self.admin_port), what="the admin listener")

    def tearDown(self):
        if self.lb_b.proc.poll() is None:
            log = self.lb_b.log()
            self.assertEqual(self.lb_b.stop(), 0, "zone b's ringlb did not exit cleanly:\n" + log[-3000:])
        super().tearDown()

    def routes(self, lb):
        out = {}
        with Conn(lb.port) as c:
            for k in KEYS:
                r = c.request("GET", "/", {"X-User-Id": k})
                self.assertEqual(r.status, 200, r.body)
                out[k] = r.backend
        return out

    def admin(self, path, raw=False):
        with Conn(self.admin_port) as c:
            r = c.request("GET", path, host=f"127.0.0.1:{self.admin_port}")
        self.assertEqual(r.status, 200, r.body)
        return r.body.decode() if raw else json.loads(r.body)

    def test_a_zone_outage_moves_only_its_own_keys(self):
        before_a, before_b = self.routes(self.lb), self.routes(self.lb_b)
        self.assertEqual({b[0] for b in before_a.values()}, {"a"}, "zone a's instance stays in zone a")
        self.assertEqual({b[0] for b in before_b.values()}, {"b"}, "zone b's instance stays in zone b")
        self.assertEqual(set(before_a.values()), {"a-1", "a-2", "a-3"})
        ring = self.admin("/v1/ring")
        self.assertEqual(ring["zones"]["local"], "a")
        self.assertEqual([z["zone"] for z in ring["zones"]["order"]], ["a", "b"])
        lookup = self.admin("/v1/lookup?key=user-1")
        self.assertEqual(lookup["zone"], "a")
        self.assertEqual(lookup["chosen"], before_a["user-1"])

        # a-1 fails its checks: its keys go to their next candidates in zone a, and 7% of
        # zone a's keys spill to zone b.
        set_health(self.backends[0], 503)
        wait_until(lambda: "a-1" not in self.routes(self.lb).values(), timeout=10, what="a-1 to be down")
        during = self.routes(self.lb)
        spilled = [k for k, b in during.items() if b.startswith("b-")]
        for k, b in during.items():
            if b.startswith("a-") and before_a[k] != "a-1":
                self.assertEqual(b, before_a[k], f"{k} of a healthy backend moved inside the zone")
        share = len(spilled) / len(KEYS)
        print(f"\n  a-1 down: {share:.1%} of zone a's keys spilled to zone b (expected {1 - 2 / 3 * 1.4:.1%})")
        self.assertGreater(share, 0.03)
        self.assertLess(share, 0.12)
        self.assertEqual(self.routes(self.lb_b), before_b, "zone b's instance moved a key")

        # All of zone a fails: its instance routes exactly as zone b's.
        set_health(self.backends[1], 503)
        set_health(self.backends[2], 503)
        wait_until(lambda: self.routes(self.lb) == before_b, timeout=10,
                   what="zone a's instance to route as zone b's")
        self.assertEqual(self.routes(self.lb_b), before_b)

        # Zone a recovers: every key comes back exactly.
        for b in self.backends[:3]:
            set_health(b, 200)
        wait_until(lambda: self.routes(self.lb) == before_a, timeout=10, what="zone a's keys to return")

    def test_keyless_requests_stay_in_the_zone_and_show_their_prediction(self):
        seen = {}
        with Conn(self.lb.port) as c:
            for _ in range(300):
                r = c.request("GET", "/")
                self.assertEqual(r.status, 200, r.body)
                seen[r.backend] = seen.get(r.backend, 0) + 1
        self.assertEqual({b[0] for b in seen}, {"a"}, f"keyless requests left the zone: {seen}")
        backends = {b["id"]: b for b in self.admin("/v1/backends")["backends"]}
        for bid in seen:
            self.assertIsNotNone(backends[bid]["predicted_ms"], bid)
            self.assertGreater(backends[bid]["predicted_ms"], 0)
            self.assertEqual(backends[bid]["zone"], "a")
        for bid in ("b-1", "b-2", "b-3"):
            self.assertIsNone(backends[bid]["predicted_ms"], f"{bid} got keyless traffic")
        metrics = self.admin("/metrics", raw=True)
        self.assertIn('ringlb_zone_share{zone="a"} 1', metrics)
        self.assertIn("ringlb_backend_predicted_seconds{backend=\"a-", metrics)


if __name__ == "__main__":
    unittest.main()
