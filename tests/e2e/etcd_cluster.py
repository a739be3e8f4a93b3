"""A real etcd cluster on loopback for the e2e tests (Debian's etcd-server), and a few
calls to its JSON gateway. Members get free ports and data directories of their own, are
started and stopped by the tests, and are killed at cleanup."""
import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

from harness import free_port, wait_until

ETCD = shutil.which("etcd")


def b64(s):
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode()


def unb64(s):
    return base64.b64decode(s).decode()


def prefix_end(prefix):
    p = bytearray(prefix.encode())
    p[-1] += 1
    return bytes(p).decode()


class Member:
    def __init__(self, cluster, index):
        self.cluster, self.index = cluster, index
        self.name = f"m{index}"
        self.client_port, self.peer_port = free_port(), free_port()
        self.data = os.path.join(cluster.dir.name, self.name)
        self.proc = None
        self.log_path = os.path.join(cluster.dir.name, f"{self.name}.log")

    @property
    def address(self):
        return f"127.0.0.1:{self.client_port}"

    def start(self):
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen(
            [ETCD, "--name", self.name, "--data-dir", self.data,
             "--listen-client-urls", f"http://127.0.0.1:{self.client_port}",
             "--advertise-client-urls", f"http://127.0.0.1:{self.client_port}",
             "--listen-peer-urls", f"http://127.0.0.1:{self.peer_port}",
             "--initial-advertise-peer-urls", f"http://127.0.0.1:{self.peer_port}",
             "--initial-cluster", self.cluster.initial_cluster, "--initial-cluster-state", "new",
             "--initial-cluster-token", self.cluster.token,
             "--experimental-watch-progress-notify-interval", "1s",
             "--heartbeat-interval", "50", "--election-timeout", "500", "--logger", "zap"],
            stdout=log, stderr=subprocess.STDOUT)
        log.close()

    def signal(self, sig):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def healthy(self):
        try:
            with urllib.request.urlopen(f"http://{self.address}/health", timeout=1) as r:
                return json.load(r).get("health") == "true"
        except (OSError, ValueError, urllib.error.URLError):
            return False


class EtcdCluster:
    """n members; call(path, body) goes to the first live member."""

    def __init__(self, n=3):
        self.dir = tempfile.TemporaryDirectory(prefix="ringlb-etcd-")
        self.token = "ringlb-test-" + os.urandom(4).hex()
        self.members = [Member(self, i + 1) for i in range(n)]
        self.initial_cluster = ",".join(f"{m.name}=http://127.0.0.1:{m.peer_port}" for m in self.members)
        for m in self.members:
            m.start()
        self.wait_healthy()

    @property
    def endpoints(self):
        return [m.address for m in self.members]

    def wait_healthy(self, members=None, timeout=30):
        for m in members or self.members:
            wait_until(m.healthy, timeout=timeout, interval=0.05, what=f"etcd member {m.name} to be healthy")

    def call(self, path, body, member=None, timeout=5):
        last = None
        for m in ([member] if member else self.members):
            if m.proc is None or m.proc.poll() is not None:
                continue
            req = urllib.request.Request(f"http://{m.address}{path}", data=json.dumps(body).encode(),
                                         method="POST")
            try:
                with urllib.request.urlopen(req, timeout=timeout) as r:
                    return json.load(r)
            except (OSError, urllib.error.URLError) as e:
                last = e
        raise RuntimeError(f"no etcd member answered {path}: {last}")

    def put(self, key, value):
        value = value if isinstance(value, str) else json.dumps(value)
        return int(self.call("/v3/kv/put", {"key": b64(key), "value": b64(value)})["header"]["revision"])

    def delete(self, key):
        return int(self.call("/v3/kv/deleterange", {"key": b64(key)})["header"]["revision"])

    def get_prefix(self, prefix):
        r = self.call("/v3/kv/range", {"key": b64(prefix), "range_end": b64(prefix_end(prefix))})
        return {unb64(kv["key"]): unb64(kv.get("value", "")) for kv in r.get("kvs", [])}

    def revision(self):
        return int(self.call("/v3/kv/range", {"key": b64("\0"), "count_only": True})["header"]["revision"])

    def compact(self, revision):
        return self.call("/v3/kv/compaction", {"revision": str(revision), "physical": True})

    def leader(self):
        """The member that leads now, or None."""
        for m in self.members:
            if m.proc is None or m.proc.poll() is not None:
                continue
            try:
                s = self.call("/v3/maintenance/status", {}, member=m, timeout=2)
            except RuntimeError:
                continue
            if s.get("leader") and s.get("leader") == s["header"]["member_id"]:
                return m
        return None

    def close(self):
        for m in self.members:
            m.kill()
        self.dir.cleanup()
