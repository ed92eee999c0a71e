// The incident page: state and timeline from the alerts API, kept live by the project socket's
// `alerts` events (acknowledged elsewhere — another tab, an email's link — shows at once); the
// value chart is the policy's backtest around the incident, with the threshold and the firing
// period; members acknowledge, resolve, or silence it (1 h, or until a time).
// Labels, values and emails come from outside: DOM only through Vigil.el (textContent).
"use strict";

(function () {
  const { el, api, send, fmt } = window.Vigil;
  const $ = (id) => document.getElementById(id);
  const page = $("incident-page");
  if (!page) return;
  const projectId = Vigil.projectId();
  const incidentId = Number(page.dataset.incidentId);
  const policyId = Number(page.dataset.policyId);
  // The incident's labels as rendered (they never change): a silence clicked before the first
  // load answers must not go out without matchers (that would silence the whole policy).
  const labels = JSON.parse(page.dataset.labels || "{}");
  const CHART_BEFORE_S = 3600, CHART_AFTER_S = 1800, MAX_RANGE_S = 7 * 86400;
  let incident = null;

  const CHANGE = { acknowledged: "acknowledged", resolved: "resolved", firing: "started firing", pending: "pending", normal: "back to normal" };

  function timelineRow(t) {
    return el("tr", { dataset: { testid: "timeline-row", to: t.to } },
      el("td", { class: "nowrap" }, fmt.dateTime(t.at)),
      el("td", {}, `${t.from} → `, el("span", { class: "alertstate", dataset: { state: t.to } }, CHANGE[t.to] || t.to),
        t.is_flapping ? el("span", { class: "alertflap" }, "flapping") : null),
      el("td", {}, fmt.number(t.value)),
      el("td", {}, fmt.number(t.threshold)),
      el("td", {}, t.actor || el("span", { class: "muted" }, "evaluator")));
  }

  const who = (at, by) => (at ? `${fmt.dateTime(at)}${by ? ` by ${by}` : ""}` : "—");

  function render(data) {
    incident = data;
    page.dataset.state = data.state;
    const badge = $("incident-state");
    badge.dataset.state = data.state;
    badge.textContent = data.state;
    $("incident-acked").textContent = who(data.acknowledged_at, data.acknowledged_by);
    $("incident-resolved").textContent = who(data.resolved_at, data.resolved_by);
    $("timeline-rows").replaceChildren(...data.transitions.map(timelineRow));
    $("timeline-state").hidden = data.transitions.length > 0;
    $("timeline-state").textContent = data.transitions.length ? "" : "No transitions.";
    const ack = $("incident-ack"), resolve = $("incident-resolve");
    if (ack) ack.hidden = data.state !== "firing";
    if (resolve) resolve.hidden = data.state === "resolved";
  }

  let loading = null;
  async function load() {
    if (loading) { loading.again = true; return; }
    loading = { again: false };
    try {
      const [data, quiet] = await Promise.all([api(`alerts/incidents/${incidentId}`), api("alerts/quieted")]);
      render(data);
      const reason = quiet.incidents[String(incidentId)] || "";
      const badge = $("incident-quiet");
      badge.hidden = !reason;
      badge.textContent = reason;
      badge.dataset.reason = reason;
      page.dataset.loaded = String(Date.now());
    } catch (error) {
      $("timeline-state").hidden = false;
      $("timeline-state").textContent = `Could not load the incident (${error.message}).`;
    } finally {
      const again = loading.again;
      loading = null;
      if (again) load();
    }
  }

  // --- the value chart: the policy's backtest from an hour before it opened --------------------
  const chart = VigilAlertCharts.backtest($("incident-chart"), { height: 220 });
  async function loadChart() {
    const opened = Date.parse(page.dataset.openedAt) / 1000;
    const resolved = page.dataset.resolvedAt ? Date.parse(page.dataset.resolvedAt) / 1000 : null;
    const end = Math.min(Date.now() / 1000, resolved ? resolved + CHART_AFTER_S : Infinity);
    const start = Math.max(opened - CHART_BEFORE_S, end - MAX_RANGE_S);
    chart.state("loading");
    try {
      const result = await send("POST", `alerts/policies/${policyId}/preview`, {
        start: new Date(start * 1000).toISOString(), end: new Date(end * 1000).toISOString(),
      });
      chart.show(result, { labels });
    } catch (error) {
      chart.state("error", `Could not evaluate the policy (${Vigil.errorText(error)})`);
    }
  }

  // --- actions ---------------------------------------------------------------------------------
  function say(text, isError) {
    const box = $(isError ? "incident-error" : "incident-notice");
    const other = $(isError ? "incident-notice" : "incident-error");
    if (other) other.hidden = true;
    if (box) { box.textContent = text; box.hidden = !text; }
  }

  async function act(action) {
    try {
      render({ ...incident, ...(await send("POST", `alerts/incidents/${incidentId}/${action}`)), transitions: incident.transitions });
      say("");
    } catch (error) {
      say(Vigil.errorText(error), true);
    }
    load();
  }

  async function silence(body) {
    try {
      const created = await send("POST", "alerts/silences", {
        policy_id: policyId,
        matchers: Object.entries(labels).map(([name, value]) => ({ name, op: "=", value: String(value) })),
        comment: `From incident ${incidentId}`,
        ...body,
      });
      say(`Silenced until ${fmt.dateTime(created.ends_at)}: notifications of this alert are held back.`);
    } catch (error) {
      say(Vigil.errorText(error), true);
    }
    load(); // the silence marks the incident (the socket also says so, to every open page)
  }

  if (page.dataset.canRespond === "true") {
    $("incident-ack").addEventListener("click", () => act("ack"));
    $("incident-resolve").addEventListener("click", () => act("resolve"));
    $("incident-silence-hour").addEventListener("click", () => silence({ duration: "1h" }));
    const form = $("incident-silence-until");
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const until = new Date(form.elements.until.value);
      if (isNaN(until) || until <= new Date()) { say("Pick a time in the future.", true); return; }
      silence({ ends_at: until.toISOString() });
    });
  }

  // Arriving from a notification's one-click link (apps.notifications.views.action).
  const done = new URLSearchParams(window.location.search).get("done");
  if (done) say(done === "ack" ? "Acknowledged from the notification's link." : "Silenced for 1 hour from the notification's link.");

  load().then(loadChart);
  if (window.VigilLive) {
    VigilLive.connect(projectId, {
      onEvent: (event) => { if (event.kind === "alerts" || event.kind === "notifications") load(); },
      onGap: () => load(),
      onStatus: (status) => { page.dataset.live = status; if (status === "live") load(); },
    });
  }
})();
