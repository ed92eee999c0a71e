// The metrics explorer: pick a metric (search by name), an aggregation, labels to group by and
// label filters, over a range; one uPlot chart with a legend and hover values, and a table of the
// series. The exact view lives in the URL (?metric=&agg=&group=&filter=k%3Dv&range=), so a link or
// a reload restores it. Live: a refetch when an event names the charted metric. Exemplars with a
// trace are dots on their series: a click opens that trace's waterfall.
// Metric names, label keys and values come from outside: text only via Vigil.el/textContent.
"use strict";

(function () {
  const root = document.getElementById("metrics-explorer");
  if (!root) return;
  const { el, fmt } = Vigil;
  const DEFAULTS = { metric: "", agg: "", group: [], filter: [], range: "1h", start: "", end: "", refresh: "live" };
  const AGGS = {
    histogram: ["p50", "p90", "p95", "p99", "avg", "rate", "count", "sum", "min", "max"],
    counter: ["rate", "sum", "avg", "min", "max", "count"],
    gauge: ["avg", "min", "max", "sum", "count"],
  };
  const AGG_NAMES = { p50: "p50", p90: "p90", p95: "p95", p99: "p99", avg: "average", rate: "rate per second",
    count: "count", sum: "sum", min: "minimum", max: "maximum" };
  const MAX_SERIES = 30;
  const STEPS = [60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];
  const REFETCH_MIN_MS = 5000;

  let state = Vigil.readState(DEFAULTS);
  if (!(state.range in Vigil.RANGES) && state.range !== "custom") state.range = DEFAULTS.range;
  let metrics = [];
  let result = null;
  let live = null, loading = null, refetchTimer = null, lastFetch = 0;

  const chart = VigilCharts.timeseries(document.getElementById("metric-chart"), {
    series: [], height: 320, format: (v) => formatValue(v), onZoom: (from, to) => setState({
      range: "custom", start: from.toISOString(), end: to.toISOString(), refresh: "off",
    }),
  });

  const current = () => metrics.find((m) => m.name === state.metric) || null;
  const kindOf = (metric) => (!metric ? "gauge" : metric.type.includes("histogram") ? "histogram" : metric.type === "sum" ? "counter" : "gauge");

  // --- values in the metric's unit -------------------------------------------------------------
  function formatValue(v) {
    if (v == null || Number.isNaN(v)) return "—";
    if (state.agg === "count") return fmt.number(v);
    if (state.agg === "rate") return `${fmt.number(v)}/s`;
    return measurement(v);
  }

  // A value in the metric's own unit (a sample, an exemplar), whatever the aggregation.
  function measurement(v) {
    if (v == null || Number.isNaN(v)) return "—";
    const metric = current();
    const unit = metric ? metric.unit : "";
    if (unit === "s") return fmt.duration(v * 1000);
    if (unit === "ms") return fmt.duration(v);
    if (unit === "By") return bytes(v);
    if (unit === "1") return `${fmt.number(v * 100)} %`;
    const shown = unit && !unit.startsWith("{") ? ` ${unit}` : "";
    return `${fmt.number(v)}${shown}`;
  }

  function bytes(v) {
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    while (Math.abs(v) >= 1024 && i < units.length - 1) { v /= 1024; i += 1; }
    return `${v.toFixed(v < 10 && i ? 1 : 0)} ${units[i]}`;
  }

  // --- the picker ------------------------------------------------------------------------------
  const search = document.getElementById("metric-search");
  const list = document.getElementById("metric-list");

  function renderList() {
    const needle = search.value.trim().toLowerCase();
    const shown = metrics.filter((m) => m.name.toLowerCase().includes(needle));
    if (!metrics.length) return list.replaceChildren(el("li", { class: "empty" }, "No metrics yet: send some with OTLP or POST /api/v1/ingest/metrics."));
    if (!shown.length) return list.replaceChildren(el("li", { class: "empty" }, "No metric matches."));
    list.replaceChildren(...shown.map((m) => el("li", {},
      el("button", {
        type: "button", role: "option", "aria-selected": String(m.name === state.metric), dataset: { metric: m.name },
        onclick: () => pick(m.name),
      },
      el("span", { class: "metric-name" }, m.name),
      el("span", { class: "metric-meta" }, [kindOf(m), m.unit || null, `${fmt.number(m.series)} series`].filter(Boolean).join(" · "))),
    )));
  }

  function pick(name) {
    const metric = metrics.find((m) => m.name === name);
    const aggs = AGGS[kindOf(metric)];
    // Keep grouping and filters on labels the new metric has; the aggregation if it applies.
    const keys = new Set(metric ? metric.label_keys : []);
    setState({
      metric: name,
      agg: aggs.includes(state.agg) ? state.agg : aggs[0],
      group: state.group.filter((k) => keys.has(k)),
      filter: state.filter.filter((f) => keys.has(f.split("=")[0])),
    });
  }

  // --- the query bar ---------------------------------------------------------------------------
  const aggSelect = document.getElementById("agg");
  const groupBox = document.getElementById("group-by");
  const filterBox = document.getElementById("filters");
  const filterForm = document.getElementById("add-filter");

  function renderQueryBar() {
    const metric = current();
    const aggs = AGGS[kindOf(metric)];
    aggSelect.replaceChildren(...aggs.map((a) => el("option", { value: a, selected: a === state.agg }, AGG_NAMES[a])));
    aggSelect.disabled = !metric;
    const keys = metric ? metric.label_keys : [];
    groupBox.replaceChildren(...(keys.length ? keys.map((key) => el("button", {
      type: "button", class: state.group.includes(key) ? "chip toggle" : "chip off", "aria-pressed": String(state.group.includes(key)),
      dataset: { key },
      onclick: () => setState({ group: state.group.includes(key) ? state.group.filter((k) => k !== key) : [...state.group, key] }),
    }, key)) : [el("span", { class: "muted" }, "no labels")]));
    const chips = state.filter.map((f) => {
      const [key, ...rest] = f.split("=");
      return el("span", { class: "chip", dataset: { filter: f } }, `${key} = ${rest.join("=")}`,
        el("button", { type: "button", "aria-label": `Remove filter ${f}`, onclick: () => setState({ filter: state.filter.filter((x) => x !== f) }) }, "×"));
    });
    filterBox.replaceChildren(...chips, filterForm);
    filterForm.elements.key.replaceChildren(...keys.map((key) => el("option", { value: key }, key)));
    filterForm.hidden = !keys.length;
    suggestValues();
  }

  // Values seen in the current answer for the chosen label (when grouped by it) as suggestions.
  function suggestValues() {
    const key = filterForm.elements.key.value;
    const values = new Set((result ? result.series : []).map((s) => s.labels[key]).filter((v) => v != null).map(String));
    document.getElementById("label-values").replaceChildren(...[...values].sort().slice(0, 200).map((v) => el("option", { value: v })));
  }

  aggSelect.addEventListener("change", () => setState({ agg: aggSelect.value }));
  filterForm.elements.key.addEventListener("change", suggestValues);
  filterForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const key = filterForm.elements.key.value, value = filterForm.elements.value.value.trim();
    if (!key || !value) return;
    filterForm.elements.value.value = "";
    const filter = `${key}=${value}`;
    if (!state.filter.includes(filter)) setState({ filter: [...state.filter, filter] });
  });
  search.addEventListener("input", renderList);
  search.addEventListener("keydown", (event) => {
    if (event.key !== "Enter") return;
    const first = list.querySelector("button[data-metric]");
    if (first) first.click();
  });

  // --- loading ---------------------------------------------------------------------------------
  async function loadList() {
    try {
      metrics = (await Vigil.api("metrics")).metrics;
    } catch (error) {
      list.replaceChildren(el("li", { class: "empty" }, `Could not load metrics: ${error.message}`));
      return;
    }
    const chosen = current() || metrics.find((m) => m.name === "http.server.request.duration") || metrics[0];
    if (chosen) {
      const aggs = AGGS[kindOf(chosen)];
      state.metric = chosen.name;
      state.agg = aggs.includes(state.agg) ? state.agg : aggs[0];
      Vigil.writeState(state, DEFAULTS);
    }
    renderList();
    renderQueryBar();
    load();
  }

  async function load() {
    const metric = current();
    const title = document.getElementById("metric-name");
    title.textContent = metric ? metric.name : "Pick a metric";
    document.getElementById("metric-meta").textContent = metric
      ? `${kindOf(metric)}${metric.unit ? " · " + metric.unit : ""} · ${AGG_NAMES[state.agg] || state.agg}` : "";
    if (!metric) {
      chart.state("empty", metrics.length ? "Pick a metric on the left" : "No metrics yet");
      return;
    }
    if (loading) loading.abort();
    loading = new AbortController();
    const signal = loading.signal;
    lastFetch = Date.now();
    const range = Vigil.resolveRange(state);
    const params = { name: metric.name, agg: state.agg, start: range.start.toISOString(), end: range.end.toISOString(),
      step: stepFor(range.seconds) };
    if (state.group.length) params.group_by = state.group.join(",");
    const filters = {};
    state.filter.forEach((f) => {
      const [key, ...rest] = f.split("=");
      (filters[`label.${key}`] = filters[`label.${key}`] || []).push(rest.join("="));
    });
    if (!result) chart.state("loading");
    const errorBox = document.getElementById("query-error");
    try {
      result = await Vigil.api("metrics/query", { ...params, ...filters }, { signal });
    } catch (error) {
      if (signal.aborted) return;
      loading = null;
      const details = error.body && error.body.error && error.body.error.details;
      errorBox.textContent = details && typeof details === "object" ? Object.values(details).flat().join(" ") : error.message;
      errorBox.hidden = false;
      chart.state("error", "The query failed");
      return;
    }
    loading = null;
    errorBox.hidden = true;
    render();
  }

  // About 150 points, never under a minute: SDKs export every 60 s by default (OTel), and a
  // shorter step would cut their lines into dashes.
  function stepFor(seconds) {
    return STEPS.find((step) => seconds / step <= 150) || STEPS[STEPS.length - 1];
  }

  function seriesLabel(labels) {
    const entries = Object.entries(labels);
    if (!entries.length) return "all series";
    return entries.map(([k, v]) => `${k}=${v == null ? "∅" : v}`).join(", ");
  }

  function render() {
    const all = result.series.map((s) => {
      const values = s.points.map((p) => p[1]).filter((v) => v != null);
      const sum = values.reduce((a, b) => a + b, 0);
      return {
        label: seriesLabel(s.labels), points: s.points, last: values.length ? values[values.length - 1] : null,
        min: values.length ? Math.min(...values) : null, max: values.length ? Math.max(...values) : null,
        avg: values.length ? sum / values.length : null,
      };
    });
    all.sort((a, b) => (b.max ?? -Infinity) - (a.max ?? -Infinity));
    const shown = all.slice(0, MAX_SERIES);
    const xs = [...new Set(shown.flatMap((s) => s.points.map((p) => p[0])))].sort((a, b) => a - b);
    const ys = shown.map((s) => {
      const byTime = new Map(s.points);
      return xs.map((t) => (byTime.has(t) ? byTime.get(t) : null));
    });
    const defs = shown.map((s) => ({ label: s.label }));
    if (defs.map((d) => d.label).join("\u0000") !== chart.series().map((d) => d.label).join("\u0000")) chart.setSeries(defs);
    chart.setData(xs, ys, [result.start, result.end]);
    chart.setMarkers(exemplarMarkers(shown, xs, ys));
    chart.state(xs.length ? null : "empty", "No data for this metric in this range");
    document.getElementById("series-note").textContent = all.length > MAX_SERIES
      ? `the ${MAX_SERIES} highest of ${all.length} series` : `${all.length} series · step ${result.step} s · ${result.resolution}`;
    const rows = document.getElementById("series-rows");
    rows.replaceChildren(...(shown.length ? shown.map((s, i) => el("tr", {},
      el("td", {}, swatch(VigilCharts.color(i))),
      el("td", { class: "labels" }, s.label),
      el("td", { class: "num" }, formatValue(s.last)),
      el("td", { class: "num" }, formatValue(s.min)),
      el("td", { class: "num" }, formatValue(s.avg)),
      el("td", { class: "num" }, formatValue(s.max)),
    )) : [el("tr", { class: "empty-row" }, el("td", { colspan: 6, class: "muted" }, "No series"))]));
    suggestValues();
  }

  // Exemplars that name a trace, on the series they belong to. A count, rate or sum is not on the
  // scale of one measurement, so there the dot sits on the line at its step; elsewhere
  // (percentiles, averages, gauges) at the measured value.
  const ON_THE_LINE = new Set(["count", "rate", "sum"]);
  function exemplarMarkers(shown, xs, ys) {
    const indexOf = new Map(shown.map((s, i) => [s.label, i]));
    return (result.exemplars || []).flatMap((exemplar) => {
      const index = indexOf.get(seriesLabel(exemplar.labels));
      if (!exemplar.trace_id || index === undefined) return [];
      let y = exemplar.value;
      if (ON_THE_LINE.has(state.agg)) {
        const step = xs.findLastIndex((x) => x <= exemplar.time);
        y = step < 0 ? null : ys[index][step];
      }
      if (y == null) return [];
      return [{
        x: exemplar.time, y, color: VigilCharts.color(index),
        href: `/projects/${Vigil.projectId()}/traces/${exemplar.trace_id}/`,
        title: `Exemplar ${measurement(exemplar.value)} at ${fmt.dateTime(exemplar.time * 1000)}: open its trace`,
      }];
    });
  }

  function swatch(color) {
    const node = el("span", { class: "swatch", "aria-hidden": "true" });
    node.style.background = color; // CSSOM: allowed by the page's CSP, unlike a style attribute
    return node;
  }

  // --- live ------------------------------------------------------------------------------------
  function onEvent(event) {
    if (event.kind !== "metrics") return;
    const names = event.names || [];
    if (names.some((n) => !metrics.find((m) => m.name === n))) loadListQuietly();
    if (!names.includes(state.metric)) return;
    if (refetchTimer) return;
    refetchTimer = setTimeout(() => { refetchTimer = null; load(); }, Math.max(500, REFETCH_MIN_MS - (Date.now() - lastFetch)));
  }

  let listTimer = null;
  function loadListQuietly() { // a new metric appeared: show it in the picker
    if (listTimer) return;
    listTimer = setTimeout(async () => {
      listTimer = null;
      try { metrics = (await Vigil.api("metrics")).metrics; renderList(); renderQueryBar(); } catch (_) { /* next event retries */ }
    }, 2000);
  }

  function setLive(on) {
    if (on && !live && window.VigilLive) {
      live = VigilLive.connect(Vigil.projectId(), {
        onEvent, onGap: () => load(), onStatus: (status) => { root.dataset.live = status; },
      });
    } else if (!on && live) {
      live.close();
      live = null;
      root.dataset.live = "off";
      VigilCharts.hideLiveStatus();
    }
  }

  // --- state -----------------------------------------------------------------------------------
  const controls = VigilCharts.rangeControls((patch) => setState(patch));

  function setState(next) {
    state = { ...state, ...next };
    if (state.range !== "custom") { state.start = ""; state.end = ""; }
    Vigil.writeState(state, DEFAULTS);
    setLive(controls.sync(state));
    renderList();
    renderQueryBar();
    load();
  }

  document.getElementById("copy-link").addEventListener("click", async (event) => {
    const button = event.currentTarget;
    try {
      await navigator.clipboard.writeText(window.location.href);
      button.textContent = "Link copied";
    } catch (_) {
      button.textContent = "Copy the address bar";
    }
    setTimeout(() => { button.textContent = "Copy link"; }, 2000);
  });

  setLive(controls.sync(state));
  loadList();
})();
