"""Google Vertex AI adapter: Gemini and Anthropic Claude models on Vertex's regional endpoints.

The translations are the `gemini` and `anthropic` adapters' own; this module adds Vertex's URLs and
Bearer auth. `credentials.api_key` holds the OAuth access token (`gateway/credentials.py` obtains it
from a service account with `google_auth`). Sans-I/O.

Target: `options["project"]` (required), the region from `target.region` (or `options["region"]` /
`options["location"]`; `global` uses the non-regional host), `options["publisher"]` (`google` or
`anthropic`; by default `anthropic` when the upstream model starts with `claude`). The base URL defaults
to `https://{region}-aiplatform.googleapis.com` (`aiplatform.googleapis.com` for `global`, and
`aiplatform.{eu,us}.rep.googleapis.com` for the `eu`/`us` multi-regions).
The supported, dropped and refused OpenAI parameters are those of the `gemini` and `anthropic` adapters.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import quote

import orjson

from unhardcoded.errors import ProviderError
from unhardcoded.providers import anthropic_parse, gemini_parse
from unhardcoded.providers.anthropic import to_messages_body
from unhardcoded.providers.anthropic_parse import AnthropicStream, parse_message
from unhardcoded.providers.base import ChatResult, Credentials, HttpCall, Target, json_answer
from unhardcoded.providers.gemini import model_path, to_gemini_body
from unhardcoded.providers.gemini_parse import GeminiStream, parse_generate

VERTEX_ANTHROPIC_VERSION = "vertex-2023-10-16"
PUBLISHERS = ("google", "anthropic")


def publisher(target: Target) -> str:
    """Which model family the target is: `google` (Gemini) or `anthropic` (Claude)."""
    chosen = target.options.get("publisher")
    if chosen is None:
        return "anthropic" if target.upstream_model.startswith("claude") else "google"
    if chosen not in PUBLISHERS:
        raise ProviderError(
            "client_error", f"vertex publisher {chosen!r} is not one of {', '.join(PUBLISHERS)}"
        )
    return str(chosen)


# The multi-region locations have their own hosts (`eu-aiplatform...` does not exist).
_HOSTS = {
    "global": "aiplatform.googleapis.com",
    "eu": "aiplatform.eu.rep.googleapis.com",
    "us": "aiplatform.us.rep.googleapis.com",
}


def model_url(target: Target) -> str:
    """`{base}/v1/projects/{project}/locations/{region}/publishers/{publisher}/models/{model}`."""
    # No location named: Google's global endpoint, which serves every current Gemini and Claude model.
    region = target.region or target.options.get("region") or target.options.get("location") or "global"
    project = target.options.get("project")
    if not project:
        raise ProviderError("client_error", f"vertex deployment {target.deployment_id} needs options.project")
    host = _HOSTS.get(region) or f"{region}-aiplatform.googleapis.com"
    base = (target.base_url or f"https://{host}").rstrip("/")
    if not base.endswith(("/v1", "/v1beta1")):
        base += "/v1"
    path = f"projects/{quote(str(project), safe='')}/locations/{quote(str(region), safe='')}"
    return f"{base}/{path}/publishers/{publisher(target)}/models/{model_path(target.upstream_model)}"


def _payload(body: Mapping[str, Any], target: Target, *, stream: bool) -> tuple[dict[str, Any], list[str]]:
    if publisher(target) == "google":
        return to_gemini_body(body)
    payload, warnings = to_messages_body(body)
    # On Vertex the model is in the URL and the API version in the body, not in headers.
    version = target.options.get("anthropic_version") or VERTEX_ANTHROPIC_VERSION
    payload = {"anthropic_version": version, **payload}
    if stream:
        payload["stream"] = True
    return payload, warnings


class VertexAdapter:
    """Vertex AI `generateContent` (Gemini) and `rawPredict` (Claude), `Authorization: Bearer <token>`."""

    kind: ClassVar[str] = "vertex"

    def build_request(
        self, body: Mapping[str, Any], target: Target, credentials: Credentials, *, stream: bool
    ) -> HttpCall:
        payload, _ = _payload(body, target, stream=stream)
        if not credentials.api_key:
            raise ProviderError(
                "auth_error", f"no Vertex AI access token for deployment {target.deployment_id}"
            )
        if publisher(target) == "google":
            action = ":streamGenerateContent?alt=sse" if stream else ":generateContent"
        else:
            action = ":streamRawPredict" if stream else ":rawPredict"
        headers = {
            "content-type": "application/json",
            "authorization": f"Bearer {credentials.api_key}",
            "accept": "text/event-stream" if stream else "application/json",
        }
        beta = target.options.get("anthropic_beta")
        if beta and publisher(target) == "anthropic":
            headers["anthropic-beta"] = beta if isinstance(beta, str) else ",".join(beta)
        return HttpCall("POST", model_url(target) + action, headers, orjson.dumps(payload))

    def request_warnings(self, body: Mapping[str, Any], target: Target) -> tuple[str, ...]:
        return tuple(_payload(body, target, stream=False)[1])

    def parse_response(
        self, status: int, headers: Mapping[str, str], body: bytes, target: Target
    ) -> ChatResult:
        if not 200 <= status < 300:
            raise self.parse_error(status, headers, body)
        data = json_answer(body, status, "Vertex AI")
        if publisher(target) == "anthropic":
            return parse_message(data, target)
        return parse_generate(data, target)

    def parse_error(self, status: int, headers: Mapping[str, str], body: bytes) -> ProviderError:
        # Claude's own errors keep Anthropic's shape; Vertex's (auth, quota, routing) are Google's.
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError:
            payload = None
        if isinstance(payload, dict) and payload.get("type") == "error":
            return anthropic_parse.error_from_body(status, headers, body)
        return gemini_parse.error_from_body(status, headers, body)

    def stream_translator(
        self, target: Target, *, include_usage: bool, request_id: str
    ) -> AnthropicStream | GeminiStream:
        if publisher(target) == "anthropic":
            return AnthropicStream(target, include_usage=include_usage, request_id=request_id)
        return GeminiStream(target, include_usage=include_usage, request_id=request_id)


ADAPTER = VertexAdapter()
