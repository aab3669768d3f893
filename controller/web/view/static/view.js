// The view's only always-loaded script: keyboard shortcuts to the search box (Ctrl+K and "/").
// Everything else on a page works without JavaScript; live parts load their own small script.
(function () {
  "use strict";
  function typing(target) {
    return target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
  }
  document.addEventListener("keydown", function (event) {
    var box = document.getElementById("search-box");
    if (!box) return;
    var ctrlK = (event.ctrlKey || event.metaKey) && (event.key === "k" || event.key === "K");
    var slash = event.key === "/" && !typing(event.target);
    if (ctrlK || slash) {
      event.preventDefault();
      box.focus();
      box.select();
    }
  });
})();
