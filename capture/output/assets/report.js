/* capture report: reads the JSON in #report-data (docs/report.md) and draws the page.
 * Plain ES2019. Each section is drawn on its own, so one that throws is reported on the
 * console and the rest still show; body[data-ready="1"] says every section was tried. */
(function () {
  "use strict";
  var CR = window.CaptureReport;
  var D = CR.dom, C = CR.charts, el = D.el;

  function header(doc, runs) {
    var first = runs[0];
    var title = runs.length > 1
      ? "capture report: " + runs.map(D.runLabel).join(" vs ")
      : "capture report: " + D.runLabel(first);
    document.title = title;
    var head = el("header", { class: "top" }, [
      el("h1", null, title),
      el("p", { class: "meta" }, [
        "database " + (doc.database || "–") + " · generated " + (doc.generated_at || "–") +
        " · capture " + (doc.capture_version || "–")
      ])
    ]);
    var verdicts = el("div", { class: "verdicts" }, runs.map(function (run) {
      var failed = run.totals && run.totals.failed;
      return el("p", { class: "verdict " + (failed ? "bad" : "good") }, [
        runs.length > 1 ? el("strong", null, D.runLabel(run) + ": ") : null,
        run.verdict || "no verdict"
      ]);
    }));
    head.appendChild(verdicts);
    return head;
  }

  function runCard(run, many) {
    var r = run.run || {}, t = run.totals || {};
    var card = D.section("run-" + r.id, many ? D.runLabel(run) : "What ran");
    var targets = (run.targets || []).map(function (x) { return el("li", null, [el("code", null, x.method + " " + x.url)]); });
    if (run.targets_total > (run.targets || []).length) {
      targets.push(el("li", { class: "note" }, "… " + D.int(run.targets_total - run.targets.length) + " more"));
    }
    card.appendChild(el("div", { class: "tiles" }, [
      tile("requests", D.int(t.requests), "sent, each with a row"),
      tile("ok", D.int(t.ok)),
      tile("failed", D.int(t.failed), D.pct(t.failed_pct), t.failed ? "bad" : "good"),
      tile("rate", D.num(t.rate) + "/s", t.qps_asked ? "asked " + D.num(t.qps_asked) + "/s" : "unpaced"),
      tile("duration", D.secs(t.duration_s)),
      tile("latency p99", D.ms(run.latency_ms && run.latency_ms.ok && run.latency_ms.ok.p99), "ok requests")
    ]));
    card.appendChild(D.facts([
      ["status", el("span", { class: "badge " + (r.status || "") }, r.status || "–")],
      ["command", r.command_line ? el("code", { class: "cmd" }, r.command_line) : null],
      ["targets", targets.length ? el("ul", { class: "targets" }, targets) : null],
      ["started", r.started_at], ["finished", r.finished_at || "not finished"],
      ["host", r.hostname], ["hosts", r.hosts && r.hosts > 1 ? String(r.hosts) : null],
      ["aborted", t.aborted ? D.int(t.aborted) + " sent, outcome unknown" : null],
      ["failures stored", D.int(t.failures_stored) + (t.failures_dropped ? " (" + D.int(t.failures_dropped) + " dropped)" : "")],
      ["sockets used", D.int(t.sockets_used)],
      ["capture", r.capture_version]
    ]));
    card.appendChild(el("div", { class: "cols" }, [counts("Statuses", run.status_counts, "status"),
      (run.error_counts || []).length ? counts("Errors", run.error_counts, "error_kind") : null,
      latencyTable(run.latency_ms)]));
    return card;
  }

  function tile(name, value, sub, cls) {
    return el("div", { class: "tile " + (cls || "") }, [el("div", { class: "tile-name" }, name),
      el("div", { class: "tile-value" }, value), sub ? el("div", { class: "tile-sub" }, sub) : null]);
  }

  function counts(title, list, keyName) {
    var rows = (list || []).map(function (item) { return D.pair(item, keyName); });
    return el("div", null, [el("h3", null, title), rows.length ? D.table([
      { title: keyName === "status" ? "status" : "kind", key: function (x) { return x[0] === null ? "no response" : String(x[0]); } },
      { title: "requests", num: true, key: function (x) { return x[1]; }, text: function (x) { return D.int(x[1]); } }
    ], rows) : el("p", { class: "note" }, "none")]);
  }

  function latencyTable(lat) {
    lat = lat || {};
    var keys = ["p50", "p90", "p99", "p99.9", "max"];
    return el("div", { class: "wide" }, [el("h3", null, "Latency"), D.table(
      [{ title: "", key: function (x) { return x; } }].concat(keys.map(function (k) {
        return { title: k, num: true, key: function (x) { return (lat[x] || {})[k]; }, text: function (x) { return D.ms((lat[x] || {})[k]); } };
      })), ["ok", "failed"])]);
  }

  function seriesSection(runs, parent) {
    var steps = runs.map(function (run) { return run.series.step_s || 1; });
    var longest = Math.max.apply(null, steps);
    var note = (longest > 1 ? "By the " + longest + " s step" : "By the second") + " each request started in (drag to zoom, double-click to reset; the charts zoom together). " +
      "Counts are per second" + (longest > 1 ? ", each point a step of " + longest + " s averaged over it" : "") +
      "; the last step over the time it lasted, and left out when that is under a quarter of a step (unless it is the only one). Gaps: no request in that step.";
    var s = D.section("series", "Over time", note, parent);
    var classes = ["2xx", "3xx", "4xx", "5xx", "error"];
    C.timeSeries(s, "requests", "Requests per second by status class", runs, classes.map(function (k) {
      return { label: k === "error" ? "no response" : k, color: C.STATUS_COLOURS[k], fmt: D.num,
        pick: function (x) { return perSecond(x, classSeries(x, k)); } };
    }), { unit: "requests/s", fmt: D.num });
    var kinds = [];
    runs.forEach(function (run) { Object.keys(run.series.errors || {}).forEach(function (k) { if (kinds.indexOf(k) < 0) kinds.push(k); }); });
    if (kinds.length) {
      C.timeSeries(s, "errors", "Errors per second by kind", runs, kinds.map(function (k, i) {
        return { label: k, color: C.colour(i), fmt: D.num, pick: function (x) { return perSecond(x, (x.errors || {})[k] || null); } };
      }), { unit: "requests/s", fmt: D.num });
    }
    C.timeSeries(s, "failures", "Failures per second", runs, [
      { label: "failures/s", color: "#dc2626", fmt: D.num, pick: function (x) { return perSecond(x, x.failures); } },
      { label: "failed %", color: "#57534e", scale: "%", fmt: D.pct, pick: failedShare }
    ], { unit: "failed requests/s", fmt: D.num, right: { scale: "%", fmt: function (v) { return D.num(v) + "%"; } } });
    var lat = [["p50", "#16a34a"], ["p90", "#2563eb"], ["p99", "#d97706"], ["max", "#dc2626"]];
    C.timeSeries(s, "latency", "Latency of the ok requests (log scale)", runs, lat.map(function (p) {
      return { label: p[0], color: p[1], pick: function (x) { return x.latency_ms && x.latency_ms[p[0]]; } };
    }), { unit: "latency", fmt: D.ms, log: true });
    if (runs.some(function (run) { return hasValues(run.series.failed_latency_ms); })) {
      C.timeSeries(s, "failed_latency", "Latency of the failed requests (log scale): fast failures are often refusals", runs,
        [["p50", "#16a34a"], ["p99", "#d97706"], ["max", "#dc2626"]].map(function (p) {
          return { label: "failed " + p[0], color: p[1], pick: function (x) { return x.failed_latency_ms && x.failed_latency_ms[p[0]]; } };
        }), { unit: "latency", fmt: D.ms, log: true });
    }
    if (runs.some(function (run) { return run.series.lag_ms; })) {
      C.timeSeries(s, "lag", "Send lag behind the --qps schedule", runs, [["p50", "#16a34a"], ["p99", "#d97706"], ["max", "#dc2626"]].map(function (p) {
        return { label: "lag " + p[0], color: p[1], pick: function (x) { return x.lag_ms ? x.lag_ms[p[0]] : null; } };
      }), { unit: "lag", fmt: D.ms });
    }
    C.timeSeries(s, "connections", "Open connections (each from its first request's start to its last response's end)", runs, [
      { label: "open (average)", color: "#2563eb", fmt: D.num, pick: function (x) { return x.connections && x.connections.open_avg; } },
      { label: "open (peak)", color: "#7c3aed", fmt: D.int, pick: function (x) { return x.connections && x.connections.open_max; } },
      { label: "opened/s", color: "#d97706", fmt: D.num, pick: function (x) { return x.connections && perSecond(x, x.connections.opened); } }
    ], { unit: "connections", fmt: D.num });
    return s;
  }

  /** Counts per step as a rate per second: over step_s, the last step over last_span_s
   * (null when it lasted under a quarter of a step, unless it is the only one: a rate
   * over a sliver beside whole steps misleads). */
  function perSecond(x, values) {
    if (!values) return null;
    var step = x.step_s || 1;
    var last = values.length - 1;
    var span = D.isNum(x.last_span_s) ? x.last_span_s : step;
    return values.map(function (v, i) {
      if (v === null || v === undefined) return null;
      if (i < last) return v / step;
      // The only step of a short run is its whole rate: over its span, however short.
      if (span < step / 4 && i > 0) return null;
      return v / Math.max(span, 0.001);
    });
  }

  function hasValues(series) {
    return !!series && Object.keys(series).some(function (k) {
      return (series[k] || []).some(function (v) { return v !== null && v !== undefined; });
    });
  }

  /** A status class's counts, or null for a class with none (2xx is always drawn). */
  function classSeries(x, k) {
    var values = (x.requests || {})[k];
    if (!values) return null;
    return k === "2xx" || values.some(function (v) { return v; }) ? values : null;
  }

  /** Failed share of each step's requests, %; null where the step has none. */
  function failedShare(x) {
    var req = x.requests || {};
    return (x.failures || []).map(function (f, i) {
      var n = 0;
      Object.keys(req).forEach(function (k) { n += req[k][i] || 0; });
      return n ? (100 * f) / n : null;
    });
  }

  function distributionSection(runs, parent) {
    var s = D.section("distribution", "Latency distribution", "Every request's latency, from the run's HdrHistogram (3 significant digits). The x axis counts nines: 90 %, 99 %, 99.9 %…", parent);
    var kinds = [["overall", "#2563eb"], ["ok", "#16a34a"], ["failed", "#dc2626"]];
    var curves = [];
    runs.forEach(function (run, r) {
      kinds.forEach(function (k) {
        curves.push({ label: (runs.length > 1 ? D.runLabel(run) + " " : "") + k[0], color: C.runColour(k[1], r), dash: C.DASHES[r % 4], dist: (run.distribution || {})[k[0]] });
      });
    });
    C.percentiles(s, "percentiles", "Percentile curve: overall, ok and failed", curves);
    var perUrl = [], names = [];
    runs.forEach(function (run, r) {
      ((run.distribution || {}).urls || []).forEach(function (u) {
        if (!u) return;
        var name = (u.method || "") + " " + (u.template || "other URLs");
        if (names.indexOf(name) < 0) names.push(name);
        // {method, template, dist} (or the distribution's keys beside method and template)
        var dist = u.dist !== undefined ? u.dist : u;
        perUrl.push({ label: (runs.length > 1 ? D.runLabel(run) + " " : "") + name, color: C.runColour(C.colour(names.indexOf(name)), r), dash: C.DASHES[r % 4], dist: dist });
      });
    });
    C.percentiles(s, "urls", "Percentile curve per URL", perUrl);
    var bins = [];
    runs.forEach(function (run, r) {
      [["ok", "#16a34a"], ["failed", "#dc2626"]].forEach(function (k) {
        bins.push({ label: (runs.length > 1 ? D.runLabel(run) + " " : "") + k[0], color: C.runColour(k[1], r), dash: C.DASHES[r % 4], dist: (run.distribution || {})[k[0]] });
      });
    });
    C.histogram(s, "histogram", "Latency histogram (logarithmic bins)", bins);
    return s;
  }

  function urlSection(runs, parent) {
    var s = D.section("urls", "Per URL", "By method and URL template. Click a column to sort.", parent);
    runs.forEach(function (run) {
      if (runs.length > 1) s.appendChild(el("h3", null, D.runLabel(run)));
      s.appendChild(D.table([
        { title: "method", key: function (u) { return u.method || ""; } },
        { title: "URL", cls: "url", key: function (u) { return u.template === null || u.template === undefined ? "(" + D.int(u.templates) + " other URLs)" : u.template; } },
        { title: "requests", num: true, key: function (u) { return u.requests; }, text: function (u) { return D.int(u.requests); } },
        { title: "failed", num: true, key: function (u) { return u.failed; }, text: function (u) { return D.int(u.failed); } },
        { title: "failed %", num: true, key: function (u) { return u.failed_pct; }, text: function (u) { return D.pct(u.failed_pct); } },
        { title: "rate", num: true, key: function (u) { return u.rate; }, text: function (u) { return D.isNum(u.rate) ? D.num(u.rate) + "/s" : "–"; } },
        { title: "p50", num: true, key: function (u) { return (u.latency_ms || {}).p50; }, text: function (u) { return D.ms((u.latency_ms || {}).p50); } },
        { title: "p95", num: true, key: function (u) { return (u.latency_ms || {}).p95; }, text: function (u) { return D.ms((u.latency_ms || {}).p95); } },
        { title: "p99", num: true, key: function (u) { return (u.latency_ms || {}).p99; }, text: function (u) { return D.ms((u.latency_ms || {}).p99); } },
        { title: "top failures", key: function (u) { return topText(u.top_failures); } }
      ], run.urls || [], { sortable: true, rowClass: function (u) { return u.failed ? "has-failures" : null; } }));
    });
    return s;
  }

  function topText(list) {
    return (list || []).map(function (item) { var p = D.pair(item, "outcome"); return p[0] + " ×" + D.int(p[1]); }).join(", ");
  }

  CR.sections = Object.assign(CR.sections || {}, { header: header, runCard: runCard,
    seriesSection: seriesSection, distributionSection: distributionSection, urlSection: urlSection });

  function draw() {
    var main = document.getElementById("report");
    var doc = JSON.parse(document.getElementById("report-data").textContent);
    var runs = doc.runs || [];
    main.textContent = "";
    var S = CR.sections;
    var steps = [
      function () { main.appendChild(S.header(doc, runs)); },
      function () { var g = el("div", { class: "run-cards" }); main.appendChild(g); runs.forEach(function (run) { g.appendChild(S.runCard(run, runs.length > 1)); }); },
      function () { if (runs.length > 1) S.deltaSection(runs, doc.comparisons || [], main); },
      function () { S.findingSection(runs, main); },
      function () { S.seriesSection(runs, main); },
      function () { S.distributionSection(runs, main); },
      function () { S.urlSection(runs, main); },
      function () { S.groupSection(runs, main); },
      function () { S.connectionSection(runs, main); }
    ];
    steps.forEach(function (step, i) {
      try {
        step();
      } catch (err) {
        console.error("capture report: section " + i + " failed:", err && err.stack ? err.stack : err);
        main.appendChild(el("p", { class: "verdict bad" }, "This part of the report could not be drawn: " + err));
      }
    });
  }

  function start() {
    try {
      draw();
    } catch (err) {
      console.error("capture report: could not draw:", err && err.stack ? err.stack : err);
    } finally {
      document.body.dataset.ready = "1";
    }
  }

  // The data block and the other scripts are parsed before this one runs; layout first.
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
