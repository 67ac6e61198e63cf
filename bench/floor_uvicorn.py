"""A faster floor: uvicorn's httptools protocol serving a bare ASGI callable (no framework).

Same work as the other floors (see floor_clients.py): parse the JSON body, forward it through one
pooled client (``--client pyreqwest`` or ``aiohttp``), read ``usage`` from a complete answer, relay
an SSE answer chunk by chunk.

    python bench/floor_uvicorn.py --port 18002 --upstream http://127.0.0.1:18000 --client pyreqwest
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from floor_clients import (
    FORWARD_HEADERS,
    AiohttpUpstream,
    ReqwestUpstream,
    make_upstream,
    read_usage,
    wants_stream,
)

Scope = dict[str, Any]
FWD = tuple(h.encode() for h in FORWARD_HEADERS)
TEXT = [(b"content-type", b"text/plain")]


class FloorApp:
    def __init__(self, upstream: str, client: str) -> None:
        self.base = upstream
        self.kind = client
        self.up: ReqwestUpstream | AiohttpUpstream | None = None

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] == "/health":
            await send({"type": "http.response.start", "status": 200, "headers": TEXT})
            await send({"type": "http.response.body", "body": b"ok"})
            return
        if self.up is None:
            self.up = make_upstream(self.kind, self.base)
        body = b""
        while True:
            msg = await receive()
            body += msg.get("body", b"")
            if not msg.get("more_body"):
                break
        headers = {k.decode(): v.decode() for k, v in scope["headers"] if k in FWD}
        stream, err = wants_stream(body)
        if err:
            await send({"type": "http.response.start", "status": 400, "headers": TEXT})
            await send({"type": "http.response.body", "body": err.encode()})
            return
        path = scope["path"]
        if stream:
            async with self.up.stream(path, body, headers) as (status, ctype, chunks):
                await send(
                    {
                        "type": "http.response.start",
                        "status": status,
                        "headers": [(b"content-type", ctype.encode())],
                    }
                )
                async for chunk in chunks:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                await send({"type": "http.response.body", "body": b""})
            return
        status, ctype, data = await self.up.post(path, body, headers)
        read_usage(ctype, data)
        await send(
            {"type": "http.response.start", "status": status, "headers": [(b"content-type", ctype.encode())]}
        )
        await send({"type": "http.response.body", "body": data})


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=18002)
    parser.add_argument("--upstream", default=os.environ.get("BENCH_UPSTREAM", "http://127.0.0.1:18000"))
    parser.add_argument("--client", default="pyreqwest", choices=["pyreqwest", "aiohttp"])
    args = parser.parse_args()
    config = uvicorn.Config(
        FloorApp(args.upstream, args.client),
        host=args.host,
        port=args.port,
        http="httptools",
        loop="uvloop",
        lifespan="off",
        access_log=False,
        log_level="warning",
        backlog=1024,
    )
    print(f"floor-uvicorn ({args.client}) pid {os.getpid()} on http://{args.host}:{args.port}", flush=True)
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
