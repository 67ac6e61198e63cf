"""The floor on the gateway's own server: unhardcoded.http.h1 (httptools) with a wire.Router, pyreqwest.

Same work as the other floors (see floor_clients.py). Unlike floor_httptools.py this server has what
the gateway needs (limits, Expect: 100-continue, timeouts, flow control, graceful close), so the
distance between the two is what those cost.

    python bench/floor_h1.py --port 18005 --upstream http://127.0.0.1:18000 --client pyreqwest
"""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import AsyncIterator

from floor_clients import AiohttpUpstream, ReqwestUpstream, make_upstream, read_usage, wants_stream

from unhardcoded.http import listener
from unhardcoded.http.wire import Handler, Request, Response, Router

FORWARD = ("content-type", "authorization")


class Floor:
    def __init__(self, up: ReqwestUpstream | AiohttpUpstream) -> None:
        self.up = up

    async def chat(self, req: Request) -> Response | None:
        stream, err = wants_stream(req.body)
        if err:
            return Response.text(err, 400)
        headers = {h: v for h in FORWARD if (v := req.headers.get(h)) is not None}
        if stream:
            async with self.up.stream(req.path, req.body, headers) as (status, ctype, chunks):
                await req.sink.start({"content-type": ctype}, status)
                async for chunk in chunks:
                    await req.sink.write(chunk)
            return None
        status, ctype, data = await self.up.post(req.path, req.body, headers)
        read_usage(ctype, data)
        return Response(data, status, content_type=ctype)

    async def health(self, req: Request) -> Response:
        return Response.text("ok")


def app_factory(upstream: str, client: str) -> listener.AppFactory:
    @contextlib.asynccontextmanager
    async def app() -> AsyncIterator[Handler]:
        up = make_upstream(client, upstream)
        floor = Floor(up)
        router = Router()
        router.post("/v1/chat/completions", floor.chat)
        router.get("/health", floor.health)
        try:
            yield router
        finally:
            await up.close()

    return app


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=18005)
    parser.add_argument("--upstream", default=os.environ.get("BENCH_UPSTREAM", "http://127.0.0.1:18000"))
    parser.add_argument("--client", default="pyreqwest", choices=["pyreqwest", "aiohttp"])
    args = parser.parse_args()
    print(f"floor-h1 ({args.client}) pid {os.getpid()} on http://{args.host}:{args.port}", flush=True)
    listener.run(app_factory(args.upstream, args.client), args.host, args.port, reuse_port=False)


if __name__ == "__main__":
    main()
