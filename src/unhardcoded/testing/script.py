"""The scripting language every fake provider understands.

A fake holds a FIFO of `Step`s; each incoming request takes the next step (or the default, a normal
answer). Tests push steps over HTTP (`POST /_script` with a JSON list) or in process (`Script.push`).
The model name can script a single call too: an upstream model named `sim-429`, `sim-500`, `sim-503`,
`sim-hang`, `sim-reset`, `sim-malformed` or `sim-cut` behaves like that step on every call.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Step:
    status: int = 200  # an error status answers with the provider's error body for it
    retry_after: float | None = None  # sent as Retry-After on an error status
    # With retry_after: send it as an HTTP date (RFC 9110 allows either form), and no retry-after-ms.
    retry_after_date: bool = False
    hang: bool = False  # accept, then never answer (tests timeouts)
    delay_s: float = 0.0  # wait before answering
    reset: bool = False  # close the connection without answering
    malformed: bool = False  # answer 200 with a body that is not valid JSON / events
    cut_after: int | None = None  # streaming: close the connection after this many content events
    text: str | None = None  # the answer's text (default: an echo of the last user message)
    tool_call: dict[str, Any] | None = None  # answer with this tool call: {"name": ..., "arguments": {...}}
    error_type: str | None = None  # provider-specific error type override (e.g. "overloaded_error")
    # The error message instead of the provider's usual one; "{key}" in it becomes the credential the request
    # carried, as upstreams that echo a key do (e.g. "invalid api key ({key})"), so redaction can be tested.
    echo_key: str | None = None
    error_after: int | None = None  # streaming: after this many content events, the provider's error event
    # With error_after: send the error only once the test calls `Script.release()`, so the test can see the
    # first bytes reach its client before the stream fails (in-process fakes only).
    wait_release: bool = False
    model: str | None = None  # answer (200) naming this model instead of the one asked for

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Step:
        return cls(**d)

    def message(self, key: str | None, default: str) -> str:
        """The error message to send: `default`, or the `echo_key` template with the request's key in it."""
        if self.echo_key is None:
            return default
        return self.echo_key.replace("{key}", key or "")


def _model_step(model: str) -> Step | None:
    steps = {
        "sim-429": Step(status=429, retry_after=0.01),
        "sim-500": Step(status=500),
        "sim-503": Step(status=503),
        "sim-401": Step(status=401),
        "sim-400": Step(status=400),
        "sim-hang": Step(hang=True),
        "sim-reset": Step(reset=True),
        "sim-malformed": Step(malformed=True),
        "sim-cut": Step(cut_after=1),
    }
    return steps.get(model)


@dataclass(slots=True)
class Script:
    """Steps to play, plus a record of every request seen (for assertions)."""

    steps: deque[Step] = field(default_factory=deque)
    seen: list[dict[str, Any]] = field(default_factory=list)
    released: threading.Event = field(default_factory=threading.Event)  # set from the test's thread

    def push(self, *steps: Step) -> None:
        self.steps.extend(steps)

    def next(self, model: str | None) -> Step:
        by_model = _model_step(model or "")
        if by_model is not None:
            return by_model
        return self.steps.popleft() if self.steps else Step()

    def release(self) -> None:
        """Let a step that waits (`wait_release`) go on."""
        self.released.set()

    async def wait_released(self, step: Step, limit_s: float = 10.0) -> None:
        """Wait for `release()` when the step asks to; after `limit_s` go on anyway (the test then fails)."""
        waited = 0.0
        while step.wait_release and not self.released.is_set() and waited < limit_s:
            await asyncio.sleep(0.01)
            waited += 0.01

    def clear(self) -> None:
        self.steps.clear()
        self.seen.clear()
        self.released.clear()
