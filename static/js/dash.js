// Shared helpers of the dashboard pages: safe DOM building, the read API, time ranges, formatting.
// Everything shown on these pages may come from outside (log messages, attribute keys, metric
// names), so text only ever reaches the DOM through textContent / setAttribute — never innerHTML.
"use strict";

(function () {
  const root = () => document.getElementById("project-root");

  // el("tr", {class: "row", dataset: {id: 1}}, el("td", {}, "text"), ...) — strings become text nodes.
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "dataset") Object.assign(node.dataset, value);
      else if (name === "class") node.className = value;
      else if (name.startsWith("on") && typeof value === "function") node.addEventListener(name.slice(2), value);
      else if (name === "href" && !/^(\/|\?|#|https?:)/.test(String(value))) continue; // no javascript: URLs
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  class ApiError extends Error {
    constructor(status, body) {
      super((body && (body.detail || body.error || body.message)) || `HTTP ${status}`);
      this.status = status;
      this.body = body || {};
    }
  }

  // GET /api/v1/projects/{id}/<path>?params with the member's session cookie; JSON or ApiError.
  async function api(path, params, options) {
    const projectId = root().dataset.projectId;
    const url = new URL(`/api/v1/projects/${projectId}/${path}`, window.location.origin);
    for (const [name, value] of Object.entries(params || {})) {
      if (Array.isArray(value)) value.forEach((v) => url.searchParams.append(name, v));
      else if (value !== null && value !== undefined && value !== "") url.searchParams.set(name, value);
    }
    const response = await fetch(url, {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
      signal: options && options.signal,
    });
    let body = null;
    try {
      body = await response.json();
    } catch (error) {
      // Aborted while the body was read (a newer load replaced this one): never hand back null.
      if (options && options.signal && options.signal.aborted) throw error;
      body = null;
    }
    if (!response.ok) throw new ApiError(response.status, body);
    return body;
  }

  // POST/PATCH/DELETE /api/v1/projects/{id}/<path> with a JSON body, the session cookie and the
  // page's CSRF token (an element with data-csrf); the JSON answer (null for 204) or ApiError.
  async function send(method, path, body) {
    const projectId = root().dataset.projectId;
    const holder = document.querySelector("[data-csrf]");
    const response = await fetch(`/api/v1/projects/${projectId}/${path}`, {
      method,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": holder ? holder.dataset.csrf : "" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = response.status === 204 ? null : await response.json().catch(() => null);
    if (!response.ok) throw new ApiError(response.status, data);
    return data;
  }

  // The message of a failed API call, with the fields it names ("condition.window: ...").
  function errorText(error) {
    const body = error && error.body && error.body.error;
    if (!body) return String(error && error.message ? error.message : error);
    const details = body.details && typeof body.details === "object"
      ? Object.entries(body.details).map(([k, v]) => `${k}: ${v}`).join("; ") : "";
    return details ? `${body.message} ${details}` : body.message;
  }

  // Ranges offered on every page; "custom" means explicit start/end in the URL.
  const RANGES = { "15m": 15 * 60, "1h": 3600, "6h": 6 * 3600, "24h": 86400, "7d": 7 * 86400, "30d": 30 * 86400 };

  // The page's view lives in the URL (shareable): read and write query parameters.
  function readState(defaults) {
    const params = new URLSearchParams(window.location.search);
    const state = { ...defaults };
    for (const key of Object.keys(defaults)) {
      if (Array.isArray(defaults[key])) { if (params.has(key)) state[key] = params.getAll(key); }
      else if (params.has(key)) state[key] = params.get(key);
    }
    return state;
  }

  function writeState(state, defaults) {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(state)) {
      if (Array.isArray(value)) value.forEach((v) => params.append(key, v));
      else if (value !== null && value !== undefined && value !== "" && value !== (defaults || {})[key]) params.set(key, value);
    }
    const query = params.toString();
    window.history.replaceState(null, "", query ? `?${query}` : window.location.pathname);
  }

  // {range: "1h"} or {range: "custom", start, end} -> {start: Date, end: Date, seconds}
  function resolveRange(state) {
    if (state.range === "custom" && state.start && state.end) {
      const start = new Date(state.start), end = new Date(state.end);
      if (!isNaN(start) && !isNaN(end) && start < end) return { start, end, seconds: (end - start) / 1000 };
    }
    const seconds = RANGES[state.range] || RANGES["1h"];
    const end = new Date();
    return { start: new Date(end.getTime() - seconds * 1000), end, seconds };
  }

  const numberFormat = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });
  function fmtNumber(value) {
    if (value === null || value === undefined || Number.isNaN(value)) return "—";
    const abs = Math.abs(value);
    if (abs >= 1e9) return `${numberFormat.format(value / 1e9)}G`;
    if (abs >= 1e6) return `${numberFormat.format(value / 1e6)}M`;
    if (abs >= 1e4) return `${numberFormat.format(value / 1e3)}k`;
    return numberFormat.format(value);
  }
  function fmtDuration(ms) {
    if (ms === null || ms === undefined) return "—";
    if (ms < 1) return `${(ms * 1000).toFixed(0)} µs`;
    if (ms < 1000) return `${ms.toFixed(ms < 10 ? 2 : 0)} ms`;
    return `${(ms / 1000).toFixed(2)} s`;
  }
  function fmtTime(value) {
    const date = value instanceof Date ? value : new Date(value);
    return date.toLocaleTimeString(undefined, { hour12: false }) + "." + String(date.getMilliseconds()).padStart(3, "0");
  }
  function fmtDateTime(value) {
    const date = value instanceof Date ? value : new Date(value);
    return date.toLocaleString(undefined, { hour12: false });
  }

  // A row's time: the time of day today, "Dec 06 12:00:01.123" on other days.
  const dateStamp = new Intl.DateTimeFormat(undefined, { month: "short", day: "2-digit" });
  function stamp(value) {
    const date = value instanceof Date ? value : new Date(value);
    const sameDay = new Date().toDateString() === date.toDateString();
    return sameDay ? fmtTime(date) : `${dateStamp.format(date)} ${fmtTime(date)}`;
  }

  // OTLP severity classes, as the APIs name them (apps.logs.selectors.level_name).
  const LEVEL_NAMES = ["unspecified", "trace", "debug", "info", "warn", "error", "fatal"];

  // {"http": {"status_code": 500}} -> [{key: "http.status_code", value: 500, term}], sorted by key;
  // arrays stay one JSON value. termFor(key, value), given, names a search term for scalar values.
  function flatten(object, termFor) {
    const items = [];
    const walk = (value, path) => {
      if (value && typeof value === "object" && !Array.isArray(value) && Object.keys(value).length) {
        for (const [key, inner] of Object.entries(value)) walk(inner, path ? `${path}.${key}` : key);
        return;
      }
      const scalar = value === null || ["string", "number", "boolean"].includes(typeof value);
      items.push({
        key: path,
        value: scalar ? value : JSON.stringify(value),
        term: scalar && termFor ? termFor(path, value) : null,
      });
    };
    if (object && typeof object === "object") walk(object, "");
    return items.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  // A titled key/value table of {key, value, term} items. With options.onTerm(term, exclude), a
  // value that has a term becomes a button adding it to the query, with an "exclude" button beside.
  function kvSection(title, items, options) {
    const { tableClass, onTerm } = options || {};
    return el("section", { class: "kvsection" },
      el("h3", {}, title, " ", el("span", { class: "muted" }, items.length ? String(items.length) : "")),
      items.length
        ? el("table", { class: tableClass || "kv" }, el("tbody", {}, items.map((item) => kvRow(item, onTerm))))
        : el("p", { class: "muted kv-empty" }, "none"));
  }

  function kvRow({ key, value, term }, onTerm) {
    const text = value === null ? "null" : String(value);
    const valueCell = term && onTerm
      ? el("td", { class: "kv-value" },
        el("button", { type: "button", class: "kv-filter", title: `Add ${term} to the query`,
          "data-testid": "filter-value", dataset: { term }, onclick: () => onTerm(term, false) }, text),
        el("button", { type: "button", class: "kv-exclude", title: `Exclude: -${term}`,
          "aria-label": `Exclude ${key}`, onclick: () => onTerm(term, true) }, "−"))
      : el("td", { class: "kv-value" }, el("span", { class: "kv-plain" }, text));
    return el("tr", {}, el("th", { scope: "row", title: key }, key), valueCell);
  }

  window.Vigil = Object.assign(window.Vigil || {}, {
    el, api, send, errorText, ApiError, RANGES, readState, writeState, resolveRange, stamp, flatten, kvSection, kvRow, LEVEL_NAMES,
    fmt: { number: fmtNumber, duration: fmtDuration, time: fmtTime, dateTime: fmtDateTime },
    projectId: () => Number(root().dataset.projectId),
    canAdmin: () => root().dataset.canAdmin === "true",
  });
})();
