/* The dataset version page: one bar chart per column from the stored profile (histogram or top values). */
"use strict";
(() => {
  const data = lm.pageData();
  const box = document.getElementById("histograms");
  if (!data || !box) return;
  window.lmCharts = {};
  for (const column of data.charts) {
    const holder = lm.el("div", { class: "histogram", "data-column": column.column });
    const title = lm.el("h3", { text: `${column.column} (${column.dtype})` });
    if (column.nulls) title.append(lm.el("span", { class: "muted", text: ` · ${column.nulls} null` }));
    const area = lm.el("div", { class: "chart" });
    holder.append(title, area);
    box.append(holder);
    let labels;
    if (column.edges) {
      labels = column.counts.map((_, i) => `${lm.fmt(+column.edges[i].toPrecision(4))}–${lm.fmt(+column.edges[i + 1].toPrecision(4))}`);
    } else {
      labels = column.categories;
    }
    window.lmCharts[column.column] = lm.chart(area, {
      animation: false,
      grid: { left: 44, right: 8, top: 10, bottom: 26 },
      tooltip: { trigger: "axis" },
      xAxis: { type: "category", data: labels, axisLabel: { hideOverlap: true, fontSize: 10 } },
      yAxis: { type: "value", minInterval: 1 },
      series: [{ type: "bar", name: column.edges ? "rows" : "count", data: column.counts, barCategoryGap: column.edges ? "2%" : "20%" }],
    });
  }
})();
