/* The run page: one chart per metric from the downsampled history endpoint (one request per chart),
   x axis step or wall time, EMA smoothing, log scale; artifact previews. */
"use strict";
(() => {
  const data = lm.pageData();
  const MAX_POINTS = 1000;
  const curves = new Map();   // key -> {steps, times, values, total}
  const charts = new Map();   // key -> echarts instance

  /** Exponential moving average as TensorBoard draws it (debiased), skipping non-finite values. */
  function smooth(values, weight) {
    if (!weight) return values;
    const out = new Array(values.length);
    let last = 0, count = 0;
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (typeof v !== "number" || !Number.isFinite(v)) { out[i] = null; continue; }
      last = last * weight + (1 - weight) * v;
      count++;
      out[i] = last / (1 - Math.pow(weight, count));
    }
    return out;
  }

  function controls() {
    return {
      x: document.getElementById("x-axis").value,
      weight: parseFloat(document.getElementById("smoothing").value),
      log: document.getElementById("log-scale").checked,
    };
  }

  function option(key, curve) {
    const c = controls();
    const xs = c.x === "time" ? curve.times : curve.steps;
    const raw = curve.values.map((v) => (typeof v === "number" ? v : null));
    const ys = smooth(raw, c.weight);
    const positive = (v) => (c.log && v !== null && v <= 0 ? null : v);
    const series = [{
      name: key, type: "line", showSymbol: xs.length < 60, sampling: "none",
      data: xs.map((x, i) => [x, positive(ys[i])]), lineStyle: { width: 1.6 },
    }];
    if (c.weight) {
      series.push({ name: key + " (raw)", type: "line", showSymbol: false, data: xs.map((x, i) => [x, positive(raw[i])]),
        lineStyle: { width: 1, opacity: 0.25 }, itemStyle: { opacity: 0.25 } });
    }
    return {
      animation: false,
      grid: { left: 60, right: 20, top: 20, bottom: 50 },
      tooltip: { trigger: "axis" },
      xAxis: { type: c.x === "time" ? "time" : "value", name: c.x === "time" ? "" : "step", scale: true },
      yAxis: { type: c.log ? "log" : "value", scale: true },
      dataZoom: [{ type: "inside" }, { type: "slider", height: 16, bottom: 8 }],
      series,
    };
  }

  function draw(key) {
    const curve = curves.get(key);
    if (!curve) return;
    const el = document.querySelector(`.chart[data-key="${CSS.escape(key)}"]`);
    let chart = charts.get(key);
    if (!chart) { chart = lm.chart(el, option(key, curve)); charts.set(key, chart); }
    else chart.setOption(option(key, curve), { notMerge: true });
  }

  async function loadCurve(key) {
    const result = await lm.api(`/runs/${data.run_id}/metrics/history`, { query: { key, max_points: MAX_POINTS } });
    const points = result.metrics;
    curves.set(key, {
      steps: points.map((p) => p.step),
      times: points.map((p) => p.timestamp),
      values: points.map((p) => p.value),
    });
    draw(key);
  }

  async function loadCurves() {
    const results = await Promise.allSettled(data.metrics.map(loadCurve));
    const failed = results.find((r) => r.status === "rejected");
    if (failed) lm.showError("curve-error", failed.reason);
    document.getElementById("curve-note").textContent = `at most ${MAX_POINTS} points per curve (LTTB, extremes kept)`;
  }

  if (data.metrics.length) {
    for (const id of ["x-axis", "log-scale"]) document.getElementById(id).addEventListener("change", () => curves.forEach((_, k) => draw(k)));
    const slider = document.getElementById("smoothing");
    slider.addEventListener("input", () => {
      document.getElementById("smoothing-value").textContent = slider.value;
      curves.forEach((_, k) => draw(k));
    });
    loadCurves();
  }

  /* artifact previews: text (first 64 KB), images, HTML in a sandboxed frame */
  const fileUrl = (path) => `/runs/${data.run_id}/files/${path.split("/").map(encodeURIComponent).join("/")}`;
  async function preview(path, kind) {
    const box = document.getElementById("preview");
    const body = document.getElementById("preview-body");
    document.getElementById("preview-title").textContent = path;
    body.replaceChildren();
    box.hidden = false;
    if (kind === "text") {
      const response = await fetch(fileUrl(path) + "?head=65536", { credentials: "same-origin" });
      const text = await response.text();
      if (!response.ok) { lm.showError(body, new Error(text)); return; }
      body.append(lm.el("pre", { class: "preview", text }));
      if (text.length >= 65536) body.append(lm.el("p", { class: "muted", text: "first 64 KB shown; download for the rest" }));
    } else if (kind === "image") {
      body.append(lm.el("img", { class: "preview", src: fileUrl(path), alt: path }));
    } else if (kind === "html") {
      body.append(lm.el("iframe", { class: "preview", sandbox: "", src: fileUrl(path), title: path, referrerpolicy: "no-referrer" }));
    }
  }
  for (const button of document.querySelectorAll(".preview-button")) {
    button.addEventListener("click", () => preview(button.dataset.path, button.dataset.kind).catch((e) => lm.showError("preview-body", e)));
  }
})();
