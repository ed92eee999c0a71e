// The Alerts tab: open incidents (ack / resolve for members), policies with their current state
// and a sparkline of their recent values, and a form (admins) that creates log-count policies or
// edits any policy's condition, with a preview chart of the last 24 h (apps.alerts.backtest).
// Reloads when the live socket announces an `alerts` event, so a policy that starts firing shows
// without a reload. Names, labels and queries are untrusted: DOM only through Vigil.el.
"use strict";

(function () {
  const { el, api, send, fmt } = window.Vigil;
  const $ = (id) => document.getElementById(id);
  const page = $("alerts-page");
  if (!page) return;
  const canRespond = page.dataset.canRespond === "true";
  const form = $("policy-form");
  const projectId = Vigil.projectId();

  const stateBadge = (state, flapping) => el("span", {},
    el("span", { class: "alertstate", dataset: { state } }, state),
    flapping ? el("span", { class: "alertflap", title: "State changes held back until stable" }, "flapping") : null);

  const labelText = (labels) => Object.entries(labels || {}).map(([k, v]) => `${k}=${v}`).join(", ");

  function showState(box, text) {
    box.hidden = !text;
    box.textContent = text || "";
  }

  async function respond(incident, action) {
    try {
      await send("POST", `alerts/incidents/${incident.id}/${action}`);
    } catch (error) {
      window.alert(Vigil.errorText(error));
    }
    load();
  }

  // Held back from notification (silenced, maintenance, inhibited): still shown, marked.
  const quietBadge = (reason) => (reason
    ? el("span", { class: "alertquiet", dataset: { testid: "quiet", reason }, title: "Still firing; notifications are held back" }, reason)
    : null);

  function incidentRow(incident, quiet) {
    const actions = canRespond ? el("td", {},
      incident.state === "firing"
        ? el("button", { type: "button", class: "small", onclick: () => respond(incident, "ack"), dataset: { testid: "ack" } }, "Acknowledge")
        : null,
      el("button", { type: "button", class: "small", onclick: () => respond(incident, "resolve"), dataset: { testid: "resolve" } }, "Resolve"))
      : el("td", {});
    const reason = quiet.incidents[String(incident.id)] || "";
    return el("tr", { dataset: { testid: "incident-row", state: incident.state, quiet: reason } },
      el("td", {}, fmt.dateTime(incident.opened_at)),
      el("td", {}, el("a", { href: `/projects/${projectId}/alerts/incidents/${incident.id}/`, dataset: { testid: "incident-link" } }, incident.title)),
      el("td", {}, incident.priority),
      el("td", {}, stateBadge(incident.state), quietBadge(reason),
        incident.acknowledged_by ? el("span", { class: "muted" }, ` by ${incident.acknowledged_by}`) : null),
      el("td", {}, fmt.number(incident.opened_value)),
      actions);
  }

  function condition(policy) {
    const c = policy.condition;
    return `${c.op} ${fmt.number(c.threshold)} over ${c.window}` + (policy.for !== "0s" ? `, for ${policy.for}` : "");
  }

  const LOG_KINDS = ["log_count", "log_ratio", "new_pattern"];

  function policyRows(policy, quiet) {
    const instances = policy.instances.length ? policy.instances : [{ labels: {}, state: "normal", value: null, recent_values: [] }];
    return instances.map((instance, index) => el("tr", { dataset: { testid: "policy-row", state: instance.state, policy: policy.id, instance: instance.id || "", quiet: quiet.instances[String(instance.id)] || "" } },
      el("td", {}, stateBadge(instance.state, instance.is_flapping), quietBadge(quiet.instances[String(instance.id)])),
      el("td", {}, index === 0 ? policy.name : "", instance.labels && Object.keys(instance.labels).length
        ? el("span", { class: "muted" }, ` ${labelText(instance.labels)}`) : null,
        policy.enabled ? null : el("span", { class: "muted" }, " (disabled)")),
      el("td", {}, index === 0 ? policy.kind : ""),
      el("td", { class: "mono" }, index === 0 ? condition(policy) : ""),
      el("td", {}, index === 0 ? policy.priority : ""),
      el("td", {}, fmt.number(instance.value)),
      el("td", { dataset: { testid: "sparkline", points: String((instance.recent_values || []).length) },
        title: "The last values measured, oldest on the left" },
      VigilAlertCharts.sparkline((instance.recent_values || []).map((point) => point[1]), 120, 24)),
      el("td", {}, index === 0 && Vigil.canAdmin() && form
        ? el("button", { type: "button", class: "small", onclick: () => edit(policy), dataset: { testid: "policy-edit" } }, "Edit")
        : null)));
  }

  let loading = null;
  async function load() {
    if (loading) { loading.again = true; return; }
    loading = { again: false };
    try {
      const [incidents, policies, quiet] = await Promise.all([
        api("alerts/incidents", { limit: 200 }),
        api("alerts/policies"),
        api("alerts/quieted"),
      ]);
      const open = incidents.filter((i) => i.state !== "resolved");
      $("incident-rows").replaceChildren(...open.map((incident) => incidentRow(incident, quiet)));
      showState($("incident-state"), open.length ? "" : "No open incidents.");
      $("policy-rows").replaceChildren(...policies.flatMap((policy) => policyRows(policy, quiet)));
      showState($("policy-state"), policies.length ? "" : "No policies yet.");
      const firing = policies.filter((p) => p.state === "firing").length;
      $("alerts-summary").textContent = `${policies.length} policies · ${firing} firing · ${open.length} open incidents`;
      page.dataset.loaded = String(Date.now());
    } catch (error) {
      showState($("policy-state"), `Could not load alerts (${error.message}).`);
    } finally {
      const again = loading.again;
      loading = null;
      if (again) load();
    }
  }

  // --- the policy form: create a log-count policy, or edit any policy's condition; its preview
  // chart is the backtest of what the form says over the last 24 h (saved or not), redrawn as
  // the author types.
  let editing = null; // the policy being edited, or null when creating
  let previewTimer = null, previewSeq = 0;
  const PREVIEW_DELAY_MS = 500;
  const preview = form ? VigilAlertCharts.backtest($("policy-preview"), { height: 180 }) : null;

  function formBody() {
    const data = new FormData(form);
    const body = {
      name: String(data.get("name") || "").trim(),
      condition: { op: data.get("op"), threshold: Number(data.get("threshold")), window: data.get("window") },
      for: data.get("for"),
      priority: data.get("priority"),
    };
    if (!editing || LOG_KINDS.includes(editing.kind)) body.query = data.get("query");
    if (!editing) body.kind = "log_count";
    return body;
  }

  function choose(select, value) {
    if (![...select.options].some((o) => o.value === value)) select.append(el("option", {}, value));
    select.value = value;
  }

  function edit(policy) {
    editing = policy;
    form.elements.name.value = policy.name;
    form.elements.query.value = policy.spec.query || "";
    $("policy-query-field").hidden = !LOG_KINDS.includes(policy.kind);
    choose(form.elements.op, policy.condition.op);
    form.elements.threshold.value = String(policy.condition.threshold);
    choose(form.elements.window, policy.condition.window);
    choose(form.elements.for, policy.for);
    choose(form.elements.priority, policy.priority);
    $("policy-form-title").textContent = `Edit ${policy.name}`;
    form.querySelector("[type=submit]").textContent = "Save";
    $("policy-cancel").hidden = false;
    form.dataset.editing = String(policy.id);
    $("policy-editor").scrollIntoView({ block: "nearest" });
    schedulePreview(0);
  }

  function stopEditing() {
    editing = null;
    form.reset();
    $("policy-query-field").hidden = false;
    $("policy-form-title").textContent = "New log-count policy";
    form.querySelector("[type=submit]").textContent = "Create";
    $("policy-cancel").hidden = true;
    delete form.dataset.editing;
    schedulePreview(0);
  }

  function schedulePreview(delay) {
    clearTimeout(previewTimer);
    previewTimer = setTimeout(runPreview, delay === undefined ? PREVIEW_DELAY_MS : delay);
  }

  async function runPreview() {
    const seq = ++previewSeq;
    const body = formBody();
    const note = $("policy-preview-note");
    preview.state("loading");
    try {
      const result = editing
        ? await send("POST", `alerts/policies/${editing.id}/preview`, { policy: body, start: "-24h" })
        : await send("POST", "alerts/preview", { policy: { ...body, name: body.name || "preview" }, start: "-24h" });
      if (seq !== previewSeq) return; // a newer preview is on its way
      preview.show(result);
      note.dataset.wouldFire = String(result.would_fire);
      note.textContent = result.would_fire
        ? `Would have fired ${result.would_fire} time${result.would_fire === 1 ? "" : "s"} in the last 24 hours (shaded).`
        : "Would not have fired in the last 24 hours.";
    } catch (failure) {
      if (seq !== previewSeq) return;
      preview.state("error", "No preview");
      delete note.dataset.wouldFire;
      note.textContent = `Preview: ${Vigil.errorText(failure)}`;
    }
  }

  if (form) {
    form.addEventListener("input", () => schedulePreview());
    form.addEventListener("change", () => schedulePreview());
    $("policy-cancel").addEventListener("click", stopEditing);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const error = $("policy-error");
      error.hidden = true;
      try {
        if (editing) await send("PATCH", `alerts/policies/${editing.id}`, formBody());
        else await send("POST", "alerts/policies", formBody());
        stopEditing();
        load();
      } catch (failure) {
        error.textContent = Vigil.errorText(failure);
        error.hidden = false;
      }
    });
    schedulePreview(0);
  }

  // The notifications card (apps.notifications' template tag): failed deliveries and channel
  // warnings, re-rendered by the server when the socket says they changed.
  async function refreshStatus() {
    try {
      await VigilFragments.refresh(window.location.pathname, ["notification-status"]);
      page.dataset.statusRefreshed = String(Date.now());
    } catch (error) {
      // Offline for a moment: the reconnect's gap refreshes it.
    }
  }

  load();
  if (window.VigilLive) {
    VigilLive.connect(projectId, {
      onEvent: (event) => {
        if (event.kind === "alerts") load();
        if (event.kind === "notifications") { load(); refreshStatus(); }
      },
      onGap: () => { load(); refreshStatus(); },
      onStatus: (status) => { page.dataset.live = status; if (status === "live") load(); },
    });
  }
})();
