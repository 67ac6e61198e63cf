"""Each view of the receipt viewer in headless chromium, checked against the JSON the same gateway serves.

Every test also writes its view's screenshot (into docs/ui/ with UI_SCREENSHOTS=docs/ui) and runs axe-core
on it (no serious or critical violation); the page fixture fails a test on any script error or CSP
refusal in the console.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.e2e.harness import DEPLOYMENTS, Harness
from tests.ui.conftest import World, axe_violations, open_view, rerendered, shoot
from unhardcoded.gateway.auth import key_digest


def money_values(page: Any, selector: str) -> list[float | None]:
    out: list[float | None] = []
    for v in page.locator(selector).evaluate_all("els => els.map(e => e.dataset.value)"):
        out.append(None if v == "" else float(v))
    return out


def test_search_lists_the_calls_with_their_numbers(page: Any, world: World) -> None:
    api = world.get("/x/traces?limit=50")["receipts"]
    open_view(page, world, "#/search", "search")
    ids = page.locator("#results tbody tr").evaluate_all("rs => rs.map(r => r.dataset.requestId)")
    assert ids == [r["request_id"] for r in api] and len(ids) == len(world.ids)
    assert money_values(page, "#results td[data-col=cost] .money") == [r["cost_usd"] for r in api]
    assert money_values(page, "#results td[data-col=savings] .money") == [r["savings_usd"] for r in api]
    fallback = page.locator(f"tr[data-request-id={world.ids['fallback']}]")
    assert "beta/mid2" in fallback.inner_text() and "\t1\t" in fallback.inner_text()
    no_route = page.locator(f"tr[data-request-id={world.ids['no_route']}] td[data-col=cost]")
    assert no_route.inner_text() == "unknown"  # null money is never shown as $0
    wf = page.locator("#workflows li")
    assert wf.evaluate_all("ls => ls.map(l => l.dataset.traceId)") == [world.traces["workflow"]]
    assert wf.inner_text() == "run-42 — 3 calls: review, draft, plan"
    assert axe_violations(page) == []
    shoot(page, "search")

    # Filters go into the shareable URL and reach the endpoint (status is filtered in the page).
    page.fill("#f-deployment", "alpha/cheap")
    rerendered(page, lambda: page.press("#f-deployment", "Enter"), "search")
    assert "deployment=alpha" in page.url
    want = [r["request_id"] for r in world.get("/x/traces?deployment=alpha/cheap")["receipts"]]
    got = page.locator("#results tbody tr").evaluate_all("rs => rs.map(r => r.dataset.requestId)")
    assert got == want and len(want) == 2
    open_view(page, world, "#/search?status=no_route", "search")
    got = page.locator("#results tbody tr").evaluate_all("rs => rs.map(r => r.dataset.requestId)")
    assert got == [world.ids["no_route"]]


def test_a_receipt_explains_the_decision_first(page: Any, world: World) -> None:
    rid = world.ids["fallback"]
    r = world.get(f"/x/receipts/{rid}")
    open_view(page, world, f"#/receipt/{rid}", "receipt")
    # The explanation is the first thing after the heading.
    first = page.locator("#view .view > :nth-child(2)")
    assert first.get_attribute("id") == "explanation" and first.inner_text() == r["explanation"]
    assert page.inner_text("#winner") == r["outcome"]["deployment"] == "beta/mid2"
    assert page.inner_text("#fingerprint") == r["policy"]["fingerprint"]
    cost = money_values(page, "#cost .money")
    assert cost[:3] == [
        r["outcome"]["cost_usd"],
        r["outcome"]["baseline"]["cost_usd"],
        r["outcome"]["savings_usd"],
    ]
    assert page.inner_text("#baseline-dep") == r["outcome"]["baseline"]["deployment"]
    # Attempts as a timeline, in order, the failed one marked as a fallback.
    attempts = page.locator("ol.attempts li")
    assert attempts.evaluate_all("ls => ls.map(l => l.dataset.deployment)") == [
        a["deployment"] for a in r["attempts"]
    ]
    assert "fell back" in attempts.nth(0).inner_text() and "server_error" in attempts.nth(0).inner_text()
    # Rules: exactly the ones that rejected someone are highlighted.
    fired = page.locator("table.rules tr.fired").evaluate_all("rs => rs.map(r => r.dataset.rule)")
    assert fired == [x["id"] for x in r["rules"] if x["rejected"]]
    # Candidates grouped by the first rule that rejected them, with the receipt's counts.
    groups = page.locator("details.group").evaluate_all(
        "ds => Object.fromEntries(ds.map(d => [d.dataset.rule, +d.querySelector('.count').textContent]))"
    )
    assert groups == r["counts"]["rejected_first_by"]
    ranked = page.locator("#ranked tbody tr").evaluate_all("rs => rs.map(r => r.dataset.deployment)")
    assert ranked == [
        c["deployment"] for c in sorted(r["candidates"], key=lambda c: c.get("rank", 99)) if "rank" in c
    ]
    # A group opens by keyboard and shows the failed rule with the value that failed it.
    page.focus("details.group[data-rule=q] summary")
    page.keyboard.press("Enter")
    row = page.locator("details.group[data-rule=q] tr[data-deployment='alpha/cheap']")
    assert row.is_visible() and "bench_intelligence was 50, needs >= 60" in row.inner_text()
    assert axe_violations(page) == []
    shoot(page, "receipt")


def test_a_call_nothing_could_serve(page: Any, world: World) -> None:
    rid = world.ids["no_route"]
    r = world.get(f"/x/receipts/{rid}")
    open_view(page, world, f"#/receipt/{rid}", "receipt")
    assert page.inner_text("#explanation") == r["explanation"]
    assert r["explanation"].startswith("no deployment passed")
    assert page.inner_text("#winner") == "nobody"
    assert "No attempt was made." in page.inner_text("#view")
    assert "No deployment passed every rule." in page.inner_text("#view")
    assert "no comparison is invented" in page.inner_text("#cost")
    (group,) = page.locator("details.group").evaluate_all("ds => ds.map(d => d.dataset.rule)")
    assert r["counts"]["rejected_first_by"] == {group: 5}


def test_replay_says_same_winner_on_an_unchanged_catalog(page: Any, world: World) -> None:
    rid = world.ids["inline"]
    open_view(page, world, f"#/receipt/{rid}", "receipt")
    page.focus("#replay")
    page.keyboard.press("Enter")
    page.wait_for_selector("#replay-verdict")
    api = world.post("/x/replay", {"request_id": rid})[1]["receipts"][0]["now"]
    assert (
        api["same_winner"] and page.inner_text("#replay-verdict") == f"Same winner today: {api['winner_now']}"
    )


def test_workflow_waterfall_and_totals(page: Any, world: World) -> None:
    tid = world.traces["workflow"]
    t = world.get(f"/x/traces/{tid}")
    open_view(page, world, f"#/trace/{tid}", "trace")
    totals = page.locator("#totals [data-total]").evaluate_all(
        "es => Object.fromEntries(es.map(e => [e.dataset.total, e.querySelector('.money')"
        " ? +e.querySelector('.money').dataset.value : +e.textContent]))"
    )
    assert totals == {
        k: t["totals"][k] for k in ("calls", "cost_usd", "baseline_cost_usd", "savings_usd", "fallbacks")
    }
    assert totals["calls"] == 3
    nodes = page.locator("#nodes tbody tr th").all_inner_texts()
    assert nodes == ["plan", "draft", "review"]
    deps = page.locator("#nodes tbody td.dep").all_inner_texts()
    by_id = {r["request_id"]: r for r in t["receipts"]}
    assert deps == [by_id[world.ids[f"wf-{n}"]]["outcome"]["deployment"] for n in ("plan", "draft", "review")]
    assert page.locator("svg.waterfall g.wf-row rect").count() == 3
    assert axe_violations(page) == []
    shoot(page, "workflow")
    # Each node links to its receipt.
    rerendered(page, lambda: page.click("#nodes tbody tr:nth-child(2) th a"), "receipt")
    assert world.ids["wf-draft"] in page.url


def test_savings_from_the_rollup(page: Any, world: World) -> None:
    doc = world.get("/x/rollup?by=workload")
    open_view(page, world, "#/savings", "savings")
    rows = page.locator("#groups tbody tr")
    assert rows.evaluate_all("rs => rs.map(r => r.dataset.group)") == [g["workload"] for g in doc["groups"]]
    for i, g in enumerate(doc["groups"]):
        cells = rows.nth(i).locator(".money").all_inner_texts()
        assert cells == ["$" + g["cost_usd"], "$" + g["baseline_cost_usd"], "$" + g["savings_usd"]]
    t = doc["totals"]
    assert f"cost ${t['cost_usd']} against a baseline of ${t['baseline_cost_usd']}" in page.inner_text(
        "#savings-total"
    )
    passed = page.locator("#passed-over tbody tr td.dep").all_inner_texts()
    assert passed == [p["deployment"] for g in doc["groups"] for p in g["passed_over"]] and passed
    assert page.locator("svg.bars").count() == 2
    (b,) = world.get("/x/budgets")["budgets"]
    assert b["spent_usd"] > 0  # two "support" calls were charged to it
    budget = page.locator("#budgets tr[data-budget=support-daily]")
    assert money_values(page, "#budgets [data-col=spent] .money") == [b["spent_usd"]]
    assert money_values(page, "#budgets [data-col=left] .money") == [b["left_usd"]]
    assert float(budget.locator("meter").get_attribute("value") or "nan") == b["spent_usd"]
    assert axe_violations(page) == []
    shoot(page, "savings")
    page.select_option("#r-by", "deployment")
    rerendered(page, lambda: page.click("form.filters button"), "savings")
    assert "by=deployment" in page.url
    by_dep = world.get("/x/rollup?by=deployment")
    got = page.locator("#groups tbody tr").evaluate_all("rs => rs.map(r => r.dataset.group)")
    assert got == [g["deployment"] or "—" for g in by_dep["groups"]]


def test_audit_view(page: Any, world: World) -> None:
    status, body = world.h.get("/x/audit")
    open_view(page, world, "#/audit", "audit")
    if status == 404 and "no route" in str(body):
        # The endpoint is not served (yet): the view says so instead of showing nothing.
        assert "needs GET /x/audit" in page.inner_text("#view")
    else:
        assert status == 200, body
        fps = page.locator("section.policy-audit").evaluate_all("ss => ss.map(s => s.dataset.fingerprint)")
        assert fps == [p["fingerprint"] for p in body["policies"]]
        for p in body["policies"]:
            section = page.locator(f"section.policy-audit[data-fingerprint='{p['fingerprint']}']")
            shown = section.locator("details.group").evaluate_all(
                "ds => ds.map(d => [d.dataset.rule, +d.querySelector('.count').textContent])"
            )
            assert shown == [[r["rule_id"], r["excluded"]] for r in p["rules"]]
        (eu_quality,) = [p for p in body["policies"] if p["name"] == "eu-quality"]
        (eu,) = [r for r in eu_quality["rules"] if r["rule_id"] == "eu"]
        group = page.locator(f"section[data-fingerprint='{eu_quality['fingerprint']}'] details[data-rule=eu]")
        group.locator("summary").click()
        regions = group.locator("table").first.locator("tbody tr").all_inner_texts()
        assert eu["by_region"] == {"us-east-1": 1}  # beta/top, the one deployment outside the EU
        assert regions == [f"{k}\t{v}" for k, v in eu["by_region"].items()]
        assert axe_violations(page) == []
        shoot(page, "audit")
        rid = world.ids["fallback"]
        status, proof = world.h.get(f"/x/audit?request_id={rid}")
        assert status == 200, proof
        open_view(page, world, f"#/audit?request_id={rid}", "audit")
        rules = page.locator("#proof tbody tr").evaluate_all("rs => rs.map(r => r.dataset.rule)")
        assert rules == [r["rule_id"] for r in proof["rules"]]
        verdict = "Enforced" if proof["enforced"] else "Not proven"
        assert page.inner_text("#proof-verdict").startswith(verdict)
        assert axe_violations(page) == []
        shoot(page, "audit-proof")
        return
    assert axe_violations(page) == []
    shoot(page, "audit")


def test_dry_run_ranks_as_you_type_and_points_at_a_bad_rule(page: Any, world: World) -> None:
    open_view(page, world, "#/dryrun", "dryrun")
    page.wait_for_selector("#rank-explanation")
    rule = '{"id": "q", "field": "bench_intelligence", "op": ">=", "value": 45}'
    policy = '{\n  "rules": [\n    ' + rule + "\n  ]\n}"
    page.fill("#policy", policy)
    want = world.post(
        "/x/rank",
        {"policy": {"rules": [{"id": "q", "field": "bench_intelligence", "op": ">=", "value": 45}]}},
    )[1]
    page.wait_for_function(
        "t => document.querySelector('#rank-explanation')?.textContent === t", arg=want["explanation"]
    )
    assert page.inner_text("#rank-fingerprint") == want["policy"]["fingerprint"]
    ranked = page.locator("#ranked tbody tr").evaluate_all("rs => rs.map(r => r.dataset.deployment)")
    assert ranked == [
        c["deployment"] for c in sorted(want["candidates"], key=lambda c: c.get("rank", 99)) if "rank" in c
    ]
    assert axe_violations(page) == []
    shoot(page, "dryrun")

    # A bad op in the second rule: the 400's path, and the exact text it names, line and column.
    bad = (
        '{\n  "rules": [\n    {"id": "q", "field": "bench_intelligence", "op": ">=", "value": 45},\n'
        '    {"id": "r", "field": "bench_intelligence", "op": "~", "value": 1}\n  ]\n}'
    )
    page.fill("#policy", bad)
    page.wait_for_selector("#policy-error")
    status, err = world.post(
        "/x/rank",
        {
            "policy": {
                "rules": [
                    {"id": "q", "field": "bench_intelligence", "op": ">=", "value": 45},
                    {"id": "r", "field": "bench_intelligence", "op": "~", "value": 1},
                ]
            }
        },
    )
    assert status == 400 and err["error"]["param"] == "$.rules[1].op"
    assert page.inner_text("#error-path") == "$.rules[1].op"
    assert page.inner_text("#error-mark") == '"op": "~"'
    assert "line 4, column 48" in page.inner_text("#policy-error")
    assert page.get_attribute("#policy", "aria-invalid") == "true"
    assert axe_violations(page) == []
    shoot(page, "dryrun-error")
    page.click("#goto-error")
    selected = page.evaluate(
        "() => { const t = document.querySelector('#policy');"
        " return t.value.slice(t.selectionStart, t.selectionEnd); }"
    )
    assert selected == '"op": "~"'
    # The URL carries the policy: opening it again shows the same error.
    page.reload()
    page.wait_for_selector("body[data-ready=dryrun] #policy-error")
    assert page.inner_text("#error-path") == "$.rules[1].op"


def test_dry_run_starts_from_a_named_policy(page: Any, world: World) -> None:
    (named,) = [p for p in world.get("/x/policies")["policies"] if p["name"] == "eu-quality"]
    open_view(page, world, "#/dryrun", "dryrun")
    page.select_option("#start-from", "eu-quality")
    page.wait_for_function(
        "fp => document.querySelector('#rank-fingerprint')?.textContent === fp", arg=named["fingerprint"]
    )
    canonical = world.get("/x/policies/eu-quality")["versions"][-1]["policy"]
    assert json.loads(page.input_value("#policy")) == canonical
    want = world.post("/x/rank", {"policy": canonical})[1]
    assert page.inner_text("#rank-explanation") == want["explanation"]


def test_keyboard_reaches_every_control(page: Any, world: World) -> None:
    rid = world.ids["fallback"]
    views = [
        (f"#/receipt/{rid}", "receipt"),
        ("#/search", "search"),
        (f"#/trace/{world.traces['workflow']}", "trace"),
        ("#/savings", "savings"),
        ("#/audit", "audit"),
        ("#/dryrun", "dryrun"),
    ]
    for hash_, name in views:
        open_view(page, world, hash_, name)
        total = page.evaluate(
            """() => { let n = 0;
              const all = document.querySelectorAll('a[href], button, input, select, textarea, summary');
              for (const e of all) {
                if (e.checkVisibility() && !e.disabled) e.dataset.kb = String(n++); }
              return n; }"""
        )
        reached: set[str] = set()
        page.locator("body").focus()
        for _ in range(total + 5):
            page.keyboard.press("Tab")
            kb = page.evaluate("() => document.activeElement?.dataset?.kb ?? null")
            if kb is not None:
                reached.add(kb)
        missing = sorted(set(map(str, range(total))) - reached)
        assert not missing, (
            name,
            total,
            [page.evaluate(f"() => document.querySelector('[data-kb=\"{m}\"]').outerHTML") for m in missing],
        )
        assert total > 8, name


def test_replay_shows_the_new_winner_after_a_catalog_change(browser_context: Any, world: World) -> None:
    """A second gateway on the same store file, its catalog overlay giving alpha/cheap a better score: the
    "inline" call (bench_intelligence >= 60, won by alpha/mid) would now go to alpha/cheap."""
    changed = [dict(d, bench_intelligence=62) if d["id"] == "alpha/cheap" else d for d in DEPLOYMENTS]
    h2 = Harness.start(world.tmp, config={"catalog": {"bundled": False, "deployments": changed}})
    page = browser_context.new_page()
    try:
        rid = world.ids["inline"]
        page.goto(f"{h2.url}/ui#/receipt/{rid}")
        page.wait_for_selector("body[data-ready=receipt]")
        page.click("#replay")
        page.wait_for_selector("#replay-verdict")
        status, _, doc = h2.post("/x/replay", {"request_id": rid})
        now = doc["receipts"][0]["now"]
        assert status == 200 and (now["winner_then"], now["winner_now"]) == ("alpha/mid", "alpha/cheap")
        assert page.inner_text("#replay-verdict") == "New winner today: alpha/mid → alpha/cheap"
        item = page.locator("ul.changes[data-kind=changed] > li[data-deployment='alpha/cheap']")
        assert "rejected → winner" in item.inner_text()
        assert "bench_intelligence 50 → 62" in item.inner_text()
        assert "now passes q (bench_intelligence >= 60; 50 → 62)" in item.inner_text()
        changed_deps = page.locator("ul.changes[data-kind=changed] > li").evaluate_all(
            "ls => ls.map(l => l.dataset.deployment)"
        )
        assert changed_deps == [c["deployment"] for c in now["changed"]]
        assert "identical" in page.inner_text("#replay-out")  # as then: rebuilt exactly
        assert axe_violations(page) == []
        shoot(page, "receipt-replay")
    finally:
        page.close()
        h2.stop()


def test_search_pages_back_in_time(page: Any, world: World) -> None:
    everything = [r["request_id"] for r in world.get("/x/traces?limit=100")["receipts"]]
    open_view(page, world, "#/search?limit=3", "search")
    seen: list[str] = []
    for _ in range(10):
        seen += page.locator("#results tbody tr").evaluate_all("rs => rs.map(r => r.dataset.requestId)")
        older = page.locator("a[rel=next]")
        if older.count() == 0:
            break
        rerendered(page, older.click, "search")
    assert seen == everything and len(everything) > 3


def test_with_gateway_keys_the_page_asks_for_one_and_shows_only_that_tenant(
    browser_context: Any, tmp_path: Path
) -> None:
    acme, globex = "uh_acme-ui-key-0001", "uh_globex-ui-key-0002"
    auth = {
        "keys": [
            {"hash": key_digest(acme), "tenant": "acme", "scope": "client"},
            {"hash": key_digest(globex), "tenant": "globex", "scope": "client"},
        ]
    }
    h = Harness.start(tmp_path, config={"auth": auth})
    page = browser_context.new_page()
    try:
        mine = []
        for key in (acme, globex, acme):
            body = {"model": "policy:eu-quality", "messages": [{"role": "user", "content": "hi"}]}
            status, headers, _ = h.post("/v1/chat/completions", body, {"authorization": f"Bearer {key}"})
            assert status == 200
            if key == acme:
                mine.append(headers["x-unhardcoded-request-id"])
        page.goto(f"{h.url}/ui#/search")  # the page is public; its data is not
        page.wait_for_selector("body[data-ready=search] #gateway-key")
        assert "gateway key is required" in page.inner_text("#view")
        page.fill("#gateway-key", acme)
        rerendered(page, lambda: page.press("#gateway-key", "Enter"), "search")
        got = page.locator("#results tbody tr").evaluate_all("rs => rs.map(r => r.dataset.requestId)")
        assert sorted(got) == sorted(mine)  # acme's calls, none of globex's
        assert page.evaluate("() => sessionStorage.length") == 1  # kept in this tab only
    finally:
        page.close()
        h.stop()
