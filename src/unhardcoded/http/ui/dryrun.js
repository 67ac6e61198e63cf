// Dry run (POST /x/rank): edit a policy and see the ranking over the catalog as you type. A 400 names the
// bad part by JSON path (`$.rules[0].op`); locate() finds that path's span in the text so the error can
// point at it (line, column, the text itself) and a button can select it in the editor.
import { ApiError, api, h, notice, table } from "/ui/dom.js";
import { hashFor } from "/ui/app.js";
import { candidatesSection } from "/ui/candidates.js";

const SAMPLE = {
  workload: "support-bot",
  rules: [
    { id: "quality-floor", field: "bench_intelligence", op: ">=", value: 55 },
    { id: "eu-only", field: "geography", op: "==", value: "eu" },
  ],
  rank: [{ by: "est_cost_usd", order: "asc" }],
};

// Spans of every value (and key) in valid JSON text, by JSON path: {"$.rules[0].op": {start, end, keyStart}}.
export function locate(text) {
  const spans = {};
  let i = 0;
  const ws = () => {
    while (i < text.length && " \t\n\r".includes(text[i])) i++;
  };
  const str = () => {
    const start = i++;
    while (text[i] !== '"') i += text[i] === "\\" ? 2 : 1;
    i++;
    return JSON.parse(text.slice(start, i));
  };
  const value = (path, keyStart) => {
    ws();
    const start = i;
    if (text[i] === "{") {
      i++;
      ws();
      while (text[i] !== "}") {
        ws();
        const ks = i;
        const key = str();
        ws();
        i++; // ':'
        value(/^[A-Za-z_][A-Za-z0-9_]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`, ks);
        ws();
        if (text[i] === ",") i++;
        ws();
      }
      i++;
    } else if (text[i] === "[") {
      i++;
      ws();
      let n = 0;
      while (text[i] !== "]") {
        value(`${path}[${n++}]`, null);
        ws();
        if (text[i] === ",") i++;
        ws();
      }
      i++;
    } else if (text[i] === '"') {
      str();
    } else {
      while (i < text.length && !",}] \t\n\r".includes(text[i])) i++;
    }
    spans[path] = { start, end: i, keyStart: keyStart ?? start };
  };
  value("$", null);
  return spans;
}

function lineCol(text, pos) {
  const before = text.slice(0, pos).split("\n");
  return { line: before.length, col: before[before.length - 1].length + 1 };
}

function pointer(text, span, message, path, editor) {
  const { line, col } = lineCol(text, span.keyStart);
  const lineStart = text.lastIndexOf("\n", span.keyStart - 1) + 1;
  let lineEnd = text.indexOf("\n", span.end);
  if (lineEnd < 0) lineEnd = text.length;
  const go = h("button", { type: "button", id: "goto-error" }, "Select it in the editor");
  go.addEventListener("click", () => {
    editor.focus();
    editor.setSelectionRange(span.keyStart, span.end);
  });
  return h(
    "div",
    { class: "notice error", role: "alert", id: "policy-error" },
    h("p", null, h("strong", null, "Invalid policy: "), message),
    h("p", null, "At ", h("code", { id: "error-path" }, path), `, line ${line}, column ${col}:`),
    h(
      "pre",
      { class: "excerpt" },
      text.slice(lineStart, span.keyStart),
      h("mark", { id: "error-mark" }, text.slice(span.keyStart, span.end)),
      text.slice(span.end, lineEnd),
    ),
    go,
  );
}

// The longest prefix of `path` that exists in the text: "$.rules[0].op" when the op is wrong,
// "$.rules[0]" when a required key is missing from it.
function nearest(spans, path) {
  let p = path;
  while (p && !(p in spans)) p = p.replace(/(\.[^.[]+|\[[^\]]*\])$/, "") || "";
  return p ? spans[p] : spans.$;
}

export async function dryRunView(out, _arg, params) {
  out.append(h("h1", { tabindex: "-1" }, "Dry run"));
  const initial = params.get("policy");
  let text = JSON.stringify(SAMPLE, null, 2);
  if (initial) {
    try {
      text = JSON.stringify(JSON.parse(initial), null, 2);
    } catch {
      text = initial;
    }
  }
  const editor = h("textarea", { id: "policy", rows: 18, spellcheck: "false", "aria-describedby": "policy-help" }, text);
  const request = h("textarea", { id: "request", rows: 4, spellcheck: "false", "aria-describedby": "request-help" }, params.get("request") || "");
  const result = h("div", { id: "rank-out", "aria-live": "polite" });
  const named = await api("/x/policies");
  const picker = h(
    "select",
    { id: "start-from" },
    h("option", { value: "" }, "— keep the text below —"),
    named.policies.map((p) => h("option", { value: p.name }, `${p.name} (${p.source}${p.version ? " v" + p.version : ""})`)),
  );
  const layout = h("div", { class: "dry" });
  out.append(layout);
  layout.append(
    h(
      "div",
      { class: "editor" },
      h("label", { for: "start-from" }, "Start from a named policy"),
      picker,
      h("label", { for: "policy" }, "Policy (sigma-pol/v1 JSON)"),
      h("p", { id: "policy-help", class: "sub" }, "The ranking follows every change; nothing is called, no receipt is written."),
      editor,
      h("label", { for: "request" }, "Request (optional chat-completions JSON)"),
      h("p", { id: "request-help", class: "sub" }, 'Empty: a one-line "Hello". Its size and needs (tools, images, JSON schema) feed the request rules.'),
      request,
    ),
    result,
  );
  let seq = 0;
  let timer = null;
  const run = async () => {
    const mine = ++seq;
    const policyText = editor.value;
    const reqText = request.value.trim();
    history.replaceState(null, "", hashFor("dryrun", "", { policy: policyText.replace(/\s+/g, " "), request: reqText }));
    let policy;
    let req;
    try {
      policy = JSON.parse(policyText);
      req = reqText ? JSON.parse(reqText) : undefined;
    } catch (e) {
      editor.setAttribute("aria-invalid", "true");
      result.replaceChildren(notice("Not JSON yet: " + e.message, "error"));
      return;
    }
    try {
      const doc = await api("/x/rank", req === undefined ? { policy } : { policy, request: req });
      if (mine !== seq) return;
      editor.removeAttribute("aria-invalid");
      result.replaceChildren(
        h("p", { class: "explanation", id: "rank-explanation" }, doc.explanation),
        h("p", null, "Fingerprint ", h("code", { id: "rank-fingerprint" }, doc.policy.fingerprint)),
        candidatesSection(doc),
      );
    } catch (e) {
      if (mine !== seq) return;
      if (!(e instanceof ApiError) || e.status !== 400) throw e;
      editor.setAttribute("aria-invalid", "true");
      const path = e.param || "";
      if (path.startsWith("$")) {
        result.replaceChildren(pointer(policyText, nearest(locate(policyText), path), e.message, path, editor));
      } else {
        result.replaceChildren(notice(`Invalid ${path || "request"}: ${e.message}`, "error"));
      }
    }
    result.dataset.seq = String(mine);
  };
  const later = () => {
    clearTimeout(timer);
    timer = setTimeout(() => run().catch((e) => result.replaceChildren(notice(e.message, "error"))), 250);
  };
  picker.addEventListener("change", async () => {
    if (!picker.value) return;
    const doc = await api("/x/policies/" + encodeURIComponent(picker.value));
    editor.value = JSON.stringify(doc.versions[doc.versions.length - 1].policy, null, 2);
    await run();
  });
  editor.addEventListener("input", later);
  request.addEventListener("input", later);
  await run();
  const fields = await api("/x/fields");
  out.append(
    h(
      "details",
      { class: "fields" },
      h("summary", null, `Fields a rule or rank key can use (${fields.fields.length})`),
      table(
        null,
        ["Field", "Type", "Unit", "Ops", "Description"],
        fields.fields.map((f) =>
          h("tr", null, h("th", { scope: "row" }, h("code", null, f.name)), h("td", null, f.type), h("td", null, f.unit || "—"), h("td", null, f.ops.join(" ")), h("td", null, f.description)),
        ),
        { class: "grid small" },
      ),
    ),
  );
}
