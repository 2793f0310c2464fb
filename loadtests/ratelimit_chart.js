// mmv3: the chart of Locust's "Rate limit" tab. Offered, accepted and throttled requests per
// second over the run, the refill rate as a dashed line, the first 429 marked; drawn as inline
// SVG from GET /mmv3/ratelimit/series every 2 s. No library and nothing fetched from elsewhere:
// it works offline. Locust's web UI (React) knows nothing of it: the chart is put above the
// tab's table whenever that table is shown, and taken out when another tab is.
(function () {
  "use strict";
  var TAB = "rate-limit";
  var ID = "mmv3-ratelimit-chart";
  var POLL_MS = 2000;
  var SVG = "http://www.w3.org/2000/svg";
  var script = document.currentScript;
  var SERIES_URL = script ? script.src.replace(/chart\.js(\?.*)?$/, "series") : "mmv3/ratelimit/series";
  var SERIES = [
    { key: "offered", label: "offered", colour: "#1f77b4" },
    { key: "accepted", label: "accepted (goodput)", colour: "#2ca02c" },
    { key: "throttled", label: "throttled (429)", colour: "#d62728" },
  ];
  var REFILL = "#8c8c8c";
  var FIRST = "#ff7f0e";
  var W = 960, H = 300, L = 52, R = 18, T = 14, B = 40;
  var latest = null;
  var error = null;

  function onTab() {
    return new URLSearchParams(window.location.search).get("tab") === TAB;
  }

  function tableContainer() {
    // the tab's table: its first column is titled "Rate limit"
    var heads = document.querySelectorAll("th");
    for (var i = 0; i < heads.length; i++) {
      if (heads[i].textContent.trim() === "Rate limit") {
        return heads[i].closest(".MuiTableContainer-root") || heads[i].closest("table");
      }
    }
    return null;
  }

  function el(name, attrs, text) {
    var node = document.createElementNS(SVG, name);
    for (var key in attrs) node.setAttribute(key, attrs[key]);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function build() {
    var figure = document.createElement("figure");
    figure.id = ID;
    figure.style.cssText = "margin:0 0 16px 0;padding:8px 12px;border:1px solid rgba(128,128,128,.35);border-radius:4px";
    var caption = document.createElement("figcaption");
    caption.style.cssText = "display:flex;flex-wrap:wrap;gap:4px 18px;align-items:center;font:14px sans-serif;margin-bottom:4px";
    var title = document.createElement("strong");
    title.textContent = "Requests per second over the run";
    caption.appendChild(title);
    SERIES.forEach(function (s) {
      caption.appendChild(legendItem(s.colour, "solid", s.label));
    });
    caption.appendChild(legendItem(REFILL, "dashed", "refill rate", "refill"));
    caption.appendChild(legendItem(FIRST, "dotted", "first 429", "first-429"));
    figure.appendChild(caption);
    var svg = el("svg", { viewBox: "0 0 " + W + " " + H, role: "img", width: "100%" });
    svg.style.cssText = "display:block;max-height:340px;font:12px sans-serif";
    figure.appendChild(svg);
    var status = document.createElement("div");
    status.className = "mmv3-chart-status";
    status.style.cssText = "font:12px sans-serif;opacity:.8";
    figure.appendChild(status);
    return figure;
  }

  function legendItem(colour, style, text, key) {
    var item = document.createElement("span");
    item.className = "mmv3-legend";
    if (key) item.setAttribute("data-legend", key);
    var swatch = document.createElement("span");
    swatch.style.cssText = "display:inline-block;width:22px;margin-right:6px;vertical-align:middle;border-top:3px " + style + " " + colour;
    item.appendChild(swatch);
    var label = document.createElement("span");
    label.className = "mmv3-legend-text";
    label.textContent = text;
    item.appendChild(label);
    return item;
  }

  function setLegend(figure, key, text) {
    var label = figure.querySelector('[data-legend="' + key + '"] .mmv3-legend-text');
    if (label) label.textContent = text;
  }

  function niceCeiling(value) {
    var power = Math.pow(10, Math.floor(Math.log10(value)));
    var steps = [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10];
    for (var i = 0; i < steps.length; i++) if (steps[i] * power >= value) return steps[i] * power;
    return 10 * power;
  }

  function niceStep(value) {
    var power = Math.pow(10, Math.floor(Math.log10(value)));
    var steps = [1, 2, 5, 10];
    for (var i = 0; i < steps.length; i++) if (steps[i] * power >= value) return steps[i] * power;
    return 10 * power;
  }

  function ticks(low, high, count) {
    var span = high - low;
    var step = niceStep(span / count);
    var out = [];
    for (var v = Math.ceil(low / step) * step; v <= high + 1e-9; v += step) out.push(v);
    return out;
  }

  function draw(figure, data) {
    var svg = figure.querySelector("svg");
    var status = figure.querySelector(".mmv3-chart-status");
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    var points = (data && data.points) || [];
    figure.setAttribute("data-points", String(points.length));
    svg.appendChild(el("title", {}, "Offered, accepted and throttled requests per second"));
    if (error) {
      status.textContent = "chart data unavailable: " + error;
    }
    if (!points.length) {
      svg.appendChild(el("text", { x: W / 2, y: H / 2, "text-anchor": "middle", fill: "currentColor" }, "no complete second of requests yet"));
      if (!error) status.textContent = "";
      return;
    }
    // x: seconds since the first request; a bin [t, t+1) of the run's seconds is drawn at its middle
    var offset = data.first_request_offset || 0;
    var mid = function (p) { return p.t + 0.5 - offset; };
    var t0 = Math.min(0, points[0].t - offset);
    var t1 = Math.max(points[points.length - 1].t + 1 - offset, t0 + 10);
    var top = 1;
    points.forEach(function (p) {
      top = Math.max(top, p.offered, p.accepted, p.throttled);
    });
    if (data.refill_rate) top = Math.max(top, data.refill_rate * 1.15);
    top = niceCeiling(top * 1.05);
    var x = function (t) { return L + ((t - t0) / (t1 - t0)) * (W - L - R); };
    var y = function (v) { return T + (1 - v / top) * (H - T - B); };

    var grid = el("g", { "class": "mmv3-axes", stroke: "currentColor", "stroke-opacity": "0.15" });
    svg.appendChild(grid);
    ticks(0, top, 5).forEach(function (v) {
      grid.appendChild(el("line", { x1: L, x2: W - R, y1: y(v), y2: y(v) }));
      svg.appendChild(el("text", { x: L - 6, y: y(v) + 4, "text-anchor": "end", fill: "currentColor" }, String(+v.toFixed(2))));
    });
    ticks(Math.max(t0, 0), t1, 8).forEach(function (t) {
      grid.appendChild(el("line", { x1: x(t), x2: x(t), y1: T, y2: H - B }));
      svg.appendChild(el("text", { x: x(t), y: H - B + 16, "text-anchor": "middle", fill: "currentColor" }, t + " s"));
    });
    svg.appendChild(el("text", { x: (L + W - R) / 2, y: H - 4, "text-anchor": "middle", fill: "currentColor" }, "seconds since the first request"));
    svg.appendChild(el("text", { x: 12, y: (T + H - B) / 2, "text-anchor": "middle", fill: "currentColor", transform: "rotate(-90 12 " + (T + H - B) / 2 + ")" }, "req/s"));
    svg.appendChild(el("rect", { x: L, y: T, width: W - L - R, height: H - T - B, fill: "none", stroke: "currentColor", "stroke-opacity": "0.4" }));

    SERIES.forEach(function (s) {
      var coords = points.map(function (p) {
        return x(mid(p)).toFixed(1) + "," + y(p[s.key]).toFixed(1);
      });
      svg.appendChild(el("polyline", { "data-series": s.key, points: coords.join(" "), fill: "none", stroke: s.colour, "stroke-width": 2, "stroke-linejoin": "round" }));
    });

    var notes = [];
    var refillText = "refill rate";
    if (data.refill_rate) {
      var ry = y(data.refill_rate);
      svg.appendChild(el("line", { "data-line": "refill-rate", x1: L, x2: W - R, y1: ry, y2: ry, stroke: REFILL, "stroke-width": 2, "stroke-dasharray": "8 5" }));
      refillText = "refill rate " + data.refill_rate.toFixed(2) + "/s (" + data.refill_rate_origin + ")";
      if (data.limit) notes.push("Limit " + data.limit + " (burst " + (data.limit - 1) + ")");
    }
    setLegend(figure, "refill", refillText);
    var first = data.first_429;
    var firstText = "first 429: none yet";
    if (first) {
      var fx = x(first.after_s);
      svg.appendChild(el("line", { "data-marker": "first-429", x1: fx, x2: fx, y1: T, y2: H - B, stroke: FIRST, "stroke-width": 2, "stroke-dasharray": "2 4" }));
      firstText = "first 429 after " + first.after_s.toFixed(2) + " s";
      notes.push(first.admitted_before + " requests admitted before the first 429");
    }
    setLegend(figure, "first-429", firstText);
    notes.push("one-second bins by send time; " + data.run + ": " + data.state);
    if (!error) status.textContent = notes.join(" · ");
  }

  function place() {
    var figure = document.getElementById(ID);
    var target = onTab() ? tableContainer() : null;
    if (!target) {
      if (figure) figure.remove();
      return null;
    }
    var fresh = !figure;
    if (fresh) figure = build();
    if (figure.nextElementSibling !== target) target.parentNode.insertBefore(figure, target);
    if (fresh) draw(figure, latest);
    return figure;
  }

  function poll() {
    if (!onTab()) return;
    fetch(SERIES_URL, { cache: "no-store" })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (data) {
        latest = data;
        error = null;
      })
      .catch(function (exc) {
        error = String(exc.message || exc);
      })
      .then(function () {
        var figure = place();
        if (figure) draw(figure, latest);
      });
  }

  var pending = false;
  new MutationObserver(function () {
    if (pending) return;
    pending = true;
    window.requestAnimationFrame(function () {
      pending = false;
      place();
    });
  }).observe(document.body, { childList: true, subtree: true });
  window.setInterval(poll, POLL_MS);
  poll();
})();
