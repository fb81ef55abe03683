// The portal's small amount of behaviour: the live socket, the bell, dialogs, toasts, ticking times.
(function () {
  "use strict";

  const $ = (sel, root = document) => root.querySelector(sel);

  // ---- Toasts --------------------------------------------------------------------------
  function toast(title, message, level) {
    const box = $("#toasts");
    if (!box) return;
    const el = document.createElement("div");
    el.className = "toast " + (level || "info");
    el.setAttribute("role", "status");
    const strong = document.createElement("strong");
    strong.textContent = title; // text, never markup
    el.appendChild(strong);
    if (message) {
      const span = document.createElement("span");
      span.textContent = message;
      el.appendChild(span);
    }
    box.appendChild(el);
    setTimeout(() => el.remove(), 6000);
  }

  // ---- Copy buttons --------------------------------------------------------------------
  function copyText(source, button) {
    if (!source) return;
    const text = source.value !== undefined ? source.value : source.textContent;
    // Only the label's text changes: the button's icon stays, and a second click within the pause still
    // goes back to the label it had.
    const label = [...button.childNodes].reverse().find((n) => n.nodeType === Node.TEXT_NODE && n.textContent.trim());
    const done = () => {
      if (!label) return;
      button.dataset.label = button.dataset.label || label.textContent;
      label.textContent = "Copied";
      clearTimeout(button._copied);
      button._copied = setTimeout(() => (label.textContent = button.dataset.label), 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, () => fallbackCopy(source, done));
    } else {
      fallbackCopy(source, done);
    }
  }
  function fallbackCopy(source, done) {
    const range = document.createRange();
    range.selectNodeContents(source);
    const sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
    if (document.execCommand("copy")) done();
  }

  // ---- Notifications panel -------------------------------------------------------------
  const panel = () => $("#notifications-panel");
  function panelOpen() { const p = panel(); return p && !p.hidden; }
  function setPanel(open) {
    const p = panel();
    if (!p) return;
    p.hidden = !open;
    document.body.classList.toggle("panel-open", open);
    const bell = $("#bell");
    if (bell) bell.setAttribute("aria-expanded", String(open));
    if (open) {
      htmx.trigger(p, "panel-open");
      // Opening the panel reads what it shows.
      htmx.ajax("POST", "/notifications/read/", { swap: "none" }).then(() => htmx.trigger(document.body, "notifications-changed"));
    }
  }

  // ---- Relative times ------------------------------------------------------------------
  const units = [["year", 31536000], ["month", 2592000], ["day", 86400], ["hour", 3600], ["minute", 60]];
  function relative(date) {
    const seconds = Math.round((Date.now() - date.getTime()) / 1000);
    if (seconds < 10) return "just now";
    if (seconds < 60) return seconds + " seconds ago";
    for (const [name, size] of units) {
      if (seconds >= size) {
        const n = Math.floor(seconds / size);
        return n + " " + name + (n === 1 ? "" : "s") + " ago";
      }
    }
    return "just now";
  }
  function tick() {
    document.querySelectorAll("time.relative[datetime]").forEach((el) => {
      const d = new Date(el.getAttribute("datetime"));
      if (!isNaN(d)) el.textContent = relative(d);
    });
  }

  // ---- Live socket ---------------------------------------------------------------------
  let socket = null;
  let retry = 0;
  function setLive(connected) {
    const el = $("#live-state");
    if (!el) return;
    el.classList.toggle("connected", connected);
    el.textContent = connected ? "Live" : "Offline";
    el.title = connected ? "Live updates are on" : "Live updates are off: reload to see changes";
    document.body.dataset.live = connected ? "connected" : "disconnected";
  }
  function onMessage(data) {
    if (data.type === "notification") {
      const n = data.notification;
      htmx.trigger(document.body, "notifications-changed");
      if (panelOpen()) setPanel(true); // an open panel shows it, so it is read
      // An open panel already shows it; a toast would only cover the page.
      if (!panelOpen() && (data.event === "created" || n.state === "succeeded" || n.state === "failed")) {
        toast(n.title, n.message, n.state === "failed" ? "error" : n.state === "succeeded" ? "success" : n.level);
      }
    }
    if (data.type === "workers-seen") updateLastSeen(data.workers);
    if (data.type === "job-streams" || data.type === "job-status") appendRecords(data.job_id);
    document.querySelectorAll("[data-live-refresh]").forEach((el) => {
      if (!el.dataset.liveRefresh.split(" ").includes(data.type)) return;
      if (el.dataset.liveGroup && data.group_id && el.dataset.liveGroup !== data.group_id) return;
      if (el.dataset.liveJob && data.job_id !== el.dataset.liveJob) return;
      if (el.dataset.liveKind && !el.dataset.liveKind.split(" ").includes(data.kind)) return;
      refreshSoon(el);
    });
    document.body.dispatchEvent(new CustomEvent("live:" + data.type, { detail: data }));
  }

  // A list that something changed in is fetched again (once, however many events arrive together).
  // The part is the request's source, so its fetches queue behind one another and behind its own hx-get
  // (the Test pane's after Stop): an older answer never lands after a newer one.
  // The delay starts at the first event and is not pushed back by later ones: on a busy account events come
  // more often than the delay, and a list that waited for a quiet moment would never be fetched again.
  function refreshSoon(el) {
    if (el._refreshTimer) return; // the fetch already due is made after this event, so it shows it too
    el._refreshTimer = setTimeout(() => {
      el._refreshTimer = null;
      const src = el.dataset.liveSrc || location.pathname + location.search;
      htmx.ajax("GET", src, { source: el, target: el, swap: "innerHTML" });
    }, 300);
  }

  // A running job's log grows in place: fetch the records after the last one shown.
  function appendRecords(jobId) {
    const log = document.querySelector(`#job-log[data-job-id="${jobId}"]`);
    if (!log) return;
    if (log._fetching) { log._again = true; return; }
    log._fetching = true;
    const rows = log.querySelectorAll("tbody tr[data-seq]");
    const after = rows.length ? rows[rows.length - 1].dataset.seq : "-1";
    fetch(`${log.dataset.streamsSrc}&after=${after}`, { headers: { "HX-Request": "true" } })
      .then((r) => (r.ok ? r.text() : ""))
      .then((html) => {
        if (html.trim()) {
          log.querySelector("tbody").insertAdjacentHTML("beforeend", html);
          const empty = document.querySelector(".log-empty");
          if (empty) empty.hidden = true;
          const wrap = log.closest(".log-wrap");
          if (wrap) wrap.scrollTop = wrap.scrollHeight;
        }
      })
      .finally(() => {
        log._fetching = false;
        if (log._again) { log._again = false; appendRecords(jobId); }
      });
  }

  // Heartbeats move "Last seen" without a fetch: the times are patched in place and keep ticking.
  function updateLastSeen(workers) {
    for (const w of workers) {
      document.querySelectorAll(`[data-worker-id="${w.id}"] time.last-seen`).forEach((t) => setTime(t, w.last_seen));
      const group = document.querySelector(`[data-group-id="${w.group_id}"] time.last-seen`);
      if (group && new Date(w.last_seen) > new Date(group.getAttribute("datetime"))) setTime(group, w.last_seen);
    }
  }
  function setTime(el, iso) {
    el.setAttribute("datetime", iso);
    el.title = new Date(iso).toLocaleString();
    el.textContent = relative(new Date(iso));
  }
  // Nothing is pushed to a page before its socket is open (after the page was rendered, or while the
  // socket was down): fetch its live parts once, so a change made meanwhile is not missed.
  function catchUp() {
    document.querySelectorAll("[data-live-refresh]").forEach(refreshSoon);
    const log = $("#job-log[data-job-id]");
    if (log) appendRecords(log.dataset.jobId);
  }
  // A live part that a swap brings in (the Test pane with a new test) was rendered before it could hear
  // anything: what was pushed between that render and the swap (the test already Running) would be
  // missed for good, so it is fetched once more. (Before the socket opens, catchUp() does it.)
  document.addEventListener("htmx:load", (e) => {
    if (e.detail.elt instanceof Element) enhance(e.detail.elt);
    if (!socket || socket.readyState !== WebSocket.OPEN) return;
    const root = e.detail.elt;
    if (!(root instanceof Element)) return;
    const parts = [...root.querySelectorAll("[data-live-refresh]")];
    if (root.matches("[data-live-refresh]")) parts.push(root);
    parts.forEach(refreshSoon);
  });
  function connect() {
    const path = document.body.dataset.liveUrl;
    if (!path || !$("#bell")) return; // signed-out pages have no live updates
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + location.host + path);
    socket.onopen = () => { retry = 0; setLive(true); catchUp(); };
    socket.onmessage = (e) => { try { onMessage(JSON.parse(e.data)); } catch (err) { console.error(err); } };
    socket.onclose = (e) => {
      setLive(false);
      if (e.code === 4401) return; // signed out: do not hammer the server
      retry = Math.min(retry + 1, 6);
      setTimeout(connect, 500 * 2 ** retry * (0.5 + Math.random() / 2));
    };
  }

  // ---- Forms that grow or narrow -------------------------------------------------------
  // A select that shows only the inputs of its choice (a variable's type picks its one Value input). Without
  // JavaScript every input is shown and the server reads the chosen one.
  function showChosen(root) {
    root.querySelectorAll("select[data-chooses]").forEach((select) => {
      if (!select.form) return;
      select.form.querySelectorAll("[data-shown-for]").forEach((el) => {
        el.hidden = el.dataset.shownFor !== select.value;
      });
    });
  }
  // "Add a field": one more blank row like the last, numbered on (a browser without JavaScript has the blank
  // rows the server gave, and no button).
  const MAX_ROWS = 50;
  function addRow(button) {
    const body = document.querySelector(button.dataset.addRow + " tbody");
    const rows = body.querySelectorAll("tr[data-field-row]");
    if (!rows.length || rows.length >= MAX_ROWS) return;
    const n = rows.length;
    const row = rows[n - 1].cloneNode(true);
    row.querySelectorAll(".errors").forEach((el) => el.remove());
    row.querySelectorAll("input, select, label").forEach((el) => {
      for (const attr of ["name", "id", "for"]) {
        if (el.hasAttribute(attr)) el.setAttribute(attr, el.getAttribute(attr).replace(/_\d+$/, "_" + n));
      }
      const label = el.getAttribute("aria-label");
      if (label) el.setAttribute("aria-label", label.replace(/^Field \d+/, "Field " + (n + 1)));
      if (el.type === "checkbox") el.checked = false;
      else if (el.tagName === "SELECT") el.selectedIndex = 0;
      else if (el.tagName === "INPUT") el.value = "";
    });
    body.appendChild(row);
    if (n + 1 >= MAX_ROWS) button.hidden = true;
    const first = row.querySelector("input");
    if (first) first.focus();
  }
  // An input shown only while others hold given values (`data-shown-when="recurrence=recurring unit=Week"`: a
  // schedule's week days), read from the form's selects and checked radio buttons.
  function showWhen(form) {
    if (!form) return;
    form.querySelectorAll("[data-shown-when]").forEach((el) => {
      el.hidden = !el.dataset.shownWhen.split(" ").every((term) => {
        const [name, value] = term.split("=");
        const control = form.elements.namedItem(name);
        // A select's value, or a radio group's (RadioNodeList) checked one.
        return !control || control.value === value;
      });
    });
  }
  // A new schedule starts in the browser's own time zone, when the server knows it (without JavaScript: the
  // server's zone). The change event lets the next runs follow.
  function chooseBrowserZone(root) {
    root.querySelectorAll("select[data-browser-zone]").forEach((select) => {
      delete select.dataset.browserZone;
      let zone = "";
      try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (err) { return; }
      if (!zone || zone === select.value || ![...select.options].some((o) => o.value === zone)) return;
      select.value = zone;
      select.dispatchEvent(new Event("change", { bubbles: true }));
    });
  }
  function enhance(root) {
    showChosen(root);
    root.querySelectorAll("[data-add-row][hidden]").forEach((b) => (b.hidden = false));
    // A button that only a browser without JavaScript needs (Preview: with it, the next runs follow each change).
    root.querySelectorAll("[data-no-js-only]").forEach((b) => (b.hidden = true));
    root.querySelectorAll("form").forEach(showWhen);
    if (root.matches && root.matches("form")) showWhen(root);
    chooseBrowserZone(root);
  }

  // ---- Wiring --------------------------------------------------------------------------
  document.addEventListener("click", (e) => {
    const t = e.target;
    if (t.closest("#bell")) { setPanel(!panelOpen()); return; }
    if (t.closest("[data-close-panel]")) { setPanel(false); return; }
    if (t.closest("[data-close-modal]")) { $("#modal").innerHTML = ""; return; }
    if (t.id === "modal") { $("#modal").innerHTML = ""; return; }
    const copy = t.closest("[data-copy]");
    if (copy) { copyText(document.querySelector(copy.dataset.copy), copy); return; }
    const add = t.closest("[data-add-row]");
    if (add) { addRow(add); return; }
    const toggle = t.closest("[data-toggle]");
    if (toggle) {
      const target = document.getElementById(toggle.dataset.toggle);
      target.hidden = !target.hidden;
      toggle.setAttribute("aria-expanded", String(!target.hidden));
      return;
    }
    const pop = $("#user-menu");
    if (pop && !pop.hidden && !t.closest(".usermenu")) pop.hidden = true;
  });
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape") {
      if ($("#modal") && $("#modal").innerHTML) $("#modal").innerHTML = "";
      else if (panelOpen()) setPanel(false);
    }
    if (e.key === "/" && e.ctrlKey) {
      const f = $("[data-menu-filter]");
      if (f) { e.preventDefault(); f.focus(); }
    }
  });
  // A select that applies itself (a filter, a role): no inline handler, the Content-Security-Policy allows none.
  document.addEventListener("change", (e) => {
    const field = e.target.closest("[data-submit-on-change]");
    if (field && field.form) field.form.requestSubmit();
    if (e.target.matches("select[data-chooses]") && e.target.form) showChosen(e.target.form);
    if (e.target.form && e.target.form.querySelector("[data-shown-when]")) showWhen(e.target.form);
  });
  document.addEventListener("input", (e) => {
    if (!e.target.matches("[data-menu-filter]")) return;
    const q = e.target.value.trim().toLowerCase();
    e.target.closest("nav").querySelectorAll("a").forEach((a) => {
      a.hidden = q !== "" && !a.textContent.toLowerCase().includes(q);
    });
  });
  document.addEventListener("htmx:afterSwap", (e) => {
    if (e.detail.target.id === "modal") {
      const first = e.detail.target.querySelector("input:not([type=hidden]), select, textarea, button.primary, button.danger");
      if (first) first.focus();
    }
    tick();
  });

  document.addEventListener("htmx:responseError", (e) => {
    const xhr = e.detail.xhr;
    const doc = new DOMParser().parseFromString(xhr.responseText || "", "text/html");
    const title = doc.querySelector(".error-page h1");
    const detail = doc.querySelector(".error-page p");
    toast(title ? title.textContent : "Request failed (" + xhr.status + ")", detail ? detail.textContent : "", "error");
  });
  document.addEventListener("htmx:sendError", () => toast("The portal cannot be reached", "Check your connection and try again.", "error"));

  window.portal = { toast, setPanel };
  document.addEventListener("DOMContentLoaded", () => {
    tick();
    enhance(document);
    setInterval(tick, 5000);
    connect();
  });
})();
