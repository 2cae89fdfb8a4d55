/* The compare page: overlaid curves of one metric (one batched, downsampled request for every run),
   a parallel-coordinates plot of params against a metric, the "only differences" toggle. */
"use strict";
(() => {
  const data = lm.pageData();
  const names = new Map(data.runs.map((r) => [r.id, r.name]));
  // ~40,000 points in all keeps the response small however many runs are compared
  const maxPoints = Math.max(50, Math.min(1000, Math.floor(40000 / data.runs.length)));
  let curveChart = null;
  let series = [];

  function drawCurves(key) {
    const log = document.getElementById("log-scale").checked;
    const option = {
      animation: false,
      legend: { type: "scroll", top: 0 },
      grid: { left: 60, right: 20, top: 40, bottom: 50 },
      tooltip: { trigger: "axis" },
      xAxis: { type: "value", name: "step", scale: true },
      yAxis: { type: log ? "log" : "value", scale: true },
      dataZoom: [{ type: "inside" }, { type: "slider", height: 16, bottom: 8 }],
      series: series.map((s) => ({
        name: names.get(s.run_id) || s.run_id.slice(0, 8), type: "line", showSymbol: s.steps.length < 30, sampling: "none",
        data: s.steps.map((x, i) => [x, typeof s.values[i] === "number" && !(log && s.values[i] <= 0) ? s.values[i] : null]),
      })),
    };
    if (!curveChart) curveChart = lm.chart(document.getElementById("curve-chart"), option);
    else curveChart.setOption(option, { notMerge: true });
    document.getElementById("curve-note").textContent = `${series.length} of ${data.runs.length} runs have ${key}; at most ${maxPoints} points per curve`;
  }

  async function loadCurves() {
    const key = document.getElementById("metric").value;
    try {
      const result = await lm.api("/runs/metrics/history", { method: "POST", body: { run_ids: data.runs.map((r) => r.id), keys: [key], max_points: maxPoints } });
      series = result.series;
      drawCurves(key);
    } catch (error) {
      lm.showError("curve-error", error);
    }
  }

  function drawParallel() {
    const metric = document.getElementById("parallel-metric").value;
    const dims = [...data.params, metric];
    const numeric = dims.map((d, i) => i === dims.length - 1 || data.runs.every((r) => r.params[d] === undefined || !Number.isNaN(Number(r.params[d]))));
    const categories = dims.map((d, i) => numeric[i] ? null : [...new Set(data.runs.map((r) => r.params[d] ?? "—"))].sort());
    const parallelAxis = dims.map((d, i) => ({
      dim: i, name: d, type: numeric[i] ? "value" : "category", data: categories[i] || undefined, scale: true,
      nameTextStyle: { fontWeight: i === dims.length - 1 ? "bold" : "normal" },
    }));
    const rows = data.runs.map((r) => dims.map((d, i) => {
      if (i === dims.length - 1) { const v = r.metrics[metric]; return typeof v === "number" ? v : null; }
      const v = r.params[d];
      return numeric[i] ? (v === undefined ? null : Number(v)) : (v ?? "—");
    }));
    const values = rows.map((row) => row[dims.length - 1]).filter((v) => v !== null);
    const option = {
      animation: false,
      parallelAxis,
      parallel: { left: 60, right: 80, top: 40, bottom: 30 },
      visualMap: values.length ? { show: true, min: Math.min(...values), max: Math.max(...values), dimension: dims.length - 1, right: 0, top: "middle", inRange: { color: ["#d94e5d", "#eac736", "#50a3ba"].reverse() } } : undefined,
      series: [{ type: "parallel", lineStyle: { width: 1.5, opacity: 0.6 }, data: rows }],
    };
    const el = document.getElementById("parallel-chart");
    const existing = echarts.getInstanceByDom(el);
    if (existing) existing.setOption(option, { notMerge: true }); else lm.chart(el, option);
  }

  if (data.metrics.length) {
    document.getElementById("metric").addEventListener("change", loadCurves);
    document.getElementById("log-scale").addEventListener("change", () => drawCurves(document.getElementById("metric").value));
    loadCurves();
  }
  if (document.getElementById("parallel-chart")) {
    document.getElementById("parallel-metric").addEventListener("change", drawParallel);
    drawParallel();
  }
  const table = document.getElementById("compare-table");
  document.getElementById("only-changed").addEventListener("change", (event) => table.classList.toggle("only-changed", event.target.checked));
})();
