// hpcgate: the spawn form shows only the chosen cluster's profiles and the
// chosen profile's options. Without this script every profile's options
// are shown and the server reads the chosen one's; with it, the others are
// hidden and disabled so they are not sent.
"use strict";

(function () {
  var form = document.getElementById("spawn-form");
  if (!form) return;

  function checked(name) {
    var el = form.querySelector("input[name=" + name + "]:checked");
    return el ? el.value : "";
  }

  function update() {
    var cluster = checked("cluster");
    if (cluster) {
      form.querySelectorAll("fieldset[data-cluster]").forEach(function (fs) {
        fs.hidden = fs.getAttribute("data-cluster") !== cluster;
      });
      // Keep the profile choice inside the chosen cluster.
      var current = checked("profile");
      if (!current || current.split("/")[0] !== cluster) {
        var first = form.querySelector("fieldset[data-cluster='" + cluster + "'] input[name=profile]");
        if (first) first.checked = true;
      }
    }
    var profile = checked("profile");
    form.querySelectorAll("fieldset[data-profile]").forEach(function (fs) {
      var on = fs.getAttribute("data-profile") === profile;
      fs.hidden = !on;
      fs.disabled = !on;
    });
  }

  form.addEventListener("change", function (ev) {
    if (ev.target.name === "cluster" || ev.target.name === "profile") update();
  });
  update();

  // Move focus to the first field with an error after a refused submit.
  var bad = form.querySelector("[aria-invalid=true]");
  if (bad) bad.focus();
})();
