"""The catalog a gateway's `Policies` builds from the config (gateway/policies.py): the bundled deployments
when `catalog.bundled` is on, the config's overlay on top, and the config's custom fields, which overlay
deployments may carry and policies may route by.

Written from the survivors of `make mutation` on `gateway/policies.py` (docs/mutation.md): the rig's
catalog is otherwise never bundled and has no custom field.
"""

from __future__ import annotations

from pathlib import Path

from tests.gateway.scripted import DEPLOYMENTS, Rig

EVAL = {"internal_eval": {"type": "number", "unit": "score", "description": "our eval suite, 0-100"}}
SCORES = {"a/one": 60, "a/two": 90, "b/three": 70}  # c/four has none


async def test_a_bundled_catalog_with_a_custom_field_routes_by_that_field(tmp_path: Path) -> None:
    deployments = [d | {"internal_eval": SCORES[d["id"]]} if d["id"] in SCORES else d for d in DEPLOYMENTS]
    catalog = {"bundled": True, "fields": EVAL, "deployments": deployments}
    policy = {"rules": [{"id": "good", "field": "internal_eval", "op": ">=", "value": 80}]}
    async with Rig(tmp_path, catalog=catalog) as rig:
        code, receipt = await rig.call(policy)
        doc = rig.gw.catalog()
    ids = {d["id"] for d in doc["deployments"]}
    assert {d["id"] for d in DEPLOYMENTS} < ids
    assert "openai/gpt-4.1" in ids and len(ids) > len(DEPLOYMENTS) + 20  # the bundled ones too
    assert [f["name"] for f in doc["fields"]] == ["internal_eval"]
    assert code == 200
    assert receipt["outcome"]["deployment"] == "a/two"  # the only one scoring 80 or more
