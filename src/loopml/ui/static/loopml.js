/* loopml web UI: shared helpers (no framework). Pages add their own script from /static. */
"use strict";
const lm = (() => {
  const csrf = () => (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  /** Call the platform API (/api/v1) with the session cookie and the CSRF token; JSON in, JSON out. */
  async function api(path, { method = "GET", body, query } = {}) {
    const url = new URL("/api/v1" + path, window.location.origin);
    if (query) for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== "") url.searchParams.set(k, v);
    const init = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
    if (method !== "GET" && method !== "HEAD") init.headers["X-CSRF-Token"] = csrf();
    if (body !== undefined) { init.headers["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
    const response = await fetch(url, init);
    if (response.status === 401) { window.location = "/login?next=" + encodeURIComponent(location.pathname + location.search); throw new Error("login required"); }
    if (response.status === 204) return null;
    const data = await response.json().catch(() => ({ error: response.statusText }));
    if (!response.ok) { const e = new Error(data.error || response.statusText); e.status = response.status; e.details = data.details; throw e; }
    return data;
  }

  /** The JSON a page embedded in <script type="application/json" id="...">. */
  function pageData(id = "page-data") {
    const el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  }

  /** An ECharts chart in `el` that follows the window's size. */
  function chart(el, option) {
    const c = echarts.init(el, null, { renderer: "canvas" });
    c.setOption(option);
    window.addEventListener("resize", () => c.resize());
    return c;
  }

  function fmt(v) {
    if (v === null || v === undefined) return "—";
    // measured values to four significant digits, as the pages' `measure` filter (the whole value is in the title)
    if (typeof v === "number") return Number.isInteger(v) ? String(v) : String(+v.toPrecision(4));
    return String(v);
  }
  function time(ms) { return ms ? new Date(ms).toISOString().replace("T", " ").slice(0, 19) : "—"; }
  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === "class") node.className = v; else if (k === "text") node.textContent = v; else node.setAttribute(k, v);
    }
    for (const c of children) node.append(c);
    return node;
  }
  function showError(target, error) {
    const box = typeof target === "string" ? document.getElementById(target) : target;
    if (!box) return;
    box.textContent = error.message || String(error);
    box.hidden = false;
  }

  /** Client-side sorting for small tables: <table class="sortable"> with <th data-type="num">. */
  function sortableTables() {
    for (const table of document.querySelectorAll("table.sortable")) {
      table.querySelectorAll("th").forEach((th, index) => {
        th.classList.add("sortable");
        th.addEventListener("click", () => {
          const asc = !th.classList.contains("sorted-asc");
          table.querySelectorAll("th").forEach((h) => h.classList.remove("sorted-asc", "sorted-desc"));
          th.classList.add(asc ? "sorted-asc" : "sorted-desc");
          const numeric = th.dataset.type === "num";
          const rows = [...table.tBodies[0].rows];
          rows.sort((a, b) => {
            const x = a.cells[index]?.dataset.value ?? a.cells[index]?.textContent ?? "";
            const y = b.cells[index]?.dataset.value ?? b.cells[index]?.textContent ?? "";
            const r = numeric ? (parseFloat(x) || 0) - (parseFloat(y) || 0) : x.localeCompare(y);
            return asc ? r : -r;
          });
          table.tBodies[0].append(...rows);
        });
      });
    }
  }
  document.addEventListener("DOMContentLoaded", sortableTables);
  return { api, pageData, chart, fmt, time, el, showError, csrf };
})();
