// hpcgate: the admin pages. They are rendered complete by the server and
// work without this script; it only saves clicks: a filter select applies
// itself, and stopping someone's server or cancelling their job asks first.
// (Durations keep ticking through hpcgate.js's data-since/data-countdown.)
"use strict";

(function () {
  document.querySelectorAll("select[data-autosubmit]").forEach(function (sel) {
    sel.addEventListener("change", function () {
      if (sel.form) sel.form.requestSubmit ? sel.form.requestSubmit() : sel.form.submit();
    });
  });
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (ev) {
      if (!window.confirm(form.getAttribute("data-confirm"))) ev.preventDefault();
    });
  });
})();
