"""The admin API against the real binary: every curl example of docs/ADMIN.md works as
printed; /metrics parses with Prometheus's own parser and counts what was sent; runtime
changes survive a SIGHUP and a restart (the state file) and `ringlb check` reports them;
the placement refusing a change undoes it (409); concurrent mutations serialize; and
nothing the admin port receives, garbage or floods, costs the data path a request."""
import json
import os
import random
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import unittest

from harness import (E2E, RINGLB_BIN, SANITIZED, Conn, Load, Ringlb, free_port, port_open, reset, wait_until)

DOCS = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "ADMIN.md")
KEYS = [f"user-{i}" for i in range(400)]


def write_tokens(path, read, write):
    with open(path, "w") as f:
        f.write(f"# test tokens\nread {read}\nwrite {write}\n")
    os.chmod(path, 0o600)


class AdminE2E(E2E):
    def start_admin(self, n=4, tokens=True, routing=None, **kwargs):
        self.start_backends(n)
        tmp = tempfile.TemporaryDirectory(prefix="ringlb-admin-")
        self.addCleanup(tmp.cleanup)
        self.tmp = tmp.name
        self.admin_port = free_port()
        self.read_token, self.write_token = secrets.token_hex(20), secrets.token_hex(20)
        self.token_path = os.path.join(self.tmp, "tokens")
        self.state_path = os.path.join(self.tmp, "state.json")
        write_tokens(self.token_path, self.read_token, self.write_token)
        self.admin_cfg = {"listen": f"127.0.0.1:{self.admin_port}", "state_file": self.state_path}
        if tokens:
            self.admin_cfg["tokens"] = self.token_path
        r = {"balance_factor": 0}
        r.update(routing or {})
        self.start_lb(routing=r, admin=self.admin_cfg, **kwargs)
        wait_until(lambda: port_open(self.admin_port), what="the admin listener")
        return self.lb

    def call(self, method, path, body=None, token="write", headers=None, host=None):
        """(status, headers, parsed JSON or text) of one admin request."""
        h = dict(headers or {})
        if token:
            h["Authorization"] = "Bearer " + (self.write_token if token == "write" else self.read_token)
        data = b""
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        elif method in ("POST", "PUT", "DELETE"):
            h.setdefault("Content-Type", "application/json")
        with Conn(self.admin_port) as c:
            r = c.request(method, path, h, data, host=host or f"127.0.0.1:{self.admin_port}")
        text = r.body.decode()
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = text
        return r.status, r, parsed

    def mapping(self, keys, header="X-User-Id", path="/"):
        return super().mapping(keys, header, path)


class DocumentedExamplesTest(AdminE2E):
    def test_every_example_of_admin_md_works_as_printed(self):
        self.start_admin()
        bindir = os.path.join(self.tmp, "bin")
        os.mkdir(bindir)
        os.symlink(os.path.abspath(RINGLB_BIN), os.path.join(bindir, "ringlb"))
        env = dict(os.environ, ADMIN=f"http://127.0.0.1:{self.admin_port}", TOKEN=self.write_token,
                   READ_TOKEN=self.read_token, RINGLB_ADMIN=f"http://127.0.0.1:{self.admin_port}",
                   RINGLB_TOKEN=self.write_token, PATH=bindir + os.pathsep + os.environ["PATH"])
        with open(DOCS) as f:
            doc = f.read()
        blocks = re.findall(r"^```sh\n(.*?)^```", doc, flags=re.M | re.S)
        self.assertGreaterEqual(len(blocks), 8)
        ran = 0
        for block in blocks:
            # A block is a shell session: variables set by one line are seen by the next.
            lines = [l for l in block.splitlines() if l.strip()]
            script, checks = ["set -e"], []
            for i, line in enumerate(lines):
                expect = re.search(r"#\s*->\s*(\d{3})\s*$", line)
                if expect:
                    marker = f"__status_{i}__"
                    script.append(f"echo {marker}$({line[:expect.start()].rstrip()})")
                    checks.append((marker, expect.group(1), line))
                else:
                    script.append(line)
            r = subprocess.run(["bash", "-c", "\n".join(script)], env=env, capture_output=True, text=True,
                               timeout=60)
            self.assertEqual(r.returncode, 0, f"example failed:\n{block}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}")
            for marker, code, line in checks:
                got = re.search(re.escape(marker) + r"(\S*)", r.stdout)
                self.assertIsNotNone(got, line)
                self.assertEqual(got.group(1), code, f"{line}\n{r.stdout}")
            ran += len(lines)
        self.assertGreater(ran, 30)
        # The examples left the pool as they found it, but for app-5's removal.
        status, _, body = self.call("GET", "/v1/backends", token="read")
        self.assertEqual(status, 200)
        self.assertEqual([(b["id"], b["mode"]) for b in body["backends"]],
                         [("app-1", "up"), ("app-2", "up"), ("app-3", "up"), ("app-4", "up")])


class AdminTest(AdminE2E):
    def test_metrics_parse_and_count_what_was_sent(self):
        from prometheus_client.parser import text_string_to_metric_families
        self.start_admin()
        before = self.mapping(KEYS)  # 400 requests
        with Conn(self.lb.port) as c:
            for _ in range(3):
                self.assertEqual(c.request("GET", "/", {"X-User-Id": "x"}, host="t").status, 200)
            c.send(b"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n")
            self.assertEqual(c.read_response().status, 400)
        status, resp, _ = self.call("GET", "/metrics", token="read")
        self.assertEqual(status, 200)
        self.assertTrue(resp.header("content-type").startswith("text/plain; version=0.0.4"))
        families = {f.name: f for f in text_string_to_metric_families(resp.body.decode())}

        def value(name, **labels):
            # The parser names a counter's family without its _total; samples keep it.
            for family in families.values():
                for s in family.samples:
                    if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                        return s.value
            raise KeyError((name, labels))

        per_backend = {b: sum(1 for k in KEYS if before[k] == b) for b in set(before.values())}
        total_2xx = sum(value("ringlb_backend_responses_total", backend=b.id, code="2xx") for b in self.backends)
        self.assertEqual(total_2xx, len(KEYS) + 3)
        for b, n in per_backend.items():
            self.assertGreaterEqual(value("ringlb_backend_responses_total", backend=b, code="2xx"), n)
        self.assertEqual(value("ringlb_own_responses_total", code="400"), 1)
        self.assertEqual(value("ringlb_requests_total"), total_2xx + 1)
        # The histogram counts each relayed response once; +Inf equals _count.
        hist = families["ringlb_backend_response_seconds"]
        counts = {s.labels["backend"]: s.value for s in hist.samples if s.name.endswith("_count")}
        self.assertEqual(sum(counts.values()), total_2xx)
        for s in hist.samples:
            if s.name.endswith("_bucket") and s.labels["le"] == "+Inf":
                self.assertEqual(s.value, counts[s.labels["backend"]])
        self.assertEqual(value("ringlb_backend_state", backend="app-1", state="up"), 1)
        self.assertEqual(value("ringlb_backend_state", backend="app-1", state="down"), 0)
        shares = [value("ringlb_backend_key_share", backend=b.id) for b in self.backends]
        self.assertAlmostEqual(sum(shares), 1.0, places=6)
        info = [s for s in families["ringlb_placement_info"].samples][0]
        self.assertRegex(info.labels["fingerprint"], r"^[0-9a-f]{16}$")
        self.assertGreaterEqual(value("ringlb_connections_accepted_total"), 2)

    def test_changes_survive_a_sighup_and_a_restart(self):
        self.start_admin()
        extra = self.start_backends(1, prefix="extra-")[-1]
        status, _, body = self.call("POST", "/v1/backends/app-2/drain", {})
        self.assertEqual(status, 200, body)
        status, _, body = self.call("PUT", "/v1/backends/app-5", {"address": extra.address})
        self.assertEqual(status, 201, body)
        self.assertGreater(body["plan"]["moved_fraction"], 0.1)
        # A SIGHUP with an edited config (app-1's weight) keeps the runtime changes.
        self.lb.write_config([(b.id, b.address, 2 if b.id == "app-1" else 1) for b in self.backends[:4]])
        with open(self.lb.config_path) as f:
            self.lb.reload(text=f.read())
        _, _, body = self.call("GET", "/v1/backends", token="read")
        by_id = {b["id"]: b for b in body["backends"]}
        self.assertEqual(by_id["app-2"]["mode"], "draining")
        self.assertEqual(by_id["app-2"]["state_by"], "admin")
        self.assertEqual(by_id["app-5"]["defined_by"], "admin")
        self.assertEqual(by_id["app-1"]["weight"], 2)
        mapping = self.mapping(KEYS)
        self.assertIn("extra-1", mapping.values())  # app-5 is the extra backend
        self.assertNotIn("app-2", mapping.values())

        # `ringlb check` sees them in the state file.
        check = subprocess.run([RINGLB_BIN, "check", "-c", self.lb.config_path], capture_output=True, text=True)
        self.assertEqual(check.returncode, 0, check.stderr)
        self.assertIn("app-2: drain by admin", check.stdout)
        self.assertIn("app-5: added at " + extra.address, check.stdout)
        self.assertIn("with them: 5 backends, placement fingerprint", check.stdout)

        # A restart restores them before the first publication.
        code = self.lb.stop()
        self.assertEqual(code, 0)
        self.lb = Ringlb([(b.id, b.address, 2 if b.id == "app-1" else 1) for b in self.backends[:4]],
                         routing={"balance_factor": 0}, admin=self.admin_cfg)
        wait_until(lambda: port_open(self.admin_port), what="the admin listener")
        self.assertIn("runtime changes restored", self.lb.log())
        self.assertEqual(self.mapping(KEYS), mapping)
        # Ready and a removal through the API are saved too.
        self.assertEqual(self.call("POST", "/v1/backends/app-2/ready", {})[0], 200)
        self.assertEqual(self.call("DELETE", "/v1/backends/app-5")[0], 200)
        with open(self.state_path) as f:
            saved = json.load(f)
        self.assertEqual(saved["format"], "ringlb-state/1")
        entries = {e["id"]: e for e in saved["backends"]}
        self.assertEqual(entries["app-2"]["state"], "ready")
        self.assertNotIn("app-5", entries, "a backend only the API defined is forgotten, not hidden")

    def test_a_change_the_placement_refuses_is_undone(self):
        self.start_admin(n=2, routing={"algorithm": "modulo"})
        etag = self.call("GET", "/v1/backends", token="read")[1].header("etag")
        status, _, body = self.call("PUT", "/v1/backends/app-1", {"weight": 3})
        self.assertEqual(status, 409, body)
        self.assertIn("weight", body["error"]["message"])
        self.assertEqual(self.call("DELETE", "/v1/backends/app-1")[0], 200)
        status, _, body = self.call("DELETE", "/v1/backends/app-2")
        self.assertEqual(status, 409, body)
        _, resp, body = self.call("GET", "/v1/backends", token="read")
        self.assertEqual([b["id"] for b in body["backends"]], ["app-2"])
        self.assertNotEqual(resp.header("etag"), etag)
        for k in KEYS[:50]:
            with Conn(self.lb.port) as c:
                self.assertEqual(c.request("GET", "/", {"X-User-Id": k}).backend, "app-2")

    def test_concurrent_mutations_are_applied_one_at_a_time(self):
        self.start_admin()
        results = []

        def flip(i):
            action = "drain" if i % 2 == 0 else "ready"
            results.append(self.call("POST", f"/v1/backends/app-{1 + i % 4}/{action}", {})[0])

        threads = [threading.Thread(target=flip, args=(i,)) for i in range(24)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(results, [200] * 24)
        # Every backend's final state is its last operator state, and the data path agrees.
        _, _, body = self.call("GET", "/v1/backends", token="read")
        modes = {b["id"]: (b["operator_state"], b["mode"]) for b in body["backends"]}
        for op, mode in modes.values():
            self.assertEqual(mode, {"ready": "up", "drain": "draining"}[op])
        served = set(self.mapping(KEYS).values())
        for bid, (op, _) in modes.items():
            self.assertEqual(bid in served, op == "ready", modes)

    def test_requests_that_arrive_in_pieces_are_read_whole(self):
        # A head longer than one read, and a body in a later segment: the parser's views must
        # survive every read (they point into the connection's buffer).
        self.start_admin()
        key = "k" * 4000
        with Conn(self.admin_port) as c:
            head = (f"GET /v1/lookup?key={key} HTTP/1.1\r\nHost: 127.0.0.1:{self.admin_port}\r\n"
                    f"Authorization: Bearer {self.read_token}\r\nX-Pad: {'p' * 3000}\r\n\r\n").encode()
            for i in range(0, len(head), 700):
                c.send(head[i:i + 700])
                time.sleep(0.005)
            r = c.read_response()
            self.assertEqual(r.status, 200, r.body)
            self.assertEqual(json.loads(r.body)["key"], key)
        body = json.dumps({"weight": 3}).encode()
        with Conn(self.admin_port) as c:
            c.send(f"PUT /v1/backends/app-1 HTTP/1.1\r\nHost: 127.0.0.1:{self.admin_port}\r\n"
                   f"Authorization: Bearer {self.write_token}\r\nContent-Type: application/json\r\n"
                   f"Content-Length: {len(body)}\r\n\r\n".encode())
            time.sleep(0.05)
            c.send(body[:4])
            time.sleep(0.05)
            c.send(body[4:])
            r = c.read_response()
            self.assertEqual(r.status, 200, r.body)
            self.assertEqual(json.loads(r.body)["backend"]["weight"], 3)

    def test_put_state_overrides_and_reset_gives_the_config_back(self):
        self.start_admin()
        self.assertEqual(self.call("POST", "/v1/backends/app-1/drain", {})[0], 200)
        status, _, body = self.call("PUT", "/v1/backends/app-1", {"state": "ready", "weight": 2})
        self.assertEqual(status, 200, body)
        self.assertEqual((body["backend"]["mode"], body["backend"]["weight"]), ("up", 2))
        status, _, body = self.call("PUT", "/v1/backends/app-1?dry_run=true", {"weight": 5})
        self.assertEqual((status, body["dry_run"]), (200, True))
        self.assertEqual(self.call("PUT", "/v1/backends/app-1?dry_run=maybe", {"weight": 5})[0], 400)
        self.assertEqual(self.call("GET", "/v1/backends/app-1", token="read")[2]["weight"], 2)
        status, _, body = self.call("DELETE", "/v1/backends/app-1/override")
        self.assertEqual(status, 200, body)
        self.assertEqual((body["backend"]["weight"], body["backend"]["defined_by"]), (1, "config"))
        self.assertEqual(self.call("DELETE", "/v1/backends/app-1/override")[0], 404)
        # A backend only the API defined leaves no tombstone when removed.
        extra = self.start_backends(1, prefix="extra-")[-1]
        self.assertEqual(self.call("PUT", "/v1/backends/app-9", {"address": extra.address})[0], 201)
        self.assertEqual(self.call("DELETE", "/v1/backends/app-9")[0], 200)
        with open(self.state_path) as f:
            self.assertNotIn("app-9", f.read())

    def test_idle_connections_make_room_for_new_ones(self):
        self.start_admin()
        idle = [socket.create_connection(("127.0.0.1", self.admin_port)) for _ in range(64)]
        try:
            time.sleep(0.2)
            # Every slot is held by an idle connection; a new request still gets through.
            self.assertEqual(self.call("GET", "/v1/status", token="read")[0], 200)
            # An error answer closes its connection.
            with Conn(self.admin_port) as c:
                r = c.request("GET", "/v1/status", host=f"127.0.0.1:{self.admin_port}")
                self.assertEqual(r.status, 401)
                self.assertTrue(c.is_closed())
        finally:
            for s in idle:
                s.close()

    def test_without_tokens_the_host_must_name_the_listener(self):
        self.start_admin(tokens=False)
        self.assertEqual(self.call("GET", "/v1/status", token=None)[0], 200)
        self.assertEqual(self.call("GET", "/v1/status", token=None, host="localhost:%d" % self.admin_port)[0], 200)
        self.assertEqual(self.call("GET", "/v1/status", token=None, host="attacker.example")[0], 403)
        # A mutation without the JSON content type (an HTML form could send that) is refused.
        with Conn(self.admin_port) as c:
            r = c.request("POST", "/v1/backends/app-1/drain", {"Content-Type": "application/x-www-form-urlencoded"},
                          b"a=1", host=f"127.0.0.1:{self.admin_port}")
            self.assertEqual(r.status, 415)
        self.assertEqual(self.call("POST", "/v1/backends/app-1/drain", token=None)[0], 200)

    def test_a_non_loopback_listener_without_tokens_is_refused(self):
        self.start_backends(1)
        import tempfile
        from harness import render_config
        with tempfile.NamedTemporaryFile("w", suffix=".toml") as f:
            f.write(render_config(free_port(), self.backends, admin={"listen": "0.0.0.0:9901"}))
            f.flush()
            r = subprocess.run([RINGLB_BIN, "check", "-c", f.name], capture_output=True, text=True)
            self.assertEqual(r.returncode, 1)
            self.assertIn("is not a loopback address: set admin.tokens", r.stderr)
            r = subprocess.run([RINGLB_BIN, "serve", "-c", f.name], capture_output=True, text=True, timeout=20)
            self.assertEqual(r.returncode, 1)

    def test_garbage_and_floods_on_the_admin_port_cost_the_data_path_nothing(self):
        self.start_admin()
        load = Load(self.lb.port, KEYS)
        rng = random.Random(7)
        held = []
        try:
            for round_ in range(40 if not SANITIZED else 15):
                kind = round_ % 6
                s = socket.create_connection(("127.0.0.1", self.admin_port))
                s.settimeout(5)
                try:
                    if kind == 0:  # random bytes
                        s.sendall(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 4000))))
                    elif kind == 1:  # a head past 16 KiB
                        s.sendall(b"GET /v1/status HTTP/1.1\r\nX: " + b"a" * 20000 + b"\r\n\r\n")
                    elif kind == 2:  # a declared body past 64 KiB, never sent
                        s.sendall(b"PUT /v1/backends/app-1 HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999\r\n\r\n")
                    elif kind == 3:  # JSON garbage with a write token
                        body = bytes(rng.randrange(32, 127) for _ in range(200))
                        s.sendall(b"PUT /v1/backends/app-1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                                  self.write_token.encode() + b"\r\nContent-Type: application/json\r\n"
                                  b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
                    elif kind == 4:  # a slow client that never finishes its head: held open
                        s.sendall(b"GET /v1/status HTTP/1.1\r\n")
                        held.append(s)
                        continue
                    else:  # a reset mid-request
                        s.sendall(b"GET /v1/backends HTTP/1.1\r\nHost: x\r\n")
                        reset(s)
                        continue
                    try:
                        s.recv(65536)
                    except OSError:
                        pass
                finally:
                    if s not in held:
                        s.close()
            # More connections than the admin listener takes at once: refused with 503, not queued.
            flood = [socket.create_connection(("127.0.0.1", self.admin_port)) for _ in range(80)]
            held.extend(flood)
            time.sleep(0.3)
            n = load.count()
            wait_until(lambda: load.count() > n + 300, timeout=30, what="data path load during the flood")
        finally:
            for s in held:
                s.close()
            answers = load.stop()
        self.assertEqual(load.errors, [])
        self.assertEqual([a for a in answers if a[2] != 200], [])
        self.assertIsNone(self.lb.proc.poll())
        # The admin listener serves again once the flood is gone.
        wait_until(lambda: self.call("GET", "/v1/status", token="read")[0] == 200, timeout=15,
                   what="the admin API after the flood")
        self.assertEqual(self.call("GET", "/v1/backends/app-1", token="read")[2]["weight"], 1)


if __name__ == "__main__":
    unittest.main()
