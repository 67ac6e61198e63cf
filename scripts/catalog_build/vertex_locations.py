"""Vertex AI locations of current Gemini and Claude models: a small table cited to public docs.

No saved source file lists Vertex locations (litellm `supported_regions` covers only a few MaaS models),
so this hand-kept table adds the region-pinned deployments that EU/US residency rules need. It is
conservative: a (model, location) pair is listed only where a public page states it for that model.

What the docs say (checked 2026-11; the pages are cited per entry below):

- Gemini 3.x / 4.x *stable* models on Vertex are served on the `global` endpoint and on the `us` / `eu`
  multi-region locations, **not** on single regions such as europe-west4 or us-central1 (a request to
  `locations/europe-west4/.../gemini-3.5-flash` returns 404). Preview Gemini models are `global` only.
- Claude Sonnet 4.6 / Opus 4.6 and earlier are served on regional endpoints (us-east5, europe-west1, ...).
  Claude Opus 4.7 and newer are served only on `global` and the `us` / `eu` multi-regions.
- A regional or multi-region endpoint costs litellm's `regional_endpoint_uplift_multiplier` (1.1) times
  the `global` price; Anthropic's Vertex page states the same 10% premium.

Models with no model-specific statement (Gemini 4 Argon/Hydrogen, Claude Fable 5.1, Haiku 5.5,
Opus 5.5, Sonnet 5.5) are left out rather than guessed.

Multi-region locations are called at `https://aiplatform.{eu|us}.rep.googleapis.com` with
`locations/{eu|us}` in the path; single regions at `https://{region}-aiplatform.googleapis.com`.
"""

from __future__ import annotations

from typing import NamedTuple

# Overview pages: where Vertex generative-AI locations and endpoint types are documented.
GOOGLE_LOCATIONS = "cloud.google.com/vertex-ai/generative-ai/docs/learn/locations"
ANTHROPIC_ON_VERTEX = "platform.claude.com/docs/en/build-with-claude/claude-on-vertex-ai"


class Listing(NamedTuple):
    locations: tuple[str, ...]
    evidence: str  # the model-specific page(s) that state these locations


_GEMINI_MULTI_REGION = f"{GOOGLE_LOCATIONS} (multi-region endpoints us, eu)"

# litellm key (the `vertex_ai/` entry whose prices and limits the deployment uses) -> documented
# locations. Location ids are what goes in `locations/{id}` of the request path.
VERTEX_LOCATIONS: dict[str, Listing] = {
    # ---- Google Gemini (stable models: global + multi-region) ----
    "vertex_ai/gemini-3.1-flash-lite": Listing(
        ("eu",),
        f"{_GEMINI_MULTI_REGION}; docs.cloud.google.com/gemini-enterprise-agent-platform/resources/"
        "data-residency (Gemini 3.1 Flash-Lite, EU multi-region); github.com/epam/ai-dial-adapter-vertexai"
        "/issues/471",
    ),
    "vertex_ai/gemini-3.5-flash": Listing(
        ("eu",),
        f"{_GEMINI_MULTI_REGION}; docs.cloud.google.com/gemini-enterprise-agent-platform/resources/"
        "data-residency (Gemini 3.5 Flash, EU multi-region); github.com/MadAppGang/claudish/pull/145 "
        "(eu 200, europe-west4 404)",
    ),
    "vertex_ai/gemini-3.5-flash-lite": Listing(
        ("eu",),
        "firebase.google.com/docs/ai-logic/locations (Gemini 3.x stable models: global, usually also us "
        "and eu); github.com/bayesimpact/bayes-platform/issues/727 (served on location eu)",
    ),
    "vertex_ai/gemini-3.7-flash": Listing(
        ("eu", "us"),
        "docs.cloud.google.com/gemini-enterprise-agent-platform/models/gemini/3-7-flash (global, us, eu; "
        "quoted in github.com/BerriAI/litellm/issues/37989)",
    ),
    "vertex_ai/gemini-3.8-flash": Listing(
        ("eu", "us"),
        "docs.cloud.google.com/gemini-enterprise-agent-platform/models/guides/gemini-3-8-flash "
        "(supported regions: global, multi-region)",
    ),
    # ---- Anthropic Claude, regional endpoints (Sonnet/Opus 4.6 and earlier) ----
    "vertex_ai/claude-opus-4-6": Listing(
        ("europe-west1", "us-east5"),
        "cloud.google.com/vertex-ai/generative-ai/docs/partner-models/claude/opus-4-6; "
        f"{ANTHROPIC_ON_VERTEX} (regional endpoints); github.com/danny-avila/LibreChat/issues/13002 "
        "(claude-opus-4-6 on europe-west1)",
    ),
    "vertex_ai/claude-sonnet-4-6": Listing(
        ("europe-west1", "us-east5"),
        "cloud.google.com/vertex-ai/generative-ai/docs/partner-models/claude/sonnet-4-6; "
        f"{ANTHROPIC_ON_VERTEX} (regional endpoints); github.com/cockroachdb/cockroach/pull/173186 "
        "(regional endpoints serve Claude Sonnet 4.6 and earlier)",
    ),
    # ---- Anthropic Claude, multi-region only (Opus 4.7 and newer) ----
    "vertex_ai/claude-opus-4-7": Listing(
        ("eu", "us"),
        "cloud.google.com/vertex-ai/generative-ai/docs/partner-models/claude/opus-4-7 (US multi-region, "
        "EU multi-region, global; quoted in github.com/BerriAI/litellm/issues/27293)",
    ),
    "vertex_ai/claude-opus-4-8": Listing(
        ("eu", "us"),
        f"{ANTHROPIC_ON_VERTEX} (global, multi-region and regional endpoints); github.com/can1357/"
        "oh-my-pi/issues/6895 (claude-opus-4-8: global or eu/us multi-region only)",
    ),
    "vertex_ai/claude-opus-5": Listing(
        ("eu", "us"),
        f"{ANTHROPIC_ON_VERTEX} (global, multi-region and regional endpoints); github.com/can1357/"
        "oh-my-pi/issues/6895 (claude-opus-5: global or eu/us multi-region only)",
    ),
    "vertex_ai/claude-sonnet-5": Listing(
        ("eu", "us"),
        "docs.cloud.google.com/gemini-enterprise-agent-platform/models/partner-models/claude/sonnet-5; "
        "github.com/can1357/oh-my-pi/issues/6895 (claude-sonnet-5: global or eu/us multi-region only)",
    ),
    "vertex_ai/claude-fable-5": Listing(
        ("eu", "us"),
        "github.com/GoogleCloudPlatform/vertex-ai-samples/pull/4522 (Claude Fable 5 launch notebook: "
        "multi-regions us, eu); github.com/anthropics/claude-code/issues/72709 (Fable 5 on eu)",
    ),
}


def region_source(key: str, location: str) -> str:
    """The `sources` string for a region taken from this table."""
    return f"docs:{VERTEX_LOCATIONS[key].evidence} => location {location}"
