/* A pipeline run's page: the DAG (layout computed by the server) and expandable step logs. */
"use strict";
(() => {
  const data = lm.pageData();
  const box = document.getElementById("dag");
  if (data && box) {
    const nodes = data.graph.nodes.map((n) => ({
      name: n.name, x: n.x, y: n.y, value: n.status, status: n.status, cached: n.cached,
      itemStyle: { color: n.color }, label: { formatter: n.label },
    }));
    lm.chart(box, {
      animation: false,
      tooltip: { formatter: (p) => (p.dataType === "node" ? `${p.data.name}: ${p.data.status}${p.data.cached ? " (cached)" : ""}` : `${p.data.source} → ${p.data.target}`) },
      series: [{
        type: "graph", layout: "none", roam: true, symbol: "roundRect", symbolSize: [150, 46],
        label: { show: true, color: "#fff", fontSize: 12, lineHeight: 16 },
        edgeSymbol: ["none", "arrow"], edgeSymbolSize: 9,
        lineStyle: { color: "#8a94a6", width: 1.5, curveness: 0 },
        data: nodes, links: data.graph.edges,
      }],
    });
  }
  for (const button of document.querySelectorAll("button.toggle-step")) {
    button.addEventListener("click", () => {
      const row = document.querySelector(`tr[data-detail="${CSS.escape(button.dataset.step)}"]`);
      row.hidden = !row.hidden;
      button.setAttribute("aria-expanded", String(!row.hidden));
      button.textContent = row.hidden ? "logs" : "hide";
    });
  }
})();
