// Keeps the broadcast page's progress current: reads /broadcasts/progress every few seconds
// and redraws the state, counts and actions of each listed broadcast (no inline script: the
// page's policy allows scripts from the dashboard itself only).
(function () {
  "use strict";
  var table = document.getElementById("broadcasts");
  if (!table || !window.fetch) { return; }
  var every = Number(table.dataset.refresh) || 5000;

  function redraw(progress) {
    Object.keys(progress).forEach(function (id) {
      var row = table.querySelector('tr[data-broadcast="' + id + '"]');
      if (!row) { return; }
      var item = progress[id];
      row.querySelectorAll("[data-field]").forEach(function (cell) {
        var value = item[cell.dataset.field];
        if (value !== undefined) { cell.textContent = String(value); }
      });
      // Only the actions its state allows now (the server checks again when one is posted).
      row.querySelectorAll("form[data-action]").forEach(function (form) {
        form.hidden = item.actions.indexOf(form.dataset.action) < 0;
      });
    });
    table.dataset.updated = String(Number(table.dataset.updated || 0) + 1);
  }

  function read() {
    fetch(table.dataset.progress, { credentials: "same-origin" })
      .then(function (response) {
        if (response.status === 401) { window.location.reload(); return null; }
        return response.ok ? response.json() : null;
      })
      .then(function (progress) { if (progress) { redraw(progress); } })
      .catch(function () { /* the next round tries again */ })
      .then(function () { window.setTimeout(read, every); });
  }
  window.setTimeout(read, every);
})();
