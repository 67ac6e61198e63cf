"""`OtelExporter`: receipts out as OTLP/HTTP spans, off the hot path, never at a call's expense.

`export()` turns a finished receipt into spans and hands them to the SDK's BatchSpanProcessor, whose
worker thread sends them; it never blocks on the network and never raises. What cannot be delivered (a
full queue, a collector that is down or refuses, a receipt that cannot be read) is counted, not retried
forever: `exporter.failed` is that number, `exporter.stats()` the detail.

The SDK is imported only here, when the exporter is built, so `unhardcoded` imports without the extra.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from unhardcoded import __version__
from unhardcoded.errors import ConfigError
from unhardcoded.gateway.otel.spans import plan_spans

if TYPE_CHECKING:
    from unhardcoded.config import OtelConfig
    from unhardcoded.gateway.otel.pipeline import Pipeline

log = logging.getLogger("unhardcoded.otel")

TRACES_PATH = "/v1/traces"
EXTRA_MISSING = (
    "otel is configured but OpenTelemetry is not installed: pip install 'unhardcoded[otel]' "
    "(the otel extra: opentelemetry-sdk and opentelemetry-exporter-otlp-proto-http)"
)
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


@dataclass(frozen=True, slots=True)
class OtelStats:
    queued: int  # spans handed to the batch processor
    exported: int  # spans the collector accepted
    failed: int  # spans the collector did not accept (down, refused, timed out)
    dropped: int  # spans never queued: the queue was full, or the exporter was closed
    invalid: int  # receipts that could not be turned into spans (missing ids or times)


def traces_url(endpoint: str) -> str:
    """The OTLP/HTTP traces URL: `endpoint` as given when it ends in /v1/traces, else with it appended
    (so both a collector's base URL, `http://host:4318`, and a full signal URL work)."""
    url = endpoint.rstrip("/")
    return url if urlsplit(url).path.endswith(TRACES_PATH) else url + TRACES_PATH


def parse_headers(value: str, *, source: str) -> dict[str, str]:
    """`key=value,key2=value2` (the OTEL_EXPORTER_OTLP_HEADERS form, values percent-encoded). Errors name
    `source` and the position, never the value: it usually holds a token."""
    out: dict[str, str] = {}
    for i, item in enumerate(value.split(",")):
        if not item.strip():
            continue
        key, sep, val = item.partition("=")
        key = key.strip()
        if not sep or not _HEADER_NAME.match(key):
            raise ConfigError(
                f"otel.headers_env: ${source} item {i + 1} is not `name=value` "
                "(expected name=value[,name2=value2], values percent-encoded)",
                path="otel.headers_env",
            )
        out[key.lower()] = unquote(val.strip())
    return out


def _request_id(receipt: Any) -> Any:
    return receipt.get("request_id") if isinstance(receipt, Mapping) else None


class OtelExporter:
    """One per process. `export()` once per finished call; `await close()` on shutdown."""

    def __init__(
        self,
        config: OtelConfig,
        env: Mapping[str, str] | None = None,
        *,
        timeout_s: float = 10.0,
        schedule_delay_ms: float = 1000.0,
        max_queue_size: int = 16384,
        max_batch: int = 512,
        close_timeout_s: float = 5.0,
    ) -> None:
        env = os.environ if env is None else env
        headers: dict[str, str] = {}
        if config.headers_env:
            raw = env.get(config.headers_env)
            if raw is None:
                raise ConfigError(
                    f"otel.headers_env names ${config.headers_env}, which is not set",
                    path="otel.headers_env",
                )
            headers = parse_headers(raw, source=config.headers_env)
        try:
            from unhardcoded.gateway.otel import pipeline
        except ImportError as e:
            raise ConfigError(f"{EXTRA_MISSING}; missing module: {e.name}", path="otel") from None
        self.endpoint = traces_url(config.endpoint)
        self.max_queue_size = max_queue_size
        self.close_timeout_s = close_timeout_s
        self._pipeline: Pipeline = pipeline.build(
            self.endpoint,
            headers,
            config.service_name,
            version=__version__,
            timeout_s=timeout_s,
            schedule_delay_ms=schedule_delay_ms,
            max_queue_size=max_queue_size,
            max_batch=max_batch,
        )
        # Written by the caller's thread only; the worker thread writes the CountingExporter's counters.
        self._queued = 0
        self._dropped = 0
        self._invalid = 0
        self._closed = False

    def export(
        self,
        receipt: Mapping[str, Any],
        rejections: Mapping[str, int],
        *,
        candidates: int | None = None,
        passed: int | None = None,
    ) -> None:
        """Queue the spans of one finished call. `rejections`: candidates rejected per rule id;
        `candidates`/`passed`: the decision's counts (read from the receipt's `counts` when not given).
        Never blocks, never raises."""
        try:
            if receipt.get("status") == "started":
                return  # only a finished call has its attempts and outcome
            n = 1 + len(receipt.get("attempts") or ())
            # Checked here, before any work, rather than left to the SDK, whose full queue drops silently
            # (and logs per span); with a collector down for long, this is all a call pays.
            if self._closed or self._queued - self._pipeline.counter.handed + n > self.max_queue_size:
                self._dropped += n
                return
            self._queued += self._pipeline.emit(
                plan_spans(receipt, rejections, candidates=candidates, passed=passed)
            )
        except Exception as e:  # a receipt we cannot read costs its spans, never the call
            self._invalid += 1
            # Our own bug if it happens: say so once, loudly, then quietly (the counter keeps the tally).
            level = logging.DEBUG if self._invalid > 1 else logging.WARNING
            log.log(level, "receipt %r not exported as spans: %r", _request_id(receipt), e)

    @property
    def failed(self) -> int:
        """Spans that did not reach the collector and never will: dropped, refused, or unreadable."""
        s = self.stats()
        return s.failed + s.dropped + s.invalid

    def stats(self) -> OtelStats:
        c = self._pipeline.counter
        return OtelStats(
            queued=self._queued,
            exported=c.exported,
            failed=c.failed,
            dropped=self._dropped,
            invalid=self._invalid,
        )

    def flush(self) -> bool:
        """Blocking: send what is queued now. For tests and `close()`; not for the event loop."""
        return self._pipeline.flush()

    async def close(self) -> None:
        """Send what is queued, then stop the worker; in a thread, so the event loop keeps running. With a
        collector down this takes up to `close_timeout_s`; what is not sent by then counts as failed."""
        if self._closed:
            return
        self._closed = True
        await asyncio.to_thread(self._shutdown)

    def _shutdown(self) -> None:
        # The SDK's shutdown waits for the worker, which may sit in retries against a dead collector for
        # the export timeout per batch: stop the exporter after close_timeout_s, failing what is left.
        timer = threading.Timer(self.close_timeout_s, self._pipeline.counter.shutdown)
        timer.start()
        try:
            self._pipeline.shutdown()
        finally:
            timer.cancel()
        lost = self._queued - self._pipeline.counter.handed  # still queued after the shutdown timeout
        if lost > 0:
            self._dropped += lost
            self._queued -= lost
