// The account page: offer the browser's own timezone (the server cannot know it) in one click.
// Without this script the select still lists every zone.
(function () {
  "use strict";
  function init() {
    var select = document.getElementById("timezone");
    var offer = document.getElementById("browser-zone");
    if (!select || !offer || typeof Intl !== "object") return;
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (!zone || select.value === zone) return;
    var known = Array.prototype.some.call(select.options, function (o) { return o.value === zone; });
    if (!known) return;
    offer.querySelector(".zone").textContent = zone;
    offer.querySelector(".use").addEventListener("click", function () {
      select.value = zone;
      offer.hidden = true;
      select.focus();
    });
    offer.hidden = false;
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
