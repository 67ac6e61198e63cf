"""One suite over every adapter: each case under fixtures/<kind>/<case>/ is a recorded exchange.

A kind whose adapter module does not exist yet is skipped; once the module exists, every case must pass.
Streams are fed whole, byte by byte and in seeded random splits; the output must be valid OpenAI chunks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.providers.conftest import (
    FIXTURES,
    SECRETS,
    SPLITS,
    TEST_CREDENTIALS,
    Split,
    assemble_openai_stream,
    check_completion,
    load_json,
    matches,
    run_translator,
)
from unhardcoded.errors import ProviderError
from unhardcoded.providers.base import Adapter, Credentials, Target
from unhardcoded.providers.registry import builtin_adapters

ADAPTERS = builtin_adapters()
CASES = sorted(p for p in FIXTURES.glob("*/*") if p.is_dir())
REQUIRED_CASES = {
    "text", "system_multiturn", "tools", "tool_result_roundtrip", "image_url", "image_base64", "json_schema",
    "stream_text", "stream_tools", "stream_usage",
    "error_429", "error_500", "error_401", "error_400", "malformed",
}  # fmt: skip
USAGE_KEYS = {"input_tokens", "output_tokens", "cached_input_tokens", "cache_write_tokens"}


def _id(case: Path) -> str:
    return f"{case.parent.name}/{case.name}"


def _adapter(case: Path) -> Adapter:
    kind = case.parent.name
    if kind not in ADAPTERS:
        pytest.skip(f"no adapter module for kind {kind!r} yet")
    return ADAPTERS[kind]


def _target(case: Path) -> Target:
    return Target(**load_json(case / "target.json"))


def _credentials(case: Path) -> Credentials:
    path = case / "credentials.json"
    return Credentials(**load_json(path)) if path.exists() else TEST_CREDENTIALS


def _request(case: Path) -> dict[str, Any]:
    body: dict[str, Any] = load_json(case / "request.json")
    return body


def _include_usage(request: dict[str, Any]) -> bool:
    options = request.get("stream_options")
    return bool(isinstance(options, dict) and options.get("include_usage"))


def _upstream(case: Path) -> tuple[int, dict[str, str], bytes, bool]:
    """(status, headers, body, is_stream) of the recorded answer."""
    status_file = case / "upstream_status.txt"
    status = int(status_file.read_text().strip()) if status_file.exists() else 200
    headers_file = case / "upstream_headers.json"
    headers = load_json(headers_file) if headers_file.exists() else {}
    for name, is_stream in (("upstream.sse", True), ("upstream.bin", True), ("upstream.json", False),
                            ("upstream.txt", False)):  # fmt: skip
        if (case / name).exists():
            return status, headers, (case / name).read_bytes(), is_stream
    raise AssertionError(f"{_id(case)}: no upstream.* file")


@pytest.mark.parametrize("kind", sorted({c.parent.name for c in CASES}))
def test_kind_has_required_cases(kind: str) -> None:
    if kind not in ADAPTERS:
        pytest.skip(f"no adapter module for kind {kind!r} yet")
    have = {p.name for p in (FIXTURES / kind).iterdir() if p.is_dir()}
    assert have >= REQUIRED_CASES, f"{kind} lacks cases: {sorted(REQUIRED_CASES - have)}"


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_build_request(case: Path) -> None:
    adapter = _adapter(case)
    request = _request(case)
    call = adapter.build_request(
        request, _target(case), _credentials(case), stream=request.get("stream") is True
    )
    for secret in SECRETS:
        assert secret not in repr(call)
    expected_file = case / "expected_request.json"
    if not expected_file.exists():
        return
    expected = load_json(expected_file)
    assert call.method == expected.get("method", "POST")
    if "url" in expected:
        assert call.url == expected["url"]
    present = {name.lower() for name in call.headers}
    for name in expected.get("headers_present", ()):
        assert name.lower() in present, f"header {name!r} missing from {sorted(present)}"
    for name in expected.get("headers_absent", ()):
        assert name.lower() not in present, f"header {name!r} should not be sent"
    if "body_subset" in expected:
        matches(expected["body_subset"], orjson.loads(call.body))
    for key in expected.get("body_absent", ()):
        assert key not in orjson.loads(call.body), f"body key {key!r} should not be sent"


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_answer(case: Path) -> None:
    adapter = _adapter(case)
    expected = load_json(case / "expected.json")
    status, headers, body, is_stream = _upstream(case)
    if "error_class" in expected:
        _check_error(adapter, case, expected, status, headers, body, is_stream)
    elif is_stream:
        for split in SPLITS:
            _check_stream(adapter, case, expected, body, split)
    else:
        result = adapter.parse_response(status, headers, body, _target(case))
        parsed = orjson.loads(result.body)
        check_completion(parsed)
        matches(expected.get("response_subset", {}), parsed)
        if "usage" in expected:
            assert result.usage is not None
            matches(expected["usage"], result.usage.to_dict())
        if parsed.get("usage") is not None and result.usage is not None:
            assert parsed["usage"]["completion_tokens"] == result.usage.output_tokens
        assert result.finish_reason == parsed["choices"][0]["finish_reason"]
        if "model" in expected:
            assert result.model == expected["model"]
        _check_warnings(expected, result.warnings)


def _check_error(
    adapter: Adapter, case: Path, expected: dict[str, Any], status: int, headers: dict[str, str], body: bytes,
    is_stream: bool,
) -> None:  # fmt: skip
    target = _target(case)
    errors: list[ProviderError] = []
    if not 200 <= status < 300:
        errors.append(adapter.parse_error(status, headers, body))
    if is_stream and 200 <= status < 300:
        for split in SPLITS:
            translator = adapter.stream_translator(
                target, include_usage=_include_usage(_request(case)), request_id="req-test"
            )
            with pytest.raises(ProviderError) as info:
                run_translator(translator, body, split)
            errors.append(info.value)
    elif not is_stream:
        with pytest.raises(ProviderError) as info:
            adapter.parse_response(status, headers, body, target)
        errors.append(info.value)
    assert errors
    for error in errors:
        assert error.error_class == expected["error_class"], f"{error!r}"
        if "retry_after" in expected:
            assert error.retry_after == pytest.approx(expected["retry_after"])
        if "message_contains" in expected:
            assert expected["message_contains"] in str(error)
        for secret in SECRETS:
            assert secret not in str(error) and secret not in repr(error)


def _check_stream(adapter: Adapter, case: Path, expected: dict[str, Any], body: bytes, split: Split) -> None:
    include_usage = _include_usage(_request(case))
    translator = adapter.stream_translator(_target(case), include_usage=include_usage, request_id="req-test")
    out = run_translator(translator, body, split)
    got = assemble_openai_stream(out)
    want = dict(expected["stream"])
    assert got["include_usage_chunk"] == include_usage, f"[{split.name}] usage chunk iff the client asked"
    want_usage = want.pop("usage", None)
    if want_usage is not None:
        if USAGE_KEYS & set(want_usage):
            assert translator.usage is not None, f"[{split.name}] no usage recorded"
            matches(want_usage, translator.usage.to_dict(), f"[{split.name}] usage")
        else:
            matches(want_usage, got["usage"], f"[{split.name}] usage")
    assert translator.usage is not None, f"[{split.name}] the translator must always record usage (billing)"
    if got["usage"] is not None:
        assert got["usage"]["prompt_tokens"] == translator.usage.input_tokens
        assert got["usage"]["completion_tokens"] == translator.usage.output_tokens
    assert translator.finish_reason == got["finish_reason"], f"[{split.name}]"
    if "model" in want:
        assert translator.model == want.pop("model")
    _check_warnings(want, translator.warnings)
    want.pop("warnings", None)
    matches(want, got, f"[{split.name}] stream")


def _check_warnings(expected: dict[str, Any], warnings: tuple[str, ...]) -> None:
    for fragment in expected.get("warnings", ()):
        assert any(fragment in w for w in warnings), f"no warning mentions {fragment!r}: {warnings}"
