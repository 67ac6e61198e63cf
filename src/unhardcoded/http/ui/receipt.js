// One receipt (GET /x/receipts/{id}): the explanation first, then the policy and its fingerprint, cost vs
// baseline, the Replay button (POST /x/replay), the attempts as a timeline and the candidates.
import { api, badge, dl, h, jsonText, link, money, ms, notice, pct, plain, s, table, usd, when } from "/ui/dom.js";
import { hashFor } from "/ui/app.js";
import { candidatesSection, rulesTable } from "/ui/candidates.js";

function costBars(outcome) {
  const cost = outcome.cost_usd;
  const base = outcome.baseline?.cost_usd;
  if (cost === null || cost === undefined || base === null || base === undefined) {
    return notice("Cost or baseline cost unknown (a price is not listed): no comparison is invented.");
  }
  const max = Math.max(cost, base) || 1;
  const W = 360;
  const bar = (y, v, label, cls) => [
    s("text", { x: 0, y: y + 14, class: "lbl" }, label),
    s("rect", { x: 120, y, width: Math.max(1, (W * v) / max), height: 20, class: cls }),
    s("text", { x: 126 + (W * v) / max, y: y + 14, class: "val" }, usd(v)),
  ];
  return s(
    "svg",
    { viewBox: "0 0 600 60", class: "bars narrow", role: "img", "aria-label": `cost ${usd(cost)} against baseline ${usd(base)}` },
    bar(4, cost, "this call", "cost"),
    bar(32, base, "baseline", "base"),
  );
}

function costSection(r) {
  const o = r.outcome || {};
  const base = o.baseline || {};
  const saved = o.savings_usd;
  const share = saved !== null && saved !== undefined && base.cost_usd ? (100 * saved) / base.cost_usd : null;
  return h(
    "section",
    { "aria-labelledby": "cost-h", id: "cost" },
    h("h2", { id: "cost-h" }, "Cost against the baseline"),
    dl([
      ["Cost", money(o.cost_usd)],
      ["Baseline", h("span", null, money(base.cost_usd), " on ", h("span", { class: "dep", id: "baseline-dep" }, base.deployment || "none"))],
      ["Savings", h("span", null, money(saved), share === null ? "" : ` (${pct(share)} cheaper)`)],
      ["Tokens", o.usage ? `${o.usage.input_tokens} in, ${o.usage.output_tokens} out, ${o.usage.cached_input_tokens || 0} cached` : "—"],
    ]),
    costBars(o),
  );
}

function timeline(attempts) {
  if (!attempts.length) return h("p", null, "No attempt was made.");
  const t0 = Date.parse(attempts[0].started_at);
  const spans = attempts.map((a) => ({ a, start: Date.parse(a.started_at) - t0, len: a.latency_ms || 0 }));
  const end = Math.max(1, ...spans.map((x) => x.start + x.len));
  const W = 600;
  const svg = s(
    "svg",
    { viewBox: `0 0 ${W + 200} ${spans.length * 26 + 6}`, class: "timeline", "aria-hidden": "true" },
    spans.map(({ a, start, len }, i) => [
      s("text", { x: 0, y: i * 26 + 17, class: "lbl" }, a.deployment),
      s("rect", {
        x: 200 + (W * start) / end,
        y: i * 26 + 4,
        width: Math.max(2, (W * len) / end),
        height: 18,
        class: a.error_class ? "bad" : "good",
      }),
    ]),
  );
  const items = attempts.map((a) =>
    h(
      "li",
      { class: a.error_class ? "attempt bad" : "attempt good", "data-deployment": a.deployment },
      h("strong", null, a.deployment),
      ` — HTTP ${a.http_status ?? "none"}, ${a.error_class || "answered"}, ${ms(a.latency_ms)}`,
      a.ttft_ms !== null && a.ttft_ms !== undefined ? `, first token ${ms(a.ttft_ms)}` : "",
      a.fell_back ? h("span", { class: "fell" }, " → fell back") : "",
      a.waited_s ? `, waited ${plain(a.waited_s, 3)} s` : "",
      a.error ? h("div", { class: "sub" }, a.error) : null,
    ),
  );
  return [svg, h("ol", { class: "attempts" }, items)];
}

function num(v) {
  if (v === null || v === undefined) return "—";
  if (typeof v === "number" && !Number.isInteger(v)) return plain(v);
  return Array.isArray(v) ? "[" + v.join(", ") + "]" : String(v);
}

function fate(f, rank) {
  return (f === "planned" || f === "passed") && rank ? `${f} #${rank}` : f;
}

// As `unhardcoded replay` prints it: fate then → now, each changed value, each rule now passed or failed.
function changedItem(c) {
  const parts = (c.values || []).map((v) => h("li", { "data-field": v.field }, `${v.field} ${num(v.then)} → ${num(v.now)}`));
  for (const r of c.rules || []) {
    parts.push(h("li", { class: r.now_passes ? "" : "fail" }, `${r.now_passes ? "now passes" : "now fails"} ${r.rule_id} (${r.field} ${r.op} ${num(r.expected)}; ${num(r.then)} → ${num(r.now)})`));
  }
  return h(
    "li",
    { "data-deployment": c.deployment },
    h("span", { class: "dep" }, c.deployment),
    ` ${fate(c.then, c.rank_then)} → ${fate(c.now, c.rank_now)}`,
    parts.length ? h("ul", null, parts) : null,
  );
}

function replayResult(doc) {
  const one = (doc.receipts || [])[0];
  if (!one) return notice("Replay returned nothing for this receipt.", "error");
  const then = one.as_then || {};
  const now = one.now || {};
  const parts = [
    then.identical
      ? h("p", { class: "ok" }, "As then: identical — the stored decision was rebuilt exactly from its inputs.")
      : notice(`As then: MISMATCH — ${JSON.stringify(then.first_difference || then.error || "differs")}`, "error"),
  ];
  if (now.error) {
    parts.push(notice("Now: " + now.error, "error"));
    return parts;
  }
  if (now.same_winner) {
    parts.push(h("p", { class: "verdict same", id: "replay-verdict" }, `Same winner today: ${now.winner_now || "none (nothing passed, then and now)"}`));
  } else {
    parts.push(
      h(
        "p",
        { class: "verdict changed", id: "replay-verdict" },
        "New winner today: ",
        h("span", { class: "dep" }, now.winner_then || "none"),
        " → ",
        h("strong", { class: "dep", id: "replay-winner" }, now.winner_now || "none"),
      ),
    );
  }
  parts.push(
    dl([
      ["Catalog", now.catalog_then === now.catalog_now ? "unchanged" : `${(now.catalog_then || "").slice(0, 12)}… → ${(now.catalog_now || "").slice(0, 12)}…`],
      ["Winner's estimated cost", h("span", null, money(now.est_cost_then_usd), " then, ", money(now.est_cost_now_usd), " now")],
      ["Passed", `${now.passed_then} then, ${now.passed_now} now`],
      ["Runtime state", now.runtime || "as then"],
    ]),
  );
  const lists = [
    ["Changed", now.changed || [], changedItem],
    ["Added", now.added || [], (c) => h("li", null, `${c.deployment}: ${fate(c.now, c.rank_now)}` + (c.rejected_by?.length ? ` (rejected by ${c.rejected_by.join(", ")})` : ""))],
    ["Gone", now.gone || [], (c) => h("li", null, `${c.deployment} (was ${c.then})`)],
  ];
  for (const [title, items, fn] of lists) {
    if (items.length) parts.push(h("h3", null, title), h("ul", { class: "changes", "data-kind": title.toLowerCase() }, items.map(fn)));
  }
  return parts;
}

function replaySection(r) {
  const out = h("div", { id: "replay-out", "aria-live": "polite" });
  const button = h("button", { type: "button", id: "replay" }, "Replay: would it still win today?");
  button.addEventListener("click", async () => {
    button.disabled = true;
    out.replaceChildren(h("p", { role: "status" }, "Replaying…"));
    try {
      out.replaceChildren(...[replayResult(await api("/x/replay", { request_id: r.request_id }))].flat());
    } catch (e) {
      out.replaceChildren(notice("Replay failed: " + e.message, "error"));
    } finally {
      button.disabled = false;
    }
  });
  return h("section", { "aria-labelledby": "replay-h" }, h("h2", { id: "replay-h" }, "Replay"), button, out);
}

function policySection(r) {
  const p = r.policy || {};
  const named = p.name ? `${p.name}${p.version ? " v" + p.version : ""}` : "inline";
  return h(
    "section",
    { "aria-labelledby": "policy-h" },
    h("h2", { id: "policy-h" }, "Policy"),
    dl([
      ["Name", named],
      ["Fingerprint", h("span", null, h("code", { id: "fingerprint" }, p.fingerprint), " ", link(hashFor("audit", "", { fingerprint: p.fingerprint }), "audit this policy"), " · ", link(hashFor("audit", "", { request_id: r.request_id }), "prove its rules held on this call"))],
      ["SHA-256", h("code", { class: "hash" }, p.sha256)],
      ["Workload", p.workload],
      ["Catalog version", h("code", { class: "hash" }, r.catalog_version)],
    ]),
    rulesTable(r.rules || [], "Rules applied (policy, request and runtime); a highlighted rule rejected someone"),
    h(
      "details",
      null,
      h("summary", null, "Canonical policy (JSON)"),
      h("pre", null, jsonText(p.canonical)),
      h("p", null, link(hashFor("dryrun", "", { policy: JSON.stringify(p.canonical) }), "Open this policy in the dry run")),
    ),
  );
}

export async function receiptView(out, id) {
  out.append(h("h1", { tabindex: "-1" }, "Receipt ", h("code", null, id)));
  const r = await api("/x/receipts/" + encodeURIComponent(id));
  const o = r.outcome || {};
  const trace = r.workflow ? `workflow ${r.workflow.id || r.workflow}` : r.trace_id;
  out.append(
    h("p", { class: "explanation", id: "explanation" }, r.explanation),
    dl([
      ["Status", badge(r.status)],
      ["Answered by", h("span", { class: "dep", id: "winner" }, o.deployment || "nobody")],
      ["When", when(r.created_at)],
      ["Trace", link(hashFor("trace", r.trace_id), trace)],
      ["Latency", ms(o.latency_ms)],
      r.pinned ? ["Pinned", String(r.pinned)] : null,
    ]),
    costSection(r),
    replaySection(r),
    h("section", { "aria-labelledby": "att-h" }, h("h2", { id: "att-h" }, `Attempts: ${(r.attempts || []).length}`), timeline(r.attempts || [])),
    policySection(r),
    candidatesSection(r),
  );
}
