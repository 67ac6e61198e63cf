"""A faster floor: granian (Rust HTTP server) with an RSGI callable.

Same work as the other floors (see floor_clients.py). granian imports the app by name in its
worker process, so the upstream and the client come in through the environment
(``FLOOR_UPSTREAM``, ``FLOOR_CLIENT``).

    python bench/floor_granian.py --port 18003 --upstream http://127.0.0.1:18000 --client pyreqwest
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from floor_clients import (
    FORWARD_HEADERS,
    AiohttpUpstream,
    ReqwestUpstream,
    make_upstream,
    read_usage,
    wants_stream,
)

TEXT = [("content-type", "text/plain")]


class FloorApp:
    def __init__(self) -> None:
        self.base = os.environ.get("FLOOR_UPSTREAM", "http://127.0.0.1:18000")
        self.kind = os.environ.get("FLOOR_CLIENT", "pyreqwest")
        self.up: ReqwestUpstream | AiohttpUpstream | None = None

    def __rsgi_init__(self, loop: Any) -> None:
        pass

    def __rsgi_del__(self, loop: Any) -> None:
        pass

    async def __rsgi__(self, scope: Any, proto: Any) -> None:
        if scope.path == "/health":
            proto.response_str(200, TEXT, "ok")
            return
        if self.up is None:
            self.up = make_upstream(self.kind, self.base)
        body = await proto()
        headers = {h: v for h in FORWARD_HEADERS if (v := scope.headers.get(h)) is not None}
        stream, err = wants_stream(body)
        if err:
            proto.response_str(400, TEXT, err)
            return
        if stream:
            async with self.up.stream(scope.path, body, headers) as (status, ctype, chunks):
                transport = proto.response_stream(status, [("content-type", ctype)])
                async for chunk in chunks:
                    await transport.send_bytes(chunk)
            return
        status, ctype, data = await self.up.post(scope.path, body, headers)
        read_usage(ctype, data)
        proto.response_bytes(status, [("content-type", ctype)], data)


app = FloorApp()


def main() -> None:
    from granian import Granian
    from granian.constants import Interfaces, Loops

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=18003)
    parser.add_argument("--upstream", default=os.environ.get("BENCH_UPSTREAM", "http://127.0.0.1:18000"))
    parser.add_argument("--client", default="pyreqwest", choices=["pyreqwest", "aiohttp"])
    args = parser.parse_args()
    os.environ["FLOOR_UPSTREAM"] = args.upstream
    os.environ["FLOOR_CLIENT"] = args.client
    print(f"floor-granian ({args.client}) pid {os.getpid()} on http://{args.host}:{args.port}", flush=True)
    Granian(
        "floor_granian:app",
        address=args.host,
        port=args.port,
        interface=Interfaces.RSGI,
        workers=1,
        runtime_threads=1,
        loop=Loops.uvloop,
        backlog=1024,
        log_level="warning",
        working_dir=Path(__file__).resolve().parent,
    ).serve()


if __name__ == "__main__":
    main()
