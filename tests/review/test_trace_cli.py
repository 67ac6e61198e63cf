"""`unhardcoded trace` on a store file, no server: one receipt for a person, and --list with filters."""

from __future__ import annotations

from tests.review.conftest import History, cli, load_json
from unhardcoded.review.trace import rejection_groups, summarize


def test_trace_renders_explanation_first_then_policy_rejections_timeline_and_cost(history: History) -> None:
    out = cli("trace", history.ids["fallback"], "--store", str(history.db))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert (
        lines[0].startswith("beta/mid2 won: cheapest of 3 that passed 3 rules")
        and "after 1 fallback" in lines[0]
    )
    text = out.stdout
    assert history.fingerprints["EU60"] in text
    assert "q          policy   bench_intelligence >= 60" in text and "alpha/cheap (50)" in text
    assert "gamma/nokey (no key in $GAMMA_KEY)" in text
    attempt_1 = next(
        line for line in lines if line.startswith("1 ") and "alpha/mid" in line and "503" in line
    )
    assert "server_error" in attempt_1 and "→ beta/mid2" in attempt_1
    assert "baseline beta/top" in text and "saved $" in text and "(76.0%)" in text


def test_trace_groups_partition_the_rejected_and_all_shows_every_one(history: History) -> None:
    js = cli("trace", history.ids["no_route"], "--store", str(history.db), "--json")
    receipt = load_json(js.stdout)
    groups = rejection_groups(receipt)
    assert sum(g["first"] for g in groups) == receipt["counts"]["rejected"] == 5
    s = summarize(receipt, show_all=True)
    assert {d["deployment"] for g in s["rejected"] for d in g["deployments"]} == {
        c["deployment"] for c in receipt["candidates"]
    }
    assert s["money"]["cost_usd"] is None and s["attempts"] == []
    out = cli("trace", history.ids["no_route"], "--store", str(history.db), "--all")
    assert out.returncode == 0 and out.stdout.startswith("no deployment passed")


def test_trace_by_trace_id_and_json_is_the_expanded_receipt(history: History) -> None:
    one = load_json(cli("trace", history.ids["stream"], "--store", str(history.db), "--json").stdout)
    assert one["request_id"] == history.ids["stream"] and one["candidates"] and one["rules"]
    by_trace = cli("trace", one["trace_id"], "--store", str(history.db), "--json")
    assert load_json(by_trace.stdout)["request_id"] == history.ids["stream"]
    assert cli("trace", "nope", "--store", str(history.db)).returncode == 2


def test_trace_list_filters(history: History) -> None:
    def listed(*args: str) -> list[dict]:
        out = cli("trace", "--list", "--store", str(history.db), "--json", *args)
        assert out.returncode == 0, out.stderr
        return load_json(out.stdout)["receipts"]

    everything = listed("--limit", "1000")
    assert {r["request_id"] for r in everything} >= set(history.ids.values())
    assert [r["request_id"] for r in listed("--status", "no_route")] == [history.ids["no_route"]]
    assert {r["workload"] for r in listed("--workload", "support")} == {"support"}
    assert {r["deployment"] for r in listed("--deployment", "beta/mid2")} == {"beta/mid2"}
    fp = history.fingerprints["EU60"]
    assert {r["fingerprint"] for r in listed("--fingerprint", fp)} == {fp}
    assert len(listed("--limit", "2")) == 2
    assert listed("--since", "2000-01-01T00:00:00Z", "--until", "2000-01-02T00:00:00Z") == []
    assert len(listed("--since", "1d", "--limit", "1000")) == len(everything)
    plain = cli("trace", "--list", "--store", str(history.db), "--status", "no_route")
    assert history.ids["no_route"] in plain.stdout
    assert cli("trace", "--list", "--store", str(history.db), "--status", "nope").returncode == 2
