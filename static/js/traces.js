// Trace pages: the list of recent traces (filters in the URL) and one trace as a waterfall of
// spans with its logs. Span names, attributes and log lines are untrusted: DOM only via Vigil.el.
"use strict";

(function () {
  const { el, api, fmt, stamp, flatten, kvSection, kvRow } = window.Vigil;
  const $ = (id) => document.getElementById(id);
  // Categorical colours that stay apart from each other (Tableau 10, with red left to errors).
  const PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#6f63c8", "#ff9da7",
    "#9c755f", "#8d99ae"];
  const SPAN_KINDS = ["unspecified", "internal", "server", "client", "producer", "consumer"];
  const STATUS_NAMES = ["unset", "ok", "error"];
  const TRACE_ID = /^[0-9a-f]{32}$/i;

  function hashColor(name) {
    let hash = 0;
    for (const char of String(name || "")) hash = (hash * 31 + char.codePointAt(0)) >>> 0;
    return PALETTE[hash % PALETTE.length];
  }

  function isLight(hex) {
    const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
    return 0.299 * r + 0.587 * g + 0.114 * b > 160;  // perceived brightness: dark text reads better
  }

  function serviceChip(service, color) {
    const chip = el("span", { class: "service-chip", title: service || "" }, service || "—");
    chip.style.setProperty("--chip", color || hashColor(service));
    return chip;
  }

  // ISO 8601 with microseconds -> epoch microseconds (Date keeps only milliseconds; spans need µs).
  function micros(iso) {
    const match = /^(.*T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:?\d{2})?$/.exec(String(iso));
    if (!match) return Date.parse(iso) * 1000;
    const fraction = (match[2] || "").padEnd(6, "0").slice(0, 6);
    return Date.parse(match[1] + (match[3] || "Z")) * 1000 + Number(fraction);
  }

  // ===================================================================== trace list
  function traceList(page) {
    const DEFAULTS = { q: "", service: "", status: "any", min: "", max: "", range: "1h" };
    const LIMIT = 100;
    const rows = $("trace-rows");
    const stateBox = $("trace-state");
    const older = $("older-traces");
    let state = Vigil.readState(DEFAULTS);
    let oldestStart = null;
    let controller = null;

    const fields = { q: $("trace-q"), service: $("trace-service"), min: $("trace-min"), max: $("trace-max"),
      status: $("trace-status") };
    if (!(state.range in Vigil.RANGES)) state.range = DEFAULTS.range;
    for (const [name, field] of Object.entries(fields)) field.value = state[name];

    function params(end) {
      return {
        q: state.q, service: state.service, status: state.status,
        min_duration_ms: state.min, max_duration_ms: state.max,
        start: `-${state.range}`, end: end || "", limit: LIMIT,
      };
    }

    function showState(text, kind) {
      stateBox.hidden = false;
      stateBox.dataset.kind = kind || "loading";
      stateBox.textContent = text;
    }

    async function load(append) {
      Vigil.writeState(state, DEFAULTS);
      page.querySelectorAll(".rangepicker button").forEach((button) => {
        button.setAttribute("aria-pressed", String(button.dataset.range === state.range));
      });
      $("range-label").textContent = `last ${state.range}`;
      $("new-traces").hidden = true;
      if (controller) controller.abort();
      controller = new AbortController();
      if (!append) { showState("Loading…"); page.classList.add("is-loading"); }
      try {
        const answer = await api("traces", params(append ? oldestStart : ""), { signal: controller.signal });
        if (!append) rows.replaceChildren();
        render(answer.traces);
        older.hidden = answer.traces.length < LIMIT;
      } catch (error) {
        if (error.name === "AbortError") return;
        const body = error.body || {};
        const message = body.error ? body.error.message : `HTTP ${error.status}`;
        showState(`Could not load traces: ${message}`, "error");
      } finally {
        page.classList.remove("is-loading");
      }
    }

    function render(traces) {
      const maxDuration = Math.max(1, ...traces.map((t) => t.duration_ms));
      for (const trace of traces) {
        const href = `/projects/${Vigil.projectId()}/traces/${encodeURIComponent(trace.trace_id)}/`;
        const fill = el("span", {});
        fill.style.width = `${Math.max(1, (trace.duration_ms / maxDuration) * 100)}%`;
        rows.append(el("tr", {
          class: trace.has_error ? "tracerow has-error" : "tracerow", "data-testid": "trace-row",
          onclick: (event) => { if (!event.target.closest("a")) window.location.assign(href); },
        },
        el("td", { class: "cell-started", title: trace.start }, stamp(trace.start)),
        el("td", { class: "cell-name" }, el("a", { href }, trace.root_name || "(unnamed)"),
          el("span", { class: "trace-id" }, trace.trace_id.slice(0, 8))),
        el("td", {}, serviceChip(trace.service)),
        el("td", {}, el("div", { class: "durationcell" }, el("div", { class: "durationbar" }, fill),
          el("span", { class: "figure" }, fmt.duration(trace.duration_ms)))),
        el("td", {}, trace.has_error
          ? el("span", { class: "status-badge error" }, "error")
          : el("span", { class: "status-badge ok" }, "ok"))));
        oldestStart = trace.start;
      }
      const count = rows.children.length;
      $("trace-summary").textContent = count ? `${fmt.number(count)} shown, newest first` : "";
      if (count) stateBox.hidden = true;
      else showState(state.q || state.service || state.min || state.max || state.status !== "any"
        ? "No traces match these filters in the range." : "No traces in this range yet.", "empty");
    }

    $("trace-filters").addEventListener("submit", (event) => {
      event.preventDefault();
      for (const [name, field] of Object.entries(fields)) state[name] = field.value.trim();
      load(false);
    });
    fields.status.addEventListener("change", () => { state.status = fields.status.value; load(false); });
    page.querySelectorAll(".rangepicker button").forEach((button) => {
      button.addEventListener("click", () => { state.range = button.dataset.range; load(false); });
    });
    older.addEventListener("click", () => load(true));
    $("new-traces").addEventListener("click", () => load(false));
    if (window.VigilLive) {
      window.VigilLive.connect(Vigil.projectId(), {
        onEvent: (event) => { if (event.kind === "spans") $("new-traces").hidden = false; },
        onGap: () => {},
      });
    }
    load(false);
  }

  // ===================================================================== one trace
  function traceView(page) {
    const traceId = page.dataset.traceId;
    const stateBox = $("trace-state");
    const waterfall = $("waterfall");
    let colors = new Map();
    let traceStart = 0, traceSpan = 1;
    const rowsBySpan = new Map();

    function showState(title, text) {
      stateBox.hidden = false;
      stateBox.replaceChildren(el("h2", {}, title), el("p", {}, text),
        el("a", { class: "button", href: `/projects/${Vigil.projectId()}/traces/` }, "Back to traces"));
    }

    // Issues of this trace's error events: shown even when the trace's spans are not (yet) here,
    // since SDKs put a trace id on errors whether or not tracing is on.
    async function loadIssues() {
      if (!TRACE_ID.test(traceId)) return;
      let issues = [];
      try {
        issues = await api("issues", { trace_id: traceId, status: "all", limit: 20 });
      } catch (error) {
        return; // the trace itself is the page; its issues are a bonus
      }
      if (!issues.length) return;
      $("trace-issues").replaceChildren(...issues.map((issue) => el("li", {},
        el("a", { href: `/projects/${Vigil.projectId()}/issues/${issue.id}/`, "data-testid": "trace-issue-link" }, issue.title),
        el("span", { class: "muted" }, ` ${issue.culprit ? `${issue.culprit} · ` : ""}${fmt.number(issue.event_count)} events · ${issue.status}`))));
      $("trace-issues-card").hidden = false;
    }

    async function load() {
      loadIssues();
      try {
        render(await api(`traces/${encodeURIComponent(traceId)}`));
      } catch (error) {
        if (error.status === 404) {
          showState("Trace not found",
            "No spans or logs with this trace id in this project. It may not have arrived yet, or it is past " +
            `retention (spans are kept ${page.dataset.spanRetentionDays} days).`);
        } else if (error.status === 400) {
          showState("Not a trace id", "A trace id is 32 hexadecimal characters.");
        } else {
          showState("Could not load the trace", `The server answered ${error.status || "with an error"}.`);
        }
        stateBox.dataset.kind = "error";
      }
    }

    function assignColors(services) {
      // Distinct colours inside one trace: the service's usual colour unless another took it.
      colors = new Map();
      const taken = new Set();
      for (const service of services) {
        let index = PALETTE.indexOf(hashColor(service));
        for (let tries = 0; taken.has(index) && tries < PALETTE.length; tries++) index = (index + 1) % PALETTE.length;
        taken.add(index);
        colors.set(service, PALETTE[index]);
      }
    }

    function render(trace) {
      stateBox.hidden = true;
      assignColors(trace.services);
      const flat = [];
      const walk = (span, depth) => {
        flat.push({ span, depth });
        span.children.forEach((child) => walk(child, depth + 1));
      };
      trace.spans.forEach((root) => walk(root, 0));
      const starts = flat.map(({ span }) => micros(span.start));
      const ends = flat.map(({ span }) => micros(span.end));
      traceStart = starts.length ? Math.min(...starts) : 0;
      traceSpan = Math.max(1, (ends.length ? Math.max(...ends) : 0) - traceStart);
      document.title = `${trace.root_name || "Trace"} · ${document.title}`;
      $("trace-title").textContent = trace.root_name || "Trace";
      renderSummary(trace);
      if (flat.length) renderWaterfall(flat);
      else showState("No spans yet", "Logs carry this trace id, but none of its spans has arrived (or they are past retention).");
      renderLogs(trace);
    }

    function renderSummary(trace) {
      const stat = (label, value, cls) => el("div", { class: "stat" }, el("span", {}, label),
        el("strong", { class: cls || null }, value));
      $("trace-summary").replaceChildren(
        stat("Started", trace.start ? fmt.dateTime(trace.start) : "—"),
        stat("Duration", fmt.duration(trace.duration_ms)),
        stat("Spans", fmt.number(trace.span_count)),
        stat("Errors", fmt.number(trace.error_count), trace.error_count ? "errors" : null),
        stat("Logs", fmt.number(trace.logs.length)),
        el("div", { class: "services" }, trace.services.map((service) => serviceChip(service, colors.get(service)))),
      );
      $("trace-summary-card").hidden = false;
    }

    function renderWaterfall(flat) {
      $("waterfall-head").hidden = false;
      const ruler = el("div", { class: "wf-ruler" });
      const fractions = [0, 0.25, 0.5, 0.75, 1];
      for (const fraction of fractions) {
        const tick = el("span", { class: fraction === 1 ? "wf-tick last" : "wf-tick" }, fraction ? fmt.duration((traceSpan * fraction) / 1000) : "0 ms");
        tick.style.left = `${fraction * 100}%`;
        ruler.append(tick);
      }
      const rows = flat.map(({ span, depth }) => spanRow(span, depth));
      waterfall.replaceChildren(el("div", { class: "wf-head" }, el("div", { class: "wf-name" }, "Service · span"), ruler), ...rows);
    }

    function spanRow(span, depth) {
      const start = micros(span.start) - traceStart;
      const duration = Math.max(0, micros(span.end) - micros(span.start));
      const left = (start / traceSpan) * 100;
      const width = (duration / traceSpan) * 100;
      const color = colors.get(span.service) || hashColor(span.service);
      const bar = el("div", { class: "wf-bar" });
      bar.style.left = `${left}%`;
      bar.style.width = `${width}%`;
      bar.style.background = color;
      const inside = width > 14;
      const labelClass = inside ? (isLight(color) ? "wf-label inside on-light" : "wf-label inside") : "wf-label";
      const label = el("span", { class: labelClass }, fmt.duration(span.duration_ms));
      if (inside) label.style.left = `${left}%`;
      else if (left + width > 82) { label.style.right = `${100 - left}%`; }
      else label.style.left = `${left + width}%`;
      const track = el("div", { class: "wf-track" }, [0.25, 0.5, 0.75].map((f) => {
        const line = el("span", { class: "wf-grid" });
        line.style.left = `${f * 100}%`;
        return line;
      }), bar, label);
      const toggle = span.children.length
        ? el("button", { type: "button", class: "wf-toggle", "aria-label": "Collapse children", "aria-expanded": "true",
          onclick: (event) => { event.stopPropagation(); collapse(row, toggle); } }, "▾")
        : el("span", { class: "wf-spacer" });
      const name = el("div", { class: "wf-name" }, toggle,
        span.is_error ? el("span", { class: "wf-error", title: "Error status" }, "!") : null,
        el("span", { class: "wf-service" }, span.service || "—"),
        el("span", { class: "wf-op", title: span.name }, span.name));
      name.style.paddingLeft = `${0.5 + Math.min(depth, 24) * 1.1}rem`;
      const row = el("div", {
        class: span.is_error ? "wf-row is-error" : "wf-row", tabindex: "0", role: "button", "aria-selected": "false",
        "data-testid": "span-row", dataset: { spanId: span.span_id, depth: String(depth) },
        onclick: () => toggleDetail(row, span),
        onkeydown: (event) => { if (event.key === "Enter" && event.target === row) toggleDetail(row, span); },
      }, name, track);
      rowsBySpan.set(span.span_id, row);
      return row;
    }

    function collapse(row, toggle) {
      const depth = Number(row.dataset.depth);
      const hide = toggle.getAttribute("aria-expanded") === "true";
      toggle.setAttribute("aria-expanded", String(!hide));
      toggle.textContent = hide ? "▸" : "▾";
      let next = row.nextElementSibling;
      while (next) {
        if (next.classList.contains("wf-row")) {
          if (Number(next.dataset.depth) <= depth) break;
          next.hidden = hide;
          const inner = next.querySelector(".wf-toggle");
          if (!hide && inner) { inner.setAttribute("aria-expanded", "true"); inner.textContent = "▾"; }
        } else if (next.classList.contains("wf-detail")) {
          next.hidden = hide;
        }
        next = next.nextElementSibling;
      }
    }

    function toggleDetail(row, span) {
      const open = row.nextElementSibling && row.nextElementSibling.classList.contains("wf-detail");
      waterfall.querySelectorAll(".wf-detail").forEach((detail) => detail.remove());
      waterfall.querySelectorAll(".wf-row[aria-selected=true]").forEach((r) => r.setAttribute("aria-selected", "false"));
      if (open) return;
      row.setAttribute("aria-selected", "true");
      row.after(spanDetail(span));
    }

    function spanDetail(span) {
      const status = span.status || {};
      const statusName = STATUS_NAMES[status.code] || String(status.code);
      const offset = (micros(span.start) - traceStart) / 1000;
      const logsHref = `/projects/${Vigil.projectId()}/logs/?q=${encodeURIComponent(`span_id:${span.span_id}`)}` +
        `&range=custom&start=${encodeURIComponent(new Date(micros(span.start) / 1000 - 60000).toISOString())}` +
        `&end=${encodeURIComponent(new Date(micros(span.end) / 1000 + 60000).toISOString())}`;
      const fields = [
        ["service", span.service], ["kind", SPAN_KINDS[span.kind] || String(span.kind)],
        ["duration", fmt.duration(span.duration_ms)], ["start", `+${fmt.duration(offset)} (${fmt.dateTime(span.start)})`],
        ["span_id", span.span_id], ["parent_span_id", span.parent_span_id || "— (root)"],
      ];
      return el("div", { class: "wf-detail", "data-testid": "span-detail", onclick: (event) => event.stopPropagation() },
        el("div", { class: "wf-detail-head" },
          el("h3", {}, span.name),
          el("span", { class: status.code === 2 ? "wf-status error" : "wf-status" },
            `status: ${statusName}`, status.message ? ` — ${status.message}` : ""),
          el("a", { href: logsHref }, "Logs of this span →")),
        el("div", { class: "logdetail-grid" },
          kvSection("Span", pairs(fields)),
          kvSection("Attributes", flatten(span.attributes)),
          el("section", { class: "kvsection" },
            el("h3", {}, "Events ", el("span", { class: "muted" }, span.events.length ? String(span.events.length) : "")),
            span.events.length ? el("ul", { class: "spanevents" }, span.events.map(eventItem))
              : el("p", { class: "muted kv-empty" }, "none")),
          kvSection("Resource", flatten(span.resource)),
          span.links && span.links.length
            ? kvSection("Links", pairs(span.links.map((link) => [link.trace_id, link.span_id]))) : null));
    }

    function eventItem(event) {
      const at = event.time_unix_nano ? (Number(event.time_unix_nano) / 1000 - traceStart) / 1000 : null;
      const attributes = flatten(event.attributes);
      return el("li", {},
        at !== null ? el("span", { class: "offset" }, `+${fmt.duration(at)}`) : null,
        el("strong", {}, event.name),
        attributes.length ? el("table", { class: "kv" }, el("tbody", {}, attributes.map((item) => kvRow(item)))) : null);
    }

    function renderLogs(trace) {
      const body = $("trace-log-rows");
      if (!trace.logs.length) return;
      $("trace-logs-card").hidden = false;
      $("trace-logs-count").textContent = trace.logs.length >= 1000 ? "first 1,000" : fmt.number(trace.logs.length);
      const times = trace.logs.map((log) => Date.parse(log.ts));
      if (trace.start) times.push(Date.parse(trace.start));
      const from = new Date(Math.min(...times) - 60000), to = new Date(Math.max(...times) + 60000);
      $("trace-logs-link").href = `/projects/${Vigil.projectId()}/logs/?q=${encodeURIComponent(`trace_id:${trace.trace_id}`)}` +
        `&range=custom&start=${encodeURIComponent(from.toISOString())}&end=${encodeURIComponent(to.toISOString())}`;
      body.replaceChildren(...trace.logs.map((log) => {
        const level = log.level_name;
        const row = el("tr", { class: "logrow", "data-testid": "trace-log-row", dataset: { level },
          title: log.span_id ? "Show its span" : "",
          onclick: () => showSpan(log.span_id) },
        el("td", { class: "cell-time", title: log.ts }, stamp(log.ts)),
        el("td", { class: "cell-level" }, el("span", { class: "lvl", dataset: { level } }, level)),
        el("td", { class: "cell-service" }, log.service || "—"),
        el("td", { class: "cell-message", title: log.message }, log.message));
        return row;
      }));
    }

    function showSpan(spanId) {
      const row = spanId && rowsBySpan.get(spanId);
      if (!row) return;
      row.hidden = false;
      row.scrollIntoView({ block: "center", behavior: "smooth" });
      if (row.getAttribute("aria-selected") !== "true") row.click();
    }

    load();
  }

  // [key, value] pairs as the key/value rows of Vigil.kvSection.
  const pairs = (items) => items.map(([key, value]) => ({ key, value }));

  const list = document.getElementById("trace-list");
  if (list) traceList(list);
  const view = document.getElementById("trace-view");
  if (view) traceView(view);
})();
