// A location's power diagram, live: refetch the fragment every few seconds and swap it in when
// it changed; paused while the tab is hidden, and by the pause button (WCAG 2.2.2).
(function () {
  "use strict";
  var live = document.getElementById("power-live");
  if (!live) return;
  var button = document.getElementById("power-pause");
  var status = document.getElementById("power-status");
  var every = parseInt(live.getAttribute("data-interval"), 10) || 5000;
  var paused = false;
  var last = live.innerHTML;
  var busy = false;
  function refresh() {
    if (paused || busy || document.visibilityState !== "visible") return;
    busy = true;
    fetch(live.getAttribute("data-src"), { headers: { Accept: "text/html" }, credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (text) {
        if (text !== null && text !== last) {
          var open = Array.prototype.map.call(live.querySelectorAll("details[open]"), function (d) { return d.id; });
          live.innerHTML = text;
          last = text;
          open.forEach(function (id) { var d = document.getElementById(id); if (d) d.open = true; });
          live.setAttribute("data-updated", new Date().toISOString());
        }
      })
      .catch(function () {})
      .then(function () { busy = false; });
  }
  if (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      paused = !paused;
      button.setAttribute("aria-pressed", paused ? "true" : "false");
      button.textContent = button.getAttribute(paused ? "data-resume" : "data-pause");
      if (status) status.hidden = paused;
      if (!paused) refresh();
    });
  }
  document.addEventListener("visibilitychange", refresh);
  setInterval(refresh, every);
})();
