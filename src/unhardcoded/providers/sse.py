"""Incremental Server-Sent Events decoding: bytes in any split → complete events. No I/O."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SseEvent:
    event: str | None
    data: str


class SseDecoder:
    """Feed it bytes as they arrive; it returns the events completed so far.

    Follows the WHATWG rules that matter for LLM APIs: events end at a blank line, `data:` lines join
    with newlines, one optional space after the colon is dropped, lines starting with `:` are comments,
    and CRLF, LF or CR all end a line.
    """

    __slots__ = ("_buf", "_data", "_event")

    def __init__(self) -> None:
        self._buf = b""
        self._data: list[str] = []
        self._event: str | None = None

    def feed(self, chunk: bytes) -> list[SseEvent]:
        buf = self._buf + chunk
        events: list[SseEvent] = []
        start = 0
        n = len(buf)
        while start < n:
            nl = buf.find(b"\n", start)
            cr = buf.find(b"\r", start)
            if nl == -1 and cr == -1:
                break
            if cr != -1 and (nl == -1 or cr < nl):
                if cr + 1 == n:  # a CR at the end may be half of a CRLF: wait for more
                    break
                end, nxt = cr, cr + 2 if buf[cr + 1 : cr + 2] == b"\n" else cr + 1
            else:
                end, nxt = nl, nl + 1
            self._line(buf[start:end].decode("utf-8", "replace"), events)
            start = nxt
        self._buf = buf[start:]
        return events

    def pending(self) -> bool:
        """True when bytes or a partial event are held: the stream ended mid-event."""
        return bool(self._buf.strip()) or bool(self._data)

    def _line(self, line: str, events: list[SseEvent]) -> None:
        if not line:
            if self._data or self._event is not None:
                events.append(SseEvent(self._event, "\n".join(self._data)))
            self._data = []
            self._event = None
            return
        if line[0] == ":":
            return
        name, _, value = line.partition(":")
        if value[:1] == " ":
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value


def encode_event(data: bytes, event: str | None = None) -> bytes:
    """One SSE event carrying `data` (which must not contain newlines, e.g. compact JSON)."""
    if event is None:
        return b"data: " + data + b"\n\n"
    return b"event: " + event.encode() + b"\ndata: " + data + b"\n\n"


DONE = b"data: [DONE]\n\n"
