"""Helpers for ringlb's end-to-end tests: start the real binary and real backends on
loopback, talk HTTP/1.1 over raw sockets, and clean everything up.

Paths come from the environment (set by CMake): RINGLB_BIN, TEST_BACKEND_BIN.
No sleeps to wait for servers: everything polls for readiness with a deadline.
"""
import os
import signal
import socket
import struct
import subprocess
import tempfile
import threading
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


def toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k} = {toml_value(x)}" for k, x in v.items()) + "}"
    return f'"{v}"'


def render_config(port, backends, routing=None, timeouts=None, limits=None, health=None, states=None,
                  admin=None, membership=None, server_zone="", zones=None, access="off", workers=2,
                  server=None, rate_limit=None, tls=None):
    """A config for `serve`. `health` holds [health] keys; `states` maps a backend id to its
    operator state ("drain", "maintenance"); `admin` holds [admin] keys (without it the
    admin listener is off, so tests never contend for its default port); `membership` holds
    [membership] keys; `zones` maps a backend id to its zone; `server` holds further [server]
    keys; `rate_limit` holds [rate_limit] keys; `tls` holds [tls] keys."""
    lines = ["[server]", f'listen = "127.0.0.1:{port}"', f"workers = {workers}"]
    if server_zone:
        lines.append(f'zone = "{server_zone}"')
    for k, v in (server or {}).items():
        lines.append(f"{k} = {toml_value(v)}")
    if tls:
        lines.append("[tls]")
        for k, v in tls.items():
            lines.append(f"{k} = {toml_value(v)}")
    lines.append("[routing]")
    for k, v in (routing or {}).items():
        lines.append(f"{k} = {toml_value(v)}")
    lines.append("[timeouts]")
    for k, v in (timeouts or {}).items():
        lines.append(f'{k} = "{v}"')
    lines.append("[limits]")
    for k, v in (limits or {}).items():
        lines.append(f"{k} = {v}" if isinstance(v, int) else f'{k} = "{v}"')
    if health:
        lines.append("[health]")
        for k, v in health.items():
            lines.append(f"{k} = {toml_value(v)}")
    if rate_limit:
        lines.append("[rate_limit]")
        for k, v in rate_limit.items():
            lines.append(f"{k} = {toml_value(v)}")
    lines.append("[admin]")
    for k, v in (admin or {"listen": ""}).items():
        lines.append(f"{k} = {toml_value(v)}")
    if membership:
        lines.append("[membership]")
        for k, v in membership.items():
            lines.append(f"{k} = {toml_value(v)}")
    lines += ["[log]", f'access = "{access}"']
    for b in backends:
        bid, addr, weight = (b + (1,))[:3] if isinstance(b, tuple) else (b.id, b.address, 1)
        lines += ["[[backends]]", f'id = "{bid}"', f'address = "{addr}"', f"weight = {weight}"]
        if states and bid in states:
            lines.append(f'state = "{states[bid]}"')
        if zones and bid in zones:
            lines.append(f'zone = "{zones[bid]}"')
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

    def reload(self, backends=None, text=None, expect="reloaded", **overrides):
        """Rewrites the config (the backends and any render_config keyword given; the rest
        as at start) and sends SIGHUP; returns once the log says `expect`."""
        count = self.log().count(expect)
        if text is not None:
            with open(self.config_path, "w") as f:
                f.write(text)
        else:
            self.write_config(backends, **overrides)
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


def read_chunked(read_line, read_exact, take):
    """Reads a chunked body with a connection's line and exact-size readers, handing each
    chunk's data to `take`; the trailer section is read and dropped."""
    while True:
        size = int(read_line().split(b";")[0], 16)
        if size == 0:
            while read_line() != b"":
                pass
            return
        take(read_exact(size))
        read_exact(2)


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
            read_chunked(self._read_line, self._read_exact, take)
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


def metric(admin_port, name):
    """One sample of the admin listener's /metrics (the full name with labels), as an int."""
    with Conn(admin_port) as c:
        text = c.request("GET", "/metrics", host=f"127.0.0.1:{admin_port}").body.decode()
    for line in text.splitlines():
        if line.startswith(name + " "):
            return int(float(line.split()[1]))
    raise AssertionError(f"{name} is not in /metrics")


def get(port, path="/", headers=None):
    with Conn(port) as c:
        return c.request("GET", path, headers)


class Load:
    """Client threads sending keyed GETs over keep-alive connections until stopped; every
    answer is recorded as (time, key, status, backend)."""

    def __init__(self, port, keys, threads=3, path="/"):
        self.port, self.keys, self.path = port, keys, path
        self.stop_event = threading.Event()
        self.lock = threading.Lock()
        self.answers = []
        self.errors = []
        self.threads = [threading.Thread(target=self._run, args=(n,)) for n in range(threads)]
        for t in self.threads:
            t.start()
        wait_until(lambda: len(self.answers) > 100, what="load running")

    def _run(self, n):
        i = n * 97
        try:
            with Conn(self.port) as c:
                while not self.stop_event.is_set():
                    k = self.keys[i % len(self.keys)]
                    r = c.request("GET", self.path, {"X-User-Id": k})
                    with self.lock:
                        self.answers.append((time.monotonic(), k, r.status, r.backend))
                    i += 7
        except Exception as e:  # a dropped connection is a failure too
            with self.lock:
                self.errors.append(repr(e))

    def count(self):
        with self.lock:
            return len(self.answers)

    def stop(self):
        self.stop_event.set()
        for t in self.threads:
            t.join()
        return self.answers


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


# --- Hostile-lifecycle helpers (test_hostile_clients, test_hostile_backends, test_floods) ---

def reset(sock):
    """Closes a socket (or Conn) with an RST instead of a FIN: SO_LINGER on with a zero
    timeout, then close. Unread bytes and unsent ones are thrown away."""
    if isinstance(sock, Conn):
        sock = sock.sock
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


def connection_end(conn, timeout=5.0):
    """Reads a Conn (or socket) until the peer ends the connection: ("eof", data) for a FIN,
    ("reset", data) for an RST, ("open", data) if it is still open after `timeout`; data is
    what arrived meanwhile (a Conn's unread buffer first)."""
    sock = conn.sock if isinstance(conn, Conn) else conn
    data = b""
    if isinstance(conn, Conn):
        data, conn.buf = conn.buf, b""
    deadline = time.monotonic() + timeout
    saved = sock.gettimeout()
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return "open", data
            sock.settimeout(left)
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                return "open", data
            except ConnectionResetError:
                return "reset", data
            if not chunk:
                return "eof", data
            data += chunk
    finally:
        sock.settimeout(saved)


def _proc_socket_inodes(pid):
    inodes = set()
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return inodes
    for fd in fds:
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(int(link[8:-1]))
    return inodes


def tcp_connections(pid):
    """The IPv4 TCP sockets process `pid` holds open, as (local_port, remote_port) pairs:
    /proc/net/tcp matched against the process's descriptors by inode, so a connection the
    process has closed (an orphan in FIN_WAIT or TIME_WAIT, inode 0) is not counted.
    Listeners have remote port 0."""
    held = _proc_socket_inodes(pid)
    out = []
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            inode = int(fields[9])
            if inode == 0 or inode not in held:
                continue
            out.append((int(fields[1].split(":")[1], 16), int(fields[2].split(":")[1], 16)))
    return out


def _tcp_inodes():
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    inodes.add(int(line.split()[9]))
        except OSError:
            pass
    return inodes


def dead_sockets(pid):
    """How many sockets process `pid` holds whose TCP connection is already over: reset, or
    in state CLOSE, which /proc/net/tcp no longer lists although the descriptor is still
    open. A connection the peer reset stays one of these until the process closes it."""
    return len(_proc_socket_inodes(pid) - _tcp_inodes())


def released(lb, client_port):
    """Whether ringlb has closed its side of the connection from `client_port`: it holds no
    such connection, and no socket whose connection is already gone (a reset one)."""
    return not holds_connection(lb.proc.pid, lb.port, client_port) and dead_sockets(lb.proc.pid) == 0


def holds_connection(pid, local_port, remote_port):
    """Whether process `pid` still holds the connection between its `local_port` and the
    peer's `remote_port` (ringlb's side of one client connection: its listen port and the
    client's ephemeral port)."""
    return (local_port, remote_port) in tcp_connections(pid)


def client_connections(lb):
    """How many client connections ringlb holds open (accepted sockets on its port)."""
    return sum(1 for local, remote in tcp_connections(lb.proc.pid) if local == lb.port and remote != 0)


def keys_routed_to(lb, backend_id, count=1, prefix="key-"):
    """`count` keys that `ringlb map` places on `backend_id` under lb's config (the owner,
    which serve picks while that backend is up)."""
    candidates = "".join(f"{prefix}{i}\n" for i in range(20 * count + 200))
    out = subprocess.run([RINGLB_BIN, "map", "-c", lb.config_path], input=candidates, capture_output=True,
                         text=True, timeout=30, check=True).stdout
    keys = [k for k, _, b in (line.partition("\t") for line in out.splitlines()) if b == backend_id]
    if len(keys) < count:
        raise AssertionError(f"only {len(keys)} of the candidate keys map to {backend_id}")
    return keys[:count]


def assert_alive_and_serving(test, lb, key="alive-check", expect_backend=None, timeout=10.0):
    """ringlb's process is still running and answers a normal request on a fresh connection
    with a genuine 200 (the body is the id of the backend that X-Backend-Id names)."""
    test.assertIsNone(lb.proc.poll(), "ringlb died:\n" + lb.log()[-4000:])
    with Conn(lb.port, timeout=timeout) as c:
        r = c.request("GET", "/", {"X-User-Id": key})
    test.assertEqual(r.status, 200, r.raw_head)
    test.assertIsNotNone(r.backend, r.raw_head)
    test.assertEqual(r.body, (r.backend + "\n").encode(), r.raw_head)
    if expect_backend is not None:
        test.assertEqual(r.backend, expect_backend)
    test.assertIsNone(lb.proc.poll(), "ringlb died:\n" + lb.log()[-4000:])
    return r


def ok_response(backend_id, close=True):
    """A complete, normal response naming the backend, as test_backend sends it."""
    body = backend_id.encode() + b"\n"
    return (b"HTTP/1.1 200 OK\r\nX-Backend-Id: " + backend_id.encode() + b"\r\nContent-Length: %d\r\n" % len(body)
            + (b"Connection: close\r\n" if close else b"") + b"\r\n" + body)


class ScriptedConnection:
    """One connection a ScriptedBackend accepted, as its script drives it. Every operation is
    bounded by the socket's timeout; a peer that closes or resets ends reads with b""."""

    def __init__(self, backend, sock, number):
        self.backend, self.sock, self.number = backend, sock, number
        self.buf = b""
        self.heads = []          # request heads read, each through its blank line
        self.bodies = []         # the body bytes read by read_request, per request
        self.sent = 0            # bytes this side sent
        self.received = 0        # bytes this side read
        self.peer_closed_at = None   # time.monotonic() when the peer's FIN or RST was seen
        self.error = None        # an exception the script raised
        self.done = threading.Event()
        self.closed = False

    # reading
    def _recv(self, n=65536):
        try:
            chunk = self.sock.recv(n)
        except ConnectionResetError:
            chunk = b""
        if not chunk and self.peer_closed_at is None:
            self.peer_closed_at = time.monotonic()
        self.received += len(chunk)
        return chunk

    def read_head(self, limit=1 << 20):
        """One request head; None when the peer closes first."""
        while b"\r\n\r\n" not in self.buf:
            if len(self.buf) > limit:
                raise ValueError("no end of head in %d bytes" % len(self.buf))
            chunk = self._recv()
            if not chunk:
                return None
            self.buf += chunk
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        head += b"\r\n\r\n"
        self.heads.append(head)
        return head

    def _read_exact(self, n):
        while len(self.buf) < n:
            chunk = self._recv()
            if not chunk:
                raise EOFError("peer closed mid-body")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _read_line(self):
        while b"\r\n" not in self.buf:
            if len(self.buf) > 1 << 16:
                raise ValueError("no end of line in %d bytes" % len(self.buf))
            chunk = self._recv()
            if not chunk:
                raise EOFError("peer closed mid-body")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def read_request(self):
        """One request, head and body (Content-Length or chunked); None when the peer closes
        before a head."""
        head = self.read_head()
        if head is None:
            return None
        lower = head.lower()
        body = b""
        if b"\r\ntransfer-encoding:" in lower and b"chunked" in lower:
            chunks = []
            read_chunked(self._read_line, self._read_exact, chunks.append)
            body = b"".join(chunks)
        else:
            for line in lower.split(b"\r\n"):
                if line.startswith(b"content-length:"):
                    body = self._read_exact(int(line.split(b":", 1)[1]))
        self.bodies.append(body)
        return head

    def wait_closed(self, timeout=10.0):
        """Reads (and drops) everything until the peer closes or resets, at most `timeout`
        seconds: True if it closed. Staying silent until the proxy gives up looks like this."""
        deadline = time.monotonic() + timeout
        self.buf = b""
        try:
            while self.peer_closed_at is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.sock.settimeout(left)
                try:
                    self._recv()
                except socket.timeout:
                    return False
            return True
        finally:
            self.sock.settimeout(self.backend.timeout)

    # writing
    def send(self, data):
        self.sock.sendall(data)
        self.sent += len(data)

    def drip(self, data, interval):
        """Sends `data` one byte at a time, `interval` seconds apart."""
        for i in range(len(data)):
            self.send(data[i:i + 1])
            if i + 1 < len(data):
                time.sleep(interval)

    @staticmethod
    def pause(seconds):
        time.sleep(seconds)

    # ending
    def half_close(self):
        self.sock.shutdown(socket.SHUT_WR)

    def reset(self):
        reset(self.sock)
        self.closed = True

    def close(self):
        self.sock.close()
        self.closed = True

    def serve(self, keep_alive=False):
        """Answers requests like a normal backend (body = its id) until the peer closes;
        with keep_alive False, one answer with Connection: close."""
        while self.read_request() is not None:
            self.send(ok_response(self.backend.id, close=not keep_alive))
            if not keep_alive:
                return


def script(*steps):
    """A ScriptedBackend script from steps, each a tuple (method of ScriptedConnection,
    *arguments): script(("read_head",), ("send", b"HTTP/1.1 ..."), ("close",))."""
    def run(conn):
        for name, *args in steps:
            getattr(conn, name)(*args)
    return run


class ScriptedBackend:
    """A backend that does exactly what a test scripts: a real TCP server on 127.0.0.1 in a
    thread of the test process. Each accepted connection runs the next queued script (a
    callable taking a ScriptedConnection, see script()); with none queued, it answers one
    request normally (200, body = its id, Connection: close) and closes. When a script
    returns, its connection is closed if it still is open. Every socket has a timeout."""

    def __init__(self, backend_id="scripted", timeout=10.0, keep_alive=False):
        self.id = backend_id
        self.timeout = timeout
        self.keep_alive = keep_alive
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(1024)
        self.listener.settimeout(0.1)
        self.port = self.listener.getsockname()[1]
        self.scripts = []
        self.connections = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = []
        self.acceptor = threading.Thread(target=self._accept_loop, daemon=True)
        self.acceptor.start()

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def queue(self, *scripts):
        """Scripts for the next connections, one each, in accept order."""
        with self.lock:
            self.scripts.extend(scripts)

    def accepted(self):
        with self.lock:
            return len(self.connections)

    def connection(self, i, timeout=10.0):
        """The i-th accepted connection (0-based), waiting for it."""
        wait_until(lambda: self.accepted() > i, timeout=timeout, what=f"connection {i} to {self.id}")
        with self.lock:
            return self.connections[i]

    def _accept_loop(self):
        while not self.stopping.is_set():
            try:
                sock, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            sock.settimeout(self.timeout)
            with self.lock:
                conn = ScriptedConnection(self, sock, len(self.connections))
                self.connections.append(conn)
                run = self.scripts.pop(0) if self.scripts else (lambda c: c.serve(self.keep_alive))
            t = threading.Thread(target=self._run, args=(run, conn), daemon=True)
            self.threads.append(t)
            t.start()

    def _run(self, run, conn):
        try:
            run(conn)
        except Exception as e:  # recorded for the test; the connection just ends
            conn.error = e
        finally:
            if not conn.closed:
                try:
                    conn.sock.close()
                except OSError:
                    pass
                conn.closed = True
            conn.done.set()

    def stop(self):
        self.stopping.set()
        self.listener.close()
        with self.lock:
            conns = list(self.connections)
        for c in conns:   # wakes any blocked recv or send
            try:
                c.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.acceptor.join(timeout=5)
        for t in self.threads:
            t.join(timeout=5)


class HostileE2E(E2E):
    """E2E whose processes and scripted backends are stopped even when setUp fails halfway
    (unittest then skips tearDown): nothing started by a failed test outlives it."""

    def setUp(self):
        super().setUp()
        self.addCleanup(self._stop_leftovers)

    def _stop_leftovers(self):
        if self.lb is not None and self.lb.proc.poll() is None:
            self.lb.stop()
        for b in self.backends:
            b.stop()
