/* capture report: the failure groups, connections and before/after sections. ES2019.
 * Bodies, headers, URLs and reasons came from a server: they go in as text only. */
(function () {
  "use strict";
  var CR = (window.CaptureReport = window.CaptureReport || {});
  var D = CR.dom, C = CR.charts, el = D.el;

  /* ---- failure groups and their example exchanges ---- */

  function headerBlock(title, list) {
    if (!list.length) return null;
    return el("div", { class: "headers" }, [el("h5", null, title), el("table", { class: "kv" }, el("tbody", null,
      list.map(function (h) { return el("tr", null, [el("th", null, h[0]), el("td", null, h[1])]); })))]);
  }

  /** The body as {preview, size, truncated, content_type, …}, from either shape of an
   * example: a nested `body` object, or flat body_preview / body_size columns. */
  function bodyOf(ex) {
    if (ex.body && typeof ex.body === "object") return ex.body;
    return { preview: typeof ex.body_preview === "string" ? ex.body_preview : typeof ex.body === "string" ? ex.body : null,
      size: ex.body_size, truncated: ex.body_truncated, content_type: ex.content_type, content_encoding: ex.content_encoding };
  }

  function neighbours(list) {
    if (!list || !list.length) return null;
    return list.map(function (n) {
      var what = n.status !== null && n.status !== undefined ? String(n.status) : n.error_kind || "?";
      return "#" + n.connection_request_no + " " + what + " (" + D.ms(n.latency_ms) + ")";
    }).join(" · ");
  }

  function example(ex, i) {
    var outcome = ex.status !== null && ex.status !== undefined
      ? String(ex.status) + (ex.reason ? " " + ex.reason : "")
      : [ex.error_kind, ex.error_class, ex.error_message].filter(Boolean).join(": ") || "no response";
    var b = bodyOf(ex), t = ex.timings || ex, sock = ex.socket || ex;
    var body = typeof b.preview === "string" && b.preview !== "" ? b.preview : null;
    var bodyNote = [
      D.isNum(b.size) ? D.int(b.size) + " bytes" : null,
      b.truncated ? "truncated when stored" : null,
      b.content_type, b.content_encoding
    ].filter(Boolean).join(" · ");
    return el("details", { class: "example" }, [
      el("summary", null, [el("span", { class: "ex-no" }, "example " + (i + 1)), " ",
        el("code", null, (ex.method || "") + " " + (ex.url || "")), " → ", el("strong", null, outcome),
        D.isNum(ex.offset_ms) ? el("span", { class: "note" }, " at " + D.secs(ex.offset_ms / 1000)) : null]),
      el("div", { class: "exchange" }, [
        el("div", { class: "side" }, [
          el("h4", null, "Request"),
          el("pre", { class: "line" }, (ex.method || "") + " " + (ex.url || "") + (ex.http_version ? " " + ex.http_version : "")),
          headerBlock("headers", D.headers(ex.request_headers)),
          typeof ex.request_body === "string" && ex.request_body ? el("pre", { class: "body" }, ex.request_body) : null
        ]),
        el("div", { class: "side" }, [
          el("h4", null, "Response"),
          el("pre", { class: "line" }, outcome),
          ex.error_message && ex.status !== null && ex.status !== undefined ? el("p", { class: "note" }, ex.error_message) : null,
          headerBlock("headers", D.headers(ex.response_headers)),
          body !== null ? el("div", null, [el("h5", null, "body" + (bodyNote ? " (" + bodyNote + ")" : "")), el("pre", { class: "body" }, body)])
            : el("p", { class: "note" }, bodyNote || "no body stored")
        ])
      ]),
      D.facts([
        ["id", D.isNum(ex.id) ? "capture show " + ex.id : null],
        ["started", ex.started_at],
        ["timings", ["wait_ms", "connect_ms", "ttfb_ms", "latency_ms", "lag_ms"].filter(function (k) { return D.isNum(t[k]); })
          .map(function (k) { return k.replace("_ms", "") + " " + D.ms(t[k]); }).join(" · ")],
        ["socket", sock.local_addr || sock.remote_addr ? (sock.local_addr || "?") + " → " + (sock.remote_addr || "?") : null],
        ["connection", connectionText(sock)],
        ["on the connection", neighbours(ex.neighbours)],
        ["correlation id", ex.correlation_id]
      ], "facts small")
    ]);
  }

  function connectionText(sock) {
    var at = D.isNum(sock.connection_request_no) ? "request " + sock.connection_request_no + " on it" : null;
    if (!D.isNum(sock.connection_id)) return at;
    return "#" + sock.connection_id + (at ? ", " + at : "") + (D.isNum(sock.session) ? " (session " + sock.session + ")" : "");
  }

  function group(g) {
    var examples = g.examples || [];
    return el("details", { class: "group" }, [
      el("summary", null, [
        el("span", { class: "g-count" }, D.int(g.count)),
        el("span", { class: "g-outcome" }, g.outcome),
        el("code", { class: "g-path" }, g.path || ""),
        signature(g),
        el("span", { class: "g-time" }, D.secs(g.first_ms / 1000) + " → " + D.secs(g.last_ms / 1000)),
        el("span", { class: "note" }, examples.length + (examples.length === 1 ? " example" : " examples"))
      ]),
      examples.length ? examples.map(example) : el("p", { class: "note" }, "no example stored")
    ]);
  }

  // What a group's signature was made of (docs/report.md: signature_from).
  var SIGNED_BY = { body: "body", error: "error" };

  /** The group's signature in full, wrapping, labelled by what it was made of: two
   * groups that differ must never look alike. */
  function signature(g) {
    var text = g.signature === null || g.signature === undefined ? null : String(g.signature);
    var from = SIGNED_BY[g.signature_from];
    var span = el("span", { class: "g-sig" }, text === null ? el("span", { class: "note" }, "no signature")
      : [from ? el("span", { class: "sig-from" }, from + ": ") : null, el("span", { class: "sig-text" }, text)]);
    if (text !== null) span.title = (from ? from + " signature: " : "signature: ") + text;
    return span;
  }

  function groupSection(runs, parent) {
    var s = D.section("failures", "Failure groups", "Failures alike in outcome, path and body signature; count, first and last seen after the run's start. Open one for its examples.", parent);
    runs.forEach(function (run) {
      if (runs.length > 1) s.appendChild(el("h3", null, D.runLabel(run)));
      var groups = run.failure_groups || [];
      if (!groups.length) { s.appendChild(el("p", { class: "note" }, "No failures.")); return; }
      s.appendChild(el("div", { class: "group-head" }, [el("span", null, "count"), el("span", null, "outcome"), el("span", null, "path"),
        el("span", null, "signature"), el("span", null, "first → last"), el("span", null, "")]));
      var list = el("div", { class: "groups" }, groups.map(group));
      list.dataset.run = String((run.run || {}).id);
      s.appendChild(list);
      if (run.failure_groups_total > groups.length) {
        s.appendChild(el("p", { class: "note" }, D.int(groups.length) + " of " + D.int(run.failure_groups_total) + " groups shown (capture summary lists them all)."));
      }
    });
    return s;
  }

  /* ---- diagnosis ---- */

  function findingSection(runs, parent) {
    var s = D.section("diagnosis", "Diagnosis", "What stands out in the failures, ranked by the share they explain (docs/diagnose.md: each detector's criterion).", parent);
    runs.forEach(function (run) {
      if (runs.length > 1) s.appendChild(el("h3", null, D.runLabel(run)));
      var list = run.findings || [];
      if (!list.length) { s.appendChild(el("p", { class: "note" }, "Nothing stands out: no finding.")); return; }
      s.appendChild(el("ol", { class: "findings" }, list.map(function (f) {
        var ev = f.evidence || {};
        var parts = [el("p", null, f.sentence), el("p", { class: "note" },
          Math.round(100 * f.share) + " % of the failures (" + D.int(f.failures) + "), " + D.int(f.rows) + " rows · capture " + (f.command || []).join(" "))];
        if ((ev.columns || []).length) {
          parts.push(el("table", null, [el("tr", null, ev.columns.map(function (c) { return el("th", null, String(c)); }))].concat(
            (ev.rows || []).map(function (r) { return el("tr", null, r.map(function (c) { return el("td", null, String(c)); })); }))));
        }
        return el("li", null, parts);
      })));
    });
    return s;
  }

  /* ---- connections ---- */

  function connectionSection(runs, parent) {
    var s = D.section("connections", "Connections", "A keep-alive race shows as failures on reused connections only, often at one position.", parent);
    s.appendChild(el("p", { class: "note" }, "Bars: failures at each position by outcome; line: failed % of the requests at that position, not drawn where fewer than " +
      C.MIN_SHARE_REQUESTS + " requests got that far (hover for the counts)."));
    runs.forEach(function (run) {
      var many = runs.length > 1;
      C.positions(s, run, "connections.positions" + (many ? "." + (run.run || {}).id : ""),
        "Failures by position on the connection, by outcome (1 = a fresh connection)" + (many ? ": " + D.runLabel(run) : ""));
    });
    var fvr = [];
    runs.forEach(function (run) {
      var f = (run.connections || {}).first_vs_reused || {};
      ["first", "reused"].forEach(function (k) { if (f[k]) fvr.push({ run: run, which: k, row: f[k] }); });
    });
    var cols = [{ title: "requests on", key: function (x) { return x.which === "first" ? "a fresh connection (#1)" : "a reused connection (#2…)"; } }];
    if (runs.length > 1) cols.unshift({ title: "run", key: function (x) { return D.runLabel(x.run); } });
    ["requests", "failed", "failed_pct", "remote_closed", "reset"].forEach(function (k) {
      cols.push({ title: k.replace("_pct", " %").replace("_", " "), num: true, key: function (x) { return x.row[k]; },
        text: function (x) { return k === "failed_pct" ? D.pct(x.row[k]) : D.int(x.row[k]); } });
    });
    s.appendChild(el("h3", null, "First request on a connection vs reused"));
    s.appendChild(D.table(cols, fvr));
    runs.forEach(function (run) {
      var line = noConnection((run.connections || {}).no_connection);
      if (line) s.appendChild(el("p", { class: "no-connection" }, (runs.length > 1 ? D.runLabel(run) + ": " : "") + line));
    });
    runs.forEach(function (run) {
      var c = run.connections || {}, rows = c.rows || [];
      s.appendChild(el("h3", null, "Per connection" + (runs.length > 1 ? ": " + D.runLabel(run) : "") +
        (c.total > rows.length ? " (" + D.int(rows.length) + " of " + D.int(c.total) + ", most failures first)" : "")));
      s.appendChild(D.table([
        { title: "connection", num: true, key: function (x) { return x.connection_id; }, text: function (x) { return D.isNum(x.connection_id) ? "#" + x.connection_id : "none"; } },
        { title: "process", num: true, key: function (x) { return x.process; } },
        { title: "session", num: true, key: function (x) { return x.session; } },
        { title: "local → remote", key: function (x) { return (x.local_addr || "?") + " → " + (x.remote_addr || "?"); } },
        { title: "requests", num: true, key: function (x) { return x.requests; }, text: function (x) { return D.int(x.requests); } },
        { title: "failures", num: true, key: function (x) { return x.failures; }, text: function (x) { return D.int(x.failures); } },
        { title: "first", num: true, key: function (x) { return x.first_ms; }, text: function (x) { return D.secs(x.first_ms / 1000); } },
        { title: "last", num: true, key: function (x) { return x.last_ms; }, text: function (x) { return D.secs(x.last_ms / 1000); } },
        { title: "failed at position", key: failedAt }
      ], rows, { sortable: true, rowClass: function (x) { return x.failures ? "has-failures" : null; } }));
    });
    return s;
  }

  /** "300 requests made no connection (connect_refused ×300); …", or null for none. */
  function noConnection(nc) {
    if (!nc || !nc.requests) return null;
    var outcomes = (nc.outcomes || []).map(function (o) { var p = D.pair(o, "outcome"); return p[0] + " ×" + D.int(p[1]); });
    return D.int(nc.requests) + (nc.requests === 1 ? " request" : " requests") + " made no connection" +
      (outcomes.length ? " (" + outcomes.join(", ") + ")" : "") +
      ": the fresh and reused rows above count only the requests that had a connection.";
  }

  /** failed_at as a list (and failed_at_more) or as the "3,7" text of capture sockets. */
  function failedAt(x) {
    var list = Array.isArray(x.failed_at) ? x.failed_at.join(", ") : x.failed_at || "";
    return list + (x.failed_at_more ? " … +" + D.int(x.failed_at_more) : "");
  }

  /* ---- before / after ---- */

  function unitOf(metric) {
    if (/pct|%/.test(metric)) return "pt";
    if (/^(ok|failed)?\s*(p\d|max|min)|latency|_ms$/.test(metric)) return "ms";
    return "";
  }

  function shown(v, unit) {
    return unit === "ms" ? D.ms(v) : unit === "pt" ? D.pct(v) : Number.isInteger(v) ? D.int(v) : D.num(v);
  }

  /** {metric: [against, run, change]} or one level deeper, as [[metric, triple], …]. */
  function triples(obj, prefix) {
    var out = [];
    Object.keys(obj || {}).forEach(function (k) {
      var v = obj[k], name = prefix ? prefix + " " + k : k;
      if (Array.isArray(v)) out.push([name, v]);
      else if (v && typeof v === "object") out = out.concat(triples(v, name));
    });
    return out;
  }

  function byId(runs, id) {
    return runs.filter(function (r) { return (r.run || {}).id === id; })[0];
  }

  // Which way is better, per metric: -1 lower, +1 higher; absent: no direction (a
  // longer or bigger run is neither better nor worse).
  var BETTER = { failed: -1, failed_pct: -1, p50: -1, p90: -1, p95: -1, p99: -1, "p99.9": -1, max: -1 };
  var METRIC_NAMES = { failed_pct: "failed %", duration_s: "duration s" };

  /** +1 higher is better, -1 lower is, 0 neither. The rate has a direction only when
   * neither run was paced: a --qps run's rate is what it was asked for. */
  function direction(metric, base, run) {
    if (metric === "rate") return paced(base) || paced(run) ? 0 : 1;
    return BETTER[metric] || 0;
  }

  function paced(run) {
    var q = ((run || {}).totals || {}).qps_asked;
    return q !== null && q !== undefined;
  }

  /** "better", "worse" or null for a change in a metric with that direction. */
  function judged(change, dir) {
    if (!D.isNum(change) || !change || !dir) return null;
    return change * dir > 0 ? "better" : "worse";
  }

  function caveatBox(list) {
    if (!list || !list.length) return null;
    return el("div", { class: "caveats" }, [el("strong", null, "Not like for like: the changes below may not be the service's."),
      el("ul", null, list.map(function (c) { return el("li", null, c); }))]);
  }

  function deltaSection(runs, comparisons, parent) {
    var s = D.section("deltas", "Before and after", "Each later run against the first (the baseline); change = run − baseline, percentages in points. Green: better, red: worse, for the metrics with a direction.", parent);
    comparisons.forEach(function (cmp) {
      var base = byId(runs, cmp.against) || runs[0], run = byId(runs, cmp.run) || {};
      var bl = D.runLabel(base), rl = D.runLabel(run);
      var box = el("div", { class: "comparison" });
      box.dataset.run = String(cmp.run);
      s.appendChild(box);
      box.appendChild(el("h3", null, rl + " against " + bl));
      var warn = caveatBox(cmp.caveats);
      if (warn) box.appendChild(warn);
      var rows = triples(cmp.totals, "").map(function (x) { return [x[0], x[1], x[0]]; })
        .concat(triples(cmp.latency_ms, "ok latency").map(function (x) { return [x[0], x[1], x[0].replace("ok latency ", "")]; }));
      box.appendChild(D.table([
        { title: "metric", key: function (x) { return METRIC_NAMES[x[0]] || x[0]; } },
        { title: bl, num: true, key: function (x) { return x[1][0]; }, text: function (x) { return shown(x[1][0], unitOf(x[0])); } },
        { title: rl, num: true, key: function (x) { return x[1][1]; }, text: function (x) { return shown(x[1][1], unitOf(x[0])); } },
        { title: "change", num: true, key: function (x) { return x[1][2]; }, text: function (x) { return D.signed(x[1][2], unitOf(x[0])); } }
      ], rows, { rowClass: function (x) { return judged(x[1][2], direction(x[2], base, run)); } }));
      var urls = cmp.urls || [];
      if (urls.length) {
        box.appendChild(el("h4", null, "Per URL (" + bl + " → " + rl + ")"));
        box.appendChild(D.table(urlColumns(), urls, { sortable: true }));
      }
      var g = cmp.groups || {};
      [["new", "New failure groups (in " + rl + ", not in " + bl + ")"], ["gone", "Gone (in " + bl + " only)"], ["both", "In both"]].forEach(function (k) {
        var list = g[k[0]] || [];
        box.appendChild(el("h4", null, k[1] + ": " + list.length));
        if (!list.length) return;
        box.appendChild(D.table([
          { title: "outcome", key: function (x) { return x.outcome; } },
          { title: "path", cls: "url", key: function (x) { return x.path; } },
          { title: "signature", cls: "sig", key: function (x) { return x.signature === null || x.signature === undefined ? "no signature" : String(x.signature); } },
          { title: "count", num: true, key: function (x) { return countOf(x); }, text: function (x) { return countText(x, bl, rl); } }
        ], list));
      });
    });
    return s;
  }

  var URL_METRICS = [["requests", "requests", D.int, ""], ["failed %", "failed_pct", D.pct, "pt"], ["p50", "p50", D.ms, "ms"],
    ["p95", "p95", D.ms, "ms"], ["p99", "p99", D.ms, "ms"]];

  /** Per URL and metric: "baseline → run" and the change (run − baseline), judged. */
  function urlColumns() {
    var cols = [{ title: "URL", cls: "url", key: function (u) { return (u.method || "") + " " + (u.template || "other URLs"); } }];
    URL_METRICS.forEach(function (m) {
      cols.push({ title: m[0], num: true, key: function (u) { return urlValue(u.run, m[1]); },
        text: function (u) { return m[2](urlValue(u.against, m[1])) + " → " + m[2](urlValue(u.run, m[1])); } });
      cols.push({ title: m[0] + " change", num: true, cls: "change", key: function (u) { return (u.change || {})[m[1]]; },
        text: function (u) { return D.signed((u.change || {})[m[1]], m[3]); },
        cellClass: function (u) { return judged((u.change || {})[m[1]], BETTER[m[1]] || 0); } });
    });
    return cols;
  }

  /** A URL row's value: flat (p99) or as in the per-URL table (latency_ms.p99). */
  function urlValue(row, key) {
    if (!row) return null;
    return row[key] !== undefined ? row[key] : (row.latency_ms || {})[key];
  }

  function countOf(x) {
    if (Array.isArray(x.count)) return x.count[x.count.length - 1];
    return x.count !== undefined ? x.count : D.isNum(x.run) && x.run ? x.run : x.against;
  }

  function countText(x, bl, rl) {
    if (Array.isArray(x.count)) return D.int(x.count[0]) + " → " + D.int(x.count[1]);
    if (D.isNum(x.against) || D.isNum(x.run)) return D.int(x.against) + " → " + D.int(x.run);
    return D.int(x.count);
  }

  CR.sections = Object.assign(CR.sections || {}, { findingSection: findingSection, groupSection: groupSection, connectionSection: connectionSection, deltaSection: deltaSection });
})();
