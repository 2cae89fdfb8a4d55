/* Models pages: the lineage graph (ECharts graph, laid out by the server), alias moves and rollbacks. */
"use strict";
(() => {
  const data = lm.pageData() || {};
  const COLORS = {
    dataset_version: "#1f8a4c", run: "#2f6fdf", step_run: "#6b7fa8", pipeline_run: "#7d55c7",
    model_version: "#b7791f", model_alias: "#c53030", decision: "#5d6675", policy_cycle: "#7d55c7", policy: "#7d55c7",
  };

  const short = (text) => (text.length > 24 ? text.slice(0, 23) + "…" : text);

  /** The lineage graph: nodes at the positions the server computed (columns by kind, data on the left),
   *  drawn on hidden value axes so that node sizes stay in pixels whatever the graph's extent. */
  function drawLineage(el, graph) {
    const xs = graph.nodes.map((n) => n.x), ys = graph.nodes.map((n) => n.y);
    const nodes = graph.nodes.map((n) => ({
      name: n.id, value: [n.x, n.y], text: n.label, link: n.link, kind: n.type,
      symbol: "roundRect", symbolSize: n.id === graph.root ? [150, 34] : [136, 28],
      itemStyle: { color: COLORS[n.type] || "#5d6675", borderColor: n.id === graph.root ? "#18202e" : "#fff", borderWidth: n.id === graph.root ? 2 : 1 },
    }));
    const links = graph.links.map((l) => ({ source: l.source, target: l.target, relation: l.relation }));
    const axis = (values, pad) => ({ type: "value", show: false, min: Math.min(...values) - pad, max: Math.max(...values) + pad });
    const chart = lm.chart(el, {
      animation: false,
      tooltip: { formatter: (p) => (p.dataType === "edge" ? p.data.relation : `${p.data.kind}: ${p.data.text}`) },
      grid: { left: 80, right: 80, top: 24, bottom: 24 },
      xAxis: axis(xs, 1),
      yAxis: { ...axis(ys, 40), inverse: true },
      series: [{
        type: "graph", coordinateSystem: "cartesian2d", data: nodes, links,
        label: { show: true, formatter: (p) => short(p.data.text), color: "#fff", fontSize: 11 },
        edgeSymbol: ["none", "arrow"], edgeSymbolSize: 8,
        lineStyle: { color: "#a7b0bf", width: 1.4 },
        edgeLabel: { show: true, formatter: (p) => p.data.relation, fontSize: 10, color: "#5d6675" },
      }],
    });
    chart.on("click", (p) => { if (p.dataType === "node" && p.data.link) window.location.href = p.data.link; });
    return chart;
  }

  /** Ask in the page's <dialog>; resolves true when confirmed. */
  function confirmDialog(text) {
    const dialog = document.getElementById("confirm-dialog");
    document.getElementById("confirm-text").textContent = text;
    return new Promise((resolve) => {
      dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
      dialog.showModal();
    });
  }

  async function moveAlias(alias, version, question) {
    const error = document.getElementById("alias-error");
    error.hidden = true;
    if (!(await confirmDialog(question))) return;
    try {
      await lm.api(`/models/${encodeURIComponent(data.model)}/aliases/${encodeURIComponent(alias)}`, { method: "PUT", body: { version } });
      window.location.reload();
    } catch (e) {
      lm.showError(error, e);
    }
  }

  function aliasControls() {
    const form = document.getElementById("move-alias");
    if (form) {
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        const alias = form.elements.alias.value.trim();
        const version = parseInt(form.elements.version.value, 10);
        const now = data.aliases[alias];
        const what = now === undefined ? `Create @${alias} on v${version}?` : `Move @${alias} from v${now} to v${version}?`;
        moveAlias(alias, version, what);
      });
    }
    for (const button of document.querySelectorAll("button.rollback")) {
      button.addEventListener("click", () => {
        const { alias, version, from } = button.dataset;
        moveAlias(alias, parseInt(version, 10), `Roll back @${alias} from v${from} to v${version}?`);
      });
    }
  }

  /** A link to one decision (/models/NAME/decisions/ID lands on #decision-ID): open its evidence. */
  function openLinkedDecision() {
    if (!location.hash.startsWith("#decision-")) return;
    const row = document.getElementById(location.hash.slice(1));
    const details = row && row.querySelector("details.evidence");
    if (details) { details.open = true; row.scrollIntoView(); }
  }

  document.addEventListener("DOMContentLoaded", () => {
    const el = document.getElementById("lineage-graph");
    if (el && data.graph) drawLineage(el, data.graph);
    aliasControls();
    openLinkedDecision();
  });
})();
