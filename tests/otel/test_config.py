"""The `otel` config section, its errors, and what happens without the extra installed."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from unhardcoded.config import OtelConfig, parse_settings
from unhardcoded.errors import ConfigError
from unhardcoded.gateway.otel import OtelExporter
from unhardcoded.gateway.otel.exporter import parse_headers, traces_url


def test_otel_is_off_by_default_and_parses_when_given() -> None:
    assert parse_settings({}).otel is None
    s = parse_settings({"otel": {"endpoint": "http://collector:4318", "headers_env": "OTLP_HEADERS"}})
    assert s.otel == OtelConfig(endpoint="http://collector:4318", headers_env="OTLP_HEADERS")
    assert s.otel.service_name == "unhardcoded"


@pytest.mark.parametrize(
    "otel, path, words",
    [
        ({}, "otel.endpoint", "Field required"),
        ({"endpoint": "collector:4318"}, "otel.endpoint", "http:// or https://"),
        ({"endpoint": "grpc://collector:4317"}, "otel.endpoint", "http:// or https://"),
        ({"endpoint": "http://c:4318/v1/traces?x=1"}, "otel.endpoint", "query"),
        (
            {"endpoint": "http://c:4318", "headers_env": "not a name"},
            "otel.headers_env",
            "environment variable",
        ),
        ({"endpoint": "http://c:4318", "service_name": " "}, "otel.service_name", "empty"),
        ({"endpoint": "http://c:4318", "protocol": "grpc"}, "otel.protocol", "Extra inputs"),
    ],
)
def test_bad_otel_config_names_the_field(otel: dict[str, str], path: str, words: str) -> None:
    with pytest.raises(ConfigError) as e:
        parse_settings({"otel": otel})
    assert e.value.path == path
    assert words in str(e.value)


@pytest.mark.parametrize(
    "endpoint, url",
    [
        ("http://c:4318", "http://c:4318/v1/traces"),
        ("http://c:4318/", "http://c:4318/v1/traces"),
        ("https://otlp.example.com/otlp", "https://otlp.example.com/otlp/v1/traces"),
        ("http://c:4318/v1/traces", "http://c:4318/v1/traces"),
    ],
)
def test_traces_url(endpoint: str, url: str) -> None:
    assert traces_url(endpoint) == url


def test_headers_parse_and_their_errors_never_show_the_value() -> None:
    assert parse_headers("Authorization=Basic%20abc%3D%3D, X-Org = 7,", source="H") == {
        "authorization": "Basic abc==",
        "x-org": "7",
    }
    with pytest.raises(ConfigError) as e:
        parse_headers("x-ok=1,secret-token-without-equals", source="OTLP_HEADERS")
    assert "$OTLP_HEADERS item 2" in str(e.value) and "secret-token" not in str(e.value)


def test_a_headers_variable_that_is_not_set_is_a_config_error() -> None:
    cfg = OtelConfig(endpoint="http://127.0.0.1:4318", headers_env="OTLP_HEADERS")
    with pytest.raises(ConfigError, match=r"\$OTLP_HEADERS, which is not set"):
        OtelExporter(cfg, env={})


def test_without_the_extra_the_module_imports_and_the_exporter_names_the_extra() -> None:
    # A fresh interpreter in which every `opentelemetry` import fails, as on a base install.
    code = textwrap.dedent(
        """
        import sys
        sys.modules["opentelemetry"] = None
        import unhardcoded.gateway.otel as otel
        from unhardcoded.config import OtelConfig
        from unhardcoded.errors import ConfigError
        try:
            otel.OtelExporter(OtelConfig(endpoint="http://127.0.0.1:4318"), env={})
        except ConfigError as e:
            print("ConfigError:", e.path, e)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "ConfigError: otel " in out.stdout
    assert "pip install 'unhardcoded[otel]'" in out.stdout
    assert "opentelemetry" in out.stdout
