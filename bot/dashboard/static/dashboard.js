// Draws every chart of the page from the JSON the server rendered (no inline script: the
// Content-Security-Policy allows scripts from the dashboard itself only), then keeps charts
// and tables current from the server's events (/events) without reloading the page.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("chart-data").textContent);
  window.dashboardCharts = {};

  function option(spec) {
    return {
      animation: false,
      tooltip: { trigger: "axis" },
      legend: { data: spec.series.map(function (s) { return s.name; }) },
      xAxis: { type: "category", data: spec.labels },
      yAxis: { type: "value" },
      series: spec.series.map(function (s) {
        return { name: s.name, type: spec.kind, data: s.values };
      }),
    };
  }

  document.querySelectorAll("[data-chart]").forEach(function (element) {
    var spec = data[element.dataset.chart];
    if (!spec) { return; }
    var chart = echarts.init(element);
    chart.on("finished", function () { element.dataset.drawn = "true"; });
    chart.setOption(option(spec));
    window.dashboardCharts[element.dataset.chart] = chart;
  });
  window.addEventListener("resize", function () {
    Object.values(window.dashboardCharts).forEach(function (c) { c.resize(); });
  });

  function fillTable(key, rows) {
    var table = document.getElementById("table-" + key);
    if (!table) { return; }
    var body = table.querySelector("tbody");
    var fresh = document.createElement("tbody");
    rows.forEach(function (row) {
      var line = document.createElement("tr");
      row.forEach(function (cell) {
        var td = document.createElement("td");
        td.textContent = cell;
        line.appendChild(td);
      });
      fresh.appendChild(line);
    });
    table.replaceChild(fresh, body);
  }

  var live = document.getElementById("live");
  if (!live || !window.EventSource) { return; }
  var source = new EventSource(live.dataset.events);
  source.addEventListener("figures", function (event) {
    var figures = JSON.parse(event.data);
    Object.keys(figures.charts).forEach(function (key) {
      var chart = window.dashboardCharts[key];
      if (chart) { chart.setOption(option(figures.charts[key]), true); }
    });
    Object.keys(figures.tables).forEach(function (key) { fillTable(key, figures.tables[key]); });
    live.dataset.updated = String(Number(live.dataset.updated || 0) + 1);
  });
  source.addEventListener("signed-out", function () {
    source.close();
    window.location.reload();
  });
})();
