// The analysis page: loads the history once, draws the charts, then asks every few
// seconds only for what is new (`history.json?after=<last id>`), appends it and redraws.
// The page's settings come from the JSON element `#page-data` (never from script text).
//
// The whole history comes in the page itself (`#history-data`, JSON). The script draws on
// the window's load event: Plotly is loaded `async` (while the page itself still streams
// in), so DOMContentLoaded may come before it.
"use strict";

(function () {
  const config = JSON.parse(document.getElementById("page-data").textContent);
  const experiment = config.experiment;
  let Charts = null;
  const state = { observations: [], best: [], lastId: 0, importanceAt: -1, busy: false };
  const $ = function (id) { return document.getElementById(id); };

  async function getJSON(url) {
    const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error(url + " answered " + response.status);
    return response.json();
  }

  function optimized() {
    return experiment.metrics.filter(function (m) { return m.strategy === "optimize"; });
  }

  function option(select, value, label) {
    const el = document.createElement("option");
    el.value = value;
    el.textContent = label;
    select.appendChild(el);
  }

  // Axis choices for the history chart: parameters, metrics, metadata keys, time.
  function fillAxisChoices() {
    const keys = new Set();
    state.observations.forEach(function (o) { Object.keys(o.metadata).forEach(function (k) { keys.add(k); }); });
    ["history-x", "history-y"].forEach(function (id) {
      const select = $(id), kept = select.value;
      select.textContent = "";
      option(select, "number", "observation number");
      option(select, "time", "time");
      (experiment.conditionals || []).forEach(function (c) { option(select, "param:" + c.name, "conditional " + c.name); });
      experiment.parameters.forEach(function (p) { option(select, "param:" + p.name, "parameter " + p.name); });
      experiment.metrics.forEach(function (m) { option(select, "value:" + m.label, "metric " + m.label); });
      Array.from(keys).sort().forEach(function (k) { option(select, "meta:" + k, "metadata " + k); });
      if (kept) select.value = kept;
    });
    if (!$("history-y").value || $("history-y").value === "number") {
      const first = optimized()[0] || experiment.metrics[0];
      if (first) $("history-y").value = "value:" + first.label;
    }
  }

  function fillMetricChoices() {
    const metrics = optimized().length ? optimized() : experiment.metrics;
    metrics.forEach(function (m) { option($("improvement-metric"), m.label, m.label); });
    experiment.metrics.forEach(function (m) { option($("parallel-color"), m.label, m.label); });
    if (metrics[0]) $("parallel-color").value = metrics[0].label;
  }

  function drawImprovement() {
    return Charts.improvement($("improvement-chart"), experiment, state.observations,
      $("improvement-metric").value, $("improvement-x").value);
  }
  function drawHistory() {
    return Charts.history($("history-chart"), experiment, state.observations, state.best,
      $("history-x").value, $("history-y").value);
  }
  function drawParallel() {
    window.ParallelCoordinates.draw($("parallel-chart"), experiment, state.observations, state.best,
      $("parallel-color").value);
  }
  function drawPareto() {
    return $("pareto-chart") ? Charts.pareto($("pareto-chart"), experiment, state.observations, state.best) : null;
  }

  function drawAll() {
    return Promise.all([drawImprovement(), drawHistory(), drawParallel(), drawPareto()]);
  }

  function completedCount() {
    const metric = optimized()[0];
    if (!metric) return 0;
    return state.observations.filter(function (o) {
      return !o.failed && o.values[metric.label] !== null && o.values[metric.label] !== undefined;
    }).length;
  }

  async function loadImportances() {
    const completed = completedCount();
    if (completed === state.importanceAt) return;
    state.importanceAt = completed;
    const status = $("importance-status");
    if (!optimized().length) { status.textContent = "No optimized metric: nothing to rank parameters by."; return; }
    if (completed < config.min_importance_observations) {
      status.textContent = "Parameter importance is shown once " + config.min_importance_observations +
        " completed observations exist (" + completed + " so far).";
      return;
    }
    const body = await getJSON(config.importances_url);
    status.textContent = body.data.length ? "PED-ANOVA: how much each parameter decides whether an observation " +
      "is among the best; from " + completed + " completed observations." : "Not enough completed observations yet.";
    if (body.data.length) await Charts.importance($("importance-chart"), experiment, body.data);
  }

  function updateStats(body) {
    const set = function (field, value) {
      document.querySelectorAll('[data-live="' + field + '"]').forEach(function (el) { el.textContent = value; });
    };
    set("observation_count", String(body.observation_count));
    set("open_suggestions", String(body.open_suggestions.length));
    set("failures", String(state.observations.filter(function (o) { return o.failed; }).length));
    const best = new Set(state.best);
    const front = state.observations.filter(function (o) { return best.has(o.id); });
    if (front.length) {
      set("best", optimized().map(function (m) {
        const values = front.map(function (o) { return o.values[m.label]; }).filter(function (v) { return typeof v === "number"; });
        const shown = values.length === 1 ? Charts.fmt(values[0]) :
          Charts.fmt(Math.min.apply(null, values)) + " … " + Charts.fmt(Math.max.apply(null, values));
        return m.label + ": " + shown;
      }).join("; ") + (front.length > 1 ? " (Pareto front of " + front.length + ")" : ""));
    }
  }

  function renderSuggestions(open) {
    const view = $("suggestions-view");
    view.textContent = "";
    if (!open.length) {
      const p = document.createElement("p");
      p.className = "muted";
      p.id = "suggestions-table";
      p.textContent = "No open suggestions: nothing is being evaluated now.";
      view.appendChild(p);
      return;
    }
    const table = document.createElement("table");
    table.className = "grid";
    table.id = "suggestions-table";
    const head = table.createTHead().insertRow();
    const tasks = (experiment.tasks || []).length ? ["task"] : [];
    const conditionals = (experiment.conditionals || []).map(function (c) { return c.name; });
    ["id", "created (UTC)"].concat(tasks, conditionals, experiment.parameters.map(function (p) { return p.name; }), ["metadata"])
      .forEach(function (title) { const th = document.createElement("th"); th.textContent = title; head.appendChild(th); });
    const body = table.createTBody();
    open.forEach(function (s) {
      const row = body.insertRow();
      row.dataset.id = String(s.id);
      const cells = [String(s.id), Charts.isoTime(s.created)].concat(
        tasks.length ? [Charts.fmt(s.task)] : [],
        conditionals.map(function (c) { return Charts.fmt(s.assignments[c]); }),
        experiment.parameters.map(function (p) { return Charts.fmt(s.assignments[p.name]); }),
        [Object.keys(s.metadata).map(function (k) { return k + "=" + Charts.fmt(s.metadata[k]); }).join("  ")]);
      cells.forEach(function (value) { row.insertCell().textContent = value; });
    });
    const scroll = document.createElement("div");
    scroll.className = "scroll";
    scroll.appendChild(table);
    view.appendChild(scroll);
  }

  // The server renders the table (sorted, filtered, one page); swap in its new version,
  // unless the reader is typing in the table's filter form.
  async function refreshTable() {
    const view = $("observations-view");
    if (view.contains(document.activeElement)) return;
    const response = await fetch(config.table_url + window.location.search, { credentials: "same-origin" });
    if (response.ok) view.innerHTML = await response.text();
  }

  function apply(body) {
    if (body.complete) state.observations = body.observations;
    else state.observations = state.observations.concat(body.observations);
    if (body.best !== null) state.best = body.best;
    state.lastId = state.observations.reduce(function (m, o) { return Math.max(m, o.id); }, body.complete ? 0 : state.lastId);
    updateStats(body);
    renderSuggestions(body.open_suggestions);
  }

  async function poll() {
    try {
      const body = await getJSON(config.history_url + "?after=" + state.lastId);
      const changed = body.observations.length > 0;
      apply(body);
      if (state.observations.length !== body.observation_count) {
        // Something was deleted or moved: read the whole history again.
        apply(await getJSON(config.history_url));
      }
      if (changed || state.observations.length !== body.observation_count) {
        fillAxisChoices();
        await Promise.all([drawAll(), refreshTable(), loadImportances()]);
      }
      $("live-status").textContent = "live: updated " + new Date().toLocaleTimeString();
    } catch (err) {
      $("live-status").textContent = "live updates paused: " + err.message;
    } finally {
      window.setTimeout(poll, config.live_interval_ms);
    }
  }

  async function start() {
    Charts = window.AnalysisCharts;
    fillMetricChoices();
    apply(JSON.parse(document.getElementById("history-data").textContent));
    fillAxisChoices();
    ["improvement-metric", "improvement-x"].forEach(function (id) { $(id).addEventListener("change", drawImprovement); });
    ["history-x", "history-y"].forEach(function (id) { $(id).addEventListener("change", drawHistory); });
    $("parallel-color").addEventListener("change", drawParallel);
    performance.mark("draw-start");
    await drawAll();
    performance.mark("charts-ready");
    document.body.dataset.chartsReady = "true";
    try {
      await loadImportances();
    } catch (err) {
      // The importances are one section: the page still keeps itself current.
      $("importance-status").textContent = "Parameter importance could not be read: " + err.message;
      state.importanceAt = -1; // asked again with the next new observation
    }
    document.body.dataset.importancesReady = "true";
    window.setTimeout(poll, config.live_interval_ms);
  }

  window.addEventListener("load", function () {
    start().catch(function (err) {
      $("live-status").textContent = "charts failed: " + err.message;
      throw err;
    });
  });
})();
