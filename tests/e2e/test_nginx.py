"""ringlb in front of real nginx servers (Debian's nginx): affinity, distribution, request
bodies, and failover when one nginx dies and comes back."""
import collections
import os
import shutil
import signal
import subprocess
import tempfile
import unittest

from harness import E2E, Conn, ServerProcess, free_port, port_open, wait_until

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
KEYS = [f"user-{i}" for i in range(2000)]


class Nginx(ServerProcess):
    """One nginx (single process, foreground) answering with its own id on a loopback port."""

    stop_signal = signal.SIGQUIT   # graceful: finish open requests

    def __init__(self, backend_id, port=None):
        self.id = backend_id
        self.port = port or free_port()
        self.dir = tempfile.TemporaryDirectory(prefix=f"ringlb-nginx-{backend_id}-")
        conf = os.path.join(self.dir.name, "nginx.conf")
        with open(conf, "w") as f:
            f.write(f"""
daemon off;
master_process off;
worker_processes 1;
pid {self.dir.name}/nginx.pid;
error_log {self.dir.name}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {self.dir.name}/body;
    proxy_temp_path {self.dir.name}/proxy;
    fastcgi_temp_path {self.dir.name}/fastcgi;
    uwsgi_temp_path {self.dir.name}/uwsgi;
    scgi_temp_path {self.dir.name}/scgi;
    keepalive_requests 100000;
    server {{
        listen 127.0.0.1:{self.port};
        location / {{
            add_header X-Backend-Id {backend_id} always;
            return 200 "{backend_id}\\n";
        }}
    }}
}}
""")
        self.proc = subprocess.Popen([NGINX, "-p", self.dir.name, "-c", conf],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: self.proc.poll() is not None or port_open(self.port), what=f"nginx {backend_id}")
        if self.proc.poll() is not None:
            raise RuntimeError(f"nginx {backend_id} exited: {open(self.dir.name + '/error.log').read()}")

    def cleanup(self):
        self.dir.cleanup()


class NginxBackendsTest(E2E):
    def setUp(self):
        super().setUp()
        self.backends = [Nginx(f"nginx-{i}") for i in range(1, 4)]
        self.start_lb(routing={"balance_factor": 0})

    def test_affinity_and_distribution(self):
        first = self.mapping(KEYS)
        self.assertEqual(self.mapping(KEYS), first)
        counts = collections.Counter(first.values())
        self.assertEqual(set(counts), {b.id for b in self.backends})
        for n in counts.values():
            self.assertGreater(n, 0.6 * len(KEYS) / 3, counts)

    def test_bodies_through_to_nginx(self):
        with Conn(self.lb.port) as c:
            for size in (0, 10, 200000):
                r = c.request("POST", "/", {"X-User-Id": "k"}, body=b"p" * size)
                self.assertEqual(r.status, 200)
            c.send(b"POST / HTTP/1.1\r\nHost: a\r\nX-User-Id: k\r\nTransfer-Encoding: chunked\r\n\r\n"
                   b"5\r\nhello\r\n0\r\n\r\n")
            self.assertEqual(c.read_response().status, 200)

    def test_nginx_killed_and_restarted(self):
        before = self.mapping(KEYS)
        victim = self.backends[0]
        victim.kill()
        during = self.mapping(KEYS)   # no failures (mapping asserts 200) ...
        for k in KEYS:                # ... and only the victim's keys moved
            if before[k] == victim.id:
                self.assertNotEqual(during[k], victim.id)
            else:
                self.assertEqual(during[k], before[k])
        self.backends.append(Nginx(victim.id, port=victim.port))
        wait_until(lambda: self.mapping(KEYS) == before, timeout=40, interval=0.5,
                   what="keys back on the restarted nginx")


if __name__ == "__main__":
    unittest.main()
