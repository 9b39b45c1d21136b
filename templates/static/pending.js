// hpcgate: the spawn-pending page follows the server's progress event
// stream (/hub/api/users/<name>/server/progress) and moves through the
// steps submitted → queued → running → starting → ready, then opens the
// server. The page is rendered complete by the server; this only updates.
"use strict";

(function () {
  // withXSRF adds the session's XSRF token to an API URL an EventSource
  // opens (it cannot set headers): the hub takes a script's request with
  // the session cookie only with it.
  function withXSRF(url) {
    var x = document.body.getAttribute("data-xsrf") || "";
    return url + (url.indexOf("?") < 0 ? "?" : "&") + "_xsrf=" + encodeURIComponent(x);
  }
  var root = document.getElementById("pending");
  if (!root || !window.EventSource) return;
  var steps = ["submitted", "queued", "running", "starting", "ready"];
  // Each event carries its state's label and progress percentage
  // (gateway.ServerState, the one definition of both).

  // The line under the title, as the page renders it for each state.
  var summaries = {
    submitting: "Submitting the batch job\u2026",
    queued: "The job is waiting in the queue. You can leave this page; the job keeps its place.",
    starting: "The job is running; Jupyter is starting on the compute node.",
    ready: "Your server is ready.",
    stopping: "Stopping\u2026",
    stopped: "The server is not running.",
    failed: "The server could not be started."
  };
  function field(name) { return root.querySelector("[data-field=" + name + "]"); }
  function setText(name, text) { var el = field(name); if (el) el.textContent = text || ""; }

  // current returns the step a state is at; where a failure happened is
  // told by what was known when it did.
  function current(p) {
    switch (p.state) {
      case "submitting": return "submitted";
      case "queued": return "queued";
      case "starting": return p.node ? "starting" : "running";
      case "ready": return "ready";
    }
    if (p.node) return "starting";
    if (p.job_id) return "queued";
    return "submitted";
  }

  function paint(p) {
    var at = steps.indexOf(current(p));
    var bad = p.failed || p.stopped || p.state === "failed" || p.state === "stopped";
    steps.forEach(function (name, i) {
      var el = root.querySelector("[data-step=" + name + "]");
      var status = i < at ? "done" : i === at ? (bad ? "failed" : (p.ready ? "done" : "current")) : "todo";
      el.setAttribute("data-status", status);
    });
    var badge = field("state");
    if (p.state) {
      badge.className = "badge state-" + p.state;
      badge.textContent = p.label || p.state;
      root.setAttribute("data-state", p.state);
      if (summaries[p.state]) field("summary").textContent = summaries[p.state];
    }
    if (p.progress) field("bar").style.width = p.progress + "%";
    var s = field("submitted");
    if (p.job_id && s.textContent.indexOf(p.job_id) < 0) {
      s.textContent = "Job ";
      var code = document.createElement("span");
      code.className = "mono"; code.textContent = p.job_id;
      s.appendChild(code);
    }
    if (p.state === "queued") {
      var waited = field("waited");
      if (p.queued_seconds && !(Number(waited.getAttribute("data-since")) > 0)) {
        waited.setAttribute("data-since", String(Math.floor(Date.now() / 1000) - p.queued_seconds));
      }
      field("waited-line").hidden = false;
      setText("reason", p.reason_text || "waiting to be scheduled");
      setText("raw-reason", p.reason ? "(" + p.reason + ")" : "");
      if (p.estimated_start) {
        var at = new Date(p.estimated_start), est = field("estimate");
        est.textContent = "Estimated start: " + window.hpcgate.when(at) + " ";
        var left = document.createElement("span");
        left.setAttribute("data-until", String(Math.floor(at.getTime() / 1000)));
        left.textContent = window.hpcgate.until(at.getTime() / 1000);
        est.appendChild(left);
      } else {
        setText("estimate", "");
      }
    } else if (p.state && p.state !== "submitting") {
      field("waited").setAttribute("data-stopped", "");
      if (p.queued_seconds) setText("waited", window.hpcgate.duration(p.queued_seconds));
    }
    if (p.node) setText("node", "on node " + p.node);
    if (p.state === "starting" && p.message) setText("starting", p.message);
  }

  function fail(p) {
    var box = field("failure");
    box.hidden = false;
    setText("failure-message", (p.message || "").replace(/^Spawn failed:\s*/, ""));
    if (p.log_tail) {
      field("log-block").hidden = false;
      setText("log", p.log_tail);
    }
    var form = field("cancel-form");
    if (form) form.hidden = true;
  }

  // Only a server on its way has a stream; the page of a failed or stopped
  // one is complete as rendered.
  var initial = root.getAttribute("data-state");
  if (["submitting", "queued", "starting"].indexOf(initial) < 0) return;
  var es = new EventSource(withXSRF(root.getAttribute("data-progress-url")));
  es.onmessage = function (ev) {
    var p;
    try { p = JSON.parse(ev.data); } catch (e) { return; }
    if (!p.state && !p.ready && !p.failed) return; // "Server requested"
    if (p.ready) p.state = "ready";
    paint(p);
    if (p.ready) {
      es.close();
      var url = root.getAttribute("data-next-url") || p.url || root.getAttribute("data-server-url");
      setText("ready", "Opening " + url + " …");
      setTimeout(function () { location.href = url; }, 600);
    } else if (p.failed || p.stopped) {
      es.close();
      if (p.failed) fail(p); else location.reload();
    }
  };
  es.onerror = function () {
    // A 400 means nothing is starting any more: show the page as it is now.
    if (es.readyState === EventSource.CLOSED) setTimeout(function () { location.reload(); }, 2000);
  };
})();
