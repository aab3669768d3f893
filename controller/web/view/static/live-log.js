// The charger page's live OCPP log: frames from /chargers/{id}/log/stream (server-sent events)
// appended to #log-rows; follows the newest unless the reader scrolled up (then #log-paused
// counts what arrived and #log-resume goes back to following); #log-action filters by action.
(function () {
  "use strict";
  var section = document.getElementById("live-log");
  if (!section || !window.EventSource) return;
  var rows = document.getElementById("log-rows");
  var box = document.getElementById("log-scroll");
  var select = document.getElementById("log-action");
  var paused = document.getElementById("log-paused");
  var resume = document.getElementById("log-resume");
  var status = document.getElementById("log-status");
  var empty = document.getElementById("no-frames");
  var MAX_ROWS = 1000;
  var unseen = 0;
  var following = true;

  function atBottom() {
    return box.scrollHeight - box.scrollTop - box.clientHeight < 8;
  }
  function toBottom() {
    box.scrollTop = box.scrollHeight;
  }
  function showPaused() {
    if (following || unseen === 0) {
      paused.hidden = true;
      resume.hidden = following;
      return;
    }
    paused.textContent = paused.getAttribute("data-template").replace("{n}", String(unseen));
    paused.hidden = false;
    resume.hidden = false;
  }
  function applyFilter(row) {
    var wanted = select.value;
    row.hidden = wanted !== "" && row.getAttribute("data-action") !== wanted;
  }
  function cell(tag, text, code) {
    var node = document.createElement(tag);
    if (tag === "th") node.scope = "row";
    if (code) {
      var inner = document.createElement("code");
      inner.textContent = text;
      node.appendChild(inner);
      return node;
    }
    node.textContent = text;
    return node;
  }
  function addOption(action) {
    if (!action) return;
    for (var i = 0; i < select.options.length; i++) {
      if (select.options[i].value === action) return;
    }
    var option = document.createElement("option");
    option.value = action;
    option.textContent = action;
    select.appendChild(option);
  }
  function append(entry) {
    if (rows.querySelector('tr[data-log-id="' + entry.id + '"]')) return;
    var row = document.createElement("tr");
    row.setAttribute("data-log-id", String(entry.id));
    row.setAttribute("data-action", entry.action || "");
    var when = entry.at ? new Date(entry.at).toLocaleString() : "";
    row.appendChild(cell("th", when));
    row.appendChild(cell("td", entry.direction));
    row.appendChild(cell("td", entry.action || "–"));
    row.appendChild(cell("td", entry.uniqueId, true));
    var payload = entry.frame.length > 160 ? entry.frame.slice(0, 159) + "…" : entry.frame;
    var last = cell("td", payload, true);
    last.firstChild.title = entry.frame;
    row.appendChild(last);
    applyFilter(row);
    rows.appendChild(row);
    addOption(entry.action);
    while (rows.children.length > MAX_ROWS) rows.removeChild(rows.firstChild);
    if (empty) empty.hidden = true;
    if (following) {
      toBottom();
    } else if (!row.hidden) {
      unseen += 1;
      showPaused();
    }
  }

  box.addEventListener("scroll", function () {
    var bottom = atBottom();
    if (bottom && !following) {
      following = true;
      unseen = 0;
    } else if (!bottom && following) {
      following = false;
    }
    showPaused();
  });
  resume.addEventListener("click", function () {
    following = true;
    unseen = 0;
    toBottom();
    showPaused();
  });
  select.addEventListener("change", function () {
    Array.prototype.forEach.call(rows.children, applyFilter);
    if (following) toBottom();
  });

  toBottom();
  var url = section.getAttribute("data-stream");
  var lastId = section.getAttribute("data-last-id");
  var source = new EventSource(url + "?after=" + encodeURIComponent(lastId || "0"));
  source.addEventListener("open", function () {
    status.textContent = status.getAttribute("data-live");
  });
  source.addEventListener("error", function () {
    status.textContent = status.getAttribute("data-lost");
  });
  source.addEventListener("frame", function (event) {
    try {
      append(JSON.parse(event.data));
    } catch (error) {
      // a malformed frame is skipped; the next one still arrives
    }
  });
})();
