"""Packaging: CPack builds the .deb from this build tree, with the binary, the systemd unit,
the config (a conffile) and the docs, and the dependencies dpkg-shlibdeps found; systemd
accepts the unit; and the installed binary, run from a staging root with the packaged
config (ports and paths moved to the test's), validates it, serves, and speaks systemd's
notify protocol (READY, RELOADING, STOPPING)."""
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

from harness import E2E, Conn, free_port, port_open, wait_until

BUILD_DIR = os.environ.get("RINGLB_BUILD_DIR", "")
HAVE_TOOLS = all(shutil.which(t) for t in ("cpack", "dpkg-deb"))


@unittest.skipUnless(BUILD_DIR and HAVE_TOOLS, "needs RINGLB_BUILD_DIR (set by CTest), cpack and dpkg-deb")
class PackageTest(E2E):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="ringlb-pkg-")
        out = os.path.join(cls.tmp.name, "out")
        r = subprocess.run(["cpack", "-G", "DEB", "-B", out, "--config", os.path.join(BUILD_DIR, "CPackConfig.cmake")],
                           capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            raise AssertionError("cpack failed:\n" + r.stdout + r.stderr)
        debs = [f for f in os.listdir(out) if f.endswith(".deb")]
        assert len(debs) == 1, debs
        cls.deb = os.path.join(out, debs[0])
        # Installed by dpkg itself into a staging root with a dpkg database of its own (the
        # libraries it depends on are this machine's, not the root's: --force-depends).
        cls.stage = os.path.join(cls.tmp.name, "stage")
        for d in ("var/lib/dpkg/info", "var/lib/dpkg/updates"):
            os.makedirs(os.path.join(cls.stage, d))
        open(os.path.join(cls.stage, "var/lib/dpkg/status"), "w").close()
        cls.dpkg_env = dict(os.environ, PATH=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
        cls.dpkg(["-i", cls.deb])

    @classmethod
    def dpkg(cls, args):
        r = subprocess.run(["dpkg", f"--root={cls.stage}", "--force-depends", "--force-not-root", *args],
                           capture_output=True, text=True, env=cls.dpkg_env, timeout=120)
        if r.returncode != 0:
            raise AssertionError(f"dpkg {' '.join(args)} failed:\n{r.stdout}{r.stderr}")
        return r.stdout

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_the_package_holds_the_service_and_says_what_it_needs(self):
        listing = subprocess.run(["dpkg-deb", "-c", self.deb], capture_output=True, text=True, check=True).stdout
        paths = {line.split()[-1].lstrip(".") for line in listing.splitlines()}
        for path in ("/usr/bin/ringlb", "/usr/lib/systemd/system/ringlb.service", "/etc/ringlb/ringlb.toml",
                     "/usr/share/doc/ringlb/README.md", "/usr/share/doc/ringlb/ADMIN.md",
                     "/usr/share/doc/ringlb/OPERATIONS.md"):
            self.assertIn(path, paths)
        self.assertFalse(any("/include/" in p or p.endswith(".a") for p in paths),
                         "the chash library and headers are not part of the service's package")
        fields = subprocess.run(["dpkg-deb", "-f", self.deb], capture_output=True, text=True, check=True).stdout
        self.assertRegex(fields, r"(?m)^Package: ringlb$")
        self.assertRegex(fields, r"(?m)^Version: \d+\.\d+\.\d+$")
        depends = re.search(r"(?m)^Depends: (.*)$", fields).group(1)
        for lib in ("libc6", "libstdc++6", "libssl3"):
            self.assertIn(lib, depends)
        control = os.path.join(self.tmp.name, "control")
        subprocess.run(["dpkg-deb", "-e", self.deb, control], check=True)
        with open(os.path.join(control, "conffiles")) as f:
            self.assertEqual(f.read().split(), ["/etc/ringlb/ringlb.toml"])
        self.assertIn("Status: install ok installed", self.dpkg(["-s", "ringlb"]))

    def test_an_upgrade_keeps_the_operators_config(self):
        config = os.path.join(self.stage, "etc/ringlb/ringlb.toml")
        with open(config) as f:
            original = f.read()
        try:
            with open(config, "a") as f:
                f.write("# edited by the operator\n")
            self.dpkg(["--force-confold", "-i", self.deb])
            with open(config) as f:
                self.assertTrue(f.read().endswith("# edited by the operator\n"))
            self.assertIn("Status: install ok installed", self.dpkg(["-s", "ringlb"]))
        finally:
            with open(config, "w") as f:
                f.write(original)

    @unittest.skipUnless(shutil.which("systemd-analyze"), "needs systemd-analyze")
    def test_systemd_accepts_the_unit(self):
        with open(os.path.join(self.stage, "usr/lib/systemd/system/ringlb.service")) as f:
            unit = f.read()
        self.assertIn("Type=notify", unit)
        self.assertIn("DynamicUser=yes", unit)
        self.assertIn("ExecReload=/bin/kill -HUP $MAINPID", unit)
        # Verified with its commands pointed at the staged binary (the real path does not
        # exist here): any unknown key or bad value is printed.
        d = os.path.join(self.tmp.name, "unit")
        os.makedirs(d, exist_ok=True)
        path = os.path.join(d, "ringlb.service")
        with open(path, "w") as f:
            f.write(unit.replace("/usr/bin/ringlb", os.path.join(self.stage, "usr/bin/ringlb")))
        r = subprocess.run(["systemd-analyze", "verify", "--man=no", path], capture_output=True, text=True)
        self.assertEqual((r.returncode, r.stdout + r.stderr), (0, ""))

    def test_the_installed_binary_serves_with_the_packaged_config_and_notifies_systemd(self):
        binary = os.path.join(self.stage, "usr/bin/ringlb")
        packaged = os.path.join(self.stage, "etc/ringlb/ringlb.toml")
        r = subprocess.run([binary, "check", "-c", packaged], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("ok (3 backends", r.stdout)

        # The packaged config, its ports, backends and state file moved to the test's.
        self.start_backends(3)
        with open(packaged) as f:
            text = f.read()
        port, admin = free_port(), free_port()
        state = os.path.join(self.tmp.name, "state.json")
        text = text.replace('listen = "127.0.0.1:8080"', f'listen = "127.0.0.1:{port}"')
        text = text.replace('listen = "127.0.0.1:9901"', f'listen = "127.0.0.1:{admin}"')
        text = text.replace('"/var/lib/ringlb/state.json"', f'"{state}"')
        text = text.replace('access = "stdout"', 'access = "off"')
        for i, b in enumerate(self.backends, start=1):
            text = text.replace(f'address = "127.0.0.1:910{i}"', f'address = "{b.address}"')
        cfg = os.path.join(self.tmp.name, "ringlb.toml")
        with open(cfg, "w") as f:
            f.write(text)

        notify_path = os.path.join(self.tmp.name, "notify")
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(notify_path)
        notify.settimeout(20)
        self.addCleanup(notify.close)
        proc = subprocess.Popen([binary, "serve", "-c", cfg], env=dict(os.environ, NOTIFY_SOCKET=notify_path),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

        def stop():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stderr.close()

        self.addCleanup(stop)
        ready = notify.recv(4096).decode()
        self.assertIn("READY=1", ready)
        self.assertTrue(port_open(port), "READY came before the listener was open")
        with Conn(port) as c:
            r = c.request("GET", "/", {"X-User-Id": "alice"})
            self.assertEqual(r.status, 200)
            self.assertIn(r.backend, {"app-1", "app-2", "app-3"})
        self.assertTrue(port_open(admin))

        proc.send_signal(signal.SIGHUP)
        self.assertIn("RELOADING=1", notify.recv(4096).decode())
        self.assertIn("READY=1", notify.recv(4096).decode())
        proc.send_signal(signal.SIGTERM)
        self.assertIn("STOPPING=1", notify.recv(4096).decode())
        self.assertEqual(proc.wait(timeout=30), 0)


if __name__ == "__main__":
    unittest.main()
