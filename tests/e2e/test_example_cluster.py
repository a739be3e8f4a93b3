"""examples/cluster/run --check: the one-command local cluster (3 etcd members, 3 ringlb
instances sharing their membership) starts, reports that every instance routes alike and
agrees, sees a drain made through one instance on all of them within 2 s, and leaves no
process and no file behind."""
import os
import re
import shutil
import signal
import subprocess
import tempfile
import unittest

from etcd_cluster import ETCD
from harness import RINGLB_BIN

RUN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples", "cluster", "run")


def processes_mentioning(text):
    """Pids of the processes whose command line holds `text`."""
    pids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if text.encode() in f.read():
                    pids.append(int(pid))
        except OSError:
            pass  # it exited meanwhile
    return pids


@unittest.skipIf(ETCD is None, "etcd is not installed (scripts/install-deps installs etcd-server)")
class ExampleClusterTest(unittest.TestCase):
    def test_check_passes_and_cleans_up(self):
        tmp = tempfile.TemporaryDirectory(prefix="ringlb-example-")
        self.addCleanup(tmp.cleanup)
        # The script makes its directory under TMPDIR: this one must be empty afterwards.
        env = dict(os.environ, RINGLB_BIN=shutil.which(RINGLB_BIN) or RINGLB_BIN, TMPDIR=tmp.name)
        proc = subprocess.Popen([RUN, "--check"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=env)
        try:
            out, err = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGTERM)  # lets it stop what it started (bounded)
            try:
                out, err = proc.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                out, err = proc.communicate()
            self.fail(f"--check did not finish in 120 s:\n{out}\n{err}")
        print("\n" + out.rstrip())
        self.assertEqual(proc.returncode, 0, f"--check failed:\n{out}\n{err}")
        self.assertIn("agree: true", out)
        self.assertIn("check passed", out)
        m = re.search(r"convergence: (\d+) ms", out)
        self.assertIsNotNone(m, out)
        self.assertLess(int(m.group(1)), 2000)
        self.assertEqual(processes_mentioning(tmp.name), [], "etcd or ringlb left running")
        self.assertEqual(os.listdir(tmp.name), [], "its temporary directory was left behind")


if __name__ == "__main__":
    unittest.main()
