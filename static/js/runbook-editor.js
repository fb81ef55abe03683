// The runbook blade: the draft in a code editor (Ace, vendored under static/vendor/ace/) and the Test pane.
// The draft's textarea stays the form's field: the editor writes every change into it, so Save, Ctrl+S
// and the Test pane post exactly what a plain form would. Without JavaScript, or if Ace fails to load,
// the page is that plain form.
(function () {
  "use strict";

  const form = document.getElementById("runbook-form");
  if (!form) return;
  const textarea = form.querySelector("textarea[name=content]");
  const canSave = form.querySelector("button[type=submit]") !== null; // Readers get no Save button
  const isMac = /Mac|iPhone|iPad/.test(navigator.platform);
  let editor = null;

  // ---- Unsaved changes -----------------------------------------------------------------
  // What the server holds, as the form's values; the command bar says so when the page differs.
  const values = () =>
    JSON.stringify(Array.from(form.elements).filter((el) => el.name && el.type !== "hidden").map((el) => [el.name, el.value]));
  // A form the server sends back refused (data-unsaved) holds what was typed, not what is saved.
  let savedValues = form.hasAttribute("data-unsaved") ? null : values();
  let postedValues = null;
  function showState() {
    const state = document.getElementById("draft-state");
    if (state) state.hidden = !canSave || values() === savedValues;
  }
  form.addEventListener("input", showState);
  showState();

  // ---- The editor ----------------------------------------------------------------------
  function mountEditor() {
    if (!window.ace || !textarea) return;
    const script = document.querySelector('script[src*="vendor/ace/ace.js"]');
    if (script) ace.config.set("basePath", script.src.replace(/ace\.js(\?.*)?$/, ""));

    const host = document.createElement("div");
    host.className = "code-editor";
    textarea.insertAdjacentElement("afterend", host);
    const readOnly = textarea.readOnly;
    editor = ace.edit(host, {
      mode: "ace/mode/" + (form.dataset.editorMode || "text"),
      theme: "ace/theme/chrome",
      readOnly: readOnly,
      useWorker: false,
      showPrintMargin: false,
      fontFamily: getComputedStyle(host).fontFamily,
      fontSize: "13px",
      tabSize: 4,
      useSoftTabs: true,
      scrollPastEnd: 0.5,
      highlightActiveLine: !readOnly,
      highlightGutterLine: !readOnly,
      textInputAriaLabel: "Draft",
    });
    // session.setValue, not editor.setValue: the loaded draft is where Undo stops.
    editor.session.setValue(textarea.value);
    textarea.hidden = true;
    host.classList.toggle("read-only", readOnly);
    if (readOnly) editor.renderer.$cursorLayer.element.style.display = "none";

    editor.session.on("change", () => {
      textarea.value = editor.getValue();
      showState();
    });
    if (canSave) {
      editor.commands.addCommand({ name: "saveDraft", bindKey: { win: "Ctrl-S", mac: "Command-S" }, exec: save });
    }
    // The label names the hidden textarea; a click on it means the editor.
    const label = form.querySelector(`label[for="${textarea.id}"]`);
    if (label) label.addEventListener("click", (e) => { e.preventDefault(); editor.focus(); });
    // The Test pane opening or the window changing size changes the editor's width.
    new ResizeObserver(() => editor.resize()).observe(host);
  }

  function save() {
    if (editor) textarea.value = editor.getValue();
    form.requestSubmit();
  }
  // Save and Publish both submit this form, so the page's text goes with them.
  let submitted = false;
  form.addEventListener("submit", () => {
    if (editor) textarea.value = editor.getValue();
    submitted = true;
  });
  // Come back to this page from the browser's cache (Back after a Save), it asks again.
  window.addEventListener("pageshow", () => { submitted = false; });

  // ---- Leaving with unsaved changes ----------------------------------------------------
  // As Azure's editor does, the browser asks before the page goes (a link, the command bar, the
  // breadcrumb, closing the tab) while it holds changes the server does not: not when nothing changed,
  // not after a save, not for Save and Publish themselves (they carry the changes), and not after a
  // confirmed Delete (the draft goes with the runbook).
  let discarded = false;
  window.addEventListener("beforeunload", (e) => {
    if (!canSave || submitted || discarded || values() === savedValues) return;
    e.preventDefault();
    e.returnValue = ""; // Chromium before 119 asks only when returnValue is set
  });
  document.body.addEventListener("htmx:beforeOnLoad", (e) => {
    const from = e.detail.elt;
    if (from && from.closest && from.closest("[data-discards-draft]") && e.detail.xhr.getResponseHeader("HX-Redirect")) {
      discarded = true;
    }
  });
  // Ctrl+S anywhere on the page (the editor handles it itself while it has the focus).
  document.addEventListener("keydown", (e) => {
    if (!canSave || e.altKey || e.shiftKey || e.key.toLowerCase() !== "s" || !(isMac ? e.metaKey : e.ctrlKey)) return;
    e.preventDefault();
    save();
  });
  if (isMac) form.querySelectorAll(".keyhint").forEach((hint) => (hint.textContent = "or ⌘S"));

  // ---- The Test pane -------------------------------------------------------------------
  const pane = document.getElementById("test-pane");
  const workspace = document.getElementById("runbook-workspace");
  const toggle = document.querySelector("[data-test-pane-toggle]");

  function setPane(open) {
    pane.hidden = !open;
    workspace.classList.toggle("testing", open);
    if (toggle) {
      toggle.setAttribute("aria-expanded", String(open));
      toggle.classList.toggle("active", open);
    }
    // A closed pane keeps nothing live: its output is fetched afresh when it opens again.
    if (!open) pane.innerHTML = "";
  }

  function followLog(scroller, atEnd) {
    if (scroller && atEnd) scroller.scrollTop = scroller.scrollHeight;
  }
  const logScroller = () => pane && pane.querySelector(".test-log-wrap");
  const atEnd = (el) => !el || el.scrollHeight - el.scrollTop - el.clientHeight < 24;
  let wasAtEnd = true;

  if (pane && workspace) {
    document.body.addEventListener("htmx:beforeRequest", (e) => {
      // The command opens the pane; pressed while it is open, it closes it.
      if (toggle && e.detail.elt === toggle && !pane.hidden) {
        e.preventDefault();
        setPane(false);
        return;
      }
      if (e.detail.elt.matches && e.detail.elt.matches(".test-form")) postedValues = values();
    });
    document.body.addEventListener("htmx:beforeSwap", (e) => {
      if (e.detail.target.id === "test-output") wasAtEnd = atEnd(logScroller());
    });
    document.body.addEventListener("htmx:afterSwap", (e) => {
      const target = e.detail.target;
      if (target === pane) {
        const opened = pane.hidden;
        setPane(true);
        const posted = postedValues !== null;
        // Started or refused, a test post that was not refused for the draft leaves the server holding
        // exactly what the page posted.
        if (posted && !pane.querySelector(".test-draft-errors")) savedValues = postedValues;
        postedValues = null;
        showState();
        followLog(logScroller(), true);
        // A test just started: its output is what to watch (it is below the form).
        if (posted && e.detail.xhr.status === 200) document.getElementById("test-output").scrollIntoView({ block: "nearest" });
        else if (opened) pane.scrollIntoView({ block: "nearest" });
      } else if (target.id === "test-output") {
        followLog(logScroller(), wasAtEnd);
      }
    });
    document.addEventListener("click", (e) => {
      const close = e.target.closest("[data-close-test-pane]");
      if (close && workspace.contains(close)) {
        e.preventDefault();
        setPane(false);
        if (toggle) toggle.focus();
      }
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", mountEditor);
  else mountEditor();
})();
