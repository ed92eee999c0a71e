// The usage chart: accepted vs dropped records by reason, as stacked bars per hour or day.
// Data comes from the page's json_script blocks (the CSP allows no inline script).
"use strict";

(function () {
  const COLORS = { accepted: "#0d9488", quota: "#e11d48", spike: "#d97706", rate_limit: "#7c3aed",
    invalid: "#475569", too_large: "#db2777", retention: "#0284c7" };

  function draw() {
    const element = document.getElementById("usage-chart");
    if (!element || !window.uPlot) return;
    const report = JSON.parse(document.getElementById("usage-data").textContent);
    const labels = JSON.parse(document.getElementById("usage-outcomes").textContent);
    const times = [...new Set(report.buckets.map((b) => Date.parse(b.time) / 1000))].sort((a, b) => a - b);
    const present = Object.keys(labels).filter((o) => report.buckets.some((b) => b.reason === o && b.count > 0));
    if (!times.length || !present.length) {
      element.textContent = "Nothing received in this range.";
      return;
    }
    const index = new Map(times.map((t, i) => [t, i]));
    const raw = present.map(() => times.map(() => 0));
    for (const b of report.buckets) {
      const k = present.indexOf(b.reason);
      if (k >= 0) raw[k][index.get(Date.parse(b.time) / 1000)] += b.count;
    }
    // Stacked: each layer is drawn as a bar up to the running sum; the tallest is drawn first so
    // the ones below it show through. The legend shows each layer's own count.
    const stacked = raw.map((_, k) => times.map((__, i) => raw.slice(0, k + 1).reduce((s, r) => s + r[i], 0)));
    const order = present.map((_, k) => k).reverse();
    const step = report.step === "hour" ? 3600 : 86400;
    const start = Math.floor(Date.parse(report.start) / 1000 / step) * step;
    const end = Math.floor(Date.parse(report.end) / 1000 / step) * step;
    const bars = uPlot.paths.bars({ size: [0.8, 64] });
    const plot = new uPlot({
      width: element.clientWidth || 800,
      height: 260,
      // The whole range asked for, so an hour or a day with nothing shows as nothing; counts from 0.
      scales: {
        x: { time: true, range: () => [Math.min(start, times[0]) - step / 2, Math.max(end, times[times.length - 1]) + step / 2] },
        y: { range: (u, min, max) => [0, Math.max(1, max) * 1.1] },
      },
      axes: [{}, { values: (u, vals) => vals.map((v) => v.toLocaleString()) }],
      series: [{}].concat(order.map((k) => ({
        label: labels[present[k]],
        stroke: COLORS[present[k]] || "#64748b",
        fill: COLORS[present[k]] || "#64748b",
        paths: bars,
        points: { show: false },
        value: (u, v, s, i) => (i == null ? "—" : raw[k][i].toLocaleString()),
      }))),
    }, [times].concat(order.map((k) => stacked[k])), element);
    window.addEventListener("resize", () => plot.setSize({ width: element.clientWidth, height: 260 }));
  }

  document.addEventListener("DOMContentLoaded", draw);
})();
