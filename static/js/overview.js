// The project overview: tiles, three charts (events/s, error ratios, p95 latency), new warning and
// error patterns and recent errors over a chosen range, kept in the URL (?range=6h, or custom start/end).
// Live mode: each event from the project socket is added to the current bucket at once, and the
// data is refetched (throttled) so the counts settle on the stored truth.
// Everything shown may come from outside: text only reaches the DOM through Vigil.el/textContent.
"use strict";

(function () {
  const root = document.getElementById("overview");
  if (!root) return;
  const { el, fmt } = Vigil;
  const DEFAULTS = { range: "1h", start: "", end: "", refresh: "live" };
  const BUCKETS = [60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400]; // apps.logs.stats
  const LATENCY = { "http.server.request.duration": 1000, "http.server.duration": 1 }; // -> ms
  const REFETCH_EVERY_MS = 10000;
  const PATTERNS_QUERY = "level>=warn";
  const SLIDE_EVERY_MS = 30000;
  const urls = { activity: root.dataset.activityUrl, logs: root.dataset.logsUrl, traces: root.dataset.tracesUrl };

  let state = Vigil.readState(DEFAULTS);
  if (!(state.range in Vigil.RANGES) && state.range !== "custom") state.range = DEFAULTS.range;
  let activity = null;   // the last answer of the activity endpoint, live counts merged in
  let latency = { name: root.dataset.latencyMetric || "", factor: Number(root.dataset.latencyFactor) || 1 };
  let live = null;
  let loading = null;    // AbortController of the load in flight
  let refetchTimer = null, lastFetch = 0, slideTimer = null;

  // A rate per bucket over the seconds of it inside the window: the bucket filling now (and the
  // first one, cut by the range start) would otherwise dip as if traffic dropped.
  function perSecond(n, bucket) {
    const size = activity.bucket_seconds;
    const start = Date.parse(activity.start) / 1000;
    const end = (live ? Math.max(Date.now(), Date.parse(activity.end)) : Date.parse(activity.end)) / 1000;
    const covered = Math.min(bucket.t + size, end) - Math.max(bucket.t, start);
    return n / Math.max(covered, size / 2); // a bucket's first seconds are too few to make a rate
  }
  const percent = (part, whole) => (whole > 0 ? (100 * part) / whole : null);
  const fmtRate = (v) => (v == null ? "—" : v === 0 ? "0" : v < 0.01 ? v.toPrecision(2) : v < 10 ? v.toFixed(2) : fmt.number(v));
  const fmtPercent = (v) => (v == null ? "—" : `${v < 1 && v > 0 ? v.toFixed(2) : v.toFixed(1)} %`);

  // --- charts ---------------------------------------------------------------------------------
  const zoom = (from, to) => setState({ range: "custom", start: from.toISOString(), end: to.toISOString(), refresh: "off" });
  const charts = {
    events: VigilCharts.timeseries(document.getElementById("chart-events"), {
      series: [{ label: "logs/s" }, { label: "spans/s" }, { label: "metric points/s" }],
      format: fmtRate, height: 210, onZoom: zoom, syncKey: "overview",
    }),
    errors: VigilCharts.timeseries(document.getElementById("chart-errors"), {
      series: [{ label: "logs at error+", color: "#e11d48" }, { label: "spans with error status", color: "#d97706" }],
      format: (v) => fmtPercent(v), height: 190, onZoom: zoom, syncKey: "overview",
      yRange: (u, min, max) => [0, Math.max(1, max * 1.15)],
    }),
    latency: VigilCharts.timeseries(document.getElementById("chart-latency"), {
      series: [], format: (v) => fmt.duration(v), height: 190, onZoom: zoom, syncKey: "overview",
    }),
  };

  function bucketFor(seconds) {
    return BUCKETS.find((b) => seconds / b <= 300) || BUCKETS[BUCKETS.length - 1];
  }

  // --- loading --------------------------------------------------------------------------------
  async function fetchJson(url, params, signal) {
    const target = new URL(url, window.location.origin);
    Object.entries(params).forEach(([k, v]) => target.searchParams.set(k, v));
    const response = await fetch(target, { credentials: "same-origin", headers: { Accept: "application/json" }, signal });
    const body = await response.json().catch(() => null);
    if (!response.ok) throw new Vigil.ApiError(response.status, body);
    return body;
  }

  async function load() {
    if (loading) loading.abort();
    loading = new AbortController();
    const signal = loading.signal;
    lastFetch = Date.now();
    const range = Vigil.resolveRange(state);
    const params = { start: range.start.toISOString(), end: range.end.toISOString() };
    if (!activity) Object.values(charts).forEach((chart) => chart.state("loading"));
    const step = bucketFor(range.seconds);
    const latencyQuery = (extra) => Vigil.api("metrics/query", { name: latency.name, agg: "p95", step, ...params, ...extra }, { signal });
    const [act, patterns, errors, byService] = await Promise.allSettled([
      fetchJson(urls.activity, params, signal),
      // Fingerprinting costs ~20 us a row: a bounded sample of the newest warnings and errors.
      Vigil.api("logs/patterns", { ...params, q: PATTERNS_QUERY, order: "new", limit: 6, sample: 1000 }, { signal }),
      Vigil.api("logs", { ...params, q: "level>=error", limit: 8 }, { signal }),
      latency.name ? latencyQuery({ group_by: "service.name" }) : Promise.resolve(null),
    ]);
    if (signal.aborted) return;
    loading = null;
    if (act.status === "fulfilled") {
      activity = act.value;
      renderActivity();
    } else {
      Object.values(charts).slice(0, 2).forEach((chart) => chart.state("error", errorText(act.reason)));
    }
    renderLatency(byService);
    renderPatterns(patterns);
    renderErrors(errors);
  }

  function errorText(error) {
    return error && error.message ? `Could not load: ${error.message}` : "Could not load";
  }

  // --- rendering ------------------------------------------------------------------------------
  function renderActivity() {
    const { buckets, totals } = activity;
    const xs = buckets.map((b) => b.t);
    const events = ["logs", "spans", "points"].map((kind) => buckets.map((b) => perSecond(b[kind], b)));
    const span = [Date.parse(activity.start) / 1000, Date.parse(activity.end) / 1000];
    charts.events.setData(xs, events, span);
    charts.errors.setData(xs, [
      buckets.map((b) => percent(b.log_errors, b.logs)),
      buckets.map((b) => percent(b.span_errors, b.spans)),
    ], span);
    const all = totals.logs + totals.spans + totals.points;
    charts.events.state(all ? null : "empty", all ? "" : "No telemetry in this range");
    charts.errors.state(totals.logs || totals.spans ? null : "empty");
    document.getElementById("events-note").textContent = `per ${describeBucket(activity.bucket_seconds)}`;
    const seconds = (Date.parse(activity.end) - Date.parse(activity.start)) / 1000;
    tile("events", fmtRate(all / seconds), `${fmt.number(totals.logs)} logs · ${fmt.number(totals.spans)} spans · ${fmt.number(totals.points)} points`);
    const logRatio = percent(totals.log_errors, totals.logs);
    tile("errors", fmtPercent(logRatio), totals.logs ? `${fmt.number(totals.log_errors)} of ${fmt.number(totals.logs)} logs` : "no logs in range", severity(logRatio));
    const spanRatio = percent(totals.span_errors, totals.spans);
    tile("spans", fmtPercent(spanRatio), totals.spans ? `${fmt.number(totals.span_errors)} of ${fmt.number(totals.spans)} spans` : "no spans in range", severity(spanRatio));
    if (all) welcomeDone();
  }

  function describeBucket(seconds) {
    if (seconds < 3600) return `${seconds / 60} min`;
    return seconds < 86400 ? `${seconds / 3600} h` : "day";
  }

  function severity(ratio) {
    if (ratio == null) return "";
    return ratio >= 5 ? "bad" : ratio >= 1 ? "warn" : "good";
  }

  function tile(name, value, sub, tone) {
    const node = document.querySelector(`[data-tile=${name}]`);
    node.querySelector(".tile-value").textContent = value;
    node.querySelector(".tile-sub").textContent = sub;
    node.dataset.tone = tone || "";
  }

  function renderLatency(byService) {
    const title = document.getElementById("latency-metric");
    if (!latency.name) {
      charts.latency.state("empty", "No latency metric yet: report http.server.request.duration (OTel semantic conventions)");
      tile("latency", "—", "no latency metric yet");
      return;
    }
    title.textContent = latency.name;
    if (byService.status !== "fulfilled") {
      charts.latency.state("error", errorText(byService.reason));
      return;
    }
    const series = byService.value.series;
    const xs = [...new Set(series.flatMap((s) => s.points.map((p) => p[0])))].sort((a, b) => a - b);
    const ys = series.map((s) => {
      const byTime = new Map(s.points.map(([t, v]) => [t, v == null ? null : v * latency.factor]));
      return xs.map((t) => (byTime.has(t) ? byTime.get(t) : null));
    });
    const names = series.map((s) => (s.labels["service.name"] == null ? "all" : String(s.labels["service.name"])));
    if (names.join("\u0000") !== charts.latency.series().map((l) => l.label).join("\u0000")) {
      charts.latency.setSeries(names.map((label) => ({ label })));
    }
    const range = byService.value;
    charts.latency.setData(xs, ys, [range.start, range.end]);
    charts.latency.state(xs.length ? null : "empty", "No requests in this range");
    // The tile: the slowest service's latest p95 (percentiles of services cannot be merged here).
    const latest = ys.map((values, i) => ({ name: names[i], value: values.filter((v) => v != null).pop() }))
      .filter((s) => s.value != null).sort((a, b) => b.value - a.value);
    tile("latency", latest.length ? fmt.duration(latest[0].value) : "—",
      latest.length ? `${latest[0].name} · slowest service, latest` : "no requests in range");
  }

  function levelBadge(level) {
    return el("span", { class: `level level-${level}` }, level);
  }

  function ago(iso) {
    const seconds = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
    if (seconds < 90) return "just now";
    if (seconds < 5400) return `${Math.round(seconds / 60)} min ago`;
    if (seconds < 129600) return `${Math.round(seconds / 3600)} h ago`;
    return `${Math.round(seconds / 86400)} d ago`;
  }

  function renderPatterns(result) {
    const body = document.getElementById("patterns");
    if (result.status !== "fulfilled") return body.replaceChildren(emptyRow(4, errorText(result.reason)));
    const patterns = result.value.patterns;
    if (!patterns.length) return body.replaceChildren(emptyRow(4, "No logs in this range"));
    body.replaceChildren(...patterns.map((p) => el("tr", {},
      el("td", {}, levelBadge(p.level)),
      el("td", { class: "message", title: p.example }, p.example),
      el("td", { class: "num" }, fmt.number(p.count)),
      el("td", { class: "nowrap muted", title: fmt.dateTime(p.first_seen) }, ago(p.first_seen)),
    )));
  }

  function renderErrors(result) {
    const body = document.getElementById("errors");
    if (result.status !== "fulfilled") return body.replaceChildren(emptyRow(4, errorText(result.reason)));
    const records = result.value.records;
    if (!records.length) return body.replaceChildren(emptyRow(4, "No errors in this range"));
    body.replaceChildren(...records.map((r) => el("tr", {},
      el("td", { class: "nowrap muted mono", title: fmt.dateTime(r.timestamp) }, fmt.time(r.timestamp)),
      el("td", { class: "nowrap" }, el("span", { class: "service" }, r.service || "—")),
      el("td", { class: "message", title: r.message }, r.message),
      el("td", { class: "nowrap" }, r.trace_id ? el("a", { href: `${urls.traces}${encodeURIComponent(r.trace_id)}/` }, "trace →") : ""),
    )));
  }

  function emptyRow(columns, text) {
    return el("tr", { class: "empty-row" }, el("td", { colspan: columns, class: "muted" }, text));
  }

  // --- live -----------------------------------------------------------------------------------
  function onEvent(event) {
    if (event.kind === "alerts") { // an incident changed: the banner, not the telemetry figures
      if (window.VigilFiringBanner) VigilFiringBanner.refresh();
      return;
    }
    if (event.kind === "notifications") return;
    welcomeDone();
    if (event.kind === "metrics" && !latency.name) {
      const name = (event.names || []).find((n) => n in LATENCY);
      if (name) latency = { name, factor: LATENCY[name] };
    }
    if (activity && addToCurrentBucket(event)) {
      renderActivity();
    }
    scheduleRefetch();
  }

  // Counts go to the bucket that is filling now; anything older (a backfill) waits for the refetch.
  function addToCurrentBucket(event) {
    const buckets = activity.buckets, size = activity.bucket_seconds;
    const now = (event.at || Date.now()) / 1000;
    const last = buckets[buckets.length - 1];
    if (!last || now < last.t) return false;
    if (event.kind === "logs" && event.ts_min && Date.parse(event.ts_min) / 1000 < last.t) return false;
    while (now >= buckets[buckets.length - 1].t + size) { // time moved on: slide the window
      buckets.push({ t: buckets[buckets.length - 1].t + size, logs: 0, log_errors: 0, spans: 0, span_errors: 0, points: 0 });
      buckets.shift();
      activity.end = new Date(buckets[buckets.length - 1].t * 1000 + size * 1000).toISOString();
      activity.start = new Date(buckets[0].t * 1000).toISOString();
    }
    const bucket = buckets[buckets.length - 1], totals = activity.totals, count = event.count || 0;
    if (event.kind === "logs") {
      const errors = ((event.levels || {}).error || 0) + ((event.levels || {}).fatal || 0);
      bucket.logs += count; bucket.log_errors += errors; totals.logs += count; totals.log_errors += errors;
    } else if (event.kind === "spans") {
      bucket.spans += count; bucket.span_errors += event.errors || 0; totals.spans += count; totals.span_errors += event.errors || 0;
    } else if (event.kind === "metrics") {
      bucket.points += count; totals.points += count;
    }
    return true;
  }

  function scheduleRefetch() {
    if (refetchTimer) return;
    const wait = Math.max(1500, REFETCH_EVERY_MS - (Date.now() - lastFetch));
    refetchTimer = setTimeout(() => { refetchTimer = null; load(); }, wait);
  }

  // The first events of an empty project: the how-to-send card gives way to the dashboard.
  function welcomeDone() {
    for (const id of ["welcome", "demo-pending"]) {
      const node = document.getElementById(id);
      if (node) node.hidden = true;
    }
    document.getElementById("dashboard").hidden = false;
  }

  function setLive(on) {
    if (on && !live && window.VigilLive) {
      let first = true;
      live = VigilLive.connect(Vigil.projectId(), {
        onEvent,
        onGap: () => { load(); if (window.VigilFiringBanner) VigilFiringBanner.refresh(); },
        onStatus: (status) => {
          root.dataset.live = status;
          // Events between the page's first fetch and the socket's hello were not replayed.
          if (status === "live" && first) { first = false; scheduleRefetch(); }
        },
      });
      slideTimer = setInterval(() => { if (Date.now() - lastFetch > SLIDE_EVERY_MS) load(); }, SLIDE_EVERY_MS);
    } else if (!on && live) {
      live.close();
      live = null;
      root.dataset.live = "off";
      clearInterval(slideTimer);
      VigilCharts.hideLiveStatus();
    }
  }

  // --- controls -------------------------------------------------------------------------------
  const controls = VigilCharts.rangeControls((patch) => setState(patch));

  function syncControls() {
    const isLive = controls.sync(state);
    document.querySelectorAll("[data-keep-range]").forEach((a) => {
      const url = new URL(a.getAttribute("href"), window.location.origin);
      for (const key of ["range", "start", "end"]) {
        if (state[key] && state[key] !== DEFAULTS[key]) url.searchParams.set(key, state[key]); else url.searchParams.delete(key);
      }
      a.setAttribute("href", url.pathname + url.search);
    });
    setLive(isLive);
  }

  function setState(next) {
    state = { ...state, ...next };
    if (state.range !== "custom") { state.start = ""; state.end = ""; }
    Vigil.writeState(state, DEFAULTS);
    activity = null;
    syncControls();
    load();
  }

  document.getElementById("refresh-now").addEventListener("click", () => load());

  syncControls();
  load();
})();
