// hpcgate: the workshop instructor page. The page is rendered complete by
// the server; this script keeps the roster live by polling its JSON every
// five seconds, and asks before starting or stopping the whole class.
"use strict";

(function () {
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (ev) {
      if (!window.confirm(form.getAttribute("data-confirm"))) ev.preventDefault();
    });
  });
  var table = document.querySelector("table[data-roster]");
  if (!table) return;
  var api = table.getAttribute("data-api");
  function set(row, field, text) {
    var el = row.querySelector('[data-field="' + field + '"]');
    if (el) el.textContent = text || "";
    return el;
  }
  function update(data) {
    set(document, "phase", data.phase);
    set(document, "progress", data.progress);
    (data.attendees || []).forEach(function (a) {
      var row = table.querySelector('tr[data-user="' + CSS.escape(a.user) + '"]');
      if (!row) return;
      var badge = set(row, "state", a.state_label);
      if (badge) {
        badge.className = "badge state-" + a.state;
        badge.setAttribute("data-state", a.state);
      }
      set(row, "reason", a.reason);
      set(row, "node", a.node);
      set(row, "last_activity", a.last_activity);
      set(row, "walltime_left", a.walltime_left);
      var cell = row.querySelector('[data-field="open"]');
      if (cell) {
        cell.textContent = "";
        if (a.open_url) {
          // A form, not a link: opening records a visit, so it takes the
          // page's XSRF token (a script elsewhere on the hub's origin has none).
          var form = document.createElement("form");
          form.method = "post";
          form.action = a.open_url;
          form.className = "inline";
          var xsrf = document.createElement("input");
          xsrf.type = "hidden";
          xsrf.name = "_xsrf";
          xsrf.value = document.body.getAttribute("data-xsrf") || "";
          var button = document.createElement("button");
          button.type = "submit";
          button.className = "btn btn-small";
          button.setAttribute("data-open", "");
          button.textContent = "Open as instructor";
          form.appendChild(xsrf);
          form.appendChild(button);
          cell.appendChild(form);
        }
      }
    });
  }
  function poll() {
    fetch(api, { headers: { Accept: "application/json", "X-XSRFToken": document.body.getAttribute("data-xsrf") || "" }, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) { if (data) update(data); })
      .catch(function () {})
      .finally(function () { window.setTimeout(poll, 5000); });
  }
  window.setTimeout(poll, 5000);
})();
