"""`ringlb demo`: the quickstart a newcomer runs. The demo backends name themselves and say
hit or miss, the balancer keeps a user on one backend (so the second request is a hit),
--traffic prints the comparison with the numbers going the right way, Ctrl-C stops it all,
and the printed config is one `ringlb check` accepts. Runs on non-default ports."""
import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import unittest

from harness import RINGLB_BIN, Conn, free_port, port_open, wait_until


def free_port_block(n):
    """A base port with n consecutive free ports (the demo backends take four in a row)."""
    for _ in range(200):
        base = free_port()
        if base + n > 65535:
            continue
        ok = True
        for p in range(base, base + n):
            with socket.socket() as s:
                # As the demo's listeners do: a port held only by TIME_WAIT connections
                # (10k of them after test_connections) is free to listen on.
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    s.bind(("127.0.0.1", p))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
    raise RuntimeError("no block of free ports")


class Demo:
    def __init__(self, *args):
        self.port = free_port()
        self.backend_port = free_port_block(4)
        while self.backend_port <= self.port < self.backend_port + 4:
            self.port = free_port()
        self.admin_port = free_port()
        while self.admin_port == self.port or self.backend_port <= self.admin_port < self.backend_port + 4:
            self.admin_port = free_port()
        self.out = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(
            [RINGLB_BIN, "demo", "--port", str(self.port), "--backend-port", str(self.backend_port),
             "--admin-port", str(self.admin_port), *args],
            stdout=self.out, stderr=subprocess.STDOUT, text=True)

    def output(self):
        self.out.seek(0)
        return self.out.read()

    def wait_ready(self):
        wait_until(lambda: self.proc.poll() is not None or "balancer on" in self.output(), timeout=20,
                   what="the demo to start")
        self.assertRunning()

    def assertRunning(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"demo exited with {self.proc.returncode}:\n{self.output()}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()  # the demo's own clean stop; SIGKILL only if it hangs
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.proc.wait()
        self.out.close()


class DemoTest(unittest.TestCase):
    def setUp(self):
        self.demos = []

    def tearDown(self):
        for d in self.demos:
            d.stop()

    def start(self, *args):
        d = Demo(*args)
        self.demos.append(d)
        return d

    def test_printed_config_is_valid(self):
        text = subprocess.run([RINGLB_BIN, "demo", "--print-config", "--port", "18081"], check=True,
                              capture_output=True, text=True).stdout
        self.assertIn('listen = "127.0.0.1:18081"', text)
        with tempfile.NamedTemporaryFile("w", suffix=".toml") as f:
            f.write(text)
            f.flush()
            check = subprocess.run([RINGLB_BIN, "check", "-c", f.name], capture_output=True, text=True)
            self.assertEqual(check.returncode, 0, check.stdout + check.stderr)

    def test_a_user_stays_on_one_backend_and_hits_its_cache(self):
        d = self.start()
        d.wait_ready()
        self.assertIn(f"curl -H 'X-User-Id: alice' localhost:{d.port}/", d.output())
        with Conn(d.port) as c:
            first = c.request("GET", "/", {"X-User-Id": "alice"})
            self.assertEqual(first.status, 200)
            self.assertEqual(first.header("x-cache"), "miss")
            self.assertIn(f"{first.backend} served alice: cache miss", first.body.decode())
            for _ in range(5):
                again = c.request("GET", "/", {"X-User-Id": "alice"})
                self.assertEqual(again.backend, first.backend)
                self.assertEqual(again.header("x-cache"), "hit")
        # The demo's dashboard and admin API, on the port it printed.
        self.assertIn(f"dashboard and admin API on http://127.0.0.1:{d.admin_port}/", d.output())
        with Conn(d.admin_port) as c:
            r = c.request("GET", "/v1/backends", host=f"127.0.0.1:{d.admin_port}")
            self.assertEqual(r.status, 200, r.body)
            listed = json.loads(r.body)["backends"]
            self.assertEqual([b["id"] for b in listed], ["app-1", "app-2", "app-3", "app-4"])
            served = next(b for b in listed if b["id"] == first.backend)
            self.assertGreaterEqual(served["requests"]["2xx"], 6)
        # Many users spread over all four backends.
        with Conn(d.port) as c:
            seen = {c.request("GET", "/", {"X-User-Id": f"u{i}"}).backend for i in range(200)}
        self.assertEqual(seen, {"app-1", "app-2", "app-3", "app-4"})

    def test_keyless_requests_are_spread_round_robin(self):
        d = self.start()
        d.wait_ready()
        with Conn(d.port) as c:
            seen = [c.request("GET", "/?user=alice").backend for _ in range(8)]
        # One connection stays on one worker, whose cursor visits every backend in turn.
        self.assertEqual(set(seen), {"app-1", "app-2", "app-3", "app-4"}, seen)

    def test_sigint_stops_everything(self):
        d = self.start()
        d.wait_ready()
        d.proc.send_signal(signal.SIGINT)
        self.assertEqual(d.proc.wait(timeout=15), 0, d.output())
        self.assertIn("ringlb demo: stopped", d.output())
        for p in [d.port] + [d.backend_port + i for i in range(4)]:
            self.assertFalse(port_open(p), p)

    def test_a_killed_demo_leaves_no_files(self):
        # The embedded config lives in memory (memfd), not in a temporary file a SIGKILL
        # would leave behind. Other e2e suites' files are named ringlb-e2e-/ringlb-nginx-.
        dirs = {"/tmp", tempfile.gettempdir()}
        ours = lambda: {os.path.join(d, n) for d in dirs for n in os.listdir(d) if n.startswith("ringlb") and
                        not n.startswith(("ringlb-e2e-", "ringlb-nginx-"))}
        before = ours()
        d = self.start()
        d.wait_ready()
        with Conn(d.port) as c:  # the balancer is running from that config
            self.assertEqual(c.request("GET", "/", {"X-User-Id": "alice"}).status, 200)
        d.proc.kill()
        d.proc.wait()
        self.assertEqual(ours() - before, set())

    def test_a_taken_backend_port_is_reported(self):
        with socket.socket() as blocker:
            blocker.bind(("127.0.0.1", 0))
            blocker.listen()
            taken = blocker.getsockname()[1]
            # A port among the backends' four would be refused as a usage error instead.
            port = next(p for p in (free_port() for _ in range(100)) if not taken <= p <= taken + 3)
            r = subprocess.run([RINGLB_BIN, "demo", "--port", str(port), "--backend-port", str(taken),
                                "--admin-port", "0"],
                               capture_output=True, text=True, timeout=20)
        self.assertEqual(r.returncode, 1)
        self.assertIn("--backend-port", r.stderr)

    def test_traffic_shows_consistent_hashing_beating_round_robin(self):
        # Each backend caches 500 of 4000 users: a quarter of the users each under consistent
        # hashing, all of them under round-robin.
        d = self.start("--traffic", "1500ms", "--users", "4000", "--cache-users", "500", "--connections", "16")
        self.assertEqual(d.proc.wait(timeout=60), 0, d.output())
        out = d.output()
        rates = {}
        for policy, pattern in (("hash", r"consistent hashing \(ring, X-User-Id\):.*?\n((?:  .*\n)+)"),
                                ("rr", r"round-robin \(no key\):.*?\n((?:  .*\n)+)")):
            m = re.search(pattern, out)
            self.assertIsNotNone(m, out)
            table = m.group(1)
            self.assertEqual(len(re.findall(r"^  app-\d", table, re.M)), 4, table)
            rates[policy] = float(re.search(r"^  all\s+100\.0%\s+([\d.]+)%", table, re.M).group(1))
        self.assertGreater(rates["hash"], rates["rr"] + 10, out)
        self.assertRegex(out, r"consistent hashing \(ring, X-User-Id\): [\d.]+ s, \d+ requests .* 0 errors")
        # Removing a backend moves its own users only.
        for line in re.findall(r"^  app-\d .*$", out.split("moved between stayers")[1], re.M):
            self.assertTrue(line.split()[-1] == "0", line)
        self.assertIn("hash mod N would move", out)


if __name__ == "__main__":
    unittest.main()
