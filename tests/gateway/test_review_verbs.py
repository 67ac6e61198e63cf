"""The gateway's own part of the admin and review verbs (gateway/service.py), in process: stored policies
(`POST/GET /x/policies`), dry runs, replay, roll-ups, audits and what-ifs — what each refuses and in which
words, what a client key may read, and the wiring to the review code (whose own rules are tested in
tests/review). Also the small reads: health, models, catalog, trace totals, search filters.

A gateway over a scripted transport and a real SQLite file (tests/gateway/scripted.py). Written from
`make mutation` (docs/mutation.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.gateway.scripted import Answer, Rig, completion
from unhardcoded.errors import PolicyError, RequestError, UserError
from unhardcoded.gateway.auth import Caller
from unhardcoded.gateway.request import ChatRequest
from unhardcoded.gateway.service import NO_KEYS_HINT, _review_tenant, _totals
from unhardcoded.review.replay import ReplayNotFound

ADMIN = Caller(None, "admin")
ACME = Caller("acme", "client")
BETA = Caller("beta", "client")
CHEAP = {"rank": [{"by": "est_cost_usd", "order": "asc"}]}
DEAR = {"rank": [{"by": "est_cost_usd", "order": "desc"}]}
BODY = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


async def call(
    rig: Rig, tenant: str | None = None, headers: dict[str, str] | None = None, **body: Any
) -> str:
    reply = await rig.gw.chat(ChatRequest.parse({**BODY, **body}, headers or {}, tenant=tenant))
    return str(reply.headers["x-unhardcoded-request-id"])


# -- _review_tenant ------------------------------------------------------------------------------------


def test_which_tenant_a_review_reads() -> None:
    assert _review_tenant(None, ADMIN) is None  # every tenant's
    assert _review_tenant("beta", ADMIN) == "beta"
    assert _review_tenant(None, ACME) == "acme"
    assert _review_tenant("acme", ACME) == "acme"
    assert _review_tenant(None, Caller(None, "client")) is None
    for asked in ("", 5):
        with pytest.raises(RequestError) as e:
            _review_tenant(asked, ADMIN)
        assert (e.value.message, e.value.path) == ("tenant: expected a tenant name", "tenant")
    with pytest.raises(RequestError) as e:
        _review_tenant("beta", ACME)
    assert (e.value.message, e.value.path) == (
        "tenant: a client key reads its own tenant's calls only",
        "tenant",
    )


# -- stored policies -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("doc", "message", "path"),
    [
        ([], 'body: expected {"name": "...", "policy": {...}}', None),
        ({"name": "p", "policy": {}, "x": 1}, 'body: expected {"name": "...", "policy": {...}}', None),
        ({"name": "", "policy": {}}, "name: expected 1 to 64 letters, digits, '.', '_' or '-'", "name"),
        ({"name": "a" * 65, "policy": {}}, "name: expected 1 to 64 letters, digits, '.', '_' or '-'", "name"),
        ({"name": "a b", "policy": {}}, "name: expected 1 to 64 letters, digits, '.', '_' or '-'", "name"),
        ({"name": "ab/", "policy": {}}, "name: expected 1 to 64 letters, digits, '.', '_' or '-'", "name"),
        ({"name": 7, "policy": {}}, "name: expected 1 to 64 letters, digits, '.', '_' or '-'", "name"),
        ({"policy": {}}, "name: expected 1 to 64 letters, digits, '.', '_' or '-'", "name"),
        (
            {"name": "cheap", "policy": {}},
            "name: 'cheap' is a policy of the config file, which is read-only here",
            "name",
        ),
        ({"name": "mine"}, "policy: required, a sigma-pol/v1 document", "policy"),
    ],
)
async def test_add_policy_refuses_in_words(tmp_path: Path, doc: Any, message: str, path: str | None) -> None:
    async with Rig(tmp_path, policies={"cheap": CHEAP}) as rig:
        with pytest.raises(RequestError) as e:
            await rig.gw.add_policy(doc)
    assert (e.value.message, e.value.path) == (message, path)
    if path is None:
        assert e.value.choices == ["name", "policy"]


async def test_a_bad_stored_policy_names_the_field_under_policy(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        with pytest.raises(PolicyError) as e:
            await rig.gw.add_policy({"name": "mine", "policy": {"rank": [{"by": "nonsense"}]}})
        assert e.value.path == "policy.rank[0].by" and e.value.choices and "est_cost_usd" in e.value.choices
        with pytest.raises(PolicyError) as e:
            await rig.gw.add_policy({"name": "mine", "policy": {"baseline": "no/such"}})
        assert e.value.path == "policy.baseline"
        assert e.value.message.startswith("baseline: 'no/such' is neither a deployment id")


async def test_stored_policies_are_versioned_listed_and_used_at_once(tmp_path: Path) -> None:
    async with Rig(tmp_path, policies={"b-conf": DEAR, "a-conf": CHEAP}) as rig:
        v1 = await rig.gw.add_policy({"name": "mine.v-1_x", "policy": CHEAP}, ACME)
        p1 = rig.gw._policies.validate(CHEAP, name="mine.v-1_x")
        assert v1 == {"name": "mine.v-1_x", "version": 1, "fingerprint": p1.fingerprint, "sha256": p1.sha256}
        _, r1 = await rig.call()  # warm the default tenant's view (no stored policies there)
        rid = await call(rig, "acme", policy="mine.v-1_x")
        r = await rig.gw.receipt(rid)
        assert r is not None and (r["policy"]["name"], r["policy"]["version"]) == ("mine.v-1_x", 1)
        v2 = await rig.gw.add_policy({"name": "mine.v-1_x", "policy": DEAR}, ACME)
        assert v2["version"] == 2
        rid = await call(rig, "acme", policy="mine.v-1_x")  # at once: adding a version drops the cached view
        r = await rig.gw.receipt(rid)
        assert r is not None and r["policy"]["version"] == 2 and r["policy"]["sha256"] == v2["sha256"]
        assert (await rig.gw.add_policy({"name": "z" * 64, "policy": {}}, ACME))["version"] == 1

        listed = (await rig.gw.list_policies(ACME))["policies"]
        assert [(x["name"], x["source"], x["version"]) for x in listed] == [
            ("a-conf", "config", None),
            ("b-conf", "config", None),
            ("mine.v-1_x", "stored", 2),
            ("z" * 64, "stored", 1),
        ]
        conf = rig.gw._policies.configured["a-conf"]
        assert listed[0] == {
            "name": "a-conf",
            "source": "config",
            "version": None,
            "fingerprint": conf.fingerprint,
            "sha256": conf.sha256,
        }
        stored = listed[2]
        assert set(stored) == {"source", "name", "version", "fingerprint", "sha256", "created_at", "policy"}
        assert stored["sha256"] == v2["sha256"] and stored["created_at"].endswith("Z")
        assert [x["name"] for x in (await rig.gw.list_policies(BETA))["policies"]] == ["a-conf", "b-conf"]

        versions = await rig.gw.policy_versions("mine.v-1_x", ACME)
        assert versions is not None and (versions["name"], versions["source"]) == ("mine.v-1_x", "stored")
        assert [v["version"] for v in versions["versions"]] == [1, 2]
        assert [v["sha256"] for v in versions["versions"]] == [v1["sha256"], v2["sha256"]]
        assert await rig.gw.policy_versions("mine.v-1_x", BETA) is None  # another tenant's: not there
        assert await rig.gw.policy_versions("nope", ACME) is None
        cfg = await rig.gw.policy_versions("b-conf", BETA)
        b = rig.gw._policies.configured["b-conf"]
        assert cfg == {
            "name": "b-conf",
            "source": "config",
            "versions": [
                {"version": None, "policy": b.canonical, "fingerprint": b.fingerprint, "sha256": b.sha256}
            ],
        }


# -- dry run -------------------------------------------------------------------------------------------


async def test_a_dry_run_decides_without_calling_anyone(tmp_path: Path) -> None:
    async with Rig(tmp_path, policies={"dear": DEAR}) as rig:
        out = rig.gw.dry_run({"policy": DEAR, "request": {**BODY, "max_tokens": 5}})
        assert out["schema"] == "unhardcoded-receipt/v1" and out["dry_run"] is True and out["attempts"] == []
        assert out["plan"][0] == "c/four"
        by_name = rig.gw.dry_run({"policy": "dear"})
        assert by_name["plan"][0] == "c/four" and by_name["dry_run"] is True
        default = rig.gw.dry_run({})  # the empty policy and a one-line request
        assert default["plan"][0] == "a/one"
        assert rig.transport.seen == []
        for doc, message, path in [
            ([], 'body: expected {"policy": {...}, "request": {...}}', None),
            ({"request": "hi"}, "request: expected a chat-completions object", "request"),
        ]:
            with pytest.raises(RequestError) as e:
                rig.gw.dry_run(doc)
            assert (e.value.message, e.value.path) == (message, path)
        with pytest.raises(PolicyError):
            rig.gw.dry_run({"policy": "nope"})


async def test_a_dry_run_sees_the_live_runtime_rules(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        for _ in range(2):  # two failures open a/one's breaker (breaker.failures = 2)
            rig.transport.push("a", Answer(status=503, body=b"{}"), Answer(status=503, body=b"{}"))
            await rig.call(CHEAP)
        out = rig.gw.dry_run({"policy": CHEAP})
        assert "rt:circuit-open" in [r["id"] for r in out["rules"]]


# -- replay --------------------------------------------------------------------------------------------


async def test_replay_refuses_in_words(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        cases: list[tuple[Any, str, str | None]] = [
            ([], 'body: expected {"request_id": ...}, {"trace_id": ...} or {"fingerprint": ...}', None),
            ({"request_id": "r", "live": "yes"}, "live: expected true or false", "live"),
            ({"request_id": 5}, "request_id: expected a string", "request_id"),
            ({"trace_id": 5}, "trace_id: expected a string", "trace_id"),
            ({"fingerprint": 5}, "fingerprint: expected a string", "fingerprint"),
            ({"fingerprint": "f", "since": 5}, "since: expected a string", "since"),
            ({"fingerprint": "f", "until": 5}, "until: expected a string", "until"),
            ({"fingerprint": "f", "tenant": ""}, "tenant: expected a tenant name", "tenant"),
        ]
        for doc, message, path in cases:
            with pytest.raises(RequestError) as e:
                await rig.gw.replay(doc)
            assert (e.value.message, e.value.path) == (message, path), doc


async def test_replay_a_call_as_then_and_now_and_only_ones_own(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        rid = await call(rig, "acme")
        out = await rig.gw.replay({"request_id": rid})
        assert out["identical"] is True and out["mismatches"] == 0 and len(out["receipts"]) == 1
        assert (await rig.gw.replay({"request_id": rid}, ACME))["identical"] is True
        live = await rig.gw.replay({"request_id": rid, "live": True}, ACME)
        assert live["identical"] is True
        with pytest.raises(ReplayNotFound) as e:
            await rig.gw.replay({"request_id": rid}, BETA)  # another tenant's: as if it did not exist
        assert (e.value.message, e.value.path) == (f"no receipt {rid!r}", "request_id")
        with pytest.raises(ReplayNotFound) as e:
            await rig.gw.replay({"request_id": "nope"}, ADMIN)
        with pytest.raises(ReplayNotFound) as e:
            await rig.gw.replay({"trace_id": TRACE}, BETA)
        assert (e.value.message, e.value.path) == (f"no trace {TRACE!r}", "trace_id")
        r = await rig.gw.receipt(rid)
        assert r is not None
        by_trace = await rig.gw.replay({"trace_id": r["trace_id"]}, ACME)
        assert len(by_trace["receipts"]) == 1
        with pytest.raises(ReplayNotFound):
            await rig.gw.replay({"trace_id": r["trace_id"]}, BETA)


async def test_replay_a_policy_over_a_period(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        await call(rig, "acme", policy=CHEAP)
        await call(rig, "beta", policy=CHEAP)
        r = await rig.gw.receipt(await call(rig, "acme", policy=CHEAP))
        assert r is not None
        fp = r["policy"]["fingerprint"]
        every = await rig.gw.replay({"fingerprint": fp, "since": "1d"})
        assert (every["calls"], every["tenant"], every["runtime"], every["until"]) == (
            3,
            None,
            "as then",
            None,
        )
        mine = await rig.gw.replay({"fingerprint": fp, "since": "1d", "until": "2999-01-01T00:00:00Z"}, ACME)
        assert (mine["calls"], mine["tenant"]) == (2, "acme") and mine["until"] is not None
        beta = await rig.gw.replay({"fingerprint": fp, "tenant": "beta", "live": True}, ADMIN)
        assert (beta["calls"], beta["tenant"], beta["runtime"]) == (1, "beta", "live")
        assert (await rig.gw.replay({"fingerprint": fp}))["since"] is None
        assert (await rig.gw.replay({"fingerprint": "other"}))["calls"] == 0
        with pytest.raises(RequestError):
            await rig.gw.replay({"fingerprint": fp, "tenant": "beta"}, ACME)


# -- budgets, roll-ups, audits, what-ifs --------------------------------------------------------------


async def test_a_client_sees_its_own_and_the_shared_caps_only(tmp_path: Path) -> None:
    caps = [
        {"id": "all", "usd": 1.0},
        {"id": "acme", "usd": 1.0, "tenant": "acme"},
        {"id": "beta", "usd": 1.0, "tenant": "beta"},
    ]
    async with Rig(tmp_path, budgets=caps) as rig:
        assert [b["id"] for b in (await rig.gw.budgets(ACME))["budgets"]] == ["all", "acme"]
        assert [b["id"] for b in (await rig.gw.budgets(ADMIN))["budgets"]] == ["all", "acme", "beta"]
        assert [b["id"] for b in (await rig.gw.budgets())["budgets"]] == ["all", "acme", "beta"]


async def test_rollup_groups_scopes_and_refuses_unknown_parameters(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        await call(rig, "acme", policy={**CHEAP, "workload": "chat"})
        await call(rig, "beta", policy={**CHEAP, "workload": "batch"})
        await call(rig, "beta", policy={**CHEAP, "workload": "batch"})
        every = await rig.gw.rollup({"since": "1d"}, ADMIN)
        assert sorted((g["workload"], g["calls"]) for g in every["groups"]) == [("batch", 2), ("chat", 1)]
        assert "series" not in every
        mine = await rig.gw.rollup({"since": "1d"}, ACME)
        assert [(g["workload"], g["calls"]) for g in mine["groups"]] == [("chat", 1)]
        by_tenant = await rig.gw.rollup({"by": "tenant", "since": "1d", "workload": "batch"}, ADMIN)
        assert [(g["tenant"], g["calls"]) for g in by_tenant["groups"]] == [("beta", 2)]
        for flag in ("1", "true"):
            with_series = await rig.gw.rollup({"since": "1d", "series": flag}, ADMIN)
            assert sum(p["calls"] for p in with_series["series"]) == 3
        mine_series = await rig.gw.rollup({"since": "1d", "series": "1"}, ACME)
        assert sum(p["calls"] for p in mine_series["series"]) == 1
        assert "series" not in await rig.gw.rollup({"since": "1d", "series": "yes"}, ADMIN)
        with pytest.raises(RequestError) as e:
            await rig.gw.rollup({"tenant": "x", "group": "y"}, ADMIN)
        assert (e.value.message, e.value.path) == ("group: not a roll-up parameter", "group")
        assert e.value.choices == ["by", "series", "since", "until", "workload"]


async def test_audit_scopes_and_refuses_unknown_parameters(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        acme = await call(rig, "acme", policy=CHEAP)
        await call(rig, "beta", policy=CHEAP)
        with pytest.raises(RequestError) as e:
            await rig.gw.audit({"request": "x"}, ADMIN)
        assert (e.value.message, e.value.path) == ("request: not an audit parameter", "request")
        assert e.value.choices == ["fingerprint", "request_id", "rule", "since", "tenant", "until"]
        one = await rig.gw.audit({"request_id": acme}, ACME)
        assert acme in orjson.dumps(one).decode()
        with pytest.raises(ReplayNotFound) as e2:
            await rig.gw.audit({"request_id": acme}, BETA)
        assert (e2.value.message, e2.value.path) == (f"no receipt {acme!r}", "request_id")
        with pytest.raises(ReplayNotFound):
            await rig.gw.audit({"request_id": "nope"}, BETA)
        with pytest.raises(ReplayNotFound):
            await rig.gw.audit({"request_id": acme, "tenant": "beta"}, ADMIN)
        assert (
            acme in orjson.dumps(await rig.gw.audit({"request_id": acme, "tenant": "acme"}, ADMIN)).decode()
        )
        every = await rig.gw.audit({"since": "1d"}, ADMIN)
        mine = await rig.gw.audit({"since": "1d"}, ACME)
        assert every["receipts"] == 2 and mine["receipts"] == 1 and mine["tenant"] == "acme"


async def test_simulate_refuses_in_words_and_reads_a_named_policy(tmp_path: Path) -> None:
    async with Rig(tmp_path, policies={"dear": DEAR}) as rig:
        await call(rig, "acme", policy=CHEAP)
        await call(rig, "beta", policy=CHEAP)
        for doc, message, path in [
            ([], 'body: expected {"policy": {...} or "NAME", "since": "30d", ...}', "policy"),
            ({"since": "1d"}, 'body: expected {"policy": {...} or "NAME", "since": "30d", ...}', "policy"),
            ({"policy": {}, "since": 1}, "since: expected a string", "since"),
            ({"policy": {}, "until": 1}, "until: expected a string", "until"),
            ({"policy": {}, "workload": 1}, "workload: expected a string", "workload"),
            ({"policy": {}, "tenant": 1}, "tenant: expected a tenant name", "tenant"),
        ]:
            with pytest.raises(RequestError) as e:
                await rig.gw.simulate(doc, ADMIN)
            assert (e.value.message, e.value.path) == (message, path), doc
        named = await rig.gw.simulate({"policy": "dear", "since": "1d"}, ADMIN)
        inline = await rig.gw.simulate({"policy": DEAR, "since": "1d"}, ADMIN)
        assert named["calls"] == inline["calls"] == 2
        assert named["policy"] == inline["policy"]
        mine = await rig.gw.simulate({"policy": DEAR, "since": "1d", "workload": "default"}, ACME)
        assert mine["calls"] == 1
        live = await rig.gw.simulate({"policy": DEAR, "since": "1d", "live": True}, ADMIN)
        assert live["calls"] == 2
        await rig.gw.add_policy({"name": "stored", "policy": DEAR}, ACME)
        stored = await rig.gw.simulate({"policy": "stored", "since": "1d"}, ACME)
        assert stored["calls"] == 1 and stored["policy"]["sha256"] == inline["policy"]["sha256"]
        with pytest.raises(PolicyError):
            await rig.gw.simulate({"policy": "stored", "since": "1d"}, BETA)


# -- small reads ---------------------------------------------------------------------------------------


async def test_health_models_catalog_and_notes(tmp_path: Path) -> None:
    async with Rig(tmp_path, policies={"dear": DEAR, "cheap": CHEAP}, aliases={"gpt-x": "dear"}) as rig:
        await rig.call()
        h = rig.gw.health()
        cat = rig.gw._catalog
        assert h == {
            "status": "ok",
            "catalog_version": cat.version,
            "deployments": 4,
            "receipts_pending": 0,
            "receipts_failed": 0,
            "durability": rig.gw._store.durability,
            "calls_in_flight": 0,
        }
        models = orjson.loads(rig.gw.models())
        assert models["object"] == "list"
        assert [m["id"] for m in models["data"]] == [
            "auto",
            "policy:dear",
            "policy:cheap",
            "gpt-x",
            "a/one",
            "a/two",
            "b/three",
            "c/four",
        ]
        assert models["data"][0] == {"id": "auto", "object": "model", "created": 0, "owned_by": "unhardcoded"}
        assert models["data"][-1] == {"id": "c/four", "object": "model", "created": 0, "owned_by": "c"}
        assert rig.gw.policy_names() == ["dear", "cheap"]
        assert rig.gw.fields() == {"fields": [f.to_dict() for f in cat.fields]}
        assert rig.gw.catalog() == cat.to_dict()
        assert orjson.loads(await rig.gw.catalog_at(cat.version) or b"") == cat.to_dict()
        assert await rig.gw.catalog_at("0" * 64) is None
        assert rig.gw.body_limit() == rig.gw._settings.max_body_bytes
        line, hint = rig.gw.startup_notes()
        assert line == f"4 deployments, catalog {cat.version[:12]}" and hint is None


async def test_with_no_key_at_all_the_startup_notes_say_what_to_do(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.gw._no_key = rig.gw._no_key.__class__(
        "rt:no-key", "provider", "has_key", "k", {d.id: "no key" for d in rig.gw._catalog}
    )
    line, hint = rig.gw.startup_notes()
    assert line.startswith("4 deployments") and hint == NO_KEYS_HINT
    three = {d.id: "no key" for d in list(rig.gw._catalog)[:3]}
    rig.gw._no_key = rig.gw._no_key.__class__("rt:no-key", "provider", "has_key", "k", three)
    assert rig.gw.startup_notes()[1] is None


async def test_search_checks_status_and_finds_a_named_workflow(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        rid = await call(rig, "acme", headers={"x-unhardcoded-workflow": "nightly"})
        await call(rig, "beta", headers={"x-unhardcoded-workflow": "nightly"})
        with pytest.raises(RequestError) as e:
            await rig.gw.search(status="done")
        assert e.value.path == "status" and e.value.choices is not None and "ok" in e.value.choices
        assert e.value.message == "status: expected one of started, ok, error, partial, no_route, incomplete"
        found = await rig.gw.search(ACME, workflow="nightly")
        assert [r["request_id"] for r in found] == [rid]
        assert len(await rig.gw.search(ADMIN, status="ok")) == 2
        assert [r["request_id"] for r in await rig.gw.search(ACME)] == [rid]
        with pytest.raises(UserError):
            await rig.gw.search(ACME, workflow="bad\nname")


async def test_a_traces_totals_are_exact_sums(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        tp = {"traceparent": f"00-{TRACE}-00f067aa0ba902b7-01"}
        rig.transport.push("a", Answer(status=503, body=b"{}"), Answer(body=completion(prompt=3)))
        await call(rig, headers=tp, policy=CHEAP)
        await call(rig, headers=tp, policy=CHEAP)
        t = await rig.gw.trace(TRACE)
        assert t is not None and t["trace_id"] == TRACE and len(t["receipts"]) == 2
        assert await rig.gw.trace(TRACE, BETA) is None
        assert await rig.gw.trace("0" * 32) is None
        totals = t["totals"]
        assert totals["calls"] == 2 and totals["fallbacks"] == 1
        assert totals["statuses"] == {"ok": 2}
        assert sum(totals["calls_per_deployment"].values()) == 2


def test_totals_sum_money_exactly_and_count_what_fired() -> None:
    items: list[dict[str, Any]] = [
        {
            "status": "ok",
            "outcome": {
                "deployment": "a/one",
                "cost_usd": 0.1,
                "baseline": {"cost_usd": 0.3},
                "savings_usd": 0.2,
                "latency_ms": 10,
            },
            "attempts": [{"fell_back": True}, {"fell_back": False}],
            "rules": [{"id": "eu", "rejected": 2}, {"id": "tools", "rejected": 0}],
        },
        {
            "status": "ok",
            "outcome": {"deployment": "a/one", "cost_usd": 0.2, "baseline": None, "savings_usd": 0.1},
            "attempts": [{"fell_back": True}],
            "rules": [{"id": "eu", "rejected": 1}],
        },
        {"status": "no_route", "outcome": {"deployment": None, "cost_usd": None}},
        {"status": "error"},
    ]
    assert _totals(items) == {
        "calls": 4,
        "cost_usd": 0.3,  # exactly: 0.1 + 0.2 as floats would be 0.30000000000000004
        "baseline_cost_usd": 0.3,
        "savings_usd": 0.3,
        "latency_ms": 10.0,
        "fallbacks": 2,
        "calls_per_deployment": {"a/one": 2},
        "statuses": {"ok": 2, "no_route": 1, "error": 1},
        "rules_fired": {"eu": 2},
    }
    assert _totals([{"status": "ok"}])["cost_usd"] is None
