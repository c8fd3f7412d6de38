// Draws every chart of the page from the JSON the server rendered (no inline script: the
// Content-Security-Policy allows scripts from the dashboard itself only).
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("chart-data").textContent);
  window.dashboardCharts = {};
  document.querySelectorAll("[data-chart]").forEach(function (element) {
    var spec = data[element.dataset.chart];
    if (!spec) { return; }
    var chart = echarts.init(element);
    chart.on("finished", function () { element.dataset.drawn = "true"; });
    chart.setOption({
      animation: false,
      tooltip: { trigger: "axis" },
      legend: { data: spec.series.map(function (s) { return s.name; }) },
      xAxis: { type: "category", data: spec.labels },
      yAxis: { type: "value" },
      series: spec.series.map(function (s) {
        return { name: s.name, type: spec.kind, data: s.values };
      }),
    });
    window.dashboardCharts[element.dataset.chart] = chart;
  });
  window.addEventListener("resize", function () {
    Object.values(window.dashboardCharts).forEach(function (c) { c.resize(); });
  });
})();
