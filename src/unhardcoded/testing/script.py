"""The scripting language every fake provider understands.

A fake holds a FIFO of `Step`s; each incoming request takes the next step (or the default, a normal
answer). Tests push steps over HTTP (`POST /_script` with a JSON list) or in process (`Script.push`).
The model name can script a single call too: an upstream model named `sim-429`, `sim-500`, `sim-503`,
`sim-hang`, `sim-reset`, `sim-malformed` or `sim-cut` behaves like that step on every call.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Step:
    status: int = 200  # an error status answers with the provider's error body for it
    retry_after: float | None = None  # sent as Retry-After on an error status
    hang: bool = False  # accept, then never answer (tests timeouts)
    delay_s: float = 0.0  # wait before answering
    reset: bool = False  # close the connection without answering
    malformed: bool = False  # answer 200 with a body that is not valid JSON / events
    cut_after: int | None = None  # streaming: close the connection after this many content events
    text: str | None = None  # the answer's text (default: an echo of the last user message)
    tool_call: dict[str, Any] | None = None  # answer with this tool call: {"name": ..., "arguments": {...}}
    error_type: str | None = None  # provider-specific error type override (e.g. "overloaded_error")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Step:
        return cls(**d)


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

    def push(self, *steps: Step) -> None:
        self.steps.extend(steps)

    def next(self, model: str | None) -> Step:
        by_model = _model_step(model or "")
        if by_model is not None:
            return by_model
        return self.steps.popleft() if self.steps else Step()

    def clear(self) -> None:
        self.steps.clear()
        self.seen.clear()
