// The organization's channel list, live: when a channel gets a warning or is disabled (a message
// given up after its last attempt, a 410), the organization's socket says so (admins only) and
// the channel table and the delivery log are refetched in place (static/js/fragments.js).
"use strict";

(function () {
  const root = document.getElementById("channels-page");
  if (!root || !window.VigilLive || !window.VigilFragments) return;
  const REFRESH_DELAY_MS = 250;
  let timer = null;

  async function refresh() {
    timer = null;
    try {
      await VigilFragments.refresh(root.dataset.listUrl, ["channels", "deliveries"]);
      root.dataset.refreshed = String(Date.now());
    } catch (error) {
      // Offline for a moment: the next notice or the reconnect's gap refetches.
    }
  }

  function soon() {
    if (timer === null) timer = window.setTimeout(refresh, REFRESH_DELAY_MS);
  }

  VigilLive.connectOrganization(root.dataset.organizationId, {
    onEvent: (event) => { if (event.kind === "channels") soon(); },
    onGap: soon,
    onStatus: (status) => { root.dataset.live = status; },
  });
})();
