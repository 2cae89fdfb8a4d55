/* A model's monitoring page: drift per column over time, drift histograms, quality, latency and traffic.
   One /api/v1 request per chart, over the span the server put in the page data. */
"use strict";
(() => {
  const data = lm.pageData();
  if (!data || !data.span) return;
  const model = encodeURIComponent(data.model);
  const { since_ms, until_ms } = data.span;
  const hour = 3600 * 1000;
  const base = `/monitoring/models/${model}`;
  const fail = (error) => lm.showError("chart-error", error);
  const ms = (value) => (typeof value === "number" ? value : Date.parse(value));
  const timeAxis = { type: "time", axisLabel: { hideOverlap: true } };
  const common = { animation: false, tooltip: { trigger: "axis" }, legend: { type: "scroll", top: 0 }, grid: { left: 56, right: 20, top: 34, bottom: 30 } };

  lm.api(`${base}/drift/history`, { query: { window: "1h", windows: 12, until_ms } }).then((history) => {
    const names = new Set();
    for (const w of history.windows) for (const name of Object.keys(w.columns)) names.add(name);
    const series = [...names].map((name) => ({
      name, type: "line", showSymbol: true, symbolSize: 5,
      data: history.windows.map((w) => [w.start_ms, w.columns[name] ? w.columns[name].statistic : null]),
    }));
    series.push({
      name: "drift share", type: "line", yAxisIndex: 1, lineStyle: { type: "dashed", width: 2 }, itemStyle: { color: "#c53030" },
      data: history.windows.map((w) => [w.start_ms, w.share]),
    });
    lm.chart(document.getElementById("drift-history"), {
      ...common, xAxis: timeAxis,
      yAxis: [{ type: "value", name: "statistic" }, { type: "value", name: "share", min: 0, max: 1 }],
      series,
    });
  }).catch(fail);

  const select = document.getElementById("drift-column");
  let histogram = null;
  lm.api(`${base}/drift`, { query: { since_ms: until_ms - hour, until_ms } }).then((drift) => {
    const columns = drift.columns.slice().sort((a, b) => (b.drifted - a.drifted) || ((b.statistic || 0) - (a.statistic || 0)));
    for (const c of columns) select.append(lm.el("option", { value: c.column, text: `${c.column}${c.drifted ? " (drifted)" : ""}` }));
    const draw = () => {
      const h = drift.histograms[select.value];
      if (!h) return;
      const labels = h.categories || h.reference.map((_, i) => `${lm.fmt(+h.edges[i].toPrecision(3))}–${lm.fmt(+h.edges[i + 1].toPrecision(3))}`);
      const option = {
        ...common, xAxis: { type: "category", data: labels, axisLabel: { hideOverlap: true } }, yAxis: { type: "value", name: "share of rows" },
        series: [{ name: "reference", type: "bar", data: h.reference }, { name: "current", type: "bar", data: h.current }],
      };
      if (histogram) histogram.setOption(option, true); else histogram = lm.chart(document.getElementById("drift-histogram"), option);
    };
    select.addEventListener("change", draw);
    draw();
  }).catch(fail);

  lm.api(`${base}/quality`, { query: { since_ms, until_ms, window: "1h" } }).then((quality) => {
    const metrics = ["accuracy", "f1", "roc_auc", "precision", "recall", "rmse", "mae"];
    const series = [];
    for (const metric of metrics) {
      if (quality.realised.some((r) => r[metric] !== undefined && r[metric] !== null)) {
        series.push({ name: `${metric} (realised)`, type: "line", data: quality.realised.map((r) => [ms(r.window_start), r[metric]]) });
      }
      const key = `estimated_${metric}`;
      if ((quality.estimated || []).some((r) => r[key] !== undefined && r[key] !== null)) {
        series.push({ name: `${metric} (estimated)`, type: "line", lineStyle: { type: "dashed" }, data: quality.estimated.map((r) => [ms(r.window_start), r[key]]) });
      }
    }
    lm.chart(document.getElementById("quality-chart"), { ...common, xAxis: timeAxis, yAxis: { type: "value", scale: true }, series });
  }).catch(fail);

  lm.api(`${base}/operations`, { query: { since_ms, until_ms, window: "1h" } }).then((ops) => {
    const rows = ops.operations;
    const line = (name, key, extra = {}) => ({ name, type: "line", data: rows.map((r) => [ms(r.window_start), r[key]]), ...extra });
    lm.chart(document.getElementById("latency-chart"), {
      ...common, xAxis: timeAxis, yAxis: { type: "value", name: "ms" },
      series: [line("p50", "p50_ms"), line("p95", "p95_ms"), line("p99", "p99_ms")],
    });
    lm.chart(document.getElementById("traffic-chart"), {
      ...common, xAxis: timeAxis, yAxis: [{ type: "value", name: "requests" }, { type: "value", name: "error rate", min: 0 }],
      series: [line("requests", "requests", { type: "bar" }), line("error rate", "error_rate", { yAxisIndex: 1 })],
    });
  }).catch(fail);
})();
