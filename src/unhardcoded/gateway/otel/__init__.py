"""OpenTelemetry export of receipts (SPEC §6): one SERVER span per call with the receipt's own ids, one
CLIENT span per attempt, `gen_ai.*` and `unhardcoded.*` attributes, rejections as one event per rule.

    exporter = OtelExporter(settings.otel, env=os.environ)  # ConfigError if the `otel` extra is missing
    exporter.export(receipt, rejections)                     # once per finished call; never blocks or raises
    await exporter.close()                                   # on shutdown: flush

Importing this package needs nothing beyond the base install; building an `OtelExporter` needs the extra.
"""

from __future__ import annotations

from unhardcoded.gateway.otel.exporter import EXTRA_MISSING, OtelExporter, OtelStats
from unhardcoded.gateway.otel.spans import SpanPlan, plan_spans

__all__ = ["EXTRA_MISSING", "OtelExporter", "OtelStats", "SpanPlan", "plan_spans"]
