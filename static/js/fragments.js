// Refreshing parts of a server-rendered page in place: the page is fetched again (same view, same
// permission rules, same escaping) and each element marked data-live-part="<name>" is replaced
// by its namesake from the fresh copy. DOMParser runs no script, and the parts are our own
// templates' output, so nothing from outside is interpreted.
//
//   await VigilFragments.refresh(url, ["channels", "deliveries"]);
"use strict";

(function () {
  async function refresh(url, names) {
    const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
    for (const name of names) {
      const selector = `[data-live-part="${name}"]`;
      const current = document.querySelector(selector), next = fresh.querySelector(selector);
      if (current && next) current.replaceWith(document.importNode(next, true));
    }
  }

  window.VigilFragments = { refresh };
})();
