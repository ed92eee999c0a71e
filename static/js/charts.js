// A small wrapper around uPlot (window.uPlot) for the dashboard pages: one look for every time
// series chart (axes, grid, palette, legend with values under the cursor), resizing with its box,
// drag-to-zoom, and the states a chart can be in (loading, empty, error) as an overlay.
//
//   const chart = VigilCharts.timeseries(element, {series: [{label: "logs"}], format: v => ..., onZoom, onDraw});
//   chart.setData(xs, [[y...], ...], [start, end]);   // epoch seconds; one y array per series, null = gap
//   chart.setSeries([{label}, ...]);                       // when the set of series changes
//   chart.state("loading" | "empty" | "error" | null, message);
//   chart.setMarkers([{x, y, href, title, color}]);        // links drawn as dots on the plot (exemplars)
//
//   const plot = VigilCharts.stackedBars(element, {xs, counts, series: [{label, color}], xRange, ...});
//   // a histogram of counts per bucket, the series stacked bottom to top (the log explorer's levels)
//
// Series labels come from outside (service names, label values): uPlot writes them with
// textContent, and so does the overlay here.
"use strict";

(function () {
  const PALETTE = ["#4f46e5", "#0d9488", "#d97706", "#e11d48", "#0284c7", "#7c3aed", "#65a30d", "#db2777",
    "#0891b2", "#475569", "#ea580c", "#16a34a"];
  const AXIS = { stroke: "#6b7189", font: "11px ui-sans-serif, system-ui, sans-serif",
    grid: { stroke: "#eef0f5", width: 1 }, ticks: { stroke: "#e3e6ef", width: 1, size: 4 } };

  function color(index) { return PALETTE[index % PALETTE.length]; }

  function alpha(hex, a) {
    const n = parseInt(hex.slice(1), 16);
    return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${a})`;
  }

  // Time axis labels that fit the span on screen: HH:MM for a day or less, else "Mon 12" dates.
  function timeValues(u, splits) {
    const span = u.scales.x.max - u.scales.x.min;
    return splits.map((s) => {
      const d = new Date(s * 1000);
      if (span <= 2 * 86400) return d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit", hour12: false });
      return d.toLocaleDateString(undefined, { month: "short", day: "numeric" });
    });
  }

  function isolated(u, seriesIndex, show) {
    if (show) return null;
    const ys = u.data[seriesIndex], indexes = [];
    for (let i = 0; i < ys.length; i++) {
      if (ys[i] != null && ys[i - 1] == null && ys[i + 1] == null) indexes.push(i);
    }
    return indexes.length ? indexes : null;
  }

  function timeseries(element, options) {
    const format = options.format || ((v) => Vigil.fmt.number(v));
    const height = options.height || 220;
    const box = Vigil.el("div", { class: "chart-plot" });
    const overlay = Vigil.el("div", { class: "chart-overlay", hidden: true });
    element.replaceChildren(box, overlay);
    let defs = options.series || [];
    let plot = null;
    let data = [[]];
    let xSpan = null; // [start, end] in epoch seconds
    let markers = [];

    function build() {
      if (plot) plot.destroy();
      const series = [{ value: (u, v) => (v == null ? "—" : Vigil.fmt.dateTime(v * 1000)) }];
      defs.forEach((def, i) => {
        const stroke = def.color || color(i);
        series.push({
          label: def.label,
          stroke,
          width: def.width || 1.6,
          fill: def.fill === false ? undefined : alpha(stroke, def.fillAlpha || 0.07),
          dash: def.dash,
          // uPlot draws points where they are this far apart; a value between gaps always gets one
          // (a line needs two points, so it would not show at all).
          points: { size: 5, space: 24, filter: isolated },
          spanGaps: false,
          value: (u, v) => (v == null ? "—" : format(v)),
        });
      });
      const opts = {
        width: Math.max(element.clientWidth, 200),
        height,
        series,
        scales: {
          // The x axis spans the requested window, not just the points: a lone point sits where it belongs.
          x: { time: true, range: (u, min, max) => (xSpan ? xSpan : [min, max]) },
          y: { range: options.yRange || ((u, min, max) => [0, max > 0 ? max * 1.12 : 1]) },
        },
        axes: [
          { ...AXIS, values: timeValues, space: 70 },
          { ...AXIS, size: 58, values: (u, splits) => splits.map((v) => format(v)) },
        ],
        legend: { show: options.legend !== false, live: true },
        cursor: {
          drag: { x: Boolean(options.onZoom), y: false, setScale: false },
          sync: options.syncKey ? { key: options.syncKey } : undefined,
          points: { size: 6 },
        },
        hooks: {
          setSelect: [(u) => {
            if (!options.onZoom || u.select.width < 4) return;
            const from = u.posToVal(u.select.left, "x"), to = u.posToVal(u.select.left + u.select.width, "x");
            u.setSelect({ left: 0, width: 0, top: 0, height: 0 }, false);
            options.onZoom(new Date(from * 1000), new Date(to * 1000));
          }],
          // Exemplar markers, then extra marks of the page (the alert charts' firing periods).
          draw: [placeMarkers, ...(options.onDraw ? [(u) => options.onDraw(u)] : [])],
        },
      };
      plot = new uPlot(opts, data, box);
    }

    // Markers are links (a click follows them, a keyboard reaches them) laid over the plot at
    // their value; re-placed on every draw (zoom, resize, new data), hidden outside the axes.
    function placeMarkers(u) {
      let layer = u.over.querySelector(".chart-markers");
      if (!layer) layer = u.over.appendChild(Vigil.el("div", { class: "chart-markers" }));
      const width = u.over.clientWidth, height = u.over.clientHeight;
      layer.replaceChildren(...markers.flatMap((marker) => {
        const left = u.valToPos(marker.x, "x"), top = u.valToPos(marker.y, "y");
        if (!(left >= 0 && left <= width && top >= 0 && top <= height)) return [];
        const link = Vigil.el("a", { class: "chart-marker", href: marker.href, title: marker.title,
          "aria-label": marker.title, dataset: { testid: "chart-marker" } });
        link.style.left = `${left}px`; // CSSOM: allowed by the page's CSP, unlike a style attribute
        link.style.top = `${top}px`;
        if (marker.color) link.style.borderColor = marker.color;
        // A press on a marker is a click, not the start of a drag-to-zoom on the plot under it.
        link.addEventListener("mousedown", (event) => event.stopPropagation());
        return [link];
      }));
    }

    function setMarkers(next) {
      markers = next || [];
      if (plot) placeMarkers(plot);
    }

    function setData(xs, ys, span) {
      if (span) xSpan = [span[0], span[1]];
      data = [xs, ...ys];
      if (!plot || plot.series.length !== data.length) build();
      else plot.setData(data);
      // What the chart shows, in one number (tests and curious readers of the DOM).
      element.dataset.total = String(ys.flat().reduce((sum, v) => sum + (v || 0), 0));
    }

    function setSeries(next) {
      defs = next;
      data = [data[0], ...next.map((_, i) => data[i + 1] || data[0].map(() => null))];
      build();
    }

    function state(kind, message) {
      overlay.hidden = !kind;
      overlay.className = `chart-overlay ${kind || ""}`;
      const text = message || { loading: "Loading…", empty: "No data in this range", error: "Could not load" }[kind] || "";
      overlay.replaceChildren(kind === "loading" ? Vigil.el("span", { class: "spinner", "aria-hidden": "true" }) : "", text);
      element.dataset.state = kind || "ready";
    }

    const resize = new ResizeObserver(() => {
      if (plot && element.clientWidth > 0) plot.setSize({ width: element.clientWidth, height });
    });
    resize.observe(element);
    build();

    return {
      setData, setSeries, setMarkers, state,
      series: () => defs,
      destroy() { resize.disconnect(); if (plot) plot.destroy(); },
      get plot() { return plot; },
    };
  }

  // Stacked bars: `counts[k]` per x for each series k, bottom to top. Series k is drawn as the
  // running sum of 0..k: uPlot paints in series order, so the tallest (running total) goes first
  // and each lower series is painted over its base. Returns the uPlot instance (destroy, setSize).
  function stackedBars(element, options) {
    const { xs, counts, xRange } = options;
    const defs = options.series;
    const format = options.format || ((v) => Vigil.fmt.number(v));
    const stacked = [];
    counts.forEach((row, k) => stacked.push(row.map((n, i) => n + (k ? stacked[k - 1][i] : 0))));
    const order = defs.map((_, k) => k).reverse();
    const data = [xs, ...order.map((k) => stacked[k])];
    if (!defs.length) data.push(xs.map(() => 0));
    const bars = uPlot.paths.bars({ size: [0.86, 60], align: 1 });
    const series = [{}, ...order.map((k) => ({
      label: defs[k].label, fill: defs[k].color, stroke: defs[k].color, width: 0, paths: bars, points: { show: false },
    }))];
    if (!defs.length) series.push({ label: options.emptyLabel || "total", paths: bars, points: { show: false }, width: 0 });
    const opts = {
      width: Math.max(300, element.clientWidth),
      height: options.height || 150,
      padding: [8, 8, 0, 0],
      legend: { show: false },
      cursor: { y: false, drag: { x: Boolean(options.onZoom), y: false, setScale: false }, points: { show: false } },
      select: { show: true },
      scales: {
        x: { time: true, range: () => xRange },
        y: { range: (u, min, max) => [0, Math.max(4, max * 1.1)] },
      },
      axes: [
        { stroke: "#6b7189", grid: { show: false }, ticks: { stroke: "#e3e6ef" }, font: "11px system-ui" },
        {
          stroke: "#6b7189", grid: { stroke: "#eef0f5" }, ticks: { show: false }, font: "11px system-ui",
          size: 44, values: (u, values) => values.map((v) => format(v)),
        },
      ],
      series,
      hooks: {
        setSelect: [(u) => {
          if (!options.onZoom || u.select.width < 4) return;
          const from = u.posToVal(u.select.left, "x");
          const to = u.posToVal(u.select.left + u.select.width, "x");
          u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
          options.onZoom(new Date(from * 1000), new Date(to * 1000));
        }],
        setCursor: options.onCursor ? [(u) => options.onCursor(u)] : [],
      },
    };
    return new uPlot(opts, data, element);
  }

  // The toolbar shared by chart pages: range buttons ([data-range]), Off/Live ([data-refresh]) and
  // the custom range form (#custom-range). The page owns the state ({range, start, end, refresh});
  // `change(patch)` is called with what the user picked, `sync(state)` reflects a state back.
  function rangeControls(change) {
    const form = document.getElementById("custom-range");
    const toLocalInput = (date) => new Date(date.getTime() - date.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
    let current = {};

    document.querySelectorAll("[data-range]").forEach((button) => button.addEventListener("click", () => {
      if (button.dataset.range === "custom") {
        const range = Vigil.resolveRange(current);
        change({ range: "custom", start: range.start.toISOString(), end: range.end.toISOString(), refresh: "off" });
      } else {
        // Leaving a custom range turns Live back on; otherwise Off stays off.
        const refresh = current.refresh === "off" && current.range !== "custom" ? "off" : "live";
        change({ range: button.dataset.range, start: "", end: "", refresh });
      }
    }));
    document.querySelectorAll("[data-refresh]").forEach((button) => button.addEventListener("click", () => {
      change({ refresh: button.dataset.refresh });
    }));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const start = new Date(form.elements.start.value), end = new Date(form.elements.end.value);
      const error = form.querySelector(".error");
      if (isNaN(start) || isNaN(end) || start >= end) {
        error.textContent = "Start must be before end.";
        return;
      }
      error.textContent = "";
      change({ range: "custom", start: start.toISOString(), end: end.toISOString(), refresh: "off" });
    });

    function sync(state) {
      current = state;
      const isLive = state.refresh === "live" && state.range !== "custom";
      document.querySelectorAll("[data-range]").forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.range === state.range)));
      document.querySelectorAll("[data-refresh]").forEach((b) => b.setAttribute("aria-pressed", String((b.dataset.refresh === "live") === isLive)));
      const liveButton = document.querySelector("[data-refresh=live]");
      liveButton.disabled = state.range === "custom";
      liveButton.title = state.range === "custom" ? "Live follows a range that ends now (15m … 30d)" : "";
      form.hidden = state.range !== "custom";
      if (state.range === "custom") {
        const range = Vigil.resolveRange(state);
        form.elements.start.value = toLocalInput(range.start);
        form.elements.end.value = toLocalInput(range.end);
      }
      return isLive;
    }

    return { sync };
  }

  // A page that stops listening (Live off) hides the nav's connection badge too.
  function hideLiveStatus() {
    const status = document.getElementById("live-status");
    if (status) status.hidden = true;
  }

  window.VigilCharts = { timeseries, stackedBars, rangeControls, hideLiveStatus, color, PALETTE };
})();
