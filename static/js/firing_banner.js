// The banner of firing incidents on the project overview: the incidents that fire and nobody has
// acknowledged yet, each a link to its page. The overview refreshes it on the live socket's
// `alerts` events (static/js/overview.js); titles come from outside: DOM through Vigil.el.
//
//   VigilFiringBanner.refresh();
"use strict";

(function () {
  const banner = document.getElementById("firing-banner");
  const SHOWN = 5, FETCHED = 100;
  let running = null;

  async function refresh() {
    if (!banner) return;
    if (running) { running.again = true; return; }
    running = { again: false };
    try {
      const firing = await Vigil.api("alerts/incidents", { state: "firing", limit: FETCHED });
      const projectId = Vigil.projectId();
      const count = firing.length >= FETCHED ? `${FETCHED}+` : String(firing.length);
      banner.dataset.count = String(firing.length);
      banner.hidden = firing.length === 0;
      const parts = [
        el("strong", {}, `⚠ ${count} firing incident${firing.length === 1 ? "" : "s"}`),
        ...firing.slice(0, SHOWN).map((incident) => el("span", { dataset: { testid: "firing-incident" } },
          el("a", { href: `/projects/${projectId}/alerts/incidents/${incident.id}/` }, incident.title), ` ${incident.priority}`)),
      ];
      if (firing.length > SHOWN) parts.push(el("span", {}, `and ${firing.length - SHOWN} more`));
      parts.push(el("a", { href: banner.dataset.alertsUrl, class: "firing-banner-all" }, "Alerts →"));
      banner.replaceChildren(...parts);
    } catch (error) {
      // The banner is a courtesy of the overview: it stays as it was, the Alerts tab tells the truth.
    } finally {
      const again = running.again;
      running = null;
      if (again) refresh();
    }
  }

  const el = (...args) => Vigil.el(...args);
  window.VigilFiringBanner = { refresh };
  refresh();
})();
