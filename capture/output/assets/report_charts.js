/* capture report: the charts, drawn with uPlot (vendored, VENDORED.md). Plain ES2019.
 * Every chart is registered in window.captureCharts by name, so the browser tests can
 * read what was drawn. Runs overlay: one table per run, joined on x by uPlot.join
 * (x = seconds since each run's own start), each run with its own dash. */
(function () {
  "use strict";
  var CR = (window.CaptureReport = window.CaptureReport || {});
  var D = CR.dom;
  var charts = (window.captureCharts = {});
  var sizes = []; // [chart, container, height] for resizing with the window

  var PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#65a30d", "#57534e", "#ea580c"];
  var STATUS_COLOURS = { "2xx": "#16a34a", "3xx": "#2563eb", "4xx": "#d97706", "5xx": "#dc2626", error: "#7c3aed" };
  var DASHES = [[], [7, 4], [2, 3], [10, 3, 2, 3]];
  var HEIGHT = 240;
  // whole numbers only, for counts and positions: a request is the 3rd on its connection, never the 2.5th
  var COUNT_INCRS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6, 2e6, 5e6, 1e7, 1e8, 1e9];
  // whole seconds and minutes: a step is at least one second
  var STEP_INCRS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 28800, 86400];

  /** An axis' labels: uPlot hands a log axis null for the splits it leaves unlabelled. */
  function ticks(fmt) {
    return function (u, splits) {
      return splits.map(function (v) { return v === null || v === undefined ? "" : fmt(v); });
    };
  }

  function colour(i) {
    return PALETTE[i % PALETTE.length];
  }

  function alpha(hex, a) {
    var n = parseInt(hex.slice(1), 16);
    return "rgba(" + (n >> 16) + "," + ((n >> 8) & 255) + "," + (n & 255) + "," + a + ")";
  }

  /** hex -> [h 0..360, s 0..1, l 0..1]. */
  function hsl(hex) {
    var n = parseInt(hex.slice(1), 16), r = (n >> 16) / 255, g = ((n >> 8) & 255) / 255, b = (n & 255) / 255;
    var max = Math.max(r, g, b), min = Math.min(r, g, b), l = (max + min) / 2, d = max - min, h = 0, s = 0;
    if (d) {
      s = d / (1 - Math.abs(2 * l - 1));
      h = max === r ? ((g - b) / d) % 6 : max === g ? (b - r) / d + 2 : (r - g) / d + 4;
      h = (h * 60 + 360) % 360;
    }
    return [h, s, l];
  }

  function hex(h, s, l) {
    var c = (1 - Math.abs(2 * l - 1)) * s, x = c * (1 - Math.abs(((h / 60) % 2) - 1)), m = l - c / 2;
    var rgb = h < 60 ? [c, x, 0] : h < 120 ? [x, c, 0] : h < 180 ? [0, c, x] : h < 240 ? [0, x, c] : h < 300 ? [x, 0, c] : [c, 0, x];
    return "#" + rgb.map(function (v) { return ("0" + Math.round((v + m) * 255).toString(16)).slice(-2); }).join("");
  }

  // Per overlaid run after the first: [hue shift, lightness factor]. The same series of
  // two runs never shares a colour (and each run keeps its dash as well).
  var RUN_SHADES = [[0, 1], [28, 0.58], [-28, 1.45], [56, 0.75]];

  /** A series colour as drawn for the r-th run of the page (run 0: as given). */
  function runColour(colourHex, r) {
    if (!r) return colourHex;
    var shade = RUN_SHADES[r % RUN_SHADES.length], c = hsl(colourHex);
    var round = Math.floor(r / RUN_SHADES.length); // a fifth run and on: shift further
    return hex((c[0] + shade[0] + 12 * round + 360) % 360, Math.min(1, c[1] + 0.1), Math.min(0.8, Math.max(0.15, c[2] * shade[1])));
  }

  /** The series label: "5xx", or "run 3 'before' 5xx" when runs overlay. */
  function label(runs, r, text) {
    return runs.length > 1 ? D.runLabel(runs[r]) + " " + text : text;
  }

  /** One table for uPlot: a single run's as is, several joined on x. */
  function joined(tables) {
    return tables.length === 1 ? tables[0] : uPlot.join(tables);
  }

  /** Log axes cannot show zero or less: such a value becomes a gap. */
  function positive(values) {
    return values.map(function (v) {
      return D.isNum(v) && v > 0 ? v : null;
    });
  }

  function logRange(u, min, max) {
    if (!D.isNum(min) || !D.isNum(max)) return [1, 10];
    return uPlot.rangeLog(min, max, 10, true);
  }

  function linRange(u, min, max) {
    if (!D.isNum(min) || !D.isNum(max)) return [0, 1];
    return [Math.min(0, min), max > 0 ? max * 1.08 : 1];
  }

  /** Draws a chart into a new box in parent and registers it under name. */
  function make(parent, name, title, opts, data) {
    var box = D.el("div", { class: "chart", "data-chart": name }, [D.el("h3", null, title)]);
    var plot = D.el("div", { class: "plot" });
    box.appendChild(plot);
    parent.appendChild(box);
    opts.width = Math.max(300, plot.clientWidth || parent.clientWidth || 800);
    opts.height = opts.height || HEIGHT;
    var u = new uPlot(opts, data, plot);
    charts[name] = u;
    sizes.push([u, plot, opts.height]);
    return u;
  }

  window.addEventListener("resize", function () {
    sizes.forEach(function (s) {
      var w = Math.max(300, s[1].clientWidth);
      if (Math.abs(w - s[0].width) > 2) s[0].setSize({ width: w, height: s[2] });
    });
  });

  /* ---- time series ---- */

  var syncing = false;
  var tsCharts = [];

  /** Zooming one time-series chart zooms them all (same x: seconds into the run). */
  function syncZoom(u, key) {
    if (key !== "x" || syncing || u.status !== 1) return;
    syncing = true;
    try {
      tsCharts.forEach(function (other) {
        if (other !== u && other.status === 1) other.setScale("x", { min: u.scales.x.min, max: u.scales.x.max });
      });
    } finally {
      syncing = false;
    }
  }

  function stepT(series) {
    if (Array.isArray(series.t)) return series.t;
    var out = [];
    for (var i = 0; i < series.points; i++) out.push(i * (series.step_s || 1));
    return out;
  }

  /**
   * A time-series chart. lines: [{label, color, pick(series) -> array or null, scale}];
   * a run whose pick gives null has no such line.
   */
  function timeSeries(parent, name, title, runs, lines, opts) {
    opts = opts || {};
    var tables = [], series = [{ label: "time", value: function (u, v) { return D.secs(v); } }];
    runs.forEach(function (run, r) {
      var s = run.series, table = [stepT(s)];
      lines.forEach(function (line) {
        var values = line.pick(s, run);
        if (!values) return;
        table.push(opts.log && line.scale !== "%" ? positive(values) : values);
        series.push({
          label: label(runs, r, line.label),
          stroke: runColour(line.color, r),
          dash: DASHES[r % DASHES.length],
          width: 1.6,
          scale: line.scale || "y",
          spanGaps: false,
          points: { show: false },
          value: function (u, v) {
            return v === null || v === undefined ? "–" : (line.fmt || opts.fmt || D.num)(v);
          }
        });
      });
      tables.push(table);
    });
    if (series.length === 1) return null;
    var fmt = opts.fmt || D.num;
    var scales = { x: { time: false }, y: opts.log ? { distr: 3, log: 10, range: logRange } : { range: linRange } };
    var axes = [
      { values: ticks(D.secs), incrs: STEP_INCRS, label: "seconds since the run's start", labelSize: 20 },
      // a count axis ticks at whole numbers only: "0, 1, 2", never "0, 1, 1, 2, 2"
      { values: ticks(fmt), size: 60, label: opts.unit, labelSize: 20, incrs: fmt === D.int && !opts.log ? COUNT_INCRS : undefined }
    ];
    if (opts.right) {
      scales[opts.right.scale] = { range: function (u, min, max) { return [0, Math.max(1, (max || 0) * 1.08)]; } };
      axes.push({ scale: opts.right.scale, side: 1, grid: { show: false }, size: 50,
        values: ticks(opts.right.fmt) });
    }
    var u = make(parent, "series." + name, title, {
      scales: scales,
      axes: axes,
      series: series,
      cursor: { sync: { key: "capture-series" }, drag: { x: true, y: false } },
      legend: { live: true },
      hooks: { setScale: [syncZoom] }
    }, joined(tables));
    tsCharts.push(u);
    return u;
  }

  /* ---- latency distributions: the percentile curve on a "nines" axis ---- */

  /** x for a percentile: 1 / (1 - p), so 50 % -> 2, 90 % -> 10, 99 % -> 100. */
  function nines(percent, count) {
    var top = Math.max(10, count || 10); // 100 % sits at 1 / (1 - (count-1)/count)
    var rest = 1 - percent / 100;
    return rest <= 1 / top ? top : 1 / rest;
  }

  function ninesLabel(x) {
    if (!D.isNum(x)) return "";
    if (x <= 1) return "0%";
    var p = 100 * (1 - 1 / x);
    var digits = Math.max(0, Math.round(Math.log10(x)) - 2);
    return p.toFixed(Math.min(6, digits)).replace(/\.0+$/, "") + "%";
  }

  function ninesSplits(u, axis, min, max) {
    var out = [1, 2];
    for (var x = 10; x <= max * 1.0001; x *= 10) out.push(x);
    return out.filter(function (x) { return x >= min * 0.9999 && x <= max * 1.0001; });
  }

  /** One curve's [x, ms] table, x ascending and unique (a tie keeps the last ms). */
  function curveTable(dist) {
    var xs = [], ys = [];
    (dist.percentiles || []).forEach(function (p) {
      var x = nines(p[0], dist.count);
      if (xs.length && x <= xs[xs.length - 1]) ys[ys.length - 1] = Math.max(ys[ys.length - 1], p[1]);
      else { xs.push(x); ys.push(p[1]); }
    });
    return [xs, positive(ys)];
  }

  /** curves: [{label, color, dash, dist}]; null dists are left out. */
  function percentiles(parent, name, title, curves) {
    curves = curves.filter(function (c) { return c.dist && c.dist.percentiles && c.dist.percentiles.length; });
    if (!curves.length) return null;
    var top = 10;
    var tables = curves.map(function (c) {
      var t = curveTable(c.dist);
      top = Math.max(top, t[0][t[0].length - 1]);
      return t;
    });
    var series = [{ label: "percentile", value: function (u, v) { return D.isNum(v) ? ninesLabel(v) : "–"; } }];
    curves.forEach(function (c) {
      series.push({ label: c.label, stroke: c.color, dash: c.dash, width: 1.8, spanGaps: true, points: { show: false },
        value: function (u, v) { return D.isNum(v) ? D.ms(v) : "–"; } });
    });
    var xmax = Math.pow(10, Math.ceil(Math.log10(top) - 1e-9));
    return make(parent, "dist." + name, title, {
      scales: { x: { time: false, distr: 3, log: 10, range: function () { return [1, xmax]; } }, y: { distr: 3, log: 10, range: logRange } },
      axes: [
        { splits: ninesSplits, filter: function (u, splits) { return splits; }, label: "percentile", labelSize: 20,
          values: function (u, splits) { return splits.map(ninesLabel); } },
        { values: ticks(D.ms), size: 64, label: "latency", labelSize: 20 }
      ],
      series: series,
      cursor: { drag: { x: true, y: false } }
    }, joined(tables));
  }

  /** Histogram bins as steps on a log latency axis. bins: [{label, color, dash, dist}]. */
  function histogram(parent, name, title, curves) {
    curves = curves.filter(function (c) { return c.dist && c.dist.histogram && c.dist.histogram.length; });
    if (!curves.length) return null;
    var step = uPlot.paths.stepped({ align: 1 });
    var tables = curves.map(function (c) {
      var bins = c.dist.histogram, xs = [], ys = [];
      bins.forEach(function (b) {
        if (b[0] > 0 && (!xs.length || b[0] > xs[xs.length - 1])) { xs.push(b[0]); ys.push(b[2]); }
      });
      var end = bins[bins.length - 1][1];
      if (end > xs[xs.length - 1]) { xs.push(end); ys.push(0); }
      return [xs, ys];
    });
    var series = [{ label: "from", value: function (u, v) { return D.ms(v); } }];
    curves.forEach(function (c) {
      series.push({ label: c.label, stroke: c.color, fill: alpha(c.color, 0.12), dash: c.dash, width: 1.4,
        paths: step, points: { show: false }, value: function (u, v) { return D.int(v); } });
    });
    return make(parent, "dist." + name, title, {
      scales: { x: { time: false, distr: 3, log: 10, range: logRange }, y: { range: linRange } },
      axes: [
        { values: ticks(D.ms), label: "latency", labelSize: 20 },
        { values: ticks(D.int), size: 60, label: "requests", labelSize: 20 }
      ],
      series: series,
      cursor: { drag: { x: true, y: false } }
    }, joined(tables));
  }

  /* ---- failures by position on the connection ---- */

  // A failed share over fewer requests than this is noise: not drawn (a gap).
  var MIN_SHARE_REQUESTS = 20;
  // Outcomes with a colour of their own: the keep-alive race's kinds stand apart from
  // the statuses a server or balancer sends.
  var OUTCOME_COLOURS = {
    remote_closed: "#7c3aed", reset: "#db2777", read_timeout: "#2563eb", connect_refused: "#57534e",
    "500": "#dc2626", "502": "#f97316", "503": "#ca8a04", "504": "#78350f", "429": "#0d9488"
  };
  var OUTCOME_SPARE = ["#2563eb", "#16a34a", "#0f766e", "#65a30d", "#9333ea", "#be123c", "#1e3a8a", "#a16207", "#475569", "#e11d48"];

  /** A colour per outcome, none used twice in one chart. */
  function outcomeColours(kinds) {
    var used = {}, out = {};
    kinds.forEach(function (k) {
      var c = OUTCOME_COLOURS[k];
      if (c && !used[c]) { out[k] = c; used[c] = true; }
    });
    var spare = OUTCOME_SPARE.filter(function (c) { return !used[c]; });
    kinds.forEach(function (k, i) {
      if (!out[k]) out[k] = spare.length ? spare.shift() : PALETTE[i % PALETTE.length];
    });
    return out;
  }

  /** Reads positions as columns, from columns or from a list of rows. */
  function columns(pos) {
    if (!Array.isArray(pos)) return pos;
    return { bin: 1, from: pos.map(function (p) { return p.from; }), requests: pos.map(function (p) { return p.requests; }),
      failures: pos.map(function (p) { return p.failures; }) };
  }

  /** The failure counts to stack, [[outcome, values], …]: by_kind, or all failures as one. */
  function stackParts(pos) {
    var kinds = Object.keys(pos.by_kind || {});
    if (!kinds.length) return [["failures", pos.failures]];
    // most failures first (a JSON object's numeric keys come back in numeric order)
    var total = {};
    kinds.forEach(function (k) { total[k] = pos.by_kind[k].reduce(function (a, b) { return a + (b || 0); }, 0); });
    kinds.sort(function (a, b) { return total[b] - total[a] || (a < b ? -1 : a > b ? 1 : 0); });
    return kinds.map(function (k) { return [k, pos.by_kind[k]]; });
  }

  /**
   * One run's failures by position, stacked by outcome (series i is drawn from 0 to the
   * sum of outcomes i… so the earlier, taller bar shows only its own part above the
   * later ones), with the failed % of the requests at each position on the right axis.
   * u.rawData holds each series' own values, as the legend shows them.
   */
  function positions(parent, run, name, title) {
    var pos = columns(run.connections && run.connections.positions);
    if (!pos || !pos.from || !pos.from.length) return null;
    var bin = pos.bin || 1, n = pos.from.length;
    var xs = pos.from.map(function (f) { return f + (bin - 1) / 2; }); // a bar spans its bin
    var parts = stackParts(pos), colours = outcomeColours(parts.map(function (p) { return p[0]; }));
    var requests = pos.requests || [];
    var share = (pos.failures || []).map(function (f, i) {
      return requests[i] >= MIN_SHARE_REQUESTS ? (100 * f) / requests[i] : null;
    });
    var raw = [xs], data = [xs], series = [{ label: "position", value: function (u, v, si, i) { return positionText(pos, i); } }];
    var bars = uPlot.paths.bars({ size: [0.8, 40], align: 0 });
    parts.forEach(function (part, p) {
      var stacked = [];
      for (var i = 0; i < n; i++) {
        var sum = 0;
        for (var q = p; q < parts.length; q++) sum += parts[q][1][i] || 0;
        stacked.push(sum);
      }
      raw.push(part[1]);
      data.push(stacked);
      series.push({ label: part[0], stroke: colours[part[0]], fill: colours[part[0]], width: 0, paths: bars,
        points: { show: false }, value: rawValue(raw, D.int) });
    });
    raw.push(share);
    data.push(share);
    series.push({ label: "failed %", stroke: "#111827", width: 1.6, scale: "%", spanGaps: false, points: { show: false },
      value: function (u, v, si, i) { return shareText(share, requests, i); } });
    var u = make(parent, name, title || "Failures by position on the connection, by outcome (1 = a fresh connection)", {
      scales: {
        x: { time: false, range: function () { return [pos.from[0] - 0.5, pos.from[n - 1] + bin - 0.5]; } },
        y: { range: linRange },
        "%": { range: function (u, min, max) { return [0, Math.max(1, (max || 0) * 1.08)]; } }
      },
      axes: [
        { values: ticks(function (v) { return "#" + D.int(v); }), incrs: COUNT_INCRS, label: "request number on its connection", labelSize: 20 },
        { values: ticks(D.int), size: 60, label: "failures", labelSize: 20, incrs: COUNT_INCRS },
        { scale: "%", side: 1, grid: { show: false }, size: 50, values: ticks(function (v) { return D.num(v) + "%"; }) }
      ],
      series: series,
      legend: { live: true },
      cursor: { drag: { x: true, y: false } }
    }, data);
    u.rawData = raw;
    return u;
  }

  function rawValue(raw, fmt) {
    return function (u, v, si, i) { return i === null || i === undefined ? "–" : fmt(raw[si][i]); };
  }

  /** "#3 (24 requests)", or "#41–80 (…)" for a point of several positions. */
  function positionText(pos, i) {
    if (i === null || i === undefined) return "–";
    var bin = pos.bin || 1, from = pos.from[i];
    var at = "#" + D.int(from) + (bin > 1 ? "–" + D.int(from + bin - 1) : "");
    return at + " (" + D.int((pos.requests || [])[i]) + " requests)";
  }

  function shareText(share, requests, i) {
    if (i === null || i === undefined) return "–";
    if (share[i] === null) return "not drawn: " + D.int(requests[i]) + " requests";
    return D.pct(share[i]) + " of " + D.int(requests[i]);
  }

  CR.charts = {
    PALETTE: PALETTE, STATUS_COLOURS: STATUS_COLOURS, DASHES: DASHES, colour: colour,
    timeSeries: timeSeries, percentiles: percentiles, histogram: histogram, positions: positions,
    MIN_SHARE_REQUESTS: MIN_SHARE_REQUESTS, runColour: runColour,
    nines: nines, ninesLabel: ninesLabel
  };
})();
