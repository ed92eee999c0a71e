// Log explorer: query bar, range picker, level histogram (uPlot, drag to zoom), result rows that
// expand to attributes/resource, click-to-filter, and live tail over the project's socket.
// Every log field is untrusted: it reaches the DOM only through Vigil.el / textContent.
"use strict";

(function () {
  const page = document.getElementById("logs-explorer");
  if (!page) return;
  const { el, api, fmt, stamp, flatten, kvSection, LEVEL_NAMES } = window.Vigil;

  const DEFAULTS = { q: "", range: "1h", start: "", end: "", tail: "" };
  const PAGE_SIZE = 100;
  const MAX_ROWS = 1000; // rows kept in the DOM; live tail drops the oldest beyond this
  const STATS_REFRESH_MS = 5000; // histogram refresh while tailing, at most this often
  // Stacking order, bottom to top: the classes that matter most stay on the baseline.
  const LEVELS = [...LEVEL_NAMES.slice(1).reverse(), "unspecified"]; // fatal, error, ..., trace, unspecified
  const LEVEL_COLORS = {
    fatal: "#7f1d1d", error: "#dc2626", warn: "#f59e0b", info: "#6d7ff2",
    debug: "#94a3b8", trace: "#cbd5e1", unspecified: "#a8a29e",
  };
  // A key usable after attr./resource. in the query language (apps/logs/query.py, _FIELD_RE).
  const FIELD_KEY = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_-]+)*$/;
  const BARE_VALUE = /^[^\s()"]+$/;
  const NUMBER = /^-?[0-9]{1,30}(\.[0-9]{1,30})?$/;
  const TRACE_ID = /^[0-9a-f]{32}$/i;
  const MAX_FILTER_VALUE = 500;

  const $ = (id) => document.getElementById(id);
  const input = $("log-query");
  const rowsBody = $("log-rows");
  const stateBox = $("results-state");
  const loadMore = $("load-more");
  const tailToggle = $("tail-toggle");

  let state = Vigil.readState(DEFAULTS);
  let readWindow = null; // {start, end} (ISO) the first page was read with: pagination reuses it
  let cursor = null;
  let controller = null;
  let loading = false;
  let queued = []; // live lines that arrived while a page was loading or the tail was paused
  let omitted = 0;
  let trimmed = false;
  let seen = new Set(); // keys of the rows shown: a tailed line the first page already has is dropped
  let tailed = new Set(); // keys of rows that came from live tail: an older page may hold them again
  let chart = null;
  let statsTimer = null;
  let lastStatsAt = 0;
  let shownStats = null;
  let hoverPaused = false;
  let live = null;

  // --- query text helpers ---------------------------------------------------------------------

  function quote(value) {
    return `"${value.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
  }

  // The query term matching `value` exactly in field `field` (attr.k, resource.k, service, ...).
  // Strings that could be read as numbers or literals are quoted, so they match only strings.
  function filterTerm(field, value) {
    if (typeof value === "string") {
      const plain = BARE_VALUE.test(value) && !NUMBER.test(value) && !["true", "false", "null"].includes(value);
      return `${field}:${plain ? value : quote(value)}`;
    }
    return `${field}:${value === null ? "null" : String(value)}`;
  }

  function addTerm(term, exclude) {
    const current = input.value.trim();
    const addition = exclude ? `-${term}` : term;
    if (current.split(/\s+/).includes(addition)) return;
    // Juxtaposition binds tighter than OR: `a OR b x` would only narrow b.
    const base = /(^|\s)OR(\s|$)/.test(current) ? `(${current})` : current;
    input.value = base ? `${base} ${addition}` : addition;
    submitQuery();
  }

  // --- view state -------------------------------------------------------------------------------

  function isRelative() {
    return state.range !== "custom";
  }

  function apiRange() {
    if (isRelative()) return { start: `-${state.range}`, end: "now" };
    return { start: state.start, end: state.end };
  }

  function saveState() {
    Vigil.writeState(
      { ...state, start: isRelative() ? "" : state.start, end: isRelative() ? "" : state.end },
      DEFAULTS,
    );
  }

  function showRange() {
    page.querySelectorAll(".rangepicker button").forEach((button) => {
      button.setAttribute("aria-pressed", String(button.dataset.range === state.range));
    });
    const custom = $("custom-range");
    custom.hidden = state.range !== "custom";
    if (state.range === "custom" && state.start && state.end) {
      $("range-start").value = localInput(new Date(state.start));
      $("range-end").value = localInput(new Date(state.end));
      $("range-label").textContent = `${fmt.dateTime(state.start)} – ${fmt.dateTime(state.end)}`;
    } else if (isRelative()) {
      $("range-label").textContent = `last ${state.range}`;
    }
  }

  function localInput(date) {
    const pad = (n) => String(n).padStart(2, "0");
    return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}` +
      `T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
  }

  function setCustomRange(start, end) {
    state = { ...state, range: "custom", start: start.toISOString(), end: end.toISOString() };
    if (state.tail) setTail(false); // a fixed window in the past and a stream of new lines contradict
    reload();
  }

  // --- loading ------------------------------------------------------------------------------------

  function submitQuery() {
    state.q = input.value.trim();
    if (state.tail && live) live.setTail(state.q);
    reload();
  }

  async function reload() {
    saveState();
    showRange();
    clearQueryError();
    if (controller) controller.abort();
    controller = new AbortController();
    const signal = controller.signal;
    loading = true;
    page.classList.add("is-loading");
    if (!rowsBody.firstChild) showState("Loading…");
    const params = { q: state.q, ...apiRange() };
    try {
      const [stats, result] = await Promise.all([
        api("logs/stats", params, { signal }),
        api("logs", { ...params, limit: PAGE_SIZE }, { signal }),
      ]);
      readWindow = { start: result.start, end: result.end };
      cursor = result.next_cursor;
      trimmed = false;
      seen = new Set();
      tailed = new Set();
      rowsBody.replaceChildren();
      appendRows(result.records);
      renderStats(stats);
      lastStatsAt = Date.now();
      finishLoad();
    } catch (error) {
      if (error.name === "AbortError") return;
      finishLoad();
      showLoadError(error);
    }
  }

  function clearResults() {
    rowsBody.replaceChildren();
    seen = new Set();
    tailed = new Set();
    cursor = null;
    trimmed = false;
    updateFooter();
  }

  function finishLoad() {
    loading = false;
    page.classList.remove("is-loading");
    flushQueued();
    updateFooter();
  }

  async function loadOlder() {
    if (!cursor || !readWindow) return;
    loadMore.disabled = true;
    try {
      const result = await api("logs", { q: state.q, ...readWindow, limit: PAGE_SIZE, cursor });
      cursor = result.next_cursor;
      appendRows(result.records);
    } catch (error) {
      showLoadError(error);
    } finally {
      loadMore.disabled = false;
      updateFooter();
    }
  }

  async function refreshStats() {
    statsTimer = null;
    lastStatsAt = Date.now();
    try {
      renderStats(await api("logs/stats", { q: state.q, ...apiRange() }));
    } catch (_) {
      // The next refresh or reload shows the problem; a failed background refresh stays quiet.
    }
  }

  function scheduleStats() {
    if (statsTimer || !isRelative()) return;
    const wait = Math.max(0, lastStatsAt + STATS_REFRESH_MS - Date.now());
    statsTimer = setTimeout(refreshStats, wait);
  }

  function showLoadError(error) {
    const details = error.body && error.body.error && error.body.error.details;
    if (error.status === 400 && details && Number.isInteger(details.position)) {
      showQueryError(error.body.error.message, details.position, details.expected);
      clearResults();
      renderStats(null);
      showState("Fix the query to see results.", "error");
      return;
    }
    const message = error.body && error.body.error ? error.body.error.message : `HTTP ${error.status || "error"}`;
    if (error.status) clearResults();
    showState(`Could not load logs: ${message}`, "error");
  }

  // --- query errors --------------------------------------------------------------------------------

  function showQueryError(message, position, expected) {
    const box = $("query-error");
    const source = (state.q || "").replace(/\s/g, " ");
    const at = Math.max(0, Math.min(position, source.length));
    box.replaceChildren(
      el("div", { class: "queryerror-title" },
        el("strong", {}, "Query syntax error"),
        ` at position ${at}`, expected ? ": expected " : "", expected ? el("code", {}, expected) : ""),
      el("pre", { class: "queryerror-source", "data-testid": "query-error-source" },
        source, "\n", el("span", { class: "queryerror-caret" }, `${" ".repeat(at)}^`)),
    );
    box.title = message || "";
    box.hidden = false;
    input.setAttribute("aria-invalid", "true");
    input.focus();
    input.setSelectionRange(at, at);
  }

  function clearQueryError() {
    $("query-error").hidden = true;
    input.removeAttribute("aria-invalid");
  }

  // --- histogram -------------------------------------------------------------------------------------

  // Tailed lines match the query, so they can be counted into the histogram at once; the next
  // stats refresh replaces these estimates with the server's counts (and covers omitted lines).
  function countIntoHistogram(lines) {
    const stats = shownStats;
    if (!stats || !isRelative() || !stats.buckets.length) return;
    const size = stats.bucket_seconds * 1000;
    let last = Date.parse(stats.buckets[stats.buckets.length - 1].start);
    for (const line of lines) {
      const at = Date.parse(line.timestamp);
      if (at > Date.now() + size) continue; // a client clock ahead of ours: wait for the refresh
      while (at >= last + size) {
        last += size;
        stats.buckets.push({ start: new Date(last).toISOString(), counts: {}, total: 0 });
      }
      const bucket = stats.buckets.find((b) => at >= Date.parse(b.start) && at < Date.parse(b.start) + size);
      if (!bucket) continue;
      bucket.counts[line.level] = (bucket.counts[line.level] || 0) + 1;
      stats.levels[line.level] = (stats.levels[line.level] || 0) + 1;
      stats.total += 1;
    }
    const end = Date.now();
    const start = end - Vigil.RANGES[state.range] * 1000;
    stats.buckets = stats.buckets.filter((b) => Date.parse(b.start) + size > start);
    stats.start = new Date(start).toISOString();
    stats.end = new Date(end).toISOString();
    const errors = (stats.levels.error || 0) + (stats.levels.fatal || 0);
    stats.error_ratio = stats.total ? errors / stats.total : 0;
    renderStats(stats);
  }

  function renderStats(stats) {
    shownStats = stats;
    const total = $("log-total");
    const legend = $("histogram-legend");
    if (!stats) {
      total.textContent = "";
      legend.replaceChildren();
      if (chart) { chart.destroy(); chart = null; }
      $("log-histogram").replaceChildren(el("div", { class: "chart-empty" }, "No data"));
      return;
    }
    const errors = (stats.levels.error || 0) + (stats.levels.fatal || 0);
    total.replaceChildren(
      el("strong", {}, fmt.number(stats.total)), stats.total === 1 ? " line" : " lines",
      stats.total ? el("span", { class: errors ? "errorratio has-errors" : "errorratio" },
        `${(stats.error_ratio * 100).toFixed(stats.error_ratio && stats.error_ratio < 0.01 ? 2 : 1)}% errors`) : "",
    );
    const present = LEVELS.filter((level) => stats.levels[level] > 0);
    legend.replaceChildren(...present.slice().reverse().map((level) =>
      el("span", { class: "legend-item" },
        el("span", { class: "swatch", dataset: { level } }), level, " ",
        el("span", { class: "muted" }, fmt.number(stats.levels[level])))));
    drawHistogram(stats, present);
  }

  function drawHistogram(stats, present) {
    const box = $("log-histogram");
    const xs = stats.buckets.map((bucket) => Date.parse(bucket.start) / 1000);
    const raw = present.map((level) => stats.buckets.map((bucket) => bucket.counts[level] || 0));
    const bucketSeconds = stats.bucket_seconds;
    if (chart) chart.destroy();
    box.replaceChildren();
    chart = VigilCharts.stackedBars(box, {
      xs,
      counts: raw,
      series: present.map((level) => ({ label: level, color: LEVEL_COLORS[level] })),
      emptyLabel: "lines",
      // The axis runs to the end of the last (still filling) bucket, so its bar is drawn whole.
      xRange: [Date.parse(stats.start) / 1000, Math.max(Date.parse(stats.end) / 1000,
        xs.length ? xs[xs.length - 1] + bucketSeconds : 0)],
      onZoom: setCustomRange,
      onCursor: (u) => showTooltip(u, xs, raw, present, bucketSeconds),
    });
    if (!stats.total) chart.over.append(el("div", { class: "chart-empty overlay" }, "No logs in this range"));
    const tooltip = el("div", { class: "chart-tooltip", hidden: true, "data-testid": "histogram-tooltip" });
    chart.over.append(tooltip);
    chart.over.addEventListener("mouseleave", () => { tooltip.hidden = true; });
  }

  function showTooltip(u, xs, raw, present, bucketSeconds) {
    const tooltip = u.over.querySelector(".chart-tooltip");
    const idx = u.cursor.idx;
    if (!tooltip) return;
    if (idx === null || idx === undefined || u.cursor.left < 0) { tooltip.hidden = true; return; }
    const from = new Date(xs[idx] * 1000), to = new Date((xs[idx] + bucketSeconds) * 1000);
    const total = raw.reduce((sum, counts) => sum + counts[idx], 0);
    tooltip.replaceChildren(
      el("div", { class: "chart-tooltip-time" }, `${fmt.dateTime(from)} – ${fmt.time(to).slice(0, 8)}`),
      el("div", { class: "chart-tooltip-row" }, el("span", {}, "total"), el("strong", {}, fmt.number(total))),
      ...present.map((level, k) => [level, raw[k][idx]]).filter(([, n]) => n > 0).reverse().map(([level, n]) =>
        el("div", { class: "chart-tooltip-row" },
          el("span", {}, el("span", { class: "swatch", dataset: { level } }), level),
          el("span", {}, fmt.number(n)))),
    );
    tooltip.hidden = false;
    const left = u.cursor.left + 14;
    tooltip.style.left = `${Math.min(left, u.over.clientWidth - tooltip.offsetWidth - 4)}px`;
    tooltip.style.top = "4px";
  }

  // --- rows ------------------------------------------------------------------------------------------

  function recordKey(record) {
    return `${record.timestamp}|${record.service}|${record.span_id || ""}|${record.message}`;
  }

  function logRow(record) {
    const row = el("tr", {
      class: "logrow", tabindex: "0", "aria-expanded": "false", dataset: { level: record.level },
      onclick: (event) => { if (!event.target.closest("a, button")) toggleRow(row); },
      onkeydown: (event) => { if (event.key === "Enter" && event.target === row) toggleRow(row); },
    },
    el("td", { class: "cell-time", title: record.timestamp }, stamp(record.timestamp)),
    el("td", { class: "cell-level" }, el("span", { class: "lvl", dataset: { level: record.level } }, record.level)),
    el("td", { class: "cell-service", title: record.service }, record.service || "—"),
    el("td", { class: "cell-message" }, record.message));
    row.record = record;
    row.dataset.key = recordKey(record);
    return row;
  }

  function appendRows(records) {
    const fragment = document.createDocumentFragment();
    for (const record of records) {
      // Pages never overlap (keyset pagination); only a line live tail already showed can repeat.
      const key = recordKey(record);
      if (tailed.has(key)) continue;
      seen.add(key);
      fragment.append(logRow(record));
    }
    rowsBody.append(fragment);
    updateFooter();
  }

  function prependRows(records) {
    const fresh = records.filter((record) => !seen.has(recordKey(record)));
    if (!fresh.length) return;
    fresh.sort((a, b) => (a.timestamp < b.timestamp ? 1 : a.timestamp > b.timestamp ? -1 : 0));
    const fragment = document.createDocumentFragment();
    for (const record of fresh) {
      seen.add(recordKey(record));
      tailed.add(recordKey(record));
      const row = logRow(record);
      row.classList.add("is-new");
      fragment.append(row);
    }
    rowsBody.prepend(fragment);
    trimRows();
    updateFooter();
  }

  function trimRows() {
    let rows = rowsBody.querySelectorAll("tr.logrow");
    for (let i = rows.length - 1; i >= MAX_ROWS; i--) {
      const row = rows[i];
      if (row.detail) row.detail.remove();
      seen.delete(row.dataset.key);
      tailed.delete(row.dataset.key);
      row.remove();
      trimmed = true;
    }
    // The API cursor points after the oldest row read: once rows are dropped it would skip them.
    if (trimmed) cursor = null;
  }

  function updateFooter() {
    const count = rowsBody.querySelectorAll("tr.logrow").length;
    loadMore.hidden = !cursor;
    const cap = $("results-cap");
    cap.hidden = !trimmed;
    cap.textContent = trimmed ? `Showing the newest ${fmt.number(MAX_ROWS)} lines; older ones were dropped from the view.` : "";
    $("results-summary").textContent = count ? `${fmt.number(count)} shown, newest first` : "";
    if (count) stateBox.hidden = true;
    else if (!loading) showState(emptyMessage(), "empty");
  }

  function emptyMessage() {
    if (state.tail) return "Waiting for new lines that match the query…";
    return state.q ? "No lines match this query in the range. Widen the range or loosen the query." :
      "No logs in this range yet.";
  }

  function showState(text, kind) {
    stateBox.hidden = false;
    stateBox.dataset.kind = kind || "loading";
    stateBox.textContent = text;
  }

  // --- expanded row ------------------------------------------------------------------------------------

  function toggleRow(row) {
    if (row.detail) {
      row.detail.remove();
      row.detail = null;
      row.setAttribute("aria-expanded", "false");
      return;
    }
    row.detail = el("tr", { class: "logdetail", "data-testid": "log-detail" },
      el("td", { colspan: "4" }, detailOf(row.record)));
    row.after(row.detail);
    row.setAttribute("aria-expanded", "true");
  }

  function detailOf(record) {
    const fields = [
      ["timestamp", record.timestamp, null],
      ["observed", record.observed_timestamp, null],
      ["level", `${record.level} (severity ${record.severity})`,
        filterTerm("level", record.level === "unspecified" ? record.severity : record.level)],
      ["service", record.service, record.service ? filterTerm("service", record.service) : null],
      ["trace_id", record.trace_id, record.trace_id ? `trace_id:${record.trace_id}` : null],
      ["span_id", record.span_id, record.span_id ? `span_id:${record.span_id}` : null],
    ].filter(([, value]) => value !== null && value !== undefined && value !== "");
    const traced = record.trace_id && TRACE_ID.test(record.trace_id);
    const traceLink = traced
      ? el("a", { class: "button small", href: `/projects/${Vigil.projectId()}/traces/${record.trace_id.toLowerCase()}/`,
        "data-testid": "trace-link" }, "View trace →")
      : null;
    const issues = el("div", { class: "logdetail-issues", "data-testid": "log-issues" });
    if (traced) issuesOfTrace(record.trace_id, issues);
    return el("div", { class: "logdetail-body" },
      el("div", { class: "logdetail-message" },
        el("pre", { class: "fullmessage", "data-testid": "full-message" }, record.message),
        traceLink, issues),
      el("div", { class: "logdetail-grid" },
        kvSection("Fields", fields.map(([key, value, term]) => ({ key, value, term })),
          { tableClass: "kv kv-fields", onTerm: addTerm }),
        kvSection("Attributes", flattenFields(record.attributes, "attr"), { onTerm: addTerm }),
        kvSection("Resource", flattenFields(record.resource, "resource"), { onTerm: addTerm })));
  }

  // The error issues of the line's trace (Sentry events carry the same trace id), as links.
  async function issuesOfTrace(traceId, box) {
    let issues = [];
    try {
      issues = await api("issues", { trace_id: traceId, status: "all", limit: 5 });
    } catch (error) {
      return; // the line is what was asked for; its issues are a bonus
    }
    box.replaceChildren(...issues.map((issue) => el("a", { class: "button small", "data-testid": "log-issue-link",
      href: `/projects/${Vigil.projectId()}/issues/${issue.id}/`, title: issue.culprit || issue.title },
    `Issue: ${issue.title}`)));
  }

  // Attributes and resource as key/value rows; scalar values short enough become search terms.
  function flattenFields(object, prefix) {
    return flatten(object, (path, value) =>
      (FIELD_KEY.test(path) && String(value).length <= MAX_FILTER_VALUE ? filterTerm(`${prefix}.${path}`, value) : null));
  }

  // --- live tail -----------------------------------------------------------------------------------------

  function setTail(on) {
    state.tail = on ? "1" : "";
    tailToggle.setAttribute("aria-pressed", String(on));
    page.classList.toggle("is-tailing", on);
    omitted = 0;
    showOmitted();
    $("tail-state").hidden = !on;
    if (!on) { hoverPaused = false; flushQueued(); }
    if (live) live.setTail(on ? state.q : null);
    if (on) showTailState("Starting live tail…");
    saveState();
  }

  function toggleTail() {
    const on = !state.tail;
    if (on && !isRelative()) state.range = "15m";
    setTail(on);
    // A fresh first page (ending now) joins up with the stream; lines arriving meanwhile wait in
    // `queued` and are merged (deduplicated) once it has rendered.
    if (on) reload();
  }

  function showTailState(text) {
    $("tail-state").textContent = text;
  }

  function isPaused() {
    // Hovering the rows (reading one) or scrolling the newest row out of view holds new lines back.
    return Boolean(state.tail) && (hoverPaused || rowsBody.getBoundingClientRect().top < 0);
  }

  function onLiveEvent(event) {
    if (event.kind !== "logs" || !state.tail) return;
    scheduleStats();
    if (event.lines_omitted) {
      omitted += event.lines_omitted;
      showOmitted();
    }
    if (event.lines && event.lines.length) {
      countIntoHistogram(event.lines);
      queued.push(...event.lines);
      flushQueued();
    }
  }

  function flushQueued() {
    if (loading || !queued.length) return;
    if (state.tail && isPaused()) {
      showResume();
      return;
    }
    const lines = queued;
    queued = [];
    prependRows(lines);
    showResume();
  }

  function showResume() {
    const button = $("tail-resume");
    button.hidden = !queued.length;
    button.textContent = `Paused · ${fmt.number(queued.length)} new line${queued.length === 1 ? "" : "s"} — show`;
  }

  function showOmitted() {
    const box = $("tail-omitted");
    box.hidden = omitted === 0;
    box.textContent = `${fmt.number(omitted)} line${omitted === 1 ? "" : "s"} not shown: more, or larger, than ` +
      "live tail can stream. Narrow the query, or stop live tail and search to see every line.";
  }

  function connectLive() {
    if (!window.VigilLive) return;
    live = window.VigilLive.connect(Vigil.projectId(), {
      onEvent: onLiveEvent,
      onGap: () => { if (state.tail) reload(); },
      onStatus: (status) => {
        page.dataset.live = status;
        if (!state.tail) return;
        if (status === "live") showTailState("Streaming new lines");
        else if (status === "reconnecting" || status === "connecting") showTailState("Reconnecting…");
        else showTailState("Disconnected");
      },
      onTail: (answer) => {
        if (answer.ok) { showTailState("Streaming new lines"); return; }
        if (Number.isInteger(answer.position)) showQueryError(answer.message, answer.position, answer.expected);
        else showTailState(answer.message || "Live tail refused");
      },
    });
    if (state.tail) live.setTail(state.q);
  }

  // --- wiring ---------------------------------------------------------------------------------------------

  $("log-query-form").addEventListener("submit", (event) => { event.preventDefault(); submitQuery(); });
  page.querySelectorAll(".rangepicker button").forEach((button) => {
    button.addEventListener("click", () => {
      if (button.dataset.range === "custom") {
        const { start, end } = Vigil.resolveRange(state);
        state = { ...state, range: "custom", start: start.toISOString(), end: end.toISOString() };
        if (state.tail) setTail(false);
        showRange();
        saveState();
        $("range-start").focus();
        return;
      }
      state = { ...state, range: button.dataset.range, start: "", end: "" };
      reload();
    });
  });
  $("custom-range").addEventListener("submit", (event) => {
    event.preventDefault();
    const start = new Date($("range-start").value), end = new Date($("range-end").value);
    if (isNaN(start) || isNaN(end) || start >= end) {
      showState("The start of a custom range must be before its end.", "error");
      return;
    }
    setCustomRange(start, end);
  });
  input.addEventListener("input", clearQueryError);
  loadMore.addEventListener("click", loadOlder);
  tailToggle.addEventListener("click", toggleTail);
  $("tail-resume").addEventListener("click", () => {
    hoverPaused = false;
    window.scrollTo({ top: 0 });
    const lines = queued;
    queued = [];
    prependRows(lines);
    showResume();
  });
  rowsBody.addEventListener("mouseenter", () => { hoverPaused = true; });
  rowsBody.addEventListener("mouseleave", () => { hoverPaused = false; flushQueued(); });
  window.addEventListener("scroll", () => { if (!isPaused()) flushQueued(); }, { passive: true });
  window.addEventListener("resize", () => {
    if (chart) chart.setSize({ width: Math.max(300, $("log-histogram").clientWidth), height: 150 });
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "/" && document.activeElement === document.body) { event.preventDefault(); input.focus(); }
  });

  input.value = state.q;
  const customIsValid = state.range === "custom" && !isNaN(Date.parse(state.start)) && !isNaN(Date.parse(state.end));
  if (!(state.range in Vigil.RANGES) && !customIsValid) state.range = DEFAULTS.range;
  if (state.tail && !isRelative()) state.tail = "";
  tailToggle.setAttribute("aria-pressed", String(Boolean(state.tail)));
  page.classList.toggle("is-tailing", Boolean(state.tail));
  $("tail-state").hidden = !state.tail;
  connectLive();
  reload();
})();
