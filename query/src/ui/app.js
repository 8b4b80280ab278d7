// Sluice's expression browser: a PromQL box with completion, a table and a
// graph tab, and the alerts and targets pages. Plain JS, no dependencies;
// it talks only to the Prometheus HTTP API of the server that served it
// (relative URLs, so it also works behind a path prefix).
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const SVG_NS = "http://www.w3.org/2000/svg";

  // ---- DOM helpers (text goes through textContent, never innerHTML) ----

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "text") e.textContent = v;
      else if (k === "class") e.className = v;
      else e.setAttribute(k, v);
    }
    for (const c of children) if (c != null) e.append(c);
    return e;
  }

  function svg(tag, attrs) {
    const e = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "text") e.textContent = v;
      else e.setAttribute(k, v);
    }
    return e;
  }

  // ---- The API ----

  class ApiError extends Error {
    constructor(type, message) {
      super(message);
      this.type = type;
    }
  }

  // GET (or form POST with `post`) `api/v1/<path>`; resolves to the parsed
  // `{"status":"success"}` body, rejects with the Prometheus error.
  async function api(path, params, post) {
    const body = new URLSearchParams();
    for (const [k, v] of Object.entries(params || {})) {
      for (const x of Array.isArray(v) ? v : [v]) body.append(k, x);
    }
    let r;
    try {
      r = post
        ? await fetch("api/v1/" + path, {
            method: "POST",
            headers: { "Content-Type": "application/x-www-form-urlencoded" },
            body: body,
          })
        : await fetch("api/v1/" + path + (body.toString() ? "?" + body : ""));
    } catch (e) {
      throw new ApiError("network", "cannot reach the server: " + e.message);
    }
    const text = await r.text();
    let j;
    try {
      j = JSON.parse(text);
    } catch (e) {
      throw new ApiError("HTTP " + r.status, text.slice(0, 500) || r.statusText);
    }
    if (j.status !== "success") {
      throw new ApiError(j.errorType || "HTTP " + r.status, j.error || text.slice(0, 500));
    }
    return j;
  }

  // ---- Durations and times (seconds; times shown in UTC) ----

  const UNITS = { y: 31536000, w: 604800, d: 86400, h: 3600, m: 60, s: 1, ms: 0.001 };

  function parseDuration(s) {
    s = s.trim();
    if (/^\d+(\.\d+)?$/.test(s)) return parseFloat(s);
    if (!/^(\d+(ms|s|m|h|d|w|y))+$/.test(s)) return null;
    let total = 0;
    for (const m of s.matchAll(/(\d+)(ms|s|m|h|d|w|y)/g)) total += parseInt(m[1], 10) * UNITS[m[2]];
    return total > 0 ? total : null;
  }

  function formatDuration(sec) {
    if (sec <= 0) return "0s";
    let out = "";
    for (const [u, n] of Object.entries(UNITS)) {
      if (u === "ms") {
        const ms = Math.round(sec * 1000);
        if (ms > 0) out += ms + "ms";
        break;
      }
      const k = Math.floor(sec / n + 1e-9);
      if (k > 0) {
        out += k + u;
        sec -= k * n;
      }
    }
    return out;
  }

  // Empty: now (null). Unix seconds, or a UTC date "YYYY-MM-DD[ HH:MM[:SS]]",
  // or RFC 3339. Returns seconds or throws.
  function parseTime(s) {
    s = s.trim();
    if (!s) return null;
    if (/^\d+(\.\d+)?$/.test(s)) return parseFloat(s);
    let iso = s.replace(" ", "T");
    if (/^\d{4}-\d\d-\d\d$/.test(iso)) iso += "T00:00:00";
    if (!/(Z|[+-]\d\d:?\d\d)$/.test(iso)) iso += "Z";
    const ms = Date.parse(iso);
    if (isNaN(ms)) throw new ApiError("input", "cannot parse time " + JSON.stringify(s) + " (use YYYY-MM-DD HH:MM:SS in UTC, or Unix seconds)");
    return ms / 1000;
  }

  function formatTime(sec) {
    return new Date(sec * 1000).toISOString().replace("T", " ").replace(/\.\d+Z$/, "");
  }

  // ---- Series names and values ----

  function seriesName(metric) {
    const name = metric.__name__ || "";
    const labels = Object.keys(metric)
      .filter((k) => k !== "__name__")
      .sort()
      .map((k) => k + "=" + JSON.stringify(metric[k]));
    return labels.length || !name ? name + "{" + labels.join(", ") + "}" : name;
  }

  function parseValue(v) {
    if (v === "+Inf") return Infinity;
    if (v === "-Inf") return -Infinity;
    return parseFloat(v);
  }

  // ---- PromQL completion ----

  const FUNCTIONS = ["abs", "absent", "absent_over_time", "acos", "acosh", "asin", "asinh", "atan", "atanh",
    "avg_over_time", "ceil", "changes", "clamp", "clamp_max", "clamp_min", "cos", "cosh", "count_over_time",
    "day_of_month", "day_of_week", "day_of_year", "days_in_month", "deg", "delta", "deriv",
    "double_exponential_smoothing", "exp", "floor", "histogram_avg", "histogram_count", "histogram_fraction",
    "histogram_quantile", "histogram_stddev", "histogram_stdvar", "histogram_sum", "hour", "idelta", "increase",
    "irate", "label_join", "label_replace", "last_over_time", "ln", "log10", "log2", "mad_over_time",
    "max_over_time", "min_over_time", "minute", "month", "pi", "predict_linear", "present_over_time",
    "quantile_over_time", "rad", "rate", "resets", "round", "scalar", "sgn", "sin", "sinh", "sort",
    "sort_by_label", "sort_by_label_desc", "sort_desc", "sqrt", "stddev_over_time", "stdvar_over_time",
    "sum_over_time", "tan", "tanh", "time", "timestamp", "vector", "year"];
  const AGGREGATIONS = ["avg", "bottomk", "count", "count_values", "group", "limit_ratio", "limitk", "max",
    "min", "quantile", "stddev", "stdvar", "sum", "topk"];
  const KEYWORDS = ["and", "atan2", "bool", "by", "group_left", "group_right", "ignoring", "offset", "on",
    "or", "unless", "without"];
  const LABEL_LIST = /\b(by|without|on|ignoring|group_left|group_right)\s*$/;
  const WORD = /[a-zA-Z_:][a-zA-Z0-9_:]*$/;

  // What to complete at `pos` in `text`: {kind: "metric"|"label"|"value",
  // prefix, metric?, label?, quote?, from} or null. `from` is where the
  // replaced prefix starts.
  function completionContext(text, pos) {
    const before = text.slice(0, pos);
    let quote = null;
    let brace = -1;
    let bracket = false;
    const parens = [];
    for (let i = 0; i < before.length; i++) {
      const c = before[i];
      if (quote) {
        if (c === "\\" && quote !== "`") i++;
        else if (c === quote) quote = null;
        continue;
      }
      if (c === '"' || c === "'" || c === "`") quote = c;
      else if (c === "{") brace = i;
      else if (c === "}") brace = -1;
      else if (c === "[") bracket = true;
      else if (c === "]") bracket = false;
      else if (c === "(") parens.push(LABEL_LIST.test(before.slice(0, i)));
      else if (c === ")") parens.pop();
      else if (c === "#") return null;
    }
    if (bracket) return null;
    const metricAt = (i) => {
      const m = /([a-zA-Z_:][a-zA-Z0-9_:]*)\s*$/.exec(before.slice(0, i));
      return m && !FUNCTIONS.includes(m[1]) && !AGGREGATIONS.includes(m[1]) ? m[1] : null;
    };
    if (quote) {
      if (brace < 0) return null;
      const m = /([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*(["'`])([^"'`]*)$/.exec(before);
      if (!m) return null;
      return { kind: "value", label: m[1], prefix: m[4], quote: m[3], metric: metricAt(brace), from: pos - m[4].length };
    }
    const w = WORD.exec(before);
    const prefix = w ? w[0] : "";
    const from = pos - prefix.length;
    if (from > 0 && /[0-9.]/.test(before[from - 1])) return null; // a duration or number: 5m, 1e3
    if (brace >= 0) {
      // A label name starts after `{` or `,` only.
      if (!/[{,]\s*$/.test(before.slice(0, from))) return null;
      return { kind: "label", prefix, metric: metricAt(brace), from };
    }
    if (parens.length && parens[parens.length - 1]) {
      if (!/[(,]\s*$/.test(before.slice(0, from))) return null;
      return { kind: "label", prefix, metric: null, from };
    }
    if (!prefix) return null;
    return { kind: "metric", prefix, from };
  }

  // Candidates matching `prefix`: prefix matches first, then (for two
  // characters or more) substring matches.
  function rank(items, prefix, limit) {
    const p = prefix.toLowerCase();
    const starts = [];
    const contains = [];
    for (const it of items) {
      const t = it.text.toLowerCase();
      if (t === p) continue;
      if (t.startsWith(p)) starts.push(it);
      else if (p.length > 1 && t.includes(p)) contains.push(it);
    }
    return starts.concat(contains).slice(0, limit);
  }

  const cache = { metrics: null, labels: new Map(), values: new Map() };

  async function loadMetricNames() {
    if (!cache.metrics) cache.metrics = api("label/__name__/values").then((j) => j.data).catch(() => []);
    return cache.metrics;
  }

  async function loadLabelNames(metric) {
    const key = metric || "";
    if (!cache.labels.has(key)) {
      const params = metric ? { "match[]": metric } : {};
      cache.labels.set(key, api("labels", params).then((j) => j.data.filter((l) => l !== "__name__")).catch(() => []));
    }
    return cache.labels.get(key);
  }

  async function loadLabelValues(label, metric) {
    const key = label + "\u0000" + (metric || "");
    if (!cache.values.has(key)) {
      const params = metric ? { "match[]": metric } : {};
      cache.values.set(key, api("label/" + encodeURIComponent(label) + "/values", params).then((j) => j.data).catch(() => []));
    }
    return cache.values.get(key);
  }

  async function candidates(ctx) {
    if (ctx.kind === "value") {
      const vals = await loadLabelValues(ctx.label, ctx.metric);
      return rank(vals.map((v) => ({ text: v, kind: "label value" })), ctx.prefix, 50);
    }
    if (ctx.kind === "label") {
      const names = await loadLabelNames(ctx.metric);
      return rank(names.map((n) => ({ text: n, kind: "label" })), ctx.prefix, 50);
    }
    const metrics = (await loadMetricNames()).map((m) => ({ text: m, kind: "metric" }));
    const words = AGGREGATIONS.map((a) => ({ text: a, kind: "aggregation" }))
      .concat(FUNCTIONS.map((f) => ({ text: f, kind: "function" })))
      .concat(KEYWORDS.map((k) => ({ text: k, kind: "keyword" })));
    return rank(words.concat(metrics), ctx.prefix, 50);
  }

  const completion = { items: [], active: 0, ctx: null, seq: 0 };

  async function updateCompletions() {
    const input = $("expr");
    const seq = ++completion.seq;
    const ctx = completionContext(input.value, input.selectionEnd);
    const items = ctx ? await candidates(ctx) : [];
    if (seq !== completion.seq) return; // the text changed meanwhile
    completion.items = items;
    completion.active = 0;
    completion.ctx = ctx;
    renderCompletions();
  }

  function renderCompletions() {
    const list = $("completions");
    list.replaceChildren();
    completion.items.forEach((it, i) => {
      const li = el("li", { role: "option", "data-kind": it.kind, class: i === completion.active ? "active" : "" },
        el("span", { class: "text", text: it.text }), el("span", { class: "kind", text: it.kind }));
      li.addEventListener("mousedown", (e) => {
        e.preventDefault();
        accept(i);
      });
      list.append(li);
    });
    list.hidden = completion.items.length === 0;
    if (completion.ctx) list.dataset.context = completion.ctx.kind;
    const act = list.children[completion.active];
    if (act) act.scrollIntoView({ block: "nearest" });
  }

  function closeCompletions() {
    completion.seq++;
    completion.items = [];
    renderCompletions();
  }

  function accept(i) {
    const it = completion.items[i];
    const ctx = completion.ctx;
    if (!it || !ctx) return;
    const input = $("expr");
    const pos = input.selectionEnd;
    const after = input.value.slice(pos);
    let insert = it.text;
    if (it.kind === "function" || it.kind === "aggregation") insert += after.startsWith("(") ? "" : "(";
    if (it.kind === "label value" && !after.startsWith(ctx.quote)) insert += ctx.quote;
    input.value = input.value.slice(0, ctx.from) + insert + after;
    const caret = ctx.from + insert.length;
    input.setSelectionRange(caret, caret);
    closeCompletions();
    autosize();
  }

  function autosize() {
    const input = $("expr");
    input.rows = Math.min(10, input.value.split("\n").length);
  }

  // ---- Page state, from and to Prometheus-style URL parameters ----

  const RANGE_STEPS = ["1m", "5m", "15m", "30m", "1h", "2h", "6h", "12h", "1d", "2d", "1w", "2w", "4w", "8w", "26w", "1y"]
    .map(parseDuration);

  const state = { tab: "table", seq: 0 };

  function readURL() {
    const q = new URLSearchParams(location.search);
    $("expr").value = q.get("g0.expr") || "";
    const tab = q.get("g0.tab");
    state.tab = tab === "0" || tab === "graph" ? "graph" : "table";
    if (q.get("g0.range_input")) $("range").value = q.get("g0.range_input");
    $("end").value = q.get("g0.end_input") || "";
    $("moment").value = q.get("g0.moment_input") || "";
    $("step").value = q.get("g0.step_input") || "";
    autosize();
    return q;
  }

  function writeURL() {
    const q = new URLSearchParams();
    q.set("g0.expr", $("expr").value);
    q.set("g0.tab", state.tab === "graph" ? "0" : "1");
    if (state.tab === "graph") {
      q.set("g0.range_input", $("range").value.trim());
      if ($("end").value.trim()) q.set("g0.end_input", $("end").value.trim());
      if ($("step").value.trim()) q.set("g0.step_input", $("step").value.trim());
    } else if ($("moment").value.trim()) {
      q.set("g0.moment_input", $("moment").value.trim());
    }
    history.replaceState(null, "", location.pathname + "?" + q.toString());
  }

  function showTab() {
    for (const t of ["table", "graph"]) {
      $("tab-" + t).classList.toggle("active", state.tab === t);
      $("tab-" + t).setAttribute("aria-selected", String(state.tab === t));
      $("panel-" + t).hidden = state.tab !== t;
    }
  }

  function showError(box, e) {
    box.replaceChildren(el("strong", { text: e.type === "input" ? "Invalid input: " : "Error executing query: " }),
      el("span", { class: "message", text: e.message }));
    if (e.type !== "input") box.append(el("span", { class: "type", text: " (" + e.type + ")" }));
    box.hidden = false;
  }

  function showWarnings(j) {
    const msgs = (j.warnings || []).concat(j.infos || []);
    const box = $("warnings");
    box.replaceChildren(...msgs.map((m) => el("div", { text: m })));
    box.hidden = msgs.length === 0;
  }

  // ---- Running a query ----

  async function run() {
    const expr = $("expr").value.trim();
    const seq = ++state.seq;
    $("error").hidden = true;
    $("warnings").hidden = true;
    closeCompletions();
    writeURL();
    if (!expr) return;
    document.body.dataset.status = "loading";
    const t0 = performance.now();
    try {
      if (state.tab === "graph") {
        const range = parseDuration($("range").value);
        if (!range) throw new ApiError("input", "invalid range " + JSON.stringify($("range").value));
        const end = parseTime($("end").value) ?? Date.now() / 1000;
        const start = end - range;
        let step = $("step").value.trim() ? parseDuration($("step").value) : Math.max(Math.floor(range / 250), 1);
        if (!step) throw new ApiError("input", "invalid step " + JSON.stringify($("step").value));
        const j = await api("query_range", { query: expr, start: String(start), end: String(end), step: String(step) }, true);
        if (seq !== state.seq) return;
        drawChart(j.data.result, start, end, step);
        setStats(t0, "Resolution: " + formatDuration(step), j.data.result.length);
        showWarnings(j);
      } else {
        const time = parseTime($("moment").value);
        const params = { query: expr };
        if (time != null) params.time = String(time);
        const j = await api("query", params, true);
        if (seq !== state.seq) return;
        drawTable(j.data);
        const n = Array.isArray(j.data.result) ? j.data.result.length : 1;
        setStats(t0, null, n);
        showWarnings(j);
      }
      document.body.dataset.status = "ok";
    } catch (e) {
      if (seq !== state.seq) return;
      if (!(e instanceof ApiError)) e = new ApiError("internal", String(e));
      $("chart").replaceChildren();
      $("legend").replaceChildren();
      $("result-table").tBodies[0].replaceChildren();
      $("stats").textContent = "";
      showError($("error"), e);
      document.body.dataset.status = "error";
    }
  }

  function setStats(t0, extra, series) {
    const parts = ["Load time: " + Math.round(performance.now() - t0) + "ms"];
    if (extra) parts.push(extra);
    parts.push("Result series: " + series);
    $("stats").textContent = parts.join(" \u00b7 ");
  }

  // ---- Table ----

  const MAX_ROWS = 10000;

  function drawTable(data) {
    const body = $("result-table").tBodies[0];
    const rows = [];
    const r = data.result;
    if (data.resultType === "vector") {
      for (const s of r) rows.push([seriesName(s.metric), s.value[1]]);
    } else if (data.resultType === "matrix") {
      for (const s of r) rows.push([seriesName(s.metric), s.values.map((v) => v[1] + " @" + v[0]).join("\n")]);
    } else {
      rows.push([data.resultType, r[1]]);
    }
    body.replaceChildren();
    if (rows.length === 0) {
      body.append(el("tr", {}, el("td", { colspan: "2", class: "empty", text: "Empty query result" })));
      return;
    }
    for (const [name, value] of rows.slice(0, MAX_ROWS)) {
      body.append(el("tr", {}, el("td", { class: "series", text: name }), el("td", { class: "value", text: value })));
    }
    if (rows.length > MAX_ROWS) {
      body.append(el("tr", {}, el("td", { colspan: "2", class: "empty", text: "Showing the first " + MAX_ROWS + " of " + rows.length + " series" })));
    }
  }

  // ---- Graph: an inline SVG ----

  const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173"];

  function niceStep(raw) {
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const f = raw / mag;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10) * mag;
  }

  // Decimals that show multiples of `x` exactly (at most 6).
  function decimals(x) {
    for (let d = 0; d < 6; d++) {
      const y = x * Math.pow(10, d);
      if (Math.abs(y - Math.round(y)) < 1e-6 * Math.max(1, y)) return d;
    }
    return 6;
  }

  // A tick label: `v` with SI suffixes, as precise as the tick spacing.
  function formatNumber(v, step) {
    const a = Math.abs(v);
    if (a >= 1e15 || (a > 0 && a < 1e-3)) return v.toExponential(2);
    for (const [n, u] of [[1e12, "T"], [1e9, "G"], [1e6, "M"], [1e3, "k"]]) {
      if (a >= n) return +(v / n).toFixed(decimals(step / n)) + u;
    }
    return +v.toFixed(decimals(step)) + "";
  }

  const TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200,
    86400, 172800, 604800, 1209600, 2592000, 7776000, 31536000];

  function timeLabel(t, interval) {
    const iso = new Date(t * 1000).toISOString();
    if (interval >= 86400) return iso.slice(5, 10);
    if (interval < 60) return iso.slice(11, 19);
    return iso.slice(11, 16);
  }

  function drawChart(result, start, end, step) {
    const box = $("chart");
    const legend = $("legend");
    box.replaceChildren();
    legend.replaceChildren();
    const series = result.map((s, i) => ({
      name: seriesName(s.metric),
      color: PALETTE[i % PALETTE.length],
      points: s.values.map(([t, v]) => [t, parseValue(v)]),
    }));
    let lo = Infinity;
    let hi = -Infinity;
    for (const s of series) {
      for (const [, v] of s.points) {
        if (isFinite(v)) {
          lo = Math.min(lo, v);
          hi = Math.max(hi, v);
        }
      }
    }
    box.dataset.series = String(series.length);
    if (lo === Infinity) {
      box.append(el("p", { class: "empty", text: "No data points in this range." }));
      return;
    }
    if (lo === hi) {
      const pad = Math.abs(lo) * 0.1 || 1;
      lo -= pad;
      hi += pad;
    }
    const yStep = niceStep((hi - lo) / 6);
    const y0 = Math.floor(lo / yStep) * yStep;
    const y1 = Math.ceil(hi / yStep) * yStep;

    const W = Math.max(400, box.clientWidth || 1000);
    const H = 380;
    const M = { left: 70, right: 16, top: 12, bottom: 28 };
    const pw = W - M.left - M.right;
    const ph = H - M.top - M.bottom;
    const X = (t) => M.left + ((t - start) / (end - start)) * pw;
    const Y = (v) => M.top + ph - ((v - y0) / (y1 - y0)) * ph;

    const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, class: "graph", role: "img",
      "aria-label": "Graph of " + series.length + " series" });
    const grid = svg("g", { class: "grid" });
    for (let v = y0, k = 0; v <= y1 + yStep / 2 && k < 50; v += yStep, k++) {
      grid.append(svg("line", { x1: M.left, x2: W - M.right, y1: Y(v), y2: Y(v) }));
      grid.append(svg("text", { x: M.left - 6, y: Y(v) + 4, "text-anchor": "end", text: formatNumber(v, yStep) }));
    }
    const interval = TIME_STEPS.find((s) => (end - start) / s <= 8) || TIME_STEPS[TIME_STEPS.length - 1];
    for (let t = Math.ceil(start / interval) * interval; t <= end; t += interval) {
      grid.append(svg("line", { x1: X(t), x2: X(t), y1: M.top, y2: M.top + ph }));
      grid.append(svg("text", { x: X(t), y: H - 8, "text-anchor": "middle", text: timeLabel(t, interval) }));
    }
    root.append(grid);

    const lines = svg("g", { class: "lines" });
    series.forEach((s, i) => {
      let d = "";
      let prev = null;
      const dots = [];
      let run = 0;
      for (const [t, v] of s.points) {
        if (!isFinite(v)) {
          prev = null;
          continue;
        }
        const gap = prev == null || t - prev > step * 1.5;
        if (gap && run === 1) dots.push(d.slice(d.lastIndexOf("M")));
        run = gap ? 1 : run + 1;
        d += (gap ? "M" : "L") + X(t).toFixed(1) + "," + Y(v).toFixed(1);
        prev = t;
      }
      const g = svg("g", { class: "series", "data-index": i });
      g.append(svg("path", { d: d, stroke: s.color, fill: "none", "stroke-width": 1.5, "data-series": s.name }));
      if (run === 1) dots.push(d.slice(d.lastIndexOf("M")));
      for (const m of dots) {
        const [x, y] = m.slice(1).split(",").map(Number);
        g.append(svg("circle", { cx: x, cy: y, r: 2, fill: s.color }));
      }
      lines.append(g);
      const item = el("li", { "data-series": s.name, title: "Click to show only this series; click again to show all" },
        el("span", { class: "swatch", style: "background:" + s.color }), el("span", { text: s.name }));
      item.addEventListener("click", () => toggleOnly(i));
      legend.append(item);
    });
    root.append(lines);

    const cursor = svg("line", { class: "cursor", y1: M.top, y2: M.top + ph, visibility: "hidden" });
    root.append(cursor);
    box.append(root);
    const tip = el("div", { class: "tooltip", hidden: "" });
    box.append(tip);
    root.addEventListener("mouseleave", () => {
      cursor.setAttribute("visibility", "hidden");
      tip.hidden = true;
    });
    root.addEventListener("mousemove", (ev) => {
      const rect = root.getBoundingClientRect();
      const x = ((ev.clientX - rect.left) / rect.width) * W;
      if (x < M.left || x > W - M.right) return;
      const t = start + Math.round(((x - M.left) / pw) * (end - start) / step) * step;
      cursor.setAttribute("x1", X(t));
      cursor.setAttribute("x2", X(t));
      cursor.setAttribute("visibility", "visible");
      const rows = [];
      series.forEach((s, i) => {
        if (lines.children[i].classList.contains("off")) return;
        const p = s.points.find((q) => Math.abs(q[0] - t) < step / 2);
        if (p) rows.push([s, p[1]]);
      });
      rows.sort((a, b) => b[1] - a[1]);
      tip.replaceChildren(el("div", { class: "time", text: formatTime(t) + " UTC" }),
        ...rows.slice(0, 12).map(([s, v]) => el("div", {}, el("span", { class: "swatch", style: "background:" + s.color }),
          el("span", { text: s.name + ": " + v }))));
      tip.hidden = false;
      tip.style.left = Math.min(ev.clientX - rect.left + 12, rect.width - 320) + "px";
      tip.style.top = ev.clientY - rect.top + 12 + "px";
    });
  }

  function toggleOnly(i) {
    const groups = Array.from($("chart").querySelectorAll("g.series"));
    const items = Array.from($("legend").children);
    const only = !groups[i].classList.contains("off") && groups.some((g, k) => k !== i && !g.classList.contains("off"));
    groups.forEach((g, k) => g.classList.toggle("off", only && k !== i));
    items.forEach((li, k) => li.classList.toggle("off", only && k !== i));
  }

  // ---- Alerts and targets ----

  function since(rfc3339) {
    const t = Date.parse(rfc3339);
    if (isNaN(t) || t <= 0) return "never";
    const s = (Date.now() - t) / 1000;
    return formatTime(t / 1000) + " UTC" + (s >= 0 ? " (" + formatDuration(Math.round(s)) + " ago)" : "");
  }

  function labelChips(labels) {
    return el("span", { class: "labels" }, ...Object.keys(labels || {}).sort().map((k) =>
      el("span", { class: "label", text: k + "=" + labels[k] })));
  }

  function graphLink(expr) {
    const q = new URLSearchParams({ "g0.expr": expr, "g0.tab": "1" });
    return el("a", { href: "graph?" + q, class: "expr", text: expr });
  }

  async function showAlerts() {
    const out = $("alerts");
    try {
      const [rules, alerts] = await Promise.all([api("rules", { type: "alert" }), api("alerts")]);
      out.replaceChildren();
      const groups = rules.data.groups || [];
      for (const g of groups) {
        out.append(el("h2", { text: g.name + (g.file ? " (" + g.file + ")" : "") }));
        for (const r of g.rules) {
          const d = el("details", { class: "rule state-" + r.state });
          d.append(el("summary", {}, el("span", { class: "badge", text: r.state }),
            el("span", { text: r.name + " (" + r.alerts.length + " active)" })));
          d.append(el("div", {}, el("span", { text: "expr: " }), graphLink(r.query)));
          if (r.lastError) d.append(el("div", { class: "error", text: r.lastError }));
          if (r.alerts.length) d.append(alertTable(r.alerts));
          out.append(d);
        }
      }
      const active = alerts.data.alerts || [];
      out.append(el("h2", { text: "Active alerts (" + active.length + ")" }));
      out.append(active.length ? alertTable(active) : el("p", { class: "empty", text: groups.length
        ? "No alert is pending or firing."
        : "No alerting rules here: none are loaded, or no rule evaluator (sluice process) has published its status on the rules-status topic within its status_ttl." }));
    } catch (e) {
      showError($("alerts-error"), e);
    }
  }

  function alertTable(alerts) {
    const t = el("table", { class: "result" }, el("thead", {}, el("tr", {},
      ...["Labels", "State", "Active since", "Value"].map((h) => el("th", { text: h })))));
    const b = el("tbody");
    for (const a of alerts) {
      b.append(el("tr", {}, el("td", {}, labelChips(a.labels)), el("td", { class: "state-" + a.state, text: a.state }),
        el("td", { text: since(a.activeAt) }), el("td", { text: a.value })));
    }
    t.append(b);
    return t;
  }

  async function showTargets() {
    const out = $("targets");
    try {
      const j = await api("targets");
      out.replaceChildren();
      const pools = new Map();
      for (const t of j.data.activeTargets) {
        if (!pools.has(t.scrapePool)) pools.set(t.scrapePool, []);
        pools.get(t.scrapePool).push(t);
      }
      if (pools.size === 0) {
        out.append(el("p", { class: "empty", text: "No scrape targets here: the API reports the scrape workers' targets when they share the process (sluice all)." }));
      }
      for (const [pool, ts] of [...pools.entries()].sort()) {
        const up = ts.filter((t) => t.health === "up").length;
        out.append(el("h2", { text: pool + " (" + up + "/" + ts.length + " up)" }));
        const t = el("table", { class: "result" }, el("thead", {}, el("tr", {},
          ...["Endpoint", "State", "Labels", "Last scrape", "Duration", "Error"].map((h) => el("th", { text: h })))));
        const b = el("tbody");
        for (const x of ts) {
          b.append(el("tr", {}, el("td", { text: x.scrapeUrl }), el("td", { class: "health-" + x.health, text: x.health }),
            el("td", {}, labelChips(x.labels)), el("td", { text: since(x.lastScrape) }),
            el("td", { text: (x.lastScrapeDuration * 1000).toFixed(1) + "ms" }), el("td", { class: "error-text", text: x.lastError })));
        }
        t.append(b);
        out.append(t);
      }
    } catch (e) {
      showError($("targets-error"), e);
    }
  }

  // ---- Wiring ----

  function initGraphPage() {
    const input = $("expr");
    const q = readURL();
    showTab();
    $("query-form").addEventListener("submit", (e) => {
      e.preventDefault();
      run();
    });
    input.addEventListener("input", () => {
      autosize();
      updateCompletions();
    });
    input.addEventListener("blur", () => setTimeout(closeCompletions, 150));
    input.addEventListener("keydown", (e) => {
      const open = completion.items.length > 0;
      if (open && (e.key === "ArrowDown" || e.key === "ArrowUp")) {
        e.preventDefault();
        const n = completion.items.length;
        completion.active = (completion.active + (e.key === "ArrowDown" ? 1 : n - 1)) % n;
        renderCompletions();
      } else if (open && (e.key === "Tab" || (e.key === "Enter" && !e.shiftKey))) {
        e.preventDefault();
        accept(completion.active);
      } else if (open && e.key === "Escape") {
        closeCompletions();
      } else if (e.key === "Enter" && !e.shiftKey) {
        e.preventDefault();
        run();
      }
    });
    for (const t of ["table", "graph"]) {
      $("tab-" + t).addEventListener("click", () => {
        state.tab = t;
        showTab();
        run();
      });
    }
    for (const id of ["range", "end", "step", "moment"]) {
      $(id).addEventListener("change", run); // on Enter, and on leaving a changed field
    }
    const bump = (dir) => {
      const cur = parseDuration($("range").value) || 3600;
      const next = dir < 0 ? [...RANGE_STEPS].reverse().find((s) => s < cur) : RANGE_STEPS.find((s) => s > cur);
      if (next) $("range").value = formatDuration(next);
      run();
    };
    $("range-less").addEventListener("click", () => bump(-1));
    $("range-more").addEventListener("click", () => bump(1));
    loadMetricNames();
    // `complete`: open the completion list at the end of the expression
    // instead of running it (a deep link to what the box would offer).
    if (q.has("complete")) {
      input.focus();
      input.setSelectionRange(input.value.length, input.value.length);
      updateCompletions();
    } else if (input.value.trim()) {
      run();
    }
  }

  api("status/buildinfo")
    .then((j) => {
      $("version").textContent = j.data.version;
    })
    .catch(() => {});

  const page = location.pathname.replace(/\/+$/, "").split("/").pop();
  const which = page === "alerts" || page === "targets" ? page : "graph";
  $("page-" + which).hidden = false;
  $("nav-" + which).classList.add("active");
  document.title = "Sluice \u00b7 " + which[0].toUpperCase() + which.slice(1);
  if (which === "alerts") showAlerts();
  else if (which === "targets") showTargets();
  else initGraphPage();
})();
