// Parallel coordinates drawn as plain SVG (no WebGL, unlike Plotly's `parcoords`): one
// vertical axis per parameter and metric, a log scale for log-transformed parameters,
// evenly spaced categories for categorical ones, a line per observation.
//
// Lines are grouped by colour into a few <path> elements (one per colour band, the failed
// ones and the best ones), so ten thousand observations cost a handful of DOM nodes.
// Every label is set with textContent: user-written names are never parsed as markup.
"use strict";

window.ParallelCoordinates = (function () {
  const SVG = "http://www.w3.org/2000/svg";
  // Viridis, low to high.
  const BANDS = ["#440154", "#46327e", "#365c8d", "#277f8e", "#1fa187", "#4ac16d", "#a0da39", "#fde725"];
  const HEIGHT = 380, TOP = 36, BOTTOM = 24, SIDE = 60;

  function node(name, attrs, parent) {
    const el = document.createElementNS(SVG, name);
    Object.keys(attrs).forEach(function (k) { el.setAttribute(k, attrs[k]); });
    if (parent) parent.appendChild(el);
    return el;
  }

  function text(parent, x, y, content, attrs) {
    const el = node("text", Object.assign({ x: x, y: y }, attrs || {}), parent);
    el.textContent = content;
    return el;
  }

  // An axis: which observations' value it reads, and a scale from value to [0, 1].
  // Conditionals and a multitask experiment's task are categorical axes; a parameter
  // inactive in an observation has no value there, and its line skips that axis.
  function axes(experiment, observations) {
    const out = [];
    (experiment.conditionals || []).forEach(function (c) {
      const axis = { name: c.name, type: "categorical", categories: c.values, log: false, min: null, max: null };
      out.push(makeAxis(c.name, function (o) { return o.assignments[c.name]; }, observations, axis));
    });
    if ((experiment.tasks || []).length) {
      const names = experiment.tasks.map(function (t) { return t.name; });
      const axis = { name: "task", type: "categorical", categories: names, log: false, min: null, max: null };
      out.push(makeAxis("task", function (o) { return o.task; }, observations, axis));
    }
    experiment.parameters.forEach(function (p) {
      out.push(makeAxis(p.name, function (o) { return o.assignments[p.name]; }, observations, p));
    });
    experiment.metrics.forEach(function (m) {
      out.push(makeAxis(m.label, function (o) { return o.values[m.label]; }, observations, null));
    });
    return out;
  }

  function makeAxis(title, read, observations, parameter) {
    const values = [];
    observations.forEach(function (o) {
      const v = read(o);
      if (v !== null && v !== undefined) values.push(v);
    });
    const categorical = values.some(function (v) { return typeof v === "string"; }) ||
      (parameter !== null && parameter.type === "categorical");
    if (categorical) {
      const cats = parameter && parameter.categories ? parameter.categories.slice() : [];
      values.forEach(function (v) { if (cats.indexOf(String(v)) < 0) cats.push(String(v)); });
      const step = cats.length > 1 ? 1 / (cats.length - 1) : 0;
      return { title: title, read: read, kind: "category", ticks: cats.map(function (c, i) {
        return [c, cats.length > 1 ? i * step : 0.5];
      }), scale: function (v) {
        const i = cats.indexOf(String(v));
        return cats.length > 1 ? i * step : 0.5;
      } };
    }
    const log = parameter !== null && parameter.log;
    let lo = parameter && parameter.min !== null ? parameter.min : Infinity;
    let hi = parameter && parameter.max !== null ? parameter.max : -Infinity;
    values.forEach(function (v) { if (v < lo) lo = v; if (v > hi) hi = v; });
    if (!isFinite(lo) || !isFinite(hi)) { lo = 0; hi = 1; }
    const f = log && lo > 0 ? Math.log10 : function (v) { return v; };
    const a = f(lo), b = f(hi), span = b - a || 1;
    return { title: title, read: read, kind: log ? "log" : "linear", lo: lo, hi: hi,
      ticks: [[lo, 0], [log ? Math.sqrt(lo * hi) : (lo + hi) / 2, 0.5], [hi, 1]],
      scale: function (v) { return (f(v) - a) / span; } };
  }

  function draw(el, experiment, observations, bestIds, colorLabel) {
    const width = Math.max(480, el.clientWidth || 900);
    const list = axes(experiment, observations);
    el.textContent = "";
    const svg = node("svg", { class: "parallel", width: width, height: HEIGHT, role: "img",
      "aria-label": "parallel coordinates" }, el);
    const gap = list.length > 1 ? (width - 2 * SIDE) / (list.length - 1) : 0;
    const xOf = function (i) { return SIDE + i * gap; };
    const yOf = function (t) { return TOP + (1 - t) * (HEIGHT - TOP - BOTTOM); };
    const colorAxis = list.find(function (a) { return a.title === colorLabel && a.kind !== "category"; });
    const best = new Set(bestIds || []);
    const paths = BANDS.map(function () { return []; });
    const failed = [], top = [];
    observations.forEach(function (o) {
      let d = "", pen = "M";
      list.forEach(function (axis, i) {
        const v = axis.read(o);
        if (v === null || v === undefined) { pen = "M"; return; }
        d += pen + xOf(i).toFixed(1) + "," + yOf(axis.scale(v)).toFixed(1);
        pen = "L";
      });
      if (!d) return;
      if (o.failed) { failed.push(d); return; }
      if (best.has(o.id)) top.push(d);
      const c = colorAxis ? colorAxis.read(o) : null;
      const t = c === null || c === undefined ? 0 : Math.min(1, Math.max(0, colorAxis.scale(c)));
      paths[Math.min(BANDS.length - 1, Math.floor(t * BANDS.length))].push(d);
    });
    const lines = node("g", { class: "lines", fill: "none" }, svg);
    paths.forEach(function (ds, i) {
      if (ds.length) node("path", { d: ds.join(""), stroke: BANDS[i], "stroke-opacity": 0.45, "stroke-width": 1 }, lines);
    });
    if (failed.length) {
      node("path", { class: "failed", d: failed.join(""), stroke: "#c0392b", "stroke-dasharray": "3,3",
        "stroke-opacity": 0.6, "stroke-width": 1 }, lines);
    }
    if (top.length) {
      node("path", { class: "best", d: top.join(""), stroke: "#f0a500", "stroke-width": 3 }, lines);
    }
    list.forEach(function (axis, i) {
      const g = node("g", { class: "axis" }, svg);
      node("line", { x1: xOf(i), x2: xOf(i), y1: yOf(0), y2: yOf(1) }, g);
      text(g, xOf(i), TOP - 18, axis.title + (axis.kind === "log" ? " (log)" : ""),
        { class: "title", "text-anchor": "middle" });
      axis.ticks.forEach(function (tick) {
        const label = typeof tick[0] === "number" ? String(parseFloat(tick[0].toPrecision(3))) : tick[0];
        node("line", { x1: xOf(i) - 3, x2: xOf(i) + 3, y1: yOf(tick[1]), y2: yOf(tick[1]) }, g);
        text(g, xOf(i) + 5, yOf(tick[1]) + 4, label);
      });
    });
    el.dataset.lines = String(observations.length - failed.length);
    el.dataset.failed = String(failed.length);
    el.dataset.axes = String(list.length);
  }

  return { draw: draw };
})();
