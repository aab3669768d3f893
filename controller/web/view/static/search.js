// The header's search box as a combobox: results from /search.json under it while typing.
// ARIA combobox pattern with a listbox popup (https://www.w3.org/WAI/ARIA/apg/patterns/combobox/):
// focus stays in the box; ArrowDown/ArrowUp move the active option (aria-activedescendant),
// Enter follows it, Escape closes the list (a second Escape clears the box). Without this
// script the box is a plain form that submits to /search, which lists the same results.
// Every text shown comes from the server, already in the reader's language.
(function () {
  "use strict";
  var DEBOUNCE_MS = 150;

  function init() {
    var box = document.getElementById("search-box");
    if (!box || !box.form) return;
    var form = box.form;

    var list = document.createElement("ul");
    list.id = "search-results";
    list.className = "search-results";
    list.setAttribute("role", "listbox");
    list.setAttribute("aria-label", box.labels && box.labels[0] ? box.labels[0].textContent : "Search");
    list.hidden = true;
    form.appendChild(list);

    var status = document.createElement("p");
    status.id = "search-status";
    status.className = "visually-hidden";
    status.setAttribute("role", "status");
    form.appendChild(status);

    box.setAttribute("role", "combobox");
    box.setAttribute("aria-autocomplete", "list");
    box.setAttribute("aria-expanded", "false");
    box.setAttribute("aria-controls", list.id);

    var timer = null;
    var pending = null;
    var shown = "";   // the query whose results the list holds
    var active = -1;  // index of the active option, -1 for none

    function options() {
      return list.querySelectorAll('[role="option"]');
    }

    function setActive(index) {
      var all = options();
      if (active >= 0 && all[active]) all[active].setAttribute("aria-selected", "false");
      active = index;
      if (index >= 0 && all[index]) {
        all[index].setAttribute("aria-selected", "true");
        box.setAttribute("aria-activedescendant", all[index].id);
        all[index].scrollIntoView({ block: "nearest" });
      } else {
        box.removeAttribute("aria-activedescendant");
      }
    }

    function open() {
      if (!options().length && !list.querySelector(".search-empty")) return;
      list.hidden = false;
      box.setAttribute("aria-expanded", "true");
    }

    function close() {
      setActive(-1);
      list.hidden = true;
      box.setAttribute("aria-expanded", "false");
    }

    function option(id, item, prefix) {
      var li = document.createElement("li");
      li.setAttribute("role", "none");
      var a = document.createElement("a");
      a.id = id;
      a.href = item.href;
      a.tabIndex = -1;
      a.setAttribute("role", "option");
      a.setAttribute("aria-selected", "false");
      if (item.kind) a.setAttribute("data-kind", item.kind);
      if (item.name) a.setAttribute("data-name", item.name);
      a.textContent = item.label;
      if (item.detail) {
        var detail = document.createElement("span");
        detail.className = "muted";
        detail.textContent = " · " + item.detail;
        a.appendChild(detail);
      }
      // Keep the focus in the box when an option is clicked; the link is followed as usual.
      a.addEventListener("mousedown", function (event) { event.preventDefault(); });
      li.appendChild(a);
      return li;
    }

    function render(document_) {
      list.textContent = "";
      active = -1;
      box.removeAttribute("aria-activedescendant");
      var n = 0;
      document_.groups.forEach(function (group) {
        var li = document.createElement("li");
        li.setAttribute("role", "group");
        li.setAttribute("aria-label", group.label);
        li.setAttribute("data-kind", group.kind);
        var heading = document.createElement("div");
        heading.className = "muted search-group-label";
        heading.setAttribute("aria-hidden", "true");
        heading.style.padding = ".3em .7em 0";
        heading.style.fontSize = ".85em";
        heading.textContent = group.label;
        li.appendChild(heading);
        var inner = document.createElement("ul");
        inner.setAttribute("role", "none");
        inner.style.listStyle = "none";
        inner.style.margin = "0";
        inner.style.padding = "0";
        group.items.forEach(function (item) {
          inner.appendChild(option("search-option-" + n++, item));
        });
        if (group.more) {
          inner.appendChild(option("search-option-" + n++, { href: group.more.href, label: group.more.label }));
        }
        li.appendChild(inner);
        list.appendChild(li);
      });
      if (document_.all) {
        var all = option("search-option-" + n++, { href: document_.all.href, label: document_.all.label });
        all.firstChild.setAttribute("data-all", "");
        list.appendChild(all);
      }
      if (!document_.groups.length && document_.empty) {
        var none = document.createElement("li");
        none.setAttribute("role", "none");
        none.className = "muted search-empty";
        none.style.padding = ".4em .7em";
        none.textContent = document_.empty;
        list.appendChild(none);
      }
      status.textContent = document_.summary || "";
      shown = document_.query;
    }

    function lookup() {
      var query = box.value.trim();
      if (!query) {
        if (pending) pending.abort();
        shown = "";
        list.textContent = "";
        status.textContent = "";
        close();
        return;
      }
      if (query === shown) { open(); return; }
      if (pending) pending.abort();
      var controller = typeof AbortController === "function" ? new AbortController() : null;
      pending = controller;
      fetch("/search.json?q=" + encodeURIComponent(query), {
        headers: { Accept: "application/json" },
        credentials: "same-origin",
        signal: controller ? controller.signal : undefined,
      })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (document_) {
          if (!document_ || box.value.trim() !== query) return;
          render(document_);
          if (document.activeElement === box) open();
        })
        .catch(function () { /* aborted by newer typing, or offline: the form still works */ });
    }

    box.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(lookup, DEBOUNCE_MS);
    });

    box.addEventListener("focus", function () {
      if (box.value.trim() && box.value.trim() === shown) open();
    });

    box.addEventListener("keydown", function (event) {
      var all = options();
      switch (event.key) {
        case "ArrowDown":
          event.preventDefault();
          if (list.hidden) { open(); if (list.hidden) { lookup(); return; } }
          if (all.length) setActive(active + 1 >= all.length ? 0 : active + 1);
          break;
        case "ArrowUp":
          event.preventDefault();
          if (list.hidden) open();
          if (all.length) setActive(active <= 0 ? all.length - 1 : active - 1);
          break;
        case "Enter":
          if (!list.hidden && active >= 0 && all[active]) {
            event.preventDefault();
            window.location.assign(all[active].href);
          }
          // otherwise the form submits to /search
          break;
        case "Escape":
          if (!list.hidden) {
            event.preventDefault();
            close();
          } else if (box.value) {
            event.preventDefault();
            box.value = "";
            lookup();
          }
          break;
        case "Tab":
          close();
          break;
      }
    });

    box.addEventListener("blur", function () { close(); });

    document.addEventListener("click", function (event) {
      if (!form.contains(event.target)) close();
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
