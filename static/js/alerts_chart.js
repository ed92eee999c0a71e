// Charts of alert policies, shared by the incident page and the Alerts tab (preview in the policy
// form, sparklines in the policy list), all drawn from the backtest API
// (POST .../alerts/policies/{id}/preview, or .../alerts/preview for an unsaved policy):
//
//   const chart = VigilAlertCharts.backtest(element, {height});
//   chart.show(result, {labels});   // a backtest answer; only the group with these labels, if given
//   chart.state("loading" | "error" | null, message);
//
// The values of each group, the threshold as a dashed line, and the periods the policy would have
// been firing shaded red (they start at the moments it would have fired). Labels come from outside:
// uPlot writes legend text with textContent.
"use strict";

(function () {
  const FIRING_FILL = "rgba(225, 29, 72, 0.13)";
  const THRESHOLD_COLOR = "#e11d48";

  const labelText = (labels) => Object.entries(labels || {}).map(([k, v]) => `${k}=${v}`).join(", ");

  // A group's labels are a subset of an incident's (which adds the policy's own labels).
  const within = (groupLabels, labels) => Object.entries(groupLabels || {}).every(([k, v]) => String(labels[k]) === String(v));

  // Every group's points on one x axis (the evaluation times), nulls where a group had no sample.
  function align(groups) {
    const xs = [...new Set(groups.flatMap((g) => g.points.map((p) => p[0])))].sort((a, b) => a - b);
    const index = new Map(xs.map((x, i) => [x, i]));
    const ys = groups.map((g) => {
      const row = xs.map(() => null);
      g.points.forEach(([t, v]) => { row[index.get(t)] = v; });
      return row;
    });
    return { xs, ys };
  }

  function firingPeriods(groups, end) {
    return groups.flatMap((g) => (g.firing || []).map(([from, to]) => [from, to == null ? end : to]));
  }

  function backtest(element, options) {
    let periods = [];
    const chart = VigilCharts.timeseries(element, {
      series: [],
      height: (options && options.height) || 200,
      legend: !(options && options.legend === false),
      onDraw: (u) => {
        if (!periods.length) return;
        const ctx = u.ctx;
        ctx.save();
        ctx.fillStyle = FIRING_FILL;
        for (const [from, to] of periods) {
          const left = u.valToPos(from, "x", true), right = u.valToPos(to, "x", true);
          ctx.fillRect(left, u.bbox.top, Math.max(right - left, 2), u.bbox.height);
        }
        ctx.restore();
      },
    });

    function show(result, filter) {
      const start = Date.parse(result.start) / 1000, end = Date.parse(result.end) / 1000;
      let groups = result.series || [];
      if (filter && filter.labels) groups = groups.filter((g) => within(g.labels, filter.labels));
      periods = firingPeriods(groups, end);
      const { xs, ys } = align(groups);
      const threshold = xs.map(() => result.threshold);
      chart.setSeries([
        ...groups.map((g) => ({ label: labelText(g.labels) || "value" })),
        { label: `threshold (${result.op} ${Vigil.fmt.number(result.threshold)})`, color: THRESHOLD_COLOR, dash: [6, 4], fill: false, width: 1.2 },
      ]);
      chart.setData(xs, [...ys, threshold], [start, end]);
      chart.state(groups.length ? null : "empty", groups.length ? "" : "No data in the last 24 hours");
      // What the chart shows, for readers of the DOM (tests): fired periods and when they began.
      element.dataset.firing = String(periods.length);
      element.dataset.fired = periods.map(([from]) => new Date(from * 1000).toISOString()).join(" ");
      element.dataset.threshold = String(result.threshold);
      element.dataset.points = String(xs.length);
      return periods;
    }

    return { show, state: chart.state };
  }

  // A tiny line of the last values (the policy list): an SVG polyline, numbers only.
  function sparkline(values, width, height) {
    const svgNS = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(svgNS, "svg");
    svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    svg.setAttribute("preserveAspectRatio", "none");
    svg.setAttribute("class", "policyspark");
    const present = values.filter((v) => v != null);
    if (present.length) {
      const top = Math.max(...present), bottom = Math.min(0, ...present);
      const span = top - bottom || 1;
      const step = values.length > 1 ? width / (values.length - 1) : 0;
      const points = values.map((v, i) => (v == null ? null : `${(i * step).toFixed(1)},${(height - 1 - ((v - bottom) / span) * (height - 3)).toFixed(1)}`));
      const line = document.createElementNS(svgNS, "polyline");
      line.setAttribute("points", points.filter(Boolean).join(" "));
      svg.append(line);
    }
    return svg;
  }

  window.VigilAlertCharts = { backtest, sparkline, labelText, within };
})();
