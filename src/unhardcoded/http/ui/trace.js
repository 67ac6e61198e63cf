// A workflow (GET /x/traces/{trace_id}): its calls as a waterfall over time, each with its model, cost,
// savings and fallbacks, and the trace's totals (summed exactly by the gateway).
import { api, badge, dl, h, link, money, ms, s, table, when } from "/ui/dom.js";
import { hashFor } from "/ui/app.js";

function waterfall(items) {
  const starts = items.map((r) => Date.parse(r.created_at));
  const t0 = Math.min(...starts);
  const spans = items.map((r, i) => ({ r, start: starts[i] - t0, len: r.outcome?.latency_ms || 0 }));
  const end = Math.max(1, ...spans.map((x) => x.start + x.len));
  const W = 560;
  const L = 240;
  const rowH = 28;
  return s(
    "svg",
    {
      viewBox: `0 0 ${L + W + 100} ${spans.length * rowH + 24}`,
      class: "waterfall",
      role: "img",
      "aria-label": `waterfall of ${items.length} calls over ${Math.round(end)} ms; the table below has the same data`,
    },
    s("text", { x: L, y: 12, class: "axis" }, "0 ms"),
    s("text", { x: L + W, y: 12, class: "axis", "text-anchor": "end" }, `${Math.round(end)} ms`),
    spans.map(({ r, start, len }, i) => {
      const y = 20 + i * rowH;
      const x = L + (W * start) / end;
      const w = Math.max(2, (W * len) / end);
      const name = r.workflow?.node || r.outcome?.deployment || r.request_id;
      return s(
        "g",
        { class: "wf-row" },
        s("text", { x: 0, y: y + 15, class: "lbl" }, name),
        s("rect", { x, y, width: w, height: 20, class: r.status === "ok" ? "good" : "bad" }),
        s("text", { x: x + w + 4, y: y + 15, class: "val" }, r.outcome?.deployment || r.status),
      );
    }),
  );
}

function node(r) {
  const o = r.outcome || {};
  const fallbacks = (r.attempts || []).filter((a) => a.fell_back).length;
  return h(
    "tr",
    { "data-request-id": r.request_id },
    h("td", { class: "time" }, when(r.created_at)),
    h("th", { scope: "row" }, link(hashFor("receipt", r.request_id), r.workflow?.node || r.request_id)),
    h("td", { class: "dep" }, o.deployment || "—"),
    h("td", null, badge(r.status)),
    h("td", { class: "num" }, money(o.cost_usd)),
    h("td", { class: "num" }, money(o.savings_usd)),
    h("td", { class: "num" }, String(fallbacks)),
    h("td", { class: "num" }, ms(o.latency_ms)),
  );
}

export async function traceView(out, id) {
  out.append(h("h1", { tabindex: "-1" }, "Trace ", h("code", null, id)));
  const t = await api("/x/traces/" + encodeURIComponent(id));
  const items = [...t.receipts].sort((a, b) => Date.parse(a.created_at) - Date.parse(b.created_at));
  const tot = t.totals || {};
  const wf = items.find((r) => r.workflow)?.workflow;
  const perDep = Object.entries(tot.calls_per_deployment || {}).map(([d, n]) => `${d}: ${n}`).join(", ");
  out.append(
    wf ? h("p", { class: "explanation" }, `Workflow ${wf.id}: ${items.length} calls`) : null,
    h(
      "section",
      { "aria-labelledby": "tot-h", id: "totals" },
      h("h2", { id: "tot-h" }, "Totals"),
      dl([
        ["Calls", h("span", { "data-total": "calls" }, String(tot.calls))],
        ["Cost", h("span", { "data-total": "cost_usd" }, money(tot.cost_usd))],
        ["Baseline cost", h("span", { "data-total": "baseline_cost_usd" }, money(tot.baseline_cost_usd))],
        ["Savings", h("span", { "data-total": "savings_usd" }, money(tot.savings_usd))],
        ["Fallbacks", h("span", { "data-total": "fallbacks" }, String(tot.fallbacks))],
        ["Calls per deployment", perDep || "—"],
        ["Statuses", Object.entries(tot.statuses || {}).map(([k, v]) => `${k}: ${v}`).join(", ")],
        ["Rules that fired", Object.entries(tot.rules_fired || {}).map(([k, v]) => `${k}: ${v}`).join(", ") || "—"],
      ]),
    ),
    h("section", { "aria-labelledby": "wf-h" }, h("h2", { id: "wf-h" }, "Waterfall"), waterfall(items)),
    table(
      "Calls in time order",
      ["Started (UTC)", "Node / request", "Deployment", "Status", "Cost", "Savings", "Fallbacks", "Latency"],
      items.map(node),
      { class: "grid", id: "nodes" },
    ),
  );
}
