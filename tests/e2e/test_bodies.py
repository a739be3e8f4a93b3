"""Bodies stream both ways with bounded buffers: Content-Length and chunked, large
uploads without memory growth, Expect: 100-continue, HEAD."""
import threading
import time
import unittest

from harness import E2E, SANITIZED, Conn, rss_kib


class BodiesTest(E2E):
    def setUp(self):
        super().setUp()
        self.start_backends(2)
        self.start_lb(limits={"max_body_bytes": "4GiB"})

    def test_content_length_upload(self):
        body = bytes(range(256)) * 4000
        with Conn(self.lb.port) as c:
            for _ in range(3):   # keep-alive across uploads
                r = c.request("POST", "/", {"X-User-Id": "u"}, body=body)
                self.assertEqual(r.status, 200)
                self.assertEqual(int(r.header("x-body-bytes")), len(body))

    def test_chunked_upload_with_trailer(self):
        chunks = [b"a" * 10, b"b" * 70000, b"c" * 3]
        raw = b"".join(b"%x\r\n%s\r\n" % (len(x), x) for x in chunks) + b"0\r\nX-Trailer: t\r\n\r\n"
        with Conn(self.lb.port) as c:
            c.send(b"POST / HTTP/1.1\r\nHost: a\r\nX-User-Id: u\r\nTransfer-Encoding: chunked\r\n\r\n")
            for i in range(0, len(raw), 5000):   # arrives in pieces
                c.send(raw[i:i + 5000])
            r = c.read_response()
            self.assertEqual(r.status, 200)
            self.assertEqual(int(r.header("x-body-bytes")), sum(map(len, chunks)))
            # The connection is still usable: the chunked framing ended exactly.
            self.assertEqual(c.request("GET", "/", {"X-User-Id": "u"}).status, 200)

    def test_chunked_and_large_responses(self):
        with Conn(self.lb.port) as c:
            r = c.request("GET", "/chunked?n=50&size=1000", {"X-User-Id": "u"})
            self.assertEqual(r.header("transfer-encoding"), "chunked")
            self.assertEqual(r.body, b"c" * 50000)
            r = c.request("GET", "/big?bytes=%d" % (64 << 20), {"X-User-Id": "u"})
            self.assertEqual(len(r.body), 64 << 20)
            r = c.request("GET", "/eof", {"X-User-Id": "u"})   # body delimited by close
            self.assertTrue(r.body.endswith(b"\n"))
            self.assertEqual(r.header("connection"), "close")

    def test_head_has_no_body(self):
        with Conn(self.lb.port) as c:
            r = c.request("HEAD", "/", {"X-User-Id": "u"})
            self.assertEqual(r.status, 200)
            self.assertEqual(r.header("content-length"), str(len(r.backend) + 1))
            self.assertEqual(c.request("GET", "/", {"X-User-Id": "u"}).body, (r.backend + "\n").encode())

    def test_expect_100_continue(self):
        body = b"z" * 100000
        with Conn(self.lb.port) as c:
            c.send(b"PUT /up HTTP/1.1\r\nHost: a\r\nX-User-Id: u\r\nExpect: 100-continue\r\n"
                   b"Content-Length: %d\r\n\r\n" % len(body))
            interim = c.read_response()   # before any body byte was sent
            self.assertEqual(interim.status, 100)
            c.send(body)
            r = c.read_response()
            self.assertEqual(r.status, 200)
            self.assertEqual(int(r.header("x-body-bytes")), len(body))
        # Too large for the limit: answered 413 at once, no 100, no body needed.
        self.lb.kwargs["limits"] = {"max_body_bytes": 1000}
        self.lb.reload(self.backends)
        with Conn(self.lb.port) as c:
            c.send(b"PUT /up HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5000\r\n\r\n")
            self.assertEqual(c.read_response().status, 413)

    def test_large_upload_memory_stays_bounded(self):
        # 1 GiB through the proxy; a sanitizer build is ~10x slower, so it sends 256 MiB.
        total = (256 << 20) if SANITIZED else (1 << 30)
        block = b"u" * (1 << 20)
        samples = []
        done = threading.Event()

        def sample():
            while not done.is_set():
                samples.append(rss_kib(self.lb.proc.pid))
                time.sleep(0.05)

        base = rss_kib(self.lb.proc.pid)
        t = threading.Thread(target=sample)
        t.start()
        try:
            with Conn(self.lb.port, timeout=300) as c:
                c.send(b"POST /upload HTTP/1.1\r\nHost: a\r\nX-User-Id: big\r\nContent-Length: %d\r\n\r\n" % total)
                for _ in range(total // len(block)):
                    c.send(block)
                r = c.read_response()
        finally:
            done.set()
            t.join()
        self.assertEqual(r.status, 200)
        self.assertEqual(int(r.header("x-body-bytes")), total)
        peak = max(samples + [base])
        self.assertLess(peak - base, 64 * 1024, f"RSS grew from {base} KiB to {peak} KiB")


if __name__ == "__main__":
    unittest.main()
