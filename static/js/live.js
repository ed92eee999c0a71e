// Live updates of a project page: one WebSocket to /ws/projects/{id}/live/ (protocol described in
// apps/dashboards/consumers.py).
//
//   const live = VigilLive.connect(projectId, {onEvent, onGap, onStatus, onTail});
//   live.setTail("level>=warn");   // or null to stop; kept and re-sent after a reconnect
//   live.close();
//
// Each event reaches onEvent once, in id order: after a reconnect the socket resumes from the last
// id seen (?after=), and anything replayed twice is dropped here. When the server says events may
// have been lost (hello.gap, or a gap frame), onGap asks the page to refetch. Reconnects back off
// exponentially with jitter, up to 30 s; 4401 (signed out) and 4403 (no access) are final.
// Event contents come from outside: pages must render them with textContent (Vigil.el), as here.
"use strict";

(function () {
  const BACKOFF_FIRST_MS = 500;
  const BACKOFF_MAX_MS = 30000;
  const FINAL_CODES = { 4401: "Signed out — reload to sign in", 4403: "No access" };
  const LABELS = { connecting: "Connecting…", live: "Live", reconnecting: "Reconnecting…", closed: "Offline" };

  // Ids are decimal strings of increasing integers (well below 2^53).
  const after = (id, cursor) => cursor === null || Number(id) > Number(cursor);

  function statusBadge() {
    const span = document.getElementById("live-status");
    if (!span) return () => {};
    return (state, detail) => {
      span.hidden = false;
      span.dataset.state = state;
      span.title = detail || "";
      const dot = document.createElement("span");
      dot.className = "livedot";
      dot.setAttribute("aria-hidden", "true");
      span.replaceChildren(dot, document.createTextNode(detail && state === "closed" ? detail : LABELS[state] || state));
    };
  }

  function call(handler, ...args) {
    if (typeof handler !== "function") return;
    try { handler(...args); } catch (error) { console.error("live handler failed", error); }
  }

  // A project's socket (its stream of events, resumable), or an organization's (notices for its
  // org-wide pages: alert changes per project, channel trouble; apps/dashboards/org_consumer.py).
  // The organization's socket keeps no history: its hello reports a gap after any reconnect.
  function connect(projectId, handlers) {
    return connectTo(`/ws/projects/${encodeURIComponent(projectId)}/live/`, handlers);
  }

  function connectOrganization(organizationId, handlers) {
    return connectTo(`/ws/orgs/${encodeURIComponent(organizationId)}/live/`, handlers);
  }

  function connectTo(path, handlers) {
    handlers = handlers || {};
    const showStatus = statusBadge();
    let socket = null;
    let cursor = null;        // id of the last event delivered (or the server's cursor from hello)
    let tail = null;          // the page's tail query (string) or null
    let tailOnServer = null;  // the tail the server applies on the current socket
    let attempt = 0;          // reconnects since the last successful hello
    let timer = null;
    let stopped = false;
    let everConnected = false;
    let state = null;

    function setState(next, detail) {
      if (state === next && !detail) return;
      state = next;
      showStatus(next, detail);
      call(handlers.onStatus, next);
    }

    function url() {
      const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
      const params = new URLSearchParams();
      if (cursor !== null) params.set("after", cursor);
      if (tail !== null) params.set("tail", tail);
      const query = params.toString();
      return `${scheme}//${window.location.host}${path}${query ? "?" + query : ""}`;
    }

    function open() {
      timer = null;
      if (stopped) return;
      setState(everConnected ? "reconnecting" : "connecting");
      tailOnServer = tail;
      const current = new WebSocket(url());
      socket = current;
      current.addEventListener("open", () => {
        // setTail() while connecting: the URL carried an older filter.
        if (tail !== tailOnServer && send({ type: "tail", q: tail })) tailOnServer = tail;
      });
      current.addEventListener("message", (message) => { if (socket === current) receive(message.data); });
      current.addEventListener("close", (event) => { if (socket === current) closed(event); });
    }

    function receive(data) {
      let frame;
      try { frame = JSON.parse(data); } catch (_) { return; }
      if (frame.type === "events") {
        for (const event of frame.events || []) {
          if (!after(event.id, cursor)) continue;  // replayed twice: already delivered
          cursor = event.id;
          call(handlers.onEvent, event);
        }
      } else if (frame.type === "hello") {
        // A reconnect without a cursor (none seen yet) cannot know what it missed.
        const missed = frame.gap || (everConnected && cursor === null);
        if (frame.cursor !== null && frame.cursor !== undefined && (frame.gap || cursor === null || after(frame.cursor, cursor))) {
          cursor = String(frame.cursor);
        }
        everConnected = true;
        attempt = 0;
        setState("live");
        if (missed) call(handlers.onGap);
      } else if (frame.type === "gap") {
        if (frame.cursor !== undefined && frame.cursor !== null) cursor = String(frame.cursor);
        call(handlers.onGap);
      } else if (frame.type === "tail") {
        call(handlers.onTail, frame);
      }
    }

    function closed(event) {
      socket = null;
      if (stopped) return;
      if (FINAL_CODES[event.code]) {
        stopped = true;
        setState("closed", FINAL_CODES[event.code]);
        return;
      }
      // Full jitter on an exponential ceiling: a server restart does not bring every page back at once.
      const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** attempt);
      const delay = Math.round(ceiling / 2 + Math.random() * ceiling / 2);
      attempt += 1;
      setState("reconnecting");
      timer = window.setTimeout(open, delay);
    }

    function send(message) {
      if (socket && socket.readyState === WebSocket.OPEN) {
        socket.send(JSON.stringify(message));
        return true;
      }
      return false;
    }

    // Back online or back on the tab: do not sit out the rest of a long backoff.
    function retryNow() {
      if (timer !== null && !stopped && navigator.onLine !== false) {
        window.clearTimeout(timer);
        open();
      }
    }
    window.addEventListener("online", retryNow);
    document.addEventListener("visibilitychange", () => { if (!document.hidden) retryNow(); });

    open();

    return {
      setTail(q) {
        tail = q === undefined ? null : q;
        // Sent now if open; otherwise the next socket carries it in its URL.
        if (send({ type: "tail", q: tail })) tailOnServer = tail;
      },
      close() {
        stopped = true;
        if (timer !== null) window.clearTimeout(timer);
        timer = null;
        if (socket) socket.close(1000);
        socket = null;
        setState("closed");
      },
      get state() { return state; },
      get cursor() { return cursor; },
    };
  }

  window.VigilLive = { connect, connectOrganization };
})();
