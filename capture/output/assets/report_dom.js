/* capture report: DOM and number helpers (plain ES2019, no build step).
 * Every value from the report goes into the page as text (createTextNode / textContent),
 * never as markup: el() takes children as strings or nodes and sets only the attributes
 * it is given by this script, never an event handler. */
(function () {
  "use strict";
  var CR = (window.CaptureReport = window.CaptureReport || {});

  /** Makes an element: attrs {class, title, colspan, data-*}, children strings or nodes. */
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (key) {
        var value = attrs[key];
        if (value === null || value === undefined || value === false) return;
        if (/^on/i.test(key)) throw new Error("el(): no event attributes: " + key);
        node.setAttribute(key, String(value));
      });
    }
    append(node, children);
    return node;
  }

  /** Appends strings (as text) and nodes, flattening arrays and skipping null. */
  function append(node, children) {
    if (children === null || children === undefined) return node;
    if (!Array.isArray(children)) children = [children];
    children.forEach(function (child) {
      if (child === null || child === undefined || child === false) return;
      if (Array.isArray(child)) append(node, child);
      else if (child instanceof Node) node.appendChild(child);
      else node.appendChild(document.createTextNode(String(child)));
    });
    return node;
  }

  function isNum(v) {
    return typeof v === "number" && isFinite(v);
  }

  /** 12345 -> "12,345"; null -> "–". */
  function int(v) {
    return isNum(v) ? Math.round(v).toLocaleString("en-US") : "–";
  }

  /** A number with about three significant digits. */
  function num(v) {
    if (!isNum(v)) return "–";
    var a = Math.abs(v);
    if (a === 0) return "0";
    if (a >= 1000) return int(v);
    if (a >= 100) return v.toFixed(0);
    if (a >= 10) return v.toFixed(1);
    if (a >= 1) return v.toFixed(2);
    return v.toPrecision(2);
  }

  /** Milliseconds, switching to seconds above 10 s. */
  function ms(v) {
    if (!isNum(v)) return "–";
    if (Math.abs(v) >= 10000) return num(v / 1000) + " s";
    return num(v) + " ms";
  }

  function pct(v) {
    return isNum(v) ? num(v) + " %" : "–";
  }

  /** Seconds as "42 s", "3:05" or "1:02:03". */
  function secs(v) {
    if (!isNum(v)) return "–";
    if (Math.abs(v) < 60) return num(v) + " s";
    var s = Math.round(v), h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
    var rest = String(s % 60).padStart(2, "0");
    return h ? h + ":" + String(m).padStart(2, "0") + ":" + rest : m + ":" + rest;
  }

  /** A signed change: "+12", "−3.5 ms". */
  function signed(v, unit) {
    if (!isNum(v)) return "–";
    var text = unit === "ms" ? ms(Math.abs(v)) : unit === "pt" ? num(Math.abs(v)) + " pt" : num(Math.abs(v));
    return (v > 0 ? "+" : v < 0 ? "−" : "±") + text;
  }

  /** Reads a [key, n] pair or a {key: …, requests: n} object as [key, n]. */
  function pair(item, keyName) {
    if (Array.isArray(item)) return [item[0], item[1]];
    if (item && typeof item === "object") {
      var n = item.requests !== undefined ? item.requests : item.count !== undefined ? item.count : item.n;
      return [item[keyName], n];
    }
    return [item, null];
  }

  /** Headers as [[name, value], …], from a list of pairs, a JSON string or an object. */
  function headers(raw) {
    if (raw === null || raw === undefined || raw === "") return [];
    if (typeof raw === "string") {
      try {
        raw = JSON.parse(raw);
      } catch (e) {
        return [["", raw]];
      }
    }
    if (Array.isArray(raw)) {
      return raw.map(function (h) {
        return Array.isArray(h) ? [String(h[0]), String(h[1])] : [String(h.name), String(h.value)];
      });
    }
    return Object.keys(raw).map(function (k) {
      return [k, String(raw[k])];
    });
  }

  /** A run's label: "run 3 'before'". */
  function runLabel(run) {
    var r = (run && run.run) || {};
    return "run " + r.id + (r.name ? " '" + r.name + "'" : "");
  }

  /** A section with a title and optional note, appended to parent first: a chart sizes
   * itself to its container, which must be in the page to have a width. */
  function section(id, title, note, parent) {
    var s = el("section", { class: "card", id: id }, [el("h2", null, title)]);
    if (note) s.appendChild(el("p", { class: "note" }, note));
    if (parent) parent.appendChild(s);
    return s;
  }

  /* ---- tables, sortable by clicking a header ---- */

  /**
   * Builds a table. columns: [{title, key(row) -> value, text(row)?, num: bool, cls,
   * cellClass(row)?}];
   * numbers sort numerically, the rest as text; a click on a header sorts, a second
   * click reverses.
   */
  function table(columns, rows, opts) {
    opts = opts || {};
    var thead = el("thead", null, el("tr", null, columns.map(function (c, i) {
      return el("th", { class: (c.num ? "num " : "") + (opts.sortable ? "sortable" : ""), "data-col": i, title: c.help }, c.title);
    })));
    var tbody = el("tbody");
    rows.forEach(function (row) {
      var tr = el("tr", { class: opts.rowClass ? opts.rowClass(row) : null });
      columns.forEach(function (c) {
        var value = c.key(row);
        var shown = c.text ? c.text(row) : c.num ? (Number.isInteger(value) ? int(value) : num(value)) : value;
        var cls = (c.num ? "num " : "") + (c.cls || "") + (c.cellClass ? " " + (c.cellClass(row) || "") : "");
        var td = el("td", { class: cls.trim() || null }, shown === null || shown === undefined ? "–" : shown);
        td.dataset.sort = value === null || value === undefined ? "" : typeof value === "number" ? String(value) : String(value);
        tr.appendChild(td);
      });
      tbody.appendChild(tr);
    });
    var t = el("table", { class: "data" + (opts.sortable ? " sortable" : "") }, [thead, tbody]);
    if (opts.sortable) makeSortable(t, columns);
    return el("div", { class: "table-wrap" }, t);
  }

  function makeSortable(t, columns) {
    var state = { col: -1, dir: 1 };
    t.tHead.addEventListener("click", function (ev) {
      var th = ev.target.closest("th");
      if (!th) return;
      var col = Number(th.dataset.col);
      state.dir = state.col === col ? -state.dir : columns[col].num ? -1 : 1;
      state.col = col;
      sortBy(t, col, columns[col].num, state.dir);
      Array.prototype.forEach.call(t.tHead.rows[0].cells, function (cell) {
        cell.removeAttribute("aria-sort");
      });
      th.setAttribute("aria-sort", state.dir > 0 ? "ascending" : "descending");
    });
  }

  function sortBy(t, col, numeric, dir) {
    var body = t.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = a.cells[col].dataset.sort, y = b.cells[col].dataset.sort;
      if (numeric) {
        // empty (no value) sorts last either way
        if (x === "" || y === "") return x === y ? 0 : x === "" ? 1 : -1;
        return dir * (Number(x) - Number(y));
      }
      return dir * x.localeCompare(y);
    });
    rows.forEach(function (r) {
      body.appendChild(r);
    });
  }

  /** A definition list of [term, value] pairs, values as text or nodes. */
  function facts(pairs, cls) {
    return el("dl", { class: cls || "facts" }, pairs.filter(function (p) {
      return p[1] !== null && p[1] !== undefined && p[1] !== "";
    }).map(function (p) {
      return [el("dt", null, p[0]), el("dd", null, p[1])];
    }));
  }

  CR.dom = {
    el: el, append: append, isNum: isNum, int: int, num: num, ms: ms, pct: pct, secs: secs,
    signed: signed, pair: pair, headers: headers, runLabel: runLabel, section: section,
    table: table, facts: facts
  };
})();
