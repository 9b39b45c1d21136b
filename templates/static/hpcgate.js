// hpcgate: small helpers shared by the pages. No framework: the pages are
// rendered by the server and stay usable without this script; it only
// keeps times ticking and follows progress streams.
"use strict";

(function () {
  // withXSRF adds the session's XSRF token to an API URL an EventSource
  // opens (it cannot set headers): the hub takes a script's request with
  // the session cookie only with it.
  function withXSRF(url) {
    var x = document.body.getAttribute("data-xsrf") || "";
    return url + (url.indexOf("?") < 0 ? "?" : "&") + "_xsrf=" + encodeURIComponent(x);
  }
  // duration formats seconds the way the server does (gateway.FormatDuration).
  function duration(s) {
    s = Math.max(0, Math.floor(s));
    var d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600),
      m = Math.floor((s % 3600) / 60), sec = s % 60;
    function two(n) { return (n < 10 ? "0" : "") + n; }
    if (d > 0) return d + "d " + h + "h";
    if (h > 0) return h + "h " + two(m) + "m";
    if (m > 0) return m + "m " + two(sec) + "s";
    return sec + "s";
  }
  // when writes a time in the browser's zone and language.
  function when(d) {
    var opts = { hour: "2-digit", minute: "2-digit" };
    if (new Date().toDateString() !== d.toDateString()) {
      opts.weekday = "short"; opts.day = "numeric"; opts.month = "short";
    }
    return d.toLocaleString([], opts);
  }
  // until says how far off a Unix time is: "(in 25m 00s)".
  function until(t) {
    var left = t - Date.now() / 1000;
    return left > 0 ? "(in " + duration(left) + ")" : "(any moment now)";
  }
  window.hpcgate = { duration: duration, when: when, until: until };

  // Times are rendered in UTC by the server; show them in local time,
  // keeping the UTC value as a tooltip.
  document.querySelectorAll("time[datetime]").forEach(function (el) {
    var d = new Date(el.getAttribute("datetime"));
    if (isNaN(d)) return;
    el.title = el.textContent;
    el.textContent = when(d);
  });

  var loaded = Date.now() / 1000;

  // Elapsed times count up from a Unix time; countdowns count down from
  // the seconds left when the page was rendered.
  function tick() {
    var now = Date.now() / 1000;
    document.querySelectorAll("[data-since]").forEach(function (el) {
      if (el.hasAttribute("data-stopped")) return;
      var since = Number(el.getAttribute("data-since"));
      if (since > 0) el.textContent = duration(now - since);
    });
    document.querySelectorAll("[data-until]").forEach(function (el) {
      el.textContent = until(Number(el.getAttribute("data-until")));
    });
    document.querySelectorAll("[data-countdown]").forEach(function (el) {
      var left = Number(el.getAttribute("data-countdown")) - (now - loaded);
      el.textContent = left > 0 ? duration(left) : "ended";
      el.classList.toggle("error-text", left > 0 && left < 900);
    });
    // Home: the walltime banner shows once the scheduler will end the
    // server within data-warn-at seconds, and counts down in minutes.
    document.querySelectorAll("[data-walltime-banner]").forEach(function (el) {
      var left = Number(el.getAttribute("data-walltime-left")) - (now - loaded);
      el.hidden = !(left < Number(el.getAttribute("data-warn-at")));
      var text = left > 0 ? Math.ceil(left / 60) + " min" : "a moment";
      var m = el.querySelector("[data-field=minutes]");
      if (m && m.textContent !== text) m.textContent = text;
    });
  }
  tick();
  setInterval(tick, 1000);

  // Home: a card whose server is on its way follows the progress stream and
  // reloads the page when the state changes, so buttons and facts are
  // rendered by the server again.
  document.querySelectorAll("[data-server-card][data-progress-url]").forEach(function (card) {
    if (!window.EventSource) return;
    var es = new EventSource(withXSRF(card.getAttribute("data-progress-url")));
    var state = card.getAttribute("data-state");
    es.onmessage = function (ev) {
      var p;
      try { p = JSON.parse(ev.data); } catch (e) { return; }
      if (p.ready || p.failed || p.stopped) { es.close(); location.reload(); return; }
      if (p.state && p.state !== state) { es.close(); location.reload(); return; }
      var reason = card.querySelector("[data-field=reason]");
      if (reason && p.reason_text) reason.textContent = p.reason_text + (p.reason ? " (" + p.reason + ")" : "");
    };
    es.onerror = function () {
      // The stream ends with 400 once nothing is pending; stop retrying.
      if (es.readyState === EventSource.CLOSED) return;
    };
  });
})();
