"""Helpers for ringlb's end-to-end tests: start the real binary and real backends on
loopback, talk HTTP/1.1 over raw sockets, and clean everything up.

Paths come from the environment (set by CMake): RINGLB_BIN, TEST_BACKEND_BIN.
No sleeps to wait for servers: everything polls for readiness with a deadline.
"""
import os
import signal
import socket
import subprocess
import tempfile
import time
import unittest

RINGLB_BIN = os.environ.get("RINGLB_BIN", "ringlb")
TEST_BACKEND_BIN = os.environ.get("TEST_BACKEND_BIN", "test_backend")
# Sanitizer builds are several times slower and use more memory: tests scale down with it.
SANITIZED = os.environ.get("RINGLB_SANITIZED", "0") not in ("", "0", "OFF", "FALSE")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout=10.0, interval=0.02, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class ServerProcess:
    """A backend server process on a loopback port: stop() asks it to exit with
    `stop_signal`, kill() does not ask."""

    stop_signal = signal.SIGTERM

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(self.stop_signal)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.cleanup()

    def cleanup(self):
        pass


class Backend(ServerProcess):
    """A test_backend process that answers with its own id."""

    def __init__(self, backend_id, port=0, delay_ms=0):
        self.id = backend_id
        args = [TEST_BACKEND_BIN, "--id", backend_id, "--port", str(port)]
        if delay_ms:
            args += ["--delay-ms", str(delay_ms)]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("PORT "):
            self.proc.kill()
            raise RuntimeError(f"test_backend {backend_id} did not start: {line!r}")
        self.port = int(line.split()[1])

    def cleanup(self):
        if self.proc.stdout:
            self.proc.stdout.close()


def render_config(port, backends, routing=None, timeouts=None, limits=None, access="off", workers=2):
    lines = ["[server]", f'listen = "127.0.0.1:{port}"', f"workers = {workers}", "[routing]"]
    for k, v in (routing or {}).items():
        lines.append(f"{k} = {v!r}" if not isinstance(v, str) else f'{k} = "{v}"')
    lines.append("[timeouts]")
    for k, v in (timeouts or {}).items():
        lines.append(f'{k} = "{v}"')
    lines.append("[limits]")
    for k, v in (limits or {}).items():
        lines.append(f"{k} = {v}" if isinstance(v, int) else f'{k} = "{v}"')
    lines += ["[log]", f'access = "{access}"']
    for b in backends:
        bid, addr, weight = (b + (1,))[:3] if isinstance(b, tuple) else (b.id, b.address, 1)
        lines += ["[[backends]]", f'id = "{bid}"', f'address = "{addr}"', f"weight = {weight}"]
    return "\n".join(lines) + "\n"


class Ringlb:
    """The real ringlb binary running `serve` on a free loopback port."""

    def __init__(self, backends, workers=2, **kwargs):
        self.dir = tempfile.TemporaryDirectory(prefix="ringlb-e2e-")
        self.port = free_port()
        self.config_path = os.path.join(self.dir.name, "ringlb.toml")
        self.access_path = os.path.join(self.dir.name, "access.log")
        self.stderr_path = os.path.join(self.dir.name, "stderr.log")
        self.kwargs = dict(kwargs)
        self.kwargs.setdefault("access", self.access_path)
        self.workers = workers
        self.write_config(backends)
        self.stderr = open(self.stderr_path, "w")
        self.proc = subprocess.Popen([RINGLB_BIN, "serve", "-c", self.config_path],
                                     stdout=subprocess.DEVNULL, stderr=self.stderr)
        try:
            wait_until(lambda: self.proc.poll() is not None or port_open(self.port), timeout=20,
                       what="ringlb to listen")
        except AssertionError:
            self.stop()
            raise
        if self.proc.poll() is not None:
            raise RuntimeError("ringlb exited at start:\n" + self.log())

    def write_config(self, backends, **overrides):
        kwargs = dict(self.kwargs)
        kwargs.update(overrides)
        text = render_config(self.port, backends, workers=self.workers, **kwargs)
        with open(self.config_path, "w") as f:
            f.write(text)

    def log(self):
        with open(self.stderr_path) as f:
            return f.read()

    def access_lines(self):
        try:
            with open(self.access_path) as f:
                return f.read().splitlines()
        except FileNotFoundError:
            return []

    def reload(self, backends=None, text=None, expect="reloaded"):
        count = self.log().count(expect)
        if text is not None:
            with open(self.config_path, "w") as f:
                f.write(text)
        else:
            self.write_config(backends)
        self.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: self.log().count(expect) > count, timeout=10, what=f"'{expect}' in ringlb log")

    def stop(self, timeout=30):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.stderr.close()
        code = self.proc.returncode
        self.dir.cleanup()
        return code


class Response:
    def __init__(self, status, reason, headers, body, raw_head):
        self.status, self.reason, self.headers, self.body, self.raw_head = status, reason, headers, body, raw_head

    def header(self, name, default=None):
        values = self.headers.get(name.lower())
        return values[0] if values else default

    @property
    def backend(self):
        return self.header("x-backend-id")


class Conn:
    """One client connection speaking HTTP/1.1 by hand (so tests control every byte)."""

    def __init__(self, port, timeout=20.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        self.sock.sendall(data if isinstance(data, bytes) else data.encode())

    def _fill(self):
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise EOFError("connection closed")
        self.buf += chunk

    def _read_exact(self, n):
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _read_line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def read_response(self, head_request=False, sink=None):
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        raw_head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = raw_head.decode("latin-1").split("\r\n")
        version, status, *reason = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers.setdefault(name.strip().lower(), []).append(value.strip())
        status = int(status)
        resp = Response(status, reason[0] if reason else "", headers, b"", raw_head)
        if head_request or 100 <= status < 200 or status in (204, 304):
            return resp
        body = []
        size = 0

        def take(data):
            nonlocal size
            size += len(data)
            if sink is None:
                body.append(data)

        if "chunked" in resp.header("transfer-encoding", "").lower():
            while True:
                n = int(self._read_line().split(b";")[0], 16)
                if n == 0:
                    while self._read_line() != b"":
                        pass
                    break
                take(self._read_exact(n))
                self._read_exact(2)
        elif resp.header("content-length") is not None:
            remaining = int(resp.header("content-length"))
            while remaining > 0:
                if not self.buf:
                    self._fill()
                piece, self.buf = self.buf[:remaining], self.buf[remaining:]
                remaining -= len(piece)
                take(piece)
        else:
            while True:
                try:
                    self._fill()
                except EOFError:
                    break
            take(self.buf)
            self.buf = b""
        resp.body = b"".join(body)
        resp.body_size = size
        return resp

    def request(self, method="GET", path="/", headers=None, body=b"", host="test"):
        self.send(build_request(method, path, headers, body, host))
        return self.read_response(head_request=(method == "HEAD"))

    def is_closed(self, timeout=5.0):
        """True when the server closes the connection (EOF or reset) within timeout."""
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False


def build_request(method="GET", path="/", headers=None, body=b"", host="test"):
    head = f"{method} {path} HTTP/1.1\r\nHost: {host}\r\n"
    for k, v in (headers or {}).items():
        head += f"{k}: {v}\r\n"
    if body and not any(k.lower() in ("content-length", "transfer-encoding") for k in (headers or {})):
        head += f"Content-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


def get(port, path="/", headers=None):
    with Conn(port) as c:
        return c.request("GET", path, headers)


class E2E(unittest.TestCase):
    """Base class: tracks processes and stops them even when a test fails."""

    def setUp(self):
        self.backends = []
        self.lb = None

    def tearDown(self):
        code = None
        if self.lb is not None and self.lb.proc.returncode is None:
            log = self.lb.log()
            code = self.lb.stop()
        for b in self.backends:
            b.stop()
        # A clean SIGTERM exit is 0; a sanitizer report at exit (leak, UB) makes it non-zero.
        if code is not None:
            self.assertEqual(code, 0, "ringlb did not exit cleanly:\n" + log[-4000:])

    def start_backends(self, n, prefix="app-"):
        for i in range(1, n + 1):
            self.backends.append(Backend(f"{prefix}{i}"))
        return self.backends

    def start_lb(self, backends=None, **kwargs):
        self.lb = Ringlb(backends if backends is not None else self.backends, **kwargs)
        return self.lb

    def mapping(self, keys, header="X-User-Id", path="/"):
        """key -> backend id, over one keep-alive connection."""
        out = {}
        with Conn(self.lb.port) as c:
            for k in keys:
                r = c.request("GET", path, {header: k})
                self.assertEqual(r.status, 200, r.body)
                out[k] = r.backend
        return out
