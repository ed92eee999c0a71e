// The Alerts tab: open incidents (ack / resolve for members), policies with their current state,
// and a small form for log-count policies (admins). Reloads when the live socket announces an
// `alerts` event, so a policy that starts firing shows without a reload. Names, labels and
// queries are untrusted: DOM only through Vigil.el (textContent).
"use strict";

(function () {
  const { el, api, send, fmt } = window.Vigil;
  const $ = (id) => document.getElementById(id);
  const page = $("alerts-page");
  if (!page) return;
  const canRespond = page.dataset.canRespond === "true";
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

  function incidentRow(incident) {
    const actions = canRespond ? el("td", {},
      incident.state === "firing"
        ? el("button", { type: "button", class: "small", onclick: () => respond(incident, "ack"), dataset: { testid: "ack" } }, "Acknowledge")
        : null,
      el("button", { type: "button", class: "small", onclick: () => respond(incident, "resolve"), dataset: { testid: "resolve" } }, "Resolve"))
      : el("td", {});
    return el("tr", { dataset: { testid: "incident-row", state: incident.state } },
      el("td", {}, fmt.dateTime(incident.opened_at)),
      el("td", {}, el("a", { href: `/projects/${projectId}/alerts/incidents/${incident.id}/`, dataset: { testid: "incident-link" } }, incident.title)),
      el("td", {}, incident.priority),
      el("td", {}, stateBadge(incident.state),
        incident.acknowledged_by ? el("span", { class: "muted" }, ` by ${incident.acknowledged_by}`) : null),
      el("td", {}, fmt.number(incident.opened_value)),
      actions);
  }

  function condition(policy) {
    const c = policy.condition;
    return `${c.op} ${fmt.number(c.threshold)} over ${c.window}` + (policy.for !== "0s" ? `, for ${policy.for}` : "");
  }

  function policyRows(policy) {
    const instances = policy.instances.length ? policy.instances : [{ labels: {}, state: "normal", value: null }];
    return instances.map((instance, index) => el("tr", { dataset: { testid: "policy-row", state: instance.state, policy: policy.id } },
      el("td", {}, stateBadge(instance.state, instance.is_flapping)),
      el("td", {}, index === 0 ? policy.name : "", instance.labels && Object.keys(instance.labels).length
        ? el("span", { class: "muted" }, ` ${labelText(instance.labels)}`) : null,
        policy.enabled ? null : el("span", { class: "muted" }, " (disabled)")),
      el("td", {}, index === 0 ? policy.kind : ""),
      el("td", { class: "mono" }, index === 0 ? condition(policy) : ""),
      el("td", {}, index === 0 ? policy.priority : ""),
      el("td", {}, fmt.number(instance.value))));
  }

  let loading = null;
  async function load() {
    if (loading) { loading.again = true; return; }
    loading = { again: false };
    try {
      const [incidents, policies] = await Promise.all([
        api("alerts/incidents", { limit: 200 }),
        api("alerts/policies"),
      ]);
      const open = incidents.filter((i) => i.state !== "resolved");
      $("incident-rows").replaceChildren(...open.map(incidentRow));
      showState($("incident-state"), open.length ? "" : "No open incidents.");
      $("policy-rows").replaceChildren(...policies.flatMap(policyRows));
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

  const form = $("policy-form");
  if (form) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const data = new FormData(form);
      const error = $("policy-error");
      error.hidden = true;
      try {
        await send("POST", "alerts/policies", {
          name: data.get("name"), kind: "log_count", query: data.get("query"),
          condition: { op: data.get("op"), threshold: Number(data.get("threshold")), window: data.get("window") },
          for: data.get("for"), priority: data.get("priority"),
        });
        form.reset();
        load();
      } catch (failure) {
        error.textContent = Vigil.errorText(failure);
        error.hidden = false;
      }
    });
  }

  load();
  if (window.VigilLive) {
    VigilLive.connect(projectId, {
      onEvent: (event) => { if (event.kind === "alerts") load(); },
      onGap: () => load(),
      onStatus: (status) => { page.dataset.live = status; if (status === "live") load(); },
    });
  }
})();
