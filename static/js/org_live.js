// The organization home, live: the "incidents" cell of each project card follows its incidents.
// The organization's socket (static/js/live.js, apps/dashboards/org_consumer.py) says which
// project changed; the cells are refetched from the alerts summary API (one call for all of
// them), so what a member sees live is what the page would show on a reload.
"use strict";

(function () {
  const root = document.getElementById("org-home");
  if (!root || !window.VigilLive) return;
  const REFRESH_DELAY_MS = 250; // a storm of transitions becomes one refetch
  let timer = null;

  function render(summary) {
    const card = root.querySelector(`[data-project-id="${Number(summary.project)}"]`);
    const cell = card && card.querySelector("[data-incidents-cell]");
    if (!cell) return;
    if (!summary.policies) {
      cell.className = "muted";
      cell.removeAttribute("data-testid");
      cell.title = "No alert policies in this project";
      cell.textContent = "—";
      return;
    }
    cell.className = summary.firing ? "bad" : summary.open_incidents ? "warn" : "";
    cell.dataset.testid = "open-incidents";
    cell.title = `${summary.firing} firing, ${summary.open_incidents} open`;
    cell.textContent = String(summary.open_incidents);
  }

  async function refresh() {
    timer = null;
    try {
      const response = await fetch(root.dataset.summaryUrl, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (!response.ok) return;
      (await response.json()).projects.forEach(render);
      root.dataset.refreshed = String(Date.now());
    } catch (error) {
      // Offline for a moment: the next notice or reconnect (a gap) refetches.
    }
  }

  function soon() {
    if (timer === null) timer = window.setTimeout(refresh, REFRESH_DELAY_MS);
  }

  VigilLive.connectOrganization(root.dataset.organizationId, {
    onEvent: (event) => { if (event.kind === "alerts") soon(); },
    onGap: soon,
    onStatus: (status) => { root.dataset.live = status; },
  });
})();
