"""A local OTLP/HTTP trace receiver: decodes the protobuf `ExportTraceServiceRequest` into plain spans.

For tests of the OpenTelemetry export and for a look by hand (needs the `otel` extra, which brings
`opentelemetry-proto`):

    python -m unhardcoded.testing.otlp_receiver --port 4318 [--quiet]   # prints one line per span received

`status` set to anything but 200 makes it refuse exports with that status (a collector in trouble).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import socket
import zlib
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

_KINDS = {
    Span.SPAN_KIND_UNSPECIFIED: "unspecified",
    Span.SPAN_KIND_INTERNAL: "internal",
    Span.SPAN_KIND_SERVER: "server",
    Span.SPAN_KIND_CLIENT: "client",
    Span.SPAN_KIND_PRODUCER: "producer",
    Span.SPAN_KIND_CONSUMER: "consumer",
}
_STATUS = {
    Status.STATUS_CODE_UNSET: "unset",
    Status.STATUS_CODE_OK: "ok",
    Status.STATUS_CODE_ERROR: "error",
}
_PROTOBUF = "application/x-protobuf"


@dataclass(frozen=True, slots=True)
class ReceivedEvent:
    name: str
    time_ns: int
    attributes: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ReceivedSpan:
    trace_id: str  # 32 hex
    span_id: str  # 16 hex
    parent_span_id: str | None
    name: str
    kind: str  # server | client | internal | ...
    start_ns: int
    end_ns: int
    attributes: dict[str, Any]
    events: list[ReceivedEvent]
    status: str  # unset | ok | error
    status_message: str
    resource: dict[str, Any]
    scope: str


def value(v: AnyValue) -> Any:
    """An OTLP AnyValue as a Python value (arrays as tuples)."""
    which = v.WhichOneof("value")
    if which == "array_value":
        return tuple(value(x) for x in v.array_value.values)
    if which == "kvlist_value":
        return attributes(v.kvlist_value.values)
    if which is None:
        return None
    return getattr(v, which)


def attributes(kvs: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    kv: KeyValue
    for kv in kvs:
        out[kv.key] = value(kv.value)
    return out


def decode(body: bytes) -> list[ReceivedSpan]:
    req = ExportTraceServiceRequest()
    req.ParseFromString(body)
    out: list[ReceivedSpan] = []
    for rs in req.resource_spans:
        resource = attributes(rs.resource.attributes)
        for ss in rs.scope_spans:
            for s in ss.spans:
                out.append(
                    ReceivedSpan(
                        trace_id=s.trace_id.hex(),
                        span_id=s.span_id.hex(),
                        parent_span_id=s.parent_span_id.hex() or None,
                        name=s.name,
                        kind=_KINDS.get(s.kind, str(s.kind)),
                        start_ns=s.start_time_unix_nano,
                        end_ns=s.end_time_unix_nano,
                        attributes=attributes(s.attributes),
                        events=[
                            ReceivedEvent(e.name, e.time_unix_nano, attributes(e.attributes))
                            for e in s.events
                        ],
                        status=_STATUS.get(s.status.code, str(s.status.code)),
                        status_message=s.status.message,
                        resource=resource,
                        scope=ss.scope.name,
                    )
                )
    return out


@dataclass(slots=True)
class OtlpReceiver:
    """Collects what arrives at POST /v1/traces. `start()` returns the traces URL."""

    status: int = 200  # answer every export with this status (not 200: refuse)
    spans: list[ReceivedSpan] = field(default_factory=list)
    requests: int = 0
    headers: list[dict[str, str]] = field(default_factory=list)  # of each request, lower-cased names
    on_span: Any = None  # called with each span received (the CLI prints them)
    url: str = ""  # the traces URL, once started
    _runner: web.AppRunner | None = None
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/traces", self._traces)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()
        bound = self._runner.addresses[0][1]
        self.url = f"http://{host}:{bound}/v1/traces"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def wait_for(self, n: int, timeout_s: float = 10.0) -> list[ReceivedSpan]:
        """Wait until at least `n` spans arrived; TimeoutError names how many did."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while len(self.spans) < n:
            left = deadline - loop.time()
            if left <= 0:
                raise TimeoutError(f"{len(self.spans)} spans arrived, expected {n}")
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), left)
            except TimeoutError:
                continue
        return self.spans

    async def _traces(self, request: web.Request) -> web.Response:
        self.requests += 1
        self.headers.append({k.lower(): v for k, v in request.headers.items()})
        if self.status != 200:
            return web.Response(status=self.status, text="refused (scripted)")
        if request.content_type != _PROTOBUF:
            return web.Response(status=415, text=f"expected {_PROTOBUF}")
        body = await request.read()
        encoding = request.headers.get("content-encoding", "")
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "deflate":
            body = zlib.decompress(body)
        try:
            spans = decode(body)
        except Exception as e:  # a malformed body is the exporter's bug: say so, as a collector would
            return web.Response(status=400, text=f"cannot decode ExportTraceServiceRequest: {e}")
        self.spans.extend(spans)
        if self.on_span is not None:
            for s in spans:
                self.on_span(s)
        self._arrived.set()
        return web.Response(body=ExportTraceServiceResponse().SerializeToString(), content_type=_PROTOBUF)


def closed_endpoint() -> str:
    """An `http://127.0.0.1:PORT` where nothing listens (connections are refused): a collector that is
    down."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _print(s: ReceivedSpan) -> None:
    parent = s.parent_span_id or "-"
    ms = (s.end_ns - s.start_ns) / 1e6
    print(f"{s.trace_id} {s.span_id} <- {parent} {s.kind:6} {ms:8.1f} ms {s.name} {s.status}", flush=True)


async def _serve(port: int, quiet: bool) -> None:
    receiver = OtlpReceiver(on_span=None if quiet else _print)
    url = await receiver.start(port=port)
    print(f"OTLP/HTTP receiver at {url}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await receiver.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=4318)
    parser.add_argument("--quiet", action="store_true", help="decode and count, print nothing per span")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.port, args.quiet))


if __name__ == "__main__":
    main()
