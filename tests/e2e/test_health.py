"""Active health, drain, maintenance, panic and slow start, against real backends that fail
and recover (test_backend's /health answers what /set-health last set).

What is promised (docs/DESIGN.md 3.3): a failing backend is detected within fall x interval
and returns within rise x interval; health never rebuilds the ring, so while a backend flaps
under load no key of any other backend moves; a drain loses no request and "ready" brings
every key back exactly; slow start hands a backend its keys gradually, each key once and
never back, and restarts when the backend fails during its ramp; panic is the configured
policy; a key that changed owner carries the previous owner's id when asked to.
"""
import threading
import time
import unittest

from harness import E2E, SANITIZED, Backend, Conn, Load, get, tcp_connections, wait_until

KEYS = [f"user-{i}" for i in range(600)]
INTERVAL = 0.3
FALL, RISE = 3, 2
CHECK = {"check": "http", "path": "/health", "interval": "300ms", "fast_interval": "300ms",
         "down_interval": "300ms", "timeout": "250ms", "rise": RISE, "fall": FALL}
# Time for the log poll, process scheduling and (sanitized builds) a slower proxy.
SLACK = 1.5 if SANITIZED else 0.5


def set_health(backend, code):
    r = get(backend.port, f"/set-health?code={code}")
    assert r.status == 200, r.status


def health_checks(backend):
    return int(get(backend.port, "/health-count").body)


class HealthE2E(E2E):
    def wait_log(self, text, count=1, timeout=10.0):
        wait_until(lambda: self.lb.log().count(text) >= count, timeout=timeout, interval=0.02,
                   what=f"{text!r} in the ringlb log")
        return time.monotonic()


class HealthTest(HealthE2E):
    def start(self, n=4, routing=None, health=None, **kwargs):
        self.start_backends(n)
        r = {"balance_factor": 0}
        r.update(routing or {})
        h = dict(CHECK)
        h.update(health or {})
        self.start_lb(routing=r, health=h, **kwargs)
        return self.lb

    def test_detection_and_return_within_fall_and_rise_intervals(self):
        self.start()
        victim = self.backends[1]
        before = self.mapping(KEYS)
        # Let the checks settle into their steady interval (the first one is at a random
        # point of the first interval).
        wait_until(lambda: health_checks(victim) >= 2, what="checks running")

        t0 = time.monotonic()
        set_health(victim, 503)
        t_down = self.wait_log(f"backend {victim.id} is down")
        detection = t_down - t0
        during = self.mapping(KEYS)
        t1 = time.monotonic()
        set_health(victim, 200)
        t_up = self.wait_log(f"backend {victim.id} is healthy again")
        recovery = t_up - t1
        print(f"\n  detection {detection * 1000:.0f} ms (fall x interval = {FALL * INTERVAL * 1000:.0f} ms), "
              f"return {recovery * 1000:.0f} ms (rise x interval = {RISE * INTERVAL * 1000:.0f} ms)")
        # Each wait is spread by +-10%.
        self.assertLess(detection, FALL * INTERVAL * 1.1 + SLACK)
        self.assertLess(recovery, RISE * INTERVAL * 1.1 + SLACK)

        for k in KEYS:
            if before[k] == victim.id:
                self.assertNotEqual(during[k], victim.id, f"{k} still reaches the down backend")
            else:
                self.assertEqual(during[k], before[k], f"{k} moved although its backend is healthy")
        # No slow start here: every key is back at once, exactly.
        self.assertEqual(self.mapping(KEYS), before)

    def test_flapping_under_load_moves_no_other_key(self):
        self.start()
        victim = self.backends[2]
        before = self.mapping(KEYS)
        load = Load(self.lb.port, KEYS)
        try:
            for flap in range(3):
                set_health(victim, 503)
                self.wait_log(f"backend {victim.id} is down", count=flap + 1)
                n = load.count()
                wait_until(lambda: load.count() > n + 200, what="load while down")
                set_health(victim, 200)
                self.wait_log(f"backend {victim.id} is healthy again", count=flap + 1)
                n = load.count()
                wait_until(lambda: load.count() > n + 200, what="load while up")
        finally:
            answers = load.stop()
        self.assertEqual(load.errors, [])
        self.assertEqual([a for a in answers if a[2] != 200], [])
        moved = [(k, b) for _, k, _, b in answers if before[k] != victim.id and b != before[k]]
        self.assertEqual(moved, [], "keys of healthy backends moved while another flapped")
        to_victim = sum(1 for _, k, _, b in answers if before[k] == victim.id and b == victim.id)
        away = sum(1 for _, k, _, b in answers if before[k] == victim.id and b != victim.id)
        self.assertGreater(to_victim, 0)
        self.assertGreater(away, 0, "the flapping backend's keys never went to their next candidate")
        print(f"\n  {len(answers)} requests during 3 flaps, 0 failed; of the flapping backend's keys "
              f"{away} were served by their next candidate, 0 keys of others moved")

    def test_drain_under_load_loses_no_request_and_ready_restores_every_key(self):
        self.start()
        victim = self.backends[0]
        before = self.mapping(KEYS)
        victim_key = next(k for k in KEYS if before[k] == victim.id)
        # A request in flight on the drained backend when the drain comes: it finishes there.
        slow = {}

        def slow_request():
            with Conn(self.lb.port) as c:
                r = c.request("GET", "/slow?ms=1500", {"X-User-Id": victim_key})
                slow["answer"] = (r.status, r.backend)

        load = Load(self.lb.port, KEYS)
        slow_thread = threading.Thread(target=slow_request)
        try:
            slow_thread.start()
            time.sleep(0.2)  # let the slow request reach the backend (it answers after 1.5 s)
            self.lb.reload(self.backends, states={victim.id: "drain"})
            t_drained = time.monotonic()
            self.assertIn(f"backend {victim.id}: up -> draining", self.lb.log())
            n = load.count()
            wait_until(lambda: load.count() > n + 1000, timeout=30, what="load after the drain")
        finally:
            answers = load.stop()
            slow_thread.join()
        self.assertEqual(slow["answer"], (200, victim.id), "the request in flight did not finish")
        self.assertEqual(load.errors, [])
        self.assertEqual([a for a in answers if a[2] != 200], [], "a request failed during the drain")
        after = [a for a in answers if a[0] > t_drained + 0.05]
        self.assertEqual([a for a in after if a[3] == victim.id], [], "the draining backend took new keys")
        self.assertEqual([a for a in after if before[a[1]] != victim.id and a[3] != before[a[1]]], [],
                         "keys of other backends moved")
        # Its pooled connections close once idle.
        wait_until(lambda: not any(r == victim.port for _, r in tcp_connections(self.lb.proc.pid)),
                   what="ringlb to close its connections to the drained backend")

        self.lb.reload(self.backends)
        self.assertEqual(self.mapping(KEYS), before, "ready did not bring every key back exactly")

    def test_maintenance_stops_checks_and_ready_restores_keys(self):
        self.start()
        victim, other = self.backends[3], self.backends[0]
        before = self.mapping(KEYS)
        self.lb.reload(self.backends, states={victim.id: "maintenance"})
        during = self.mapping(KEYS)
        for k in KEYS:
            if before[k] == victim.id:
                self.assertNotEqual(during[k], victim.id)
            else:
                self.assertEqual(during[k], before[k])
        # A check already in flight at the reload may still land; then none.
        time.sleep(INTERVAL * 2)
        victim_checks, other_checks = health_checks(victim), health_checks(other)
        time.sleep(INTERVAL * 4)
        self.assertEqual(health_checks(victim), victim_checks, "a backend in maintenance is still checked")
        self.assertGreater(health_checks(other), other_checks, "checks of the others stopped")
        self.lb.reload(self.backends)
        self.assertEqual(self.mapping(KEYS), before)
        wait_until(lambda: health_checks(victim) > victim_checks, what="checks to resume after maintenance")

    def test_panic_fail_open_and_fail_closed(self):
        self.start(health={"panic_threshold": 0.5, "panic": "fail-open"})
        before = self.mapping(KEYS)
        for b in self.backends[:3]:
            set_health(b, 503)
        self.wait_log("panic: 1 of 4 backends healthy")
        self.assertIn("fail-open", self.lb.log())
        # Fail-open: the checks' verdicts are ignored; every key goes to its owner, which
        # still answers client traffic.
        self.assertEqual(self.mapping(KEYS), before)

        self.lb.reload(self.backends, health=dict(CHECK, panic_threshold=0.5, panic="fail-closed"))
        wait_until(lambda: get(self.lb.port, "/", {"X-User-Id": "k"}).status == 503,
                   what="fail-closed to answer 503")
        for k in KEYS[:50]:
            r = get(self.lb.port, "/", {"X-User-Id": k})
            self.assertEqual(r.status, 503)
            self.assertIsNotNone(r.header("retry-after"))

        for b in self.backends[:3]:
            set_health(b, 200)
        self.wait_log("panic over")
        for b in self.backends[:3]:
            self.wait_log(f"backend {b.id} is healthy again")
        self.assertEqual(self.mapping(KEYS), before)


class SlowStartTest(HealthE2E):
    WINDOW = 4.0

    def sample(self, keys, until):
        """Maps `keys` again and again until `until` (monotonic): [(time, {key: backend})]."""
        passes = []
        with Conn(self.lb.port) as c:
            while time.monotonic() < until:
                t = time.monotonic()
                m = {}
                for k in keys:
                    r = c.request("GET", "/", {"X-User-Id": k})
                    self.assertEqual(r.status, 200)
                    m[k] = r.backend
                passes.append((t, m))
        return passes

    def test_join_hands_keys_over_gradually_each_once(self):
        self.start_backends(4)
        self.start_lb(routing={"balance_factor": 0, "slow_start": "4s",
                               "previous_owner_header": "X-Previous-Owner"})
        before = self.mapping(KEYS)
        new = Backend("app-5")
        self.backends.append(new)
        self.lb.reload(self.backends)
        t0 = time.monotonic()
        self.assertIn("backend app-5: new -> slow-start", self.lb.log())
        passes = self.sample(KEYS, t0 + self.WINDOW + 0.5)
        final = self.mapping(KEYS)

        theirs = [k for k in KEYS if final[k] == new.id]
        self.assertGreater(len(theirs), len(KEYS) * 0.1)
        for k in KEYS:
            if final[k] != new.id:
                self.assertEqual(final[k], before[k], f"{k} moved between old backends")
        shares = []
        for t, m in passes:
            for k in KEYS:
                if final[k] != new.id:
                    self.assertEqual(m[k], before[k], f"{k}, not the new backend's, moved during the ramp")
                else:
                    self.assertIn(m[k], (before[k], new.id), f"{k} went to a third backend")
            shares.append((t - t0, sum(1 for k in theirs if m[k] == new.id) / len(theirs)))
        # Each key moves once and never back.
        for k in theirs:
            seq = [m[k] for _, m in passes]
            first = seq.index(new.id) if new.id in seq else len(seq)
            self.assertTrue(all(b == new.id for b in seq[first:]), f"{k} went back to its old owner")
        # The share rises monotonically from about 0 to 1, through the middle.
        values = [s for _, s in shares]
        self.assertEqual(values, sorted(values))
        self.assertLess(values[0], 0.35)
        self.assertEqual(values[-1], 1.0)
        self.assertTrue(any(0.2 < s < 0.8 for s in values), f"no gradual handover: {values}")
        print("\n  slow start of app-5 over 4 s: share of its keys it serves, per second")
        for second in range(int(self.WINDOW) + 1):
            at = [s for t, s in shares if t <= second + 0.5]
            if at:
                print(f"    t={second}s  {at[-1] * 100:5.1f}%")

        # The previous owner is named to the new one (within previous_owner_window), and a
        # client cannot forge it.
        k = theirs[0]
        r = get(self.lb.port, "/echo", {"X-User-Id": k, "X-Previous-Owner": "forged"})
        self.assertEqual(r.backend, new.id)
        self.assertIn(f"x-previous-owner: {before[k]}".encode(), r.body.lower())
        self.assertNotIn(b"forged", r.body)
        stay = next(x for x in KEYS if final[x] != new.id)
        r = get(self.lb.port, "/echo", {"X-User-Id": stay, "X-Previous-Owner": "forged"})
        self.assertNotIn(b"x-previous-owner", r.body.lower())

    def test_drain_window_hands_keys_away_gradually(self):
        self.start_backends(4)
        self.start_lb(routing={"balance_factor": 0, "drain_window": "4s"})
        victim = self.backends[1]
        before = self.mapping(KEYS)
        self.lb.reload(self.backends, states={victim.id: "drain"})
        t0 = time.monotonic()
        passes = self.sample(KEYS, t0 + self.WINDOW + 0.5)
        theirs = [k for k in KEYS if before[k] == victim.id]
        kept = []
        for t, m in passes:
            for k in KEYS:
                if before[k] != victim.id:
                    self.assertEqual(m[k], before[k])
            kept.append(sum(1 for k in theirs if m[k] == victim.id) / len(theirs))
        for k in theirs:
            seq = [m[k] for _, m in passes]
            left = next((i for i, b in enumerate(seq) if b != victim.id), len(seq))
            self.assertTrue(all(b != victim.id for b in seq[left:]), f"{k} came back while draining")
        self.assertEqual(kept, sorted(kept, reverse=True))
        self.assertGreater(kept[0], 0.65)
        self.assertEqual(kept[-1], 0.0)
        self.assertTrue(any(0.2 < s < 0.8 for s in kept), f"no gradual drain: {kept}")

    def test_failure_during_the_ramp_starts_it_again(self):
        self.start_backends(4)
        self.start_lb(routing={"balance_factor": 0, "slow_start": "4s"}, health=dict(CHECK, fall=2))
        before = self.mapping(KEYS)
        new = Backend("app-5")
        self.backends.append(new)
        self.lb.reload(self.backends)
        t0 = time.monotonic()
        # Mid-ramp: about half of its keys have arrived. Which keys are its: those it serves
        # once the ramp is over, found at the end; meanwhile count what it serves.
        wait_until(lambda: time.monotonic() > t0 + 2.2, what="mid-ramp")
        served_mid = sum(1 for b in self.mapping(KEYS).values() if b == new.id)
        set_health(new, 503)
        self.wait_log("backend app-5 is down")
        self.assertEqual(sum(1 for b in self.mapping(KEYS).values() if b == new.id), 0)
        set_health(new, 200)
        self.wait_log("backend app-5 is healthy again")
        served_back = sum(1 for b in self.mapping(KEYS).values() if b == new.id)
        self.assertIn("backend app-5: down -> slow-start", self.lb.log())
        # The ramp started again from 0, so fewer keys than before the failure.
        self.assertLess(served_back, served_mid)
        wait_until(lambda: "backend app-5: slow-start -> up" in self.lb.log(), timeout=self.WINDOW + 5,
                   what="the ramp to end")
        final = self.mapping(KEYS)
        owned = sum(1 for b in final.values() if b == new.id)
        self.assertGreater(owned, served_mid)
        for k in KEYS:
            if final[k] != new.id:
                self.assertEqual(final[k], before[k])


if __name__ == "__main__":
    unittest.main()
