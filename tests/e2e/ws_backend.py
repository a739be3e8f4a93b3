#!/usr/bin/env python3
"""A WebSocket backend for the e2e tests (python3-websockets, asyncio), on a loopback port:

    ws_backend.py ID   ->  prints "PORT n", then serves until SIGTERM

Every handshake's 101 carries X-Backend: ID. On a connection it first sends "hello ID"
(bytes the backend sends right after its 101), then echoes every message prefixed with
"ID:". The path /refuse answers 403 instead of switching; a request without Upgrade (which
ringlb sends when the protocol is not allowed) gets websockets' own 426."""
import asyncio
import http
import logging
import signal
import sys

import websockets


async def main(backend_id):
    async def handler(ws):
        await ws.send(f"hello {backend_id}")
        async for message in ws:
            if isinstance(message, bytes):
                await ws.send(backend_id.encode() + b":" + message)
            else:
                await ws.send(f"{backend_id}:{message}")

    async def refuse(path, headers):
        if path.startswith("/refuse"):
            return http.HTTPStatus.FORBIDDEN, [("X-Backend", backend_id), ("Content-Type", "text/plain")], b"not here\n"
        return None

    stop = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set_result, None)
    async with websockets.serve(handler, "127.0.0.1", 0, extra_headers=[("X-Backend", backend_id)],
                                process_request=refuse, max_size=None, ping_interval=None) as server:
        port = server.sockets[0].getsockname()[1]
        print(f"PORT {port}", flush=True)
        await stop


if __name__ == "__main__":
    # A tunnel ringlb cuts (its idle timeout, a key that moved) is a test's intent, not news.
    logging.getLogger("websockets").setLevel(logging.CRITICAL)
    asyncio.run(main(sys.argv[1]))
