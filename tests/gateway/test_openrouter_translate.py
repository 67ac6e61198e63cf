"""OpenRouter's `provider` preferences and `models` list as rules (gateway/openrouter.py): what each becomes,
what is refused and how the refusal reads. Pure; written from `make mutation` (docs/mutation.md).
"""

from __future__ import annotations

from typing import Any

import pytest

from unhardcoded.errors import RequestError
from unhardcoded.gateway.openrouter import KEYS, PROVIDERS, translate

# The OpenRouter slugs and display names this gateway accepts, and the provider each one means here.
SLUGS = {
    "openai": "openai",
    "anthropic": "anthropic",
    "google-vertex": "vertex",
    "google vertex": "vertex",
    "google-ai-studio": "gemini",
    "google ai studio": "gemini",
    "amazon-bedrock": "bedrock",
    "amazon bedrock": "bedrock",
    "azure": "azure",
    "together": "together",
    "fireworks": "fireworks",
    "deepinfra": "deepinfra",
    "groq": "groq",
    "cerebras": "cerebras",
    "mistral": "mistral",
    "deepseek": "deepseek",
    "xai": "xai",
    "cohere": "cohere",
    "moonshotai": "moonshot",
    "alibaba": "alibaba",
    "z-ai": "zai",
    "perplexity": "perplexity",
    "ai21": "ai21",
    "minimax": "minimax",
    "nebius": "nebius",
    "novita": "novita",
    "baseten": "baseten",
}


def refused(provider: Any, models: Any = None) -> dict[str, Any]:
    with pytest.raises(RequestError) as e:
        translate(provider, models)
    assert e.value.status == 400
    return e.value.to_dict()


def test_every_openrouter_slug_maps_to_our_provider() -> None:
    assert dict(PROVIDERS) == SLUGS
    for slug, ours in SLUGS.items():
        rules, _ = translate({"only": [slug.upper()]}, None)
        assert rules == [{"id": "or:only", "field": "provider", "op": "in", "value": [ours]}]


def test_nothing_asked_nothing_added() -> None:
    assert translate(None, None) == ([], {})
    assert translate({}, None) == ([], {})


def test_one_model_is_a_rule_and_more_are_refused() -> None:
    assert translate(None, ["openai/gpt-4.1"]) == (
        [{"id": "or:models", "field": "model", "op": "in", "value": ["openai/gpt-4.1"]}],
        {},
    )
    assert refused(None, ["a/b", "c/d"]) == {
        "message": "models: a list of more than one model needs per-request ordering, which is not supported"
        " yet; send one model, or a policy with rules and rank keys",
        "path": "models",
    }


@pytest.mark.parametrize("models", [[], "a/b", [""], ["a/b", 3], {}])
def test_models_must_be_a_non_empty_array_of_ids(models: Any) -> None:
    assert refused(None, models) == {
        "message": "models: expected a non-empty array of model ids",
        "path": "models",
    }


def test_only_and_ignore_are_deduplicated_and_sorted() -> None:
    rules, extra = translate({"only": ["Groq", "openai", "groq"], "ignore": ["Amazon Bedrock"]}, None)
    assert rules == [
        {"id": "or:only", "field": "provider", "op": "in", "value": ["groq", "openai"]},
        {"id": "or:ignore", "field": "provider", "op": "not_in", "value": ["bedrock"]},
    ]
    assert extra == {}


@pytest.mark.parametrize("key", ["only", "ignore"])
def test_provider_lists_are_checked_name_by_name(key: str) -> None:
    assert refused({key: []}) == {
        "message": f"provider.{key}: expected a non-empty array of provider names",
        "path": f"provider.{key}",
    }
    assert refused({key: "openai"})["path"] == f"provider.{key}"
    e = refused({key: ["openai", "nope"]})
    assert e == {
        "message": f"provider.{key}[1]: unknown provider 'nope'",
        "path": f"provider.{key}[1]",
        "choices": sorted(SLUGS),
    }
    assert refused({key: [7]})["message"] == f"provider.{key}[0]: unknown provider 7"


def test_provider_must_be_an_object_of_known_preferences() -> None:
    assert refused(["openai"]) == {
        "message": "provider: expected an object of provider preferences",
        "path": "provider",
    }
    assert refused({"speed": "max"}) == {
        "message": "provider.speed: not a provider preference",
        "path": "provider.speed",
        "choices": list(KEYS),
    }
    assert list(KEYS) == [
        "order",
        "only",
        "ignore",
        "allow_fallbacks",
        "sort",
        "max_price",
        "data_collection",
        "zdr",
        "require_parameters",
        "quantizations",
    ]


@pytest.mark.parametrize(
    ("key", "value", "why"),
    [
        (
            "order",
            ["openai"],
            "per-request provider ordering is not supported yet; use provider.only to restrict, or a "
            "stored policy whose rank keys say the order",
        ),
        (
            "require_parameters",
            True,
            "this gateway does not verify every parameter against each provider (unsupported ones are "
            "dropped with a warning on the receipt, or refused by the adapter)",
        ),
        ("quantizations", ["int8"], "the catalog has no quantization field"),
    ],
)
def test_preferences_this_gateway_cannot_honour_are_refused_not_ignored(
    key: str, value: Any, why: str
) -> None:
    assert refused({key: value}) == {"message": f"provider.{key}: {why}", "path": f"provider.{key}"}
    for harmless in (None, False, []):  # asking for nothing is fine
        assert translate({key: harmless}, None) == ([], {})


def test_sort_by_price_ranks_by_estimated_cost_and_nothing_else_is_known() -> None:
    assert translate({"sort": "price"}, None) == ([], {"rank": [{"by": "est_cost_usd", "order": "asc"}]})
    assert refused({"sort": "throughput"}) == {
        "message": "provider.sort: 'throughput' needs throughput or latency data the catalog does not have",
        "path": "provider.sort",
        "choices": ["price"],
    }


def test_max_price_becomes_one_rule_per_token_kind() -> None:
    rules, _ = translate({"max_price": {"prompt": 1, "completion": 2.5}}, None)
    assert rules == [
        {"id": "or:max-price-prompt", "field": "price_input_per_mtok", "op": "<=", "value": 1},
        {"id": "or:max-price-completion", "field": "price_output_per_mtok", "op": "<=", "value": 2.5},
    ]
    assert translate({"max_price": {"prompt": 0}}, None)[0][0]["value"] == 0


def test_max_price_is_checked() -> None:
    assert refused({"max_price": 3}) == {
        "message": "provider.max_price: expected {prompt, completion} in USD per million tokens",
        "path": "provider.max_price",
    }
    assert refused({"max_price": {"image": 1}}) == {
        "message": "provider.max_price.image: the catalog prices only prompt and completion tokens",
        "path": "provider.max_price.image",
        "choices": ["prompt", "completion"],
    }
    for bad in (-0.01, True, "1", None):
        assert refused({"max_price": {"prompt": bad}}) == {
            "message": "provider.max_price.prompt: expected a number >= 0",
            "path": "provider.max_price.prompt",
        }


@pytest.mark.parametrize(
    ("prefs", "rule_id"),
    [
        ({"data_collection": "deny"}, "or:data-collection"),
        ({"zdr": True}, "or:zdr"),
        ({"zdr": True, "data_collection": "deny"}, "or:zdr"),
        ({"data_collection": "allow"}, None),
        ({"zdr": False, "data_collection": "allow"}, None),
        ({"zdr": "yes"}, None),
    ],
)
def test_data_retention_preferences(prefs: dict[str, Any], rule_id: str | None) -> None:
    rules, _ = translate(prefs, None)
    expected = (
        [{"id": rule_id, "field": "data_retention", "op": "==", "value": "none", "missing": "reject"}]
        if rule_id
        else []
    )
    assert rules == expected


def test_data_collection_takes_allow_or_deny() -> None:
    assert refused({"data_collection": "maybe"}) == {
        "message": "provider.data_collection: expected allow or deny",
        "path": "provider.data_collection",
        "choices": ["allow", "deny"],
    }


def test_allow_fallbacks_false_means_one_candidate() -> None:
    assert translate({"allow_fallbacks": False}, None) == ([], {"select": {"max_candidates": 1}})
    assert translate({"allow_fallbacks": True}, None) == ([], {})
    assert refused({"allow_fallbacks": "no"}) == {
        "message": "provider.allow_fallbacks: expected true or false",
        "path": "provider.allow_fallbacks",
    }


def test_everything_at_once_in_a_fixed_order() -> None:
    rules, extra = translate(
        {
            "max_price": {"prompt": 1},
            "zdr": True,
            "ignore": ["groq"],
            "only": ["openai"],
            "sort": "price",
            "allow_fallbacks": False,
        },
        ["openai/gpt-4.1"],
    )
    assert [r["id"] for r in rules] == ["or:models", "or:only", "or:ignore", "or:max-price-prompt", "or:zdr"]
    assert extra == {"rank": [{"by": "est_cost_usd", "order": "asc"}], "select": {"max_candidates": 1}}
