// The analysis page's Plotly charts: improvement, history, parameter importance, Pareto
// front. SVG traces only (`scatter`, `bar`): no WebGL, so they render in any browser.
//
// Plotly reads a small set of HTML-like tags in every text it draws (hover text, axis
// titles, category labels), so everything user-written goes through `esc` first: a name
// like "<b>x</b>" then shows as those characters, never as markup.
"use strict";

window.AnalysisCharts = (function () {
  const FAILED_COLOR = "#c0392b";
  const POINT_COLOR = "#1f77b4";
  const BEST_COLOR = "#f0a500";
  const CONFIG = {
    responsive: true,
    displaylogo: false,
    modeBarButtonsToRemove: ["select2d", "lasso2d"],
  };

  function esc(value) {
    return String(value).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  }

  function fmt(value) {
    if (value === null || value === undefined) return "";
    if (typeof value === "number") return String(parseFloat(value.toPrecision(6)));
    return String(value);
  }

  function isoTime(epochS) {
    return new Date(epochS * 1000).toISOString().replace("T", " ").slice(0, 19);
  }

  // Whether the observation meets every threshold, as the service's best_assignments.
  function isFeasible(experiment, o) {
    return experiment.metrics.every(function (m) {
      if (m.threshold === null || m.strategy === "store") return true;
      const v = o.values[m.label];
      if (v === null || v === undefined) return false;
      return m.objective === "maximize" ? v >= m.threshold : v <= m.threshold;
    });
  }

  function hoverText(experiment, o, index) {
    const lines = ["<b>observation " + o.id + "</b> (#" + (index + 1) + ")"];
    if (o.failed) lines.push("failed" + (o.reason ? ": " + esc(o.reason) : ""));
    if (o.task) lines.push("task " + esc(o.task));
    (experiment.conditionals || []).forEach(function (c) {
      lines.push(esc(c.name) + " = " + esc(fmt(o.assignments[c.name])));
    });
    experiment.parameters.forEach(function (p) {
      // A conditional parameter inactive in this observation has no value: left out.
      if (o.assignments[p.name] !== undefined) lines.push(esc(p.name) + " = " + esc(fmt(o.assignments[p.name])));
    });
    experiment.metrics.forEach(function (m) {
      const v = o.values[m.label];
      if (v !== null && v !== undefined) lines.push(esc(m.label) + " = " + esc(fmt(v)));
    });
    return lines.join("<br>");
  }

  // Failed observations as marks on an axis: an overlaying axis of range [0, 1], hidden.
  function rugAxis(overlaying) {
    return { overlaying: overlaying, range: [0, 1], visible: false, fixedrange: true };
  }

  // The best so far counts the observations that are values of the objective: every one,
  // or in a multitask experiment only those of the full-cost task (cheaper tasks only
  // approximate it, as best_assignments has it); their number is `data-cheaper`.
  function improvement(el, experiment, observations, metricLabel, against) {
    const metric = experiment.metrics.find(function (m) { return m.label === metricLabel; });
    if (!metric) return;
    const sign = metric.objective === "maximize" ? 1 : -1;
    const bx = [], by = [], fx = [], ftext = [];
    let best = null, last = null, counted = 0, cheaper = 0;
    observations.forEach(function (o, i) {
      const x = against === "time" ? isoTime(o.created) : i + 1;
      if (o.full_cost === false) { cheaper += 1; return; }
      if (o.failed) {
        fx.push(x);
        ftext.push(hoverText(experiment, o, i));
        return;
      }
      const v = o.values[metric.label];
      if (v === null || v === undefined || !isFeasible(experiment, o)) return;
      counted += 1;
      // A step line needs only the points where the best changes (and the last one):
      // a few dozen points, not one per observation.
      if (best === null || sign * v > sign * best) {
        best = v;
        bx.push(x);
        by.push(best);
        last = null;
      } else last = x;
    });
    if (last !== null) { bx.push(last); by.push(best); }
    const traces = [
      { type: "scatter", mode: "lines+markers", x: bx, y: by, name: "best so far (" + esc(metric.label) + ")",
        line: { shape: "hv", color: POINT_COLOR }, marker: { size: 3 } },
      { type: "scatter", mode: "markers", x: fx, y: fx.map(function () { return 0.03; }), yaxis: "y2",
        name: "failed (" + fx.length + ")", text: ftext, hoverinfo: "text",
        marker: { symbol: "x-thin-open", size: 9, color: FAILED_COLOR, line: { width: 2 } } },
    ];
    const layout = {
      margin: { t: 20, r: 20, b: 50, l: 60 },
      xaxis: { title: { text: against === "time" ? "time (UTC)" : "observation number" },
        type: against === "time" ? "date" : "linear" },
      yaxis: { title: { text: "best " + esc(metric.label) } },
      yaxis2: rugAxis("y"),
      legend: { orientation: "h", y: -0.2 },
    };
    el.dataset.points = String(counted);
    el.dataset.failed = String(fx.length);
    el.dataset.cheaper = String(cheaper);
    return Plotly.react(el, traces, layout, CONFIG);
  }

  // The value of one axis choice for an observation: "number", "time", "param:NAME",
  // "value:LABEL", "meta:KEY".
  function axisValue(choice, o, index) {
    if (choice === "number") return index + 1;
    if (choice === "time") return isoTime(o.created);
    const cut = choice.indexOf(":");
    const kind = choice.slice(0, cut), name = choice.slice(cut + 1);
    let v = null;
    if (kind === "param") v = o.assignments[name];
    else if (kind === "value") v = o.values[name];
    else if (kind === "meta") v = o.metadata[name];
    if (v === undefined || v === null) return null;
    return typeof v === "string" ? esc(v) : typeof v === "boolean" ? String(v) : v;
  }

  function axisLayout(experiment, choice) {
    if (choice === "number") return { title: { text: "observation number" } };
    if (choice === "time") return { title: { text: "time (UTC)" }, type: "date" };
    const cut = choice.indexOf(":");
    const name = choice.slice(cut + 1);
    const out = { title: { text: esc(name) } };
    if (choice.slice(0, cut) === "param") {
      const p = experiment.parameters.find(function (q) { return q.name === name; });
      if (p && p.log) out.type = "log";
      if (p && p.type === "categorical") out.type = "category";
    }
    return out;
  }

  function history(el, experiment, observations, bestIds, xChoice, yChoice) {
    const best = new Set(bestIds || []);
    const groups = {
      done: { x: [], y: [], text: [] }, best: { x: [], y: [], text: [] },
      failed: { x: [], y: [], text: [] }, failedX: { x: [], y: [], text: [] },
      failedY: { x: [], y: [], text: [] },
    };
    observations.forEach(function (o, i) {
      const x = axisValue(xChoice, o, i), y = axisValue(yChoice, o, i);
      let g;
      if (!o.failed) {
        if (x === null || y === null) return;
        g = best.has(o.id) ? groups.best : groups.done;
      } else if (x !== null && y !== null) g = groups.failed;
      else if (x !== null) g = groups.failedY; // no y (a metric): marked on the x axis
      else if (y !== null) g = groups.failedX; // no x: marked on the y axis
      else return;
      g.x.push(x === null ? 0.02 : x);
      g.y.push(y === null ? 0.03 : y);
      g.text.push(hoverText(experiment, o, i));
    });
    const failedMarker = { symbol: "x-thin-open", size: 9, color: FAILED_COLOR, line: { width: 2 } };
    const nFailed = groups.failed.x.length + groups.failedX.x.length + groups.failedY.x.length;
    const traces = [
      { type: "scatter", mode: "markers", name: "completed", x: groups.done.x, y: groups.done.y,
        text: groups.done.text, hoverinfo: "text", marker: { size: 6, color: POINT_COLOR, opacity: 0.7 } },
      { type: "scatter", mode: "markers", name: "best", x: groups.best.x, y: groups.best.y,
        text: groups.best.text, hoverinfo: "text",
        marker: { size: 12, symbol: "star", color: BEST_COLOR, line: { color: "#333", width: 1 } } },
    ];
    // One legend entry for the three failed traces: on the first that has points.
    let legend = true;
    [[groups.failed, "x", "y"], [groups.failedY, "x", "y2"], [groups.failedX, "x2", "y"]].forEach(function (f) {
      const shown = legend && f[0].x.length > 0;
      if (shown) legend = false;
      traces.push({ type: "scatter", mode: "markers", name: "failed (" + nFailed + ")", legendgroup: "failed",
        showlegend: shown, xaxis: f[1], yaxis: f[2], x: f[0].x, y: f[0].y, text: f[0].text, hoverinfo: "text",
        marker: failedMarker });
    });
    const layout = {
      margin: { t: 20, r: 20, b: 50, l: 60 },
      hovermode: "closest",
      xaxis: axisLayout(experiment, xChoice),
      yaxis: axisLayout(experiment, yChoice),
      xaxis2: rugAxis("x"),
      yaxis2: rugAxis("y"),
      legend: { orientation: "h", y: -0.2 },
    };
    el.dataset.points = String(groups.done.x.length + groups.best.x.length);
    el.dataset.failed = String(nFailed);
    return Plotly.react(el, traces, layout, CONFIG);
  }

  function importance(el, experiment, found) {
    const params = experiment.parameters.map(function (p) { return p.name; });
    const traces = found.map(function (m) {
      return { type: "bar", orientation: "h", name: esc(m.metric === null ? "value" : m.metric),
        y: params.map(esc), x: params.map(function (p) { return m.importances[p] || 0; }),
        hovertemplate: "%{y}: %{x:.3f}<extra>%{fullData.name}</extra>" };
    });
    const layout = {
      margin: { t: 10, r: 20, b: 40, l: 120 },
      height: 80 + 28 * params.length * Math.max(1, traces.length),
      barmode: "group",
      xaxis: { title: { text: "importance" }, range: [0, 1] },
      yaxis: { autorange: "reversed", type: "category" },
      showlegend: traces.length > 1,
    };
    el.dataset.metrics = String(found.length);
    return Plotly.react(el, traces, layout, CONFIG);
  }

  function pareto(el, experiment, observations, bestIds) {
    const metrics = experiment.metrics.filter(function (m) { return m.strategy === "optimize"; });
    if (metrics.length !== 2) return;
    const a = metrics[0], b = metrics[1];
    const front = new Set(bestIds || []);
    const rest = { x: [], y: [], text: [] }, top = [];
    observations.forEach(function (o, i) {
      const x = o.values[a.label], y = o.values[b.label];
      if (o.failed || x === null || x === undefined || y === null || y === undefined) return;
      if (front.has(o.id)) top.push({ x: x, y: y, text: hoverText(experiment, o, i) });
      else { rest.x.push(x); rest.y.push(y); rest.text.push(hoverText(experiment, o, i)); }
    });
    top.sort(function (p, q) { return p.x - q.x; });
    const shapes = [], annotations = [];
    if (a.threshold !== null) {
      shapes.push({ type: "line", xref: "x", yref: "paper", x0: a.threshold, x1: a.threshold, y0: 0, y1: 1,
        line: { dash: "dash", color: "#888" } });
      annotations.push({ xref: "x", yref: "paper", x: a.threshold, y: 1, text: "threshold", showarrow: false,
        yanchor: "bottom" });
    }
    if (b.threshold !== null) {
      shapes.push({ type: "line", xref: "paper", yref: "y", x0: 0, x1: 1, y0: b.threshold, y1: b.threshold,
        line: { dash: "dash", color: "#888" } });
      annotations.push({ xref: "paper", yref: "y", x: 1, y: b.threshold, text: "threshold", showarrow: false,
        xanchor: "right", yanchor: "bottom" });
    }
    const traces = [
      { type: "scatter", mode: "markers", name: "observations", x: rest.x, y: rest.y, text: rest.text,
        hoverinfo: "text", marker: { size: 6, color: "#9aa5b1" } },
      { type: "scatter", mode: "lines+markers", name: "Pareto front", x: top.map(function (p) { return p.x; }),
        y: top.map(function (p) { return p.y; }), text: top.map(function (p) { return p.text; }),
        hoverinfo: "text", line: { shape: "hv", color: BEST_COLOR },
        marker: { size: 10, symbol: "star", color: BEST_COLOR, line: { color: "#333", width: 1 } } },
    ];
    const layout = {
      margin: { t: 30, r: 20, b: 50, l: 60 },
      hovermode: "closest",
      xaxis: { title: { text: esc(a.label) + " (" + a.objective + ")" } },
      yaxis: { title: { text: esc(b.label) + " (" + b.objective + ")" } },
      shapes: shapes,
      annotations: annotations,
      legend: { orientation: "h", y: -0.2 },
    };
    el.dataset.points = String(rest.x.length + top.length);
    el.dataset.front = String(top.length);
    return Plotly.react(el, traces, layout, CONFIG);
  }

  return { esc: esc, fmt: fmt, isoTime: isoTime, improvement: improvement, history: history,
    importance: importance, pareto: pareto };
})();
