// suture serve dashboard: polls this service's JSON routes and draws them (inline SVG).
// No framework, no build step, no request to another origin (the page's CSP forbids it).
"use strict";

(function () {
  const SVG = "http://www.w3.org/2000/svg";
  const POLL_MS = 2000; // /readyz and /v1/stats
  const SLOW_EVERY = 2; // /v1/drift and /v1/predictions every 2nd poll
  const PERF_EVERY = 5; // /v1/performance every 5th poll
  const HISTORY = 150; // sparkline points kept in the page: 5 minutes of 2-s polls
  const TOKEN_KEY = "suture.token";
  const LEVELS = ["ok", "watch", "alert", "insufficient"];

  const state = { token: null, tick: 0, waiting: false, rate: [], p50: [], p99: [] };

  // ------------------------------------------------------------------ DOM helpers

  function build(ns, tag, attrs, children) {
    const node = ns ? document.createElementNS(ns, tag) : document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "text") node.textContent = String(value);
      else node.setAttribute(name, String(value));
    }
    for (const child of children || []) {
      if (child === null || child === undefined) continue;
      node.append(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }
  const h = (tag, attrs, ...children) => build(null, tag, attrs, children);
  const s = (tag, attrs, ...children) => build(SVG, tag, attrs, children);
  const byId = (id) => document.getElementById(id);

  function fill(id, ...children) {
    const node = byId(id);
    node.replaceChildren(...children.filter((c) => c !== null && c !== undefined));
    return node;
  }

  // ------------------------------------------------------------------ numbers

  function value(x) {
    // An Estimate-like {value, lower, upper} or a plain number.
    if (x !== null && typeof x === "object" && "value" in x) return x.value;
    return x;
  }
  function finite(x) {
    const v = value(x);
    return typeof v === "number" && Number.isFinite(v);
  }
  function short(x) {
    // About four significant digits; k / M above 10,000 (as suture's reports do).
    if (!finite(x)) return "—";
    const v = value(x);
    const a = Math.abs(v);
    if (a >= 1e9) return (v / 1e9).toPrecision(3) + "G";
    if (a >= 1e6) return (v / 1e6).toPrecision(3) + "M";
    if (a >= 1e4) return (v / 1e3).toPrecision(3) + "k";
    if (a === 0) return "0";
    if (a >= 100) return v.toFixed(0);
    return String(Number(v.toPrecision(3)));
  }
  function fixed(x, digits) {
    return finite(x) ? value(x).toFixed(digits) : "—";
  }
  function share(x) {
    return finite(x) ? (value(x) * 100).toFixed(value(x) < 0.1 ? 2 : 1) + "%" : "—";
  }
  function count(x) {
    return finite(x) ? Math.round(value(x)).toLocaleString("en-US") : "—";
  }
  function ms(x) {
    return finite(x) ? (value(x) < 10 ? value(x).toFixed(2) : value(x).toFixed(0)) + " ms" : "—";
  }
  function duration(seconds) {
    if (!finite(seconds)) return "—";
    const t = Math.floor(seconds);
    if (t < 60) return t + " s";
    const two = (big, bigUnit, small, smallUnit) => big + " " + bigUnit + (small ? " " + small + " " + smallUnit : "");
    if (t < 3600) return two(Math.floor(t / 60), "min", t % 60, "s");
    if (t < 86400) return two(Math.floor(t / 3600), "h", Math.floor((t % 3600) / 60), "min");
    return two(Math.floor(t / 86400), "d", Math.floor((t % 86400) / 3600), "h");
  }
  function when(ts) {
    if (!finite(ts)) return "—";
    return new Date(value(ts) * 1000).toISOString().replace("T", " ").slice(0, 19) + " UTC";
  }

  // ------------------------------------------------------------------ the token

  function takeToken() {
    const url = new URL(window.location.href);
    const given = url.searchParams.get("token");
    if (given) {
      sessionStorage.setItem(TOKEN_KEY, given);
      url.searchParams.delete("token");
      window.history.replaceState(null, "", url.pathname + url.search + url.hash);
    }
    state.token = sessionStorage.getItem(TOKEN_KEY);
  }

  function askToken(message) {
    const form = byId("token-form");
    if (form.hidden) {
      form.hidden = false;
      byId("token-input").focus();
    }
    notice(message, true);
  }

  function onToken(event) {
    event.preventDefault();
    const token = byId("token-input").value.trim();
    if (!token) return;
    sessionStorage.setItem(TOKEN_KEY, token);
    state.token = token;
    byId("token-form").hidden = true;
    notice(null);
    poll(true);
  }

  function notice(message, error) {
    const node = byId("notice");
    node.hidden = !message;
    node.textContent = message || "";
    node.className = error ? "notice error" : "notice";
  }

  // ------------------------------------------------------------------ fetching

  class Unauthorized extends Error {}

  function errorMessage(body, status) {
    if (body && body.error && body.error.message) return body.error.message;
    return "HTTP " + status;
  }

  async function api(path) {
    const headers = { Accept: "application/json" };
    if (state.token) headers.Authorization = "Bearer " + state.token;
    const answer = await fetch(path, { headers, cache: "no-store", credentials: "omit" });
    let body = null;
    try {
      body = await answer.json();
    } catch (_) {
      body = null;
    }
    if (answer.status === 401) {
      askToken(
        (state.token ? "The token was refused: " : "This service needs a token: ") +
          errorMessage(body, 401),
      );
      throw new Unauthorized(path);
    }
    return { status: answer.status, ok: answer.ok, body };
  }

  // ------------------------------------------------------------------ health and traffic

  function fact(id, text, tone) {
    const node = byId(id);
    node.textContent = text;
    node.className = tone || "";
  }

  function renderHealth(ready, stats) {
    const isReady = ready && ready.ok;
    fact("f-status", isReady ? "ready" : "not ready", isReady ? "good" : "bad");
    if (!stats || !stats.ok || !stats.body) return;
    const st = stats.body;
    byId("model-version").textContent = st.model_version || "";
    fact("f-uptime", duration(st.uptime_s));
    fact("f-requests", count(st.requests));
    fact("f-rate", short(st.rate_1m));
    const latency = st.latency_ms || {};
    fact("f-p50", ms(latency.p50));
    fact("f-p99", ms(latency.p99));
    fact("f-predictions", count(st.predictions));
    fact("f-invalid", count(st.invalid), st.invalid > 0 ? "bad" : "");
    byId("traffic-worker").textContent = st.worker ? "worker " + st.worker : "";
    remember(state.rate, st.rate_1m);
    remember(state.p50, latency.p50);
    remember(state.p99, latency.p99);
    fill("spark-rate", sparkline([{ values: state.rate, cls: "rate", area: true }], "requests per second", short));
    fill(
      "spark-latency",
      sparkline(
        [
          { values: state.p50, cls: "p50" },
          { values: state.p99, cls: "p99" },
        ],
        "latency p50 and p99 in milliseconds",
        (v) => short(v) + " ms",
      ),
    );
  }

  function remember(series, x) {
    series.push(finite(x) ? value(x) : null);
    if (series.length > HISTORY) series.shift();
  }

  function sparkline(lines, label, format) {
    const width = 520, height = 120, left = 58, right = 10, top = 10, bottom = 20;
    const plotW = width - left - right, plotH = height - top - bottom;
    const all = lines.flatMap((l) => l.values).filter((v) => v !== null);
    const peak = Math.max(...all, 0) || 1;
    const svg = s("svg", {
      class: "chart spark", role: "img", viewBox: `0 0 ${width} ${height}`,
      width, height, "aria-label": label + ": latest " + format(lines[lines.length - 1].values.at(-1)),
    });
    for (const frac of [0, 0.5, 1]) {
      const y = top + plotH * (1 - frac);
      svg.append(s("line", { x1: left, x2: width - right, y1: y, y2: y, class: "grid" }));
      svg.append(s("text", { x: left - 6, y: y + 4, "text-anchor": "end", class: "tick", text: format(peak * frac) }));
    }
    const x = (i) => left + (plotW * i) / Math.max(HISTORY - 1, 1);
    const y = (v) => top + plotH * (1 - v / peak);
    for (const line of lines) {
      const offset = HISTORY - line.values.length;
      const points = line.values
        .map((v, i) => (v === null ? null : [x(i + offset), y(v)]))
        .filter((p) => p !== null);
      if (points.length === 0) continue;
      const d = points.map((p, i) => (i ? "L" : "M") + p[0].toFixed(1) + " " + p[1].toFixed(1)).join("");
      if (line.area && points.length > 1) {
        const base = (top + plotH).toFixed(1);
        svg.append(s("path", { class: "area", d: `${d}L${points.at(-1)[0].toFixed(1)} ${base}L${points[0][0].toFixed(1)} ${base}Z` }));
      }
      svg.append(s("path", { class: line.cls, d: points.length > 1 ? d : d + "h1" }));
    }
    svg.append(s("text", { x: left, y: height - 4, class: "tick", text: `${Math.round((HISTORY * POLL_MS) / 60000)} min ago` }));
    svg.append(s("text", { x: width - right, y: height - 4, "text-anchor": "end", class: "tick", text: "now" }));
    return svg;
  }

  // ------------------------------------------------------------------ drift

  function levelOf(x) {
    return LEVELS.includes(x) ? x : "unknown";
  }

  function badge(level) {
    return h("span", { class: "verdict v-" + levelOf(level), text: level || "unknown" });
  }

  function scoreOf(feature) {
    return finite(feature.score) ? value(feature.score) : -1;
  }

  function distributionOf(drift, feature) {
    if (feature.distribution) return feature.distribution;
    const all = drift.distributions;
    if (all && !Array.isArray(all)) return all[feature.column] || null;
    if (Array.isArray(all)) return all.find((d) => d.column === feature.column) || null;
    return null;
  }

  function rate(x) {
    // {"training", "live", "change"} or a number
    if (x && typeof x === "object" && !("value" in x)) return x.live;
    return x;
  }

  function renderDrift(answer) {
    const table = byId("drift-table").tBodies[0];
    const overall = byId("drift-overall");
    if (!answer.ok || !answer.body) {
      overall.className = "verdict v-unknown";
      overall.textContent = "unknown";
      table.replaceChildren(h("tr", {}, h("td", { colspan: 10, class: "empty", text: errorMessage(answer.body, answer.status) })));
      fill("drift-plots");
      fact("f-drift", "—");
      return;
    }
    const drift = answer.body;
    const level = (drift.overall && drift.overall.level) || "unknown";
    overall.className = "verdict v-" + levelOf(level);
    overall.textContent = level;
    fact("f-drift", level, level === "alert" ? "bad" : level === "ok" ? "good" : "");
    const w = drift.window || {};
    const span = w.seconds ? "the last " + duration(w.seconds) : w.target_records ? "the last " + count(w.target_records) + " records" : "the live window";
    const rejected = drift.rejected || {};
    const refused = (rejected.by_field || []).map((r) => `${r.field} ${r.rule} ${count(r.count)}`).join(", ");
    fill(
      "drift-window",
      `${count(w.records)} scored records in ${span}` +
        (finite(w.since) ? ` (${when(w.since)} to ${when(w.until)})` : "") +
        (finite(drift.training_rows) ? `, against ${count(drift.training_rows)} training rows. ` : ". ") +
        (drift.overall && drift.overall.message ? drift.overall.message + ". " : "") +
        (finite(rejected.rejected) && rejected.rejected > 0
          ? `${count(rejected.rejected)} of ${count(rejected.received)} records refused by the contract (${refused}). `
          : "") +
        (drift.error ? "Window error: " + drift.error : ""),
    );
    const features = [...(drift.features || [])].sort((a, b) => scoreOf(b) - scoreOf(a));
    if (features.length === 0) {
      table.replaceChildren(h("tr", {}, h("td", { colspan: 10, class: "empty", text: "No features in the drift answer yet." })));
    } else {
      table.replaceChildren(...features.map((f) => driftRow(f)));
    }
    fill("drift-plots", ...features.map((f) => driftPlot(f, distributionOf(drift, f))));
  }

  function plotId(column) {
    // Stable across polls (the table is re-sorted by score): the column's name, no spaces.
    return "plot-" + String(column).replace(/\s+/g, "_");
  }

  function driftRow(f) {
    const level = levelOf(f.level);
    const newLevels = Array.isArray(f.new_levels) && f.new_levels.length ? "new levels: " + f.new_levels.join(", ") : "";
    const note = [f.note, newLevels].filter(Boolean).join("; ");
    return h(
      "tr",
      { class: "level-" + level, "data-column": f.column, "data-level": f.level },
      h("td", {}, h("a", { href: "#" + plotId(f.column), text: f.column })),
      h("td", { text: f.kind || "" }),
      h("td", {}, badge(f.level)),
      h("td", { class: "n", text: fixed(f.score, 3) }),
      h("td", { class: "n", text: fixed(f.psi, 3) }),
      h("td", { class: "n", text: fixed(f.ks, 3) }),
      h("td", { class: "n", text: fixed(f.js, 3) }),
      h("td", { class: "n", text: share(rate(f.null_rate)) }),
      h("td", { class: "n", text: share(rate(f.out_of_range_rate)) }),
      h("td", { text: note }),
    );
  }

  function driftPlot(f, dist) {
    const reasons = Array.isArray(f.reasons) ? f.reasons : [];
    const label = `${f.column}: training against live`;
    let chart;
    if (!dist || !Array.isArray(dist.training) || !Array.isArray(dist.live)) {
      chart = h("p", { class: "empty", text: "No live values of this feature in the window yet." });
    } else if (Array.isArray(dist.edges)) {
      chart = overlay(dist, label, f.unit);
    } else {
      chart = paired(dist, label);
    }
    return h(
      "figure",
      { id: plotId(f.column), class: "plot level-" + levelOf(f.level), "data-column": f.column },
      h("h3", {}, f.column + " ", badge(f.level)),
      chart,
      h("figcaption", { text: dist && Array.isArray(dist.edges)
        ? "Blue bars: training. Orange line: the live window. Heights are densities (share per unit of width); hover a bar for its shares."
        : "Blue: the training share of each level. Orange: the live window's." }),
      reasons.length ? h("ul", { class: "reasons" }, ...reasons.map((r) => h("li", { text: r }))) : null,
    );
  }

  function legend(x, y) {
    return [
      s("rect", { x, y: y - 9, width: 10, height: 10, class: "train" }),
      s("text", { x: x + 14, y, class: "axis", text: "training" }),
      s("rect", { x: x + 84, y: y - 9, width: 10, height: 10, class: "live" }),
      s("text", { x: x + 98, y, class: "axis", text: "live" }),
    ];
  }

  function overlay(dist, label, unit) {
    // Training as bars and the live window as a step line on common bins, the look of
    // suture compare's overlay charts.  The bins are cut at training quantiles, so they
    // differ in width: the x axis is in the column's values and heights are densities
    // (share / bin width), so both sides keep the shape of their distribution.
    const width = 560, height = 220, left = 52, right = 16, top = 22, bottom = 30;
    const plotW = width - left - right, plotH = height - top - bottom;
    const train = dist.training.map(Number), live = dist.live.map(Number), edges = dist.edges.map(Number);
    const bins = train.length;
    const lo = edges[0], hi = edges[bins] > lo ? edges[bins] : lo + 1;
    const xOf = (v) => left + (plotW * (v - lo)) / (hi - lo);
    // A narrow bin holds a repeated value (a point mass such as many zeros); its density
    // is taken over at least half the median bin width, so one spike does not flatten
    // the rest of the chart.
    const widths = edges.slice(1).map((e, i) => e - edges[i]);
    const median = [...widths].sort((a, b) => a - b)[Math.floor(widths.length / 2)] || (hi - lo) / Math.max(bins, 1);
    const widthOf = (i) => Math.max(widths[i], median / 2, (hi - lo) / plotW);
    const dens = (shares) => shares.map((v, i) => v / widthOf(i));
    const dTrain = dens(train), dLive = dens(live);
    const peak = Math.max(...dTrain, ...dLive, 0) || 1;
    const svg = s("svg", { class: "chart overlay", role: "img", viewBox: `0 0 ${width} ${height}`, width, height, "aria-label": label });
    svg.append(s("title", { text: label }), ...legend(left, 13));
    for (const frac of [0, 0.5, 1]) {
      const y = top + plotH * (1 - frac);
      svg.append(s("line", { x1: left, x2: width - right, y1: y, y2: y, class: "grid" }));
    }
    svg.append(s("text", { x: left - 6, y: top + 4, "text-anchor": "end", class: "tick", text: "density" }));
    const base = top + plotH;
    let path = `M${xOf(edges[0]).toFixed(1)} ${base}`;
    for (let i = 0; i < bins; i++) {
      const x0 = xOf(edges[i]), x1 = Math.max(xOf(edges[i + 1]), x0 + 1);
      const hgt = (plotH * dTrain[i]) / peak;
      const tip = `${short(edges[i])} to ${short(edges[i + 1])}${unit ? " " + unit : ""}: training ${share(train[i])}, live ${share(live[i])}`;
      svg.append(
        s("rect", { x: (x0 + 0.5).toFixed(1), y: (base - hgt).toFixed(1), width: Math.max(x1 - x0 - 1, 0.5).toFixed(1), height: hgt.toFixed(1), class: "train bin" },
          s("title", { text: tip })),
      );
      path += `V${(base - (plotH * dLive[i]) / peak).toFixed(1)}H${x1.toFixed(1)}`;
    }
    path += `V${base}`;
    svg.append(s("path", { d: path, class: "live-line" }));
    svg.append(s("line", { x1: left, x2: width - right, y1: base, y2: base, class: "base" }));
    for (const [v, anchor] of [[lo, "start"], [(lo + hi) / 2, "middle"], [hi, "end"]]) {
      svg.append(s("text", { x: xOf(v), y: base + 16, "text-anchor": anchor, class: "tick", text: short(v) + (unit && anchor === "end" ? " " + unit : "") }));
    }
    return svg;
  }

  function paired(dist, label) {
    // Two bars per level: the training share above the live share.
    const levels = (dist.levels || dist.labels || []).map(String);
    const row = 30, labelW = 150, barW = 260, shareW = 110;
    const width = labelW + barW + shareW, height = row * levels.length + 26;
    const train = dist.training.map(Number), live = dist.live.map(Number);
    const peak = Math.max(...train, ...live, 0) || 1;
    const svg = s("svg", { class: "chart paired", role: "img", viewBox: `0 0 ${width} ${height}`, width, height, "aria-label": label });
    svg.append(s("title", { text: label }), ...legend(labelW, 13));
    levels.forEach((name, i) => {
      const y = 22 + i * row;
      const shown = name.length <= 20 ? name : name.slice(0, 19) + "…";
      const g = s("g", {}, s("title", { text: `${name}: training ${share(train[i])}, live ${share(live[i])}` }));
      g.append(s("text", { x: labelW - 8, y: y + 17, "text-anchor": "end", class: "label", text: shown }));
      [[train[i], "train"], [live[i], "live"]].forEach(([v, cls], j) => {
        g.append(s("rect", { x: labelW, y: y + 3 + j * 12, width: Math.max((barW * (v || 0)) / peak, 0.5).toFixed(1), height: 10, class: cls }));
      });
      g.append(s("text", { x: labelW + barW + 6, y: y + 17, class: "count", text: `${share(train[i])} → ${share(live[i])}` }));
      svg.append(g);
    });
    return svg;
  }

  // ------------------------------------------------------------------ performance

  const METRICS = { auc: "AUC", accuracy: "accuracy", brier: "Brier score", ece: "calibration error (ECE)", rmse: "RMSE", mae: "MAE" };

  const ESTIMATED = { auc: "AUC", accuracy: "accuracy" };

  function interval(e) {
    // "0.9512 [0.9401, 0.9620]": the expected value and the realized value's interval.
    if (!e || !finite(e.value)) return "—";
    return `${fixed(e.value, 4)} [${fixed(e.lower, 4)}, ${fixed(e.upper, 4)}]`;
  }

  function estimateSummary(body) {
    const estimation = body.estimation || {};
    const overall = (body.overall || {}).estimated;
    if (!overall) return estimation.reason ? `No estimate before outcomes: ${estimation.reason}.` : null;
    const parts = Object.keys(ESTIMATED).filter((m) => overall[m]).map((m) => {
      const e = overall[m];
      const drop = !finite(e.drop) ? ""
        : e.drop >= 0 ? `, ${fixed(e.drop, 4)} below training` : `, ${fixed(-e.drop, 4)} above training`;
      return `${ESTIMATED[m]} ${interval(e)}${drop}`;
    });
    const rows = estimation.capped
      ? `the most recent ${count(overall.rows)} of ${count(estimation.in_span)} predictions`
      : `${count(overall.rows)} predictions`;
    const confidence = finite(estimation.confidence) ? ` (${Math.round(estimation.confidence * 100)}% intervals)` : "";
    return `Estimated before outcomes, from ${rows}${confidence}: ${parts.join(" · ")}.`;
  }

  function renderPerformance(answer) {
    const body = answer.body;
    if (!answer.ok) {
      fill("performance-body", h("p", { class: "empty", text: errorMessage(body, answer.status) }));
      return;
    }
    const windows = body && Array.isArray(body.windows) ? body.windows : Array.isArray(body) ? body : firstList(body);
    if (!windows || windows.length === 0) {
      fill(
        "performance-body",
        h("p", { class: "empty" }, "No outcomes joined yet. Send true outcomes to ", h("code", { text: "POST /v1/outcomes" }),
          " (by prediction id or the contract's key) and the realized performance per time window appears here."),
      );
      return;
    }
    const metrics = Object.keys(METRICS).filter((m) => windows.some((w) => m in w));
    const estimated = Object.keys(ESTIMATED).filter((m) => windows.some((w) => w.estimated && w.estimated[m]));
    const overall = body.overall || {};
    const summary = [
      `${count(body.labelled ?? overall.n)} labelled predictions`,
      ...metrics.filter((m) => m in overall).map((m) => `${METRICS[m]} ${fixed(overall[m], 4)}`),
    ];
    if (body.skipped) summary.push(`${count(body.skipped)} outcomes left out (not a class of the model)`);
    const head = h("tr", {}, h("th", { scope: "col", text: "window (UTC)" }), h("th", { scope: "col", class: "n", text: "labelled" }),
      ...metrics.map((m) => h("th", { scope: "col", class: "n", text: METRICS[m] })),
      ...(estimated.length ? [h("th", { scope: "col", class: "n", text: "predictions" })] : []),
      ...estimated.map((m) => h("th", { scope: "col", class: "n", text: `estimated ${ESTIMATED[m]} [interval]` })));
    const rows = windows.map((w) =>
      h("tr", { "data-start": w.start },
        h("td", { text: `${when(w.start)} to ${when(w.end).slice(11)}` }),
        h("td", { class: "n", text: count(w.n) }),
        ...metrics.map((m) => h("td", { class: "n", "data-metric": m, text: fixed(w[m], 4) })),
        ...(estimated.length ? [h("td", { class: "n", "data-estimate": "rows", text: w.estimated ? count(w.estimated.rows) : "—" })] : []),
        ...estimated.map((m) => h("td", { class: "n", "data-estimate": m, text: interval(w.estimated && w.estimated[m]) }))),
    );
    const estimate = estimateSummary(body);
    fill(
      "performance-body",
      h("p", { class: "summary", id: "performance-overall", text: "Overall: " + summary.join(" · ") + "." }),
      ...(estimate ? [h("p", { class: "summary", id: "performance-estimated", text: estimate })] : []),
      h("table", { class: "verdicts performance" }, h("thead", {}, head), h("tbody", {}, ...rows)),
      h("p", { class: "note", text: "Metrics of the predictions whose true outcome arrived, by the time of the prediction; — where a window cannot define one (AUC needs both classes)." }),
      ...(estimated.length
        ? [h("p", { class: "note", text: "Estimated: the expected value over every prediction of the window, labelled or not, from the model's calibrated probabilities, and the interval the realized value should fall in. It sees shifts of the inputs, not a change in how outcomes follow from them (concept drift): only the realized values show that." })]
        : []),
    );
  }

  function firstList(body) {
    if (!body || typeof body !== "object") return null;
    for (const v of Object.values(body)) if (Array.isArray(v) && v.every((x) => x && typeof x === "object")) return v;
    return null;
  }
  // ------------------------------------------------------------------ recent predictions

  function outputParts(output) {
    const o = output || {};
    const prediction = o.prediction ?? o.class ?? o.value;
    let number = o.probability ?? o.value;
    if (number === undefined && o.probabilities && typeof o.probabilities === "object") {
      number = Math.max(...Object.values(o.probabilities).map(Number));
    }
    return [prediction === undefined ? "—" : String(prediction), finite(number) ? fixed(number, 4) : "—"];
  }

  function renderRecent(answer) {
    const table = byId("recent-table").tBodies[0];
    if (!answer.ok) {
      table.replaceChildren(h("tr", {}, h("td", { colspan: 5, class: "empty", text: errorMessage(answer.body, answer.status) })));
      return;
    }
    const list = Array.isArray(answer.body) ? answer.body : (answer.body && answer.body.predictions) || [];
    if (list.length === 0) {
      table.replaceChildren(h("tr", {}, h("td", { colspan: 5, class: "empty", text: "No predictions archived yet." })));
      return;
    }
    table.replaceChildren(
      ...list.map((p) => {
        const [prediction, number] = outputParts(p.output);
        return h(
          "tr",
          { "data-id": p.id },
          h("td", { text: when(p.ts) }),
          h("td", { class: "mono" }, h("a", { href: "#prediction=" + encodeURIComponent(p.id), text: p.id })),
          h("td", { text: prediction }),
          h("td", { class: "n", text: number }),
          h("td", { text: p.model_version || "" }),
        );
      }),
    );
  }

  // ------------------------------------------------------------------ one archived decision

  async function showDecision() {
    const match = /^#prediction=(.+)$/.exec(window.location.hash);
    const section = byId("decision");
    if (!match) {
      // Back to the page closes the decision; a link to a feature's plot keeps it open.
      if (!window.location.hash.startsWith("#plot-")) section.hidden = true;
      return;
    }
    const id = decodeURIComponent(match[1]);
    section.hidden = false;
    byId("decision-id").textContent = id;
    fill("decision-body", h("p", { class: "empty", text: "Loading…" }));
    let answer;
    try {
      answer = await api("/v1/predictions/" + encodeURIComponent(id));
    } catch (e) {
      fill("decision-body", h("p", { class: "empty", text: e instanceof Unauthorized ? "A token is needed." : String(e) }));
      return;
    }
    if (!answer.ok) {
      fill("decision-body", h("p", { class: "empty", text: errorMessage(answer.body, answer.status) }));
    } else {
      fill("decision-body", decision(answer.body));
    }
    section.focus();
  }

  function kv(pairs) {
    return h("table", { class: "kv" }, h("tbody", {}, ...pairs.map(([k, v]) => h("tr", {}, h("th", { scope: "row", text: k }), h("td", { text: v })))));
  }

  function show(v) {
    if (v === null || v === undefined) return "—";
    if (typeof v === "number") return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(6)));
    if (typeof v === "object") return JSON.stringify(v);
    return String(v);
  }

  function decision(d) {
    const [prediction, number] = outputParts(d.output);
    const facts = [
      ["time", when(d.ts)],
      ["model version", d.model_version || "—"],
      ["prediction", prediction],
      ["probability / value", number],
    ];
    if (d.key !== null && d.key !== undefined) facts.push(["key", String(d.key)]);
    if (d.worker) facts.push(["worker", d.worker]);
    if (d.outcome !== undefined && d.outcome !== null) facts.push(["outcome", show(d.outcome.outcome ?? d.outcome.value ?? d.outcome)]);
    const explanation = Array.isArray(d.explanation) ? d.explanation : [];
    const peak = Math.max(...explanation.map((e) => Math.abs(Number(e.contribution) || 0)), 0) || 1;
    const expl = explanation.length
      ? h(
          "table",
          { class: "explanation" },
          h("caption", { class: "note", text: "Top contributions, in the units of the inputs (red raises the score, blue lowers it)" }),
          h("thead", {}, h("tr", {}, ...["column", "value", "unit", "contribution", ""].map((t, i) => h("th", { scope: "col", class: i === 3 ? "n" : "", text: t })))),
          h("tbody", {}, ...explanation.map((e) => h(
            "tr", { "data-column": e.column },
            h("td", { text: e.column }),
            h("td", { text: show(e.value) }),
            h("td", { text: e.unit || "" }),
            h("td", { class: "n", text: finite(e.contribution) ? (e.contribution >= 0 ? "+" : "") + fixed(e.contribution, 4) : "—" }),
            h("td", {}, contributionBar(Number(e.contribution) || 0, peak)),
          ))),
        )
      : h("p", { class: "empty", text: "No explanation archived." });
    const received = d.received || {};
    const coerced = d.coerced || {};
    const columns = [...new Set([...Object.keys(received), ...Object.keys(coerced)])];
    const inputs = h(
      "table", { class: "inputs" },
      h("caption", { class: "note", text: "The record as received and as the contract coerced it" }),
      h("thead", {}, h("tr", {}, h("th", { scope: "col", text: "column" }), h("th", { scope: "col", text: "received" }), h("th", { scope: "col", text: "coerced" }))),
      h("tbody", {}, ...columns.map((c) => h("tr", {}, h("td", { text: c }), h("td", { class: "mono", text: c in received ? show(received[c]) : "(not kept)" }), h("td", { class: "mono", text: c in coerced ? show(coerced[c]) : "(not kept)" })))),
    );
    const raw = state.token ? null : h("p", { class: "note" }, h("a", { href: "/v1/predictions/" + encodeURIComponent(d.id), text: "The archived decision as JSON" }));
    return h("div", { class: "decision-grid" }, h("div", {}, kv(facts), raw), h("div", {}, expl), h("div", { class: "wide" }, inputs));
  }

  function contributionBar(v, peak) {
    const w = 120, mid = w / 2, len = (mid * Math.abs(v)) / peak;
    return s(
      "svg", { class: "contribution", width: w, height: 12, viewBox: `0 0 ${w} 12`, role: "img", "aria-label": (v >= 0 ? "raises" : "lowers") + " the score" },
      s("line", { x1: mid, x2: mid, y1: 0, y2: 12, class: "base" }),
      s("rect", { x: v >= 0 ? mid : mid - len, y: 2, width: Math.max(len, 0.5).toFixed(1), height: 8, class: v >= 0 ? "up" : "down" }),
    );
  }

  // ------------------------------------------------------------------ the loop

  async function guarded(path, render) {
    try {
      render(await api(path));
      return true;
    } catch (e) {
      if (!(e instanceof Unauthorized)) notice("The service did not answer " + path + ": " + e.message, true);
      return false;
    }
  }

  async function poll(everything) {
    if (state.waiting) return;
    state.waiting = true;
    const tick = state.tick++;
    try {
      let ready = null;
      try {
        ready = await api("/readyz");
      } catch (e) {
        ready = null;
      }
      let stats = null;
      try {
        stats = await api("/v1/stats");
        if (stats.ok) notice(null);
      } catch (e) {
        if (!(e instanceof Unauthorized)) notice("The service does not answer: " + e.message, true);
      }
      renderHealth(ready, stats);
      if (everything || tick % SLOW_EVERY === 0) {
        await guarded("/v1/drift", renderDrift);
        await guarded("/v1/predictions?limit=20", renderRecent);
      }
      if (everything || tick % PERF_EVERY === 0) await guarded("/v1/performance", renderPerformance);
      document.body.dataset.polls = String(state.tick);
    } finally {
      state.waiting = false;
    }
  }

  function start() {
    takeToken();
    byId("token-form").addEventListener("submit", onToken);
    window.addEventListener("hashchange", showDecision);
    showDecision();
    poll(true);
    window.setInterval(() => {
      if (!document.hidden) poll(false);
    }, POLL_MS);
  }

  document.addEventListener("DOMContentLoaded", start);
})();
