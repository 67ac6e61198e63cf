// The receipt viewer's router: each view has a hash URL (#/receipt/req_..., #/search?workload=...), so
// any view can be shared by copying the address. Views render into #view and return when their data is in.
import { ApiError, KEY_SLOT, h, notice } from "/ui/dom.js";
import { searchView } from "/ui/search.js";
import { receiptView } from "/ui/receipt.js";
import { traceView } from "/ui/trace.js";
import { savingsView } from "/ui/savings.js";
import { auditView } from "/ui/audit.js";
import { dryRunView } from "/ui/dryrun.js";

const VIEWS = {
  search: searchView,
  receipt: receiptView,
  trace: traceView,
  savings: savingsView,
  audit: auditView,
  dryrun: dryRunView,
};

export function parseHash(hash) {
  const raw = (hash || "").replace(/^#\/?/, "");
  const q = raw.indexOf("?");
  const path = q < 0 ? raw : raw.slice(0, q);
  const params = new URLSearchParams(q < 0 ? "" : raw.slice(q + 1));
  const [name, ...rest] = path.split("/");
  return { name: name || "search", arg: rest.map(decodeURIComponent).join("/"), params };
}

export function hashFor(name, arg, params) {
  let out = "#/" + name + (arg ? "/" + encodeURIComponent(arg) : "");
  const qs = params ? new URLSearchParams(Object.entries(params).filter(([, v]) => v !== "" && v != null)).toString() : "";
  return qs ? out + "?" + qs : out;
}

let generation = 0;

async function route() {
  const { name, arg, params } = parseHash(location.hash);
  const view = VIEWS[name];
  const main = document.getElementById("view");
  const mine = ++generation;
  for (const a of document.querySelectorAll("nav a")) {
    if (a.dataset.view === name) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  document.body.dataset.view = name;
  document.body.dataset.ready = "";
  const out = h("div", { class: "view" });
  main.replaceChildren(out);
  if (!view) {
    out.append(h("h1", { tabindex: "-1" }, "Not found"), notice(`No view called “${name}”.`, "error"));
  } else {
    try {
      await view(out, arg, params);
    } catch (e) {
      if (mine !== generation) return;
      if (!out.querySelector("h1")) out.prepend(h("h1", { tabindex: "-1" }, "Error"));
      out.append(notice(e.message || String(e), "error"));
      if (e instanceof ApiError && e.status === 401) out.append(keyForm());
    }
  }
  if (mine !== generation) return;
  const title = out.querySelector("h1");
  document.title = (title ? title.textContent + " · " : "") + "unhardcoded receipts";
  if (focusOnRoute && title) title.focus();
  focusOnRoute = true;
  document.body.dataset.gen = String(mine); // tests wait for a new render, not a stale one
  document.body.dataset.ready = name;
}

function keyForm() {
  const input = h("input", { id: "gateway-key", type: "password", autocomplete: "off" });
  const f = h(
    "form",
    { class: "filters", "aria-label": "Gateway key" },
    h("div", { class: "field" }, h("label", { for: "gateway-key" }, "Gateway key (kept in this tab only)"), input),
    h("div", { class: "field actions" }, h("button", { type: "submit" }, "Use this key")),
  );
  f.addEventListener("submit", (e) => {
    e.preventDefault();
    sessionStorage.setItem(KEY_SLOT, input.value.trim());
    route();
  });
  return f;
}

// Focus the new view's heading after a navigation (screen readers announce it), but not on first load.
let focusOnRoute = false;

function openId(event) {
  event.preventDefault();
  const id = document.getElementById("goto-id").value.trim();
  if (!id) return;
  location.hash = id.startsWith("req_") ? hashFor("receipt", id) : hashFor("trace", id);
}

document.getElementById("goto").addEventListener("submit", openId);
window.addEventListener("hashchange", route);
route();
