"""The dashboard in a real browser: Debian's Chromium, headless, driven over the DevTools
protocol (python3-websockets), against a running ringlb with four backends. Every backend
is drawn on the ring and listed; a drain made through the API shows within seconds; the
page's own ready button, with the token pasted on the page, brings it back; a screenshot
is taken (RINGLB_SCREENSHOT=path keeps it, for the docs)."""
import asyncio
import base64
import json
import os
import re
import queue
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.request

from harness import E2E, Conn, free_port, port_open, wait_until

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
KEYS = [f"user-{i}" for i in range(200)]


def group_alive(pgid, seconds):
    """Whether a process of group pgid is still there after waiting up to seconds."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        time.sleep(0.05)
    return True


class Browser:
    """Headless Chromium with a DevTools websocket to one page."""

    def __init__(self):
        self.ws = None
        self.loop = None
        self.profile = tempfile.TemporaryDirectory(prefix="ringlb-chromium-", ignore_cleanup_errors=True)
        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-dev-shm-usage", f"--user-data-dir={self.profile.name}", "--remote-debugging-port=0",
             "--window-size=1400,900", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            start_new_session=True)  # its helpers share the group, so close() reaps them all
        # Chromium writes to stderr all along: a thread keeps reading so it never blocks on a
        # full pipe, and hands over the line that names the DevTools port.
        found = queue.Queue()

        def drain():
            for line in self.proc.stderr:
                m = re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", line)
                if m:
                    found.put(int(m.group(1)))
            found.put(None)

        self.reader = threading.Thread(target=drain, daemon=True)
        self.reader.start()
        try:
            self.port = found.get(timeout=60)
        except queue.Empty:
            self.port = None
        if self.port is None:
            self.close()
            raise RuntimeError("chromium did not start its DevTools endpoint")
        pages = json.load(urllib.request.urlopen(f"http://127.0.0.1:{self.port}/json/list", timeout=10))
        self.ws_url = next(p["webSocketDebuggerUrl"] for p in pages if p["type"] == "page")
        self.loop = asyncio.new_event_loop()
        self.next_id = 0

    async def _connect(self):
        import websockets
        self.ws = await websockets.connect(self.ws_url, max_size=None)

    def send(self, method, **params):
        """One DevTools command; its result (events in between are skipped)."""
        async def go():
            if self.ws is None:
                await self._connect()
            self.next_id += 1
            my_id = self.next_id
            await self.ws.send(json.dumps({"id": my_id, "method": method, "params": params}))
            while True:
                msg = json.loads(await asyncio.wait_for(self.ws.recv(), timeout=30))
                if msg.get("id") == my_id:
                    if "error" in msg:
                        raise RuntimeError(f"{method}: {msg['error']}")
                    return msg["result"]
        return self.loop.run_until_complete(go())

    def js(self, expression):
        r = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            raise RuntimeError(f"{expression}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def close(self):
        if self.ws is not None:
            self.loop.run_until_complete(self.ws.close())
        if self.loop is not None:
            self.loop.close()
        # The whole process group: the browser's renderer, GPU and crashpad helpers keep
        # writing into the profile after the main process is gone otherwise.
        for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                continue
            if not group_alive(self.proc.pid, wait):
                break
        self.proc.wait()
        self.reader.join(timeout=10)
        self.proc.stderr.close()
        shutil.rmtree(self.profile.name, ignore_errors=True)
        self.profile.cleanup()


@unittest.skipIf(CHROMIUM is None, "chromium is not installed (scripts/install-deps installs it)")
class DashboardTest(E2E):
    def test_the_dashboard_draws_every_backend_and_follows_a_drain(self):
        self.start_backends(4)
        tmp = tempfile.TemporaryDirectory(prefix="ringlb-dash-")
        self.addCleanup(tmp.cleanup)
        token = "dashboard-test-" + os.urandom(12).hex()
        tokens = os.path.join(tmp.name, "tokens")
        with open(tokens, "w") as f:
            f.write(f"write {token}\n")
        os.chmod(tokens, 0o600)
        admin = free_port()
        self.start_lb(routing={"balance_factor": 0},
                      admin={"listen": f"127.0.0.1:{admin}", "tokens": tokens})
        wait_until(lambda: port_open(admin), what="the admin listener")
        # Some traffic, so rates and shares are not all zero.
        self.mapping(KEYS)

        browser = Browser()
        self.addCleanup(browser.close)
        browser.send("Page.enable")
        browser.send("Page.navigate", url=f"http://127.0.0.1:{admin}/")
        wait_until(lambda: browser.js("document.readyState") == "complete", timeout=30, what="the page to load")
        # The token, as a user pastes it.
        browser.js(f"""(() => {{ const t = document.getElementById('token'); t.value = {json.dumps(token)};
                          t.dispatchEvent(new Event('change')); return true; }})()""")
        wait_until(lambda: browser.js("document.body.getAttribute('data-ready')") == "1", timeout=30,
                   what="the dashboard's first refresh")

        drawn = browser.js("[...new Set([...document.querySelectorAll('#ring-svg path[data-backend]')]"
                           ".map(p => p.getAttribute('data-backend')))].sort()")
        self.assertEqual(drawn, ["app-1", "app-2", "app-3", "app-4"])
        arcs = browser.js("document.querySelectorAll('#ring-svg path').length")
        self.assertGreater(arcs, 4, "a ring of many arcs, not four slices")
        rows = browser.js("[...document.querySelectorAll('#backends tbody tr')].map(r => r.dataset.backend)")
        self.assertEqual(rows, ["app-1", "app-2", "app-3", "app-4"])

        def mode(backend):
            return browser.js(f"(document.querySelector('#backends tr[data-backend=\"{backend}\"] td.mode')"
                              f" || {{}}).textContent")

        # A lookup through the page's box.
        browser.js("""(() => { document.getElementById('lookup-key').value = 'alice';
                        document.getElementById('lookup-form').requestSubmit(); return true; })()""")
        wait_until(lambda: "alice" in (browser.js("document.getElementById('lookup-out').textContent") or ""),
                   timeout=5, what="the lookup answer")
        owner = self.mapping(["alice"])["alice"]
        self.assertIn(f"→ {owner}", browser.js("document.getElementById('lookup-out').textContent"))

        self.assertEqual(mode("app-2"), "up")
        # A drain made through the API shows within a few seconds.
        t0 = time.monotonic()
        with Conn(admin) as c:
            r = c.request("POST", "/v1/backends/app-2/drain",
                          {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}, b"{}",
                          host=f"127.0.0.1:{admin}")
            self.assertEqual(r.status, 200, r.body)
        wait_until(lambda: mode("app-2") == "draining", timeout=5, what="the drain on the dashboard")
        shown_after = time.monotonic() - t0
        events = browser.js("document.getElementById('events').textContent")
        self.assertIn("app-2: up -> draining", events)

        # The page as it stands, with app-2 draining (faded on the ring).
        shot = base64.b64decode(browser.send("Page.captureScreenshot", format="png")["data"])
        self.assertTrue(shot.startswith(b"\x89PNG\r\n\x1a\n"))
        self.assertGreater(len(shot), 20_000, "a screenshot of a drawn page, not a blank one")
        keep = os.environ.get("RINGLB_SCREENSHOT")
        if keep:
            with open(keep, "wb") as f:
                f.write(shot)
        # The page's own button, with the pasted token, makes it ready again.
        browser.js("""[...document.querySelectorAll('#backends tr[data-backend="app-2"] button')]
                        .find(b => b.textContent === 'ready').click()""")
        wait_until(lambda: mode("app-2") == "up", timeout=5, what="the ready button to take effect")
        self.assertEqual(set(self.mapping(KEYS).values()), {"app-1", "app-2", "app-3", "app-4"})

        print(f"\n  drain visible on the dashboard {shown_after * 1000:.0f} ms after the API call; "
              f"screenshot {len(shot)} bytes")


if __name__ == "__main__":
    unittest.main()
