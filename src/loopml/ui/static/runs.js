/* The runs table of one experiment: server-side filter, order and paging (POST /api/v1/runs/search),
   a column chooser over the experiment's keys, run selection for the compare page. */
"use strict";
(() => {
  const data = lm.pageData();
  const MAX_COMPARE = 200;
  const state = {
    filter: data.filter || "",
    order: data.order || "",
    offset: data.offset || 0,
    cols: data.cols,            // null until the keys arrive (then: the default columns)
  };
  const selected = new Map(JSON.parse(sessionStorage.getItem(selectionKey()) || "[]"));
  const table = document.getElementById("runs-table");
  const errorBox = document.getElementById("filter-error");
  const compareButton = document.getElementById("compare");
  let runs = [];
  let hasNext = false;

  function selectionKey() { return "loopml.compare." + data.experiment_id; }
  const COLS_KEY = "loopml.columns." + data.experiment_id;

  /** The URL of the current view: filter, order, offset and columns survive a reload and can be shared. */
  function syncUrl() {
    const q = new URLSearchParams();
    if (state.filter) q.set("filter", state.filter);
    if (state.order) q.set("order", state.order);
    if (state.offset) q.set("offset", String(state.offset));
    if (state.cols) q.set("cols", state.cols.join(","));
    const search = q.toString();
    history.replaceState(null, "", location.pathname + (search ? "?" + search : ""));
    if (state.cols) localStorage.setItem(COLS_KEY, state.cols.join(","));
  }

  async function load() {
    const body = {
      experiment_ids: [data.experiment_id],
      filter: state.filter || null,
      order_by: state.order ? [state.order] : null,
      max_results: data.page_size + 1,
      offset: state.offset,
    };
    try {
      const result = await lm.api("/runs/search", { method: "POST", body });
      errorBox.hidden = true;
      errorBox.textContent = "";
      hasNext = result.runs.length > data.page_size;
      runs = result.runs.slice(0, data.page_size);
      render();
    } catch (error) {
      lm.showError(errorBox, error);  // the table keeps the last good page
    }
  }

  function cellValue(run, col) {
    const [kind, ...rest] = col.split(".");
    const key = rest.join(".");
    return (run[kind] || {})[key];
  }

  function orderTerm(col) { // a column's search grammar name
    const [kind, ...rest] = col.split(".");
    const key = rest.join(".");
    return /^[A-Za-z0-9_.\-/:]+$/.test(key) ? `${kind}.${key}` : `${kind}.\`${key}\``;
  }

  function header(label, term) {
    const th = lm.el("th", { text: label, "data-order": term });
    th.classList.add("sortable");
    const [current, direction] = state.order.split(/\s+(?=(?:ASC|DESC)$)/i);
    if (current === term) th.classList.add(/desc/i.test(direction || "") ? "sorted-desc" : "sorted-asc");
    th.addEventListener("click", () => {
      const desc = current === term ? !/desc/i.test(direction || "") : true;
      state.order = `${term} ${desc ? "DESC" : "ASC"}`;
      state.offset = 0;
      syncUrl();
      load();
    });
    return th;
  }

  function render() {
    const cols = state.cols || [];
    const head = lm.el("tr", {}, lm.el("th", { class: "select" }, selectAllBox()));
    head.append(header("Run", "attributes.run_name"), header("Status", "attributes.status"),
      header("Started", "attributes.start_time"), lm.el("th", { text: "Duration" }), header("User", "attributes.user"));
    for (const col of cols) {
      const th = header(col.replace(/^(params|metrics|tags)\./, ""), orderTerm(col));
      th.title = col;
      th.classList.add(col.split(".")[0]);
      if (col.startsWith("metrics.")) th.classList.add("num");
      head.append(th);
    }
    table.tHead.replaceChildren(head);
    const body = document.createDocumentFragment();
    const ids = new Set(runs.map((r) => r.id));
    for (const run of runs) {
      const box = lm.el("input", { type: "checkbox", "aria-label": "select " + run.name, value: run.id });
      box.checked = selected.has(run.id);
      box.addEventListener("change", () => toggle(run, box));
      const name = lm.el("td", { class: "name nowrap" });
      if (run.parent_run_id) {
        name.append(lm.el("span", { class: "child-mark", title: "child run", text: "↳ " }));
      }
      name.append(lm.el("a", { href: "/runs/" + run.id, text: run.name }));
      if (run.parent_run_id && !ids.has(run.parent_run_id)) {
        name.append(" ", lm.el("a", { class: "muted parent", href: "/runs/" + run.parent_run_id, text: "(parent " + run.parent_run_id.slice(0, 8) + ")" }));
      }
      const status = lm.el("span", { class: "badge " + run.status, text: run.status + (run.stale ? " (stale)" : "") });
      const duration = run.end_time ? formatDuration(run.end_time - run.start_time) : "—";
      const row = lm.el("tr", { "data-run": run.id }, lm.el("td", { class: "select" }, box), name,
        lm.el("td", {}, status), lm.el("td", { class: "time", text: lm.time(run.start_time) }), lm.el("td", { class: "num", text: duration }),
        lm.el("td", { text: run.user }));
      if (run.parent_run_id) row.classList.add("child");
      for (const col of cols) {
        const value = cellValue(run, col);
        const cell = lm.el("td", { class: col.startsWith("metrics.") ? "num" : "", text: lm.fmt(value) });
        if (typeof value === "number") cell.title = String(value);  // the whole value on hover
        row.append(cell);
      }
      body.append(row);
    }
    if (!runs.length) {
      body.append(lm.el("tr", {}, lm.el("td", { class: "muted", colspan: String(6 + cols.length), text: state.filter ? "No run matches this filter." : "No runs yet." })));
    }
    table.tBodies[0].replaceChildren(body);
    document.getElementById("prev").disabled = state.offset === 0;
    document.getElementById("next").disabled = !hasNext;
    document.getElementById("range").textContent = runs.length
      ? `runs ${state.offset + 1}–${state.offset + runs.length}${hasNext ? "" : " (last page)"}` : "";
  }

  function selectAllBox() {
    const all = lm.el("input", { type: "checkbox", "aria-label": "select this page" });
    all.checked = runs.length > 0 && runs.every((r) => selected.has(r.id));
    all.addEventListener("change", () => {
      for (const run of runs) {
        if (all.checked && selected.size < MAX_COMPARE) selected.set(run.id, run.name);
        if (!all.checked) selected.delete(run.id);
      }
      saveSelection();
      render();
    });
    return all;
  }

  function toggle(run, box) {
    if (box.checked) {
      if (selected.size >= MAX_COMPARE) { box.checked = false; lm.showError(errorBox, new Error(`Compare takes up to ${MAX_COMPARE} runs.`)); return; }
      selected.set(run.id, run.name);
    } else selected.delete(run.id);
    saveSelection();
  }

  function saveSelection() {
    sessionStorage.setItem(selectionKey(), JSON.stringify([...selected]));
    compareButton.textContent = `Compare (${selected.size})`;
    compareButton.disabled = selected.size < 1;
  }

  function formatDuration(ms) {
    if (ms < 1000) return ms + " ms";
    const s = ms / 1000;
    if (s < 60) return s.toFixed(1) + " s";
    if (s < 3600) return Math.floor(s / 60) + " min " + Math.round(s % 60) + " s";
    return Math.floor(s / 3600) + " h " + Math.round((s % 3600) / 60) + " min";
  }

  async function loadKeys() {
    const list = document.getElementById("column-list");
    try {
      const keys = await lm.api(`/experiments/${encodeURIComponent(data.experiment_id)}/keys`);
      if (!state.cols) {
        const saved = localStorage.getItem(COLS_KEY);
        state.cols = saved !== null ? saved.split(",").filter(Boolean)
          : [...keys.metrics.slice(0, 6).map((k) => "metrics." + k), ...keys.params.slice(0, 6).map((k) => "params." + k)];
      }
      list.replaceChildren();
      for (const kind of ["metrics", "params", "tags"]) {
        const group = lm.el("fieldset", { class: "keys " + kind }, lm.el("legend", { text: kind }));
        if (!keys[kind].length) group.append(lm.el("span", { class: "muted", text: "none" }));
        for (const key of keys[kind]) {
          const col = kind + "." + key;
          const box = lm.el("input", { type: "checkbox", value: col, name: "col" });
          box.checked = state.cols.includes(col);
          box.addEventListener("change", () => {
            state.cols = box.checked ? [...state.cols, col] : state.cols.filter((c) => c !== col);
            syncUrl();
            render();
          });
          group.append(lm.el("label", {}, box, " " + key));
        }
        list.append(group);
      }
      render();
    } catch (error) {
      lm.showError(errorBox, error);
    }
  }

  document.getElementById("filter-form").addEventListener("submit", (event) => {
    event.preventDefault();
    state.filter = document.getElementById("filter").value.trim();
    state.offset = 0;
    syncUrl();
    load();
  });
  document.getElementById("prev").addEventListener("click", () => { state.offset = Math.max(0, state.offset - data.page_size); syncUrl(); load(); });
  document.getElementById("next").addEventListener("click", () => { state.offset += data.page_size; syncUrl(); load(); });
  compareButton.addEventListener("click", () => {
    window.location = "/compare?runs=" + [...selected.keys()].join(",");
  });
  saveSelection();
  Promise.all([loadKeys(), load()]);
})();
