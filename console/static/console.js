// Track AI console: progressive enhancement only (every page works without it).
// - [data-live-url]: re-fetch that server-rendered fragment every <body data-refresh-ms> while visible;
// - [data-copy-target]: copy the named field's value to the clipboard;
// - [data-select-all=name]: a checkbox that ticks every checkbox of that name in its form.
(function () {
  "use strict";
  var refresh = parseInt(document.body.getAttribute("data-refresh-ms"), 10) || 15000;

  function poll(region) {
    var url = region.getAttribute("data-live-url");
    var timer = window.setInterval(function () {
      if (document.hidden) { return; }
      fetch(url, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
        .then(function (response) {
          if (response.status === 401) { window.clearInterval(timer); return null; }
          return response.ok ? response.text() : null;
        })
        .then(function (html) { if (html !== null && html !== undefined) { region.innerHTML = html; } })
        .catch(function () { /* offline for a moment: try again next tick */ });
    }, refresh);
  }

  function copy(button) {
    var field = document.getElementById(button.getAttribute("data-copy-target"));
    if (!field) { return; }
    var done = function () {
      var label = button.textContent;
      button.textContent = button.getAttribute("data-copied-label") || label;
      window.setTimeout(function () { button.textContent = label; }, 2000);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(field.value).then(done, function () { field.select(); });
    } else {
      field.select();
      try { document.execCommand("copy"); done(); } catch (e) { /* the text stays selected */ }
    }
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy-target]");
    if (button) { copy(button); }
  });
  document.addEventListener("change", function (event) {
    var all = event.target.closest("[data-select-all]");
    if (!all) { return; }
    var boxes = all.form.querySelectorAll('input[type=checkbox][name="' + all.getAttribute("data-select-all") + '"]');
    for (var i = 0; i < boxes.length; i++) { boxes[i].checked = all.checked; }
  });
  var regions = document.querySelectorAll("[data-live-url]");
  for (var i = 0; i < regions.length; i++) { poll(regions[i]); }
})();
