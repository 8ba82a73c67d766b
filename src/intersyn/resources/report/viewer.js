/* intersyn viewer: filters and search over the sample index, from file:// or a server.
 * The index is loaded as <script> files (fetch is blocked on file://), one chunk at a time.
 * Every value reaches the page through textContent or attributes: never innerHTML. */
(function () {
  "use strict";
  var PAGE = 50;
  var rows = [];
  var meta = null;
  var page = 0;
  var filtered = [];
  var loaded = 0;
  // Row layout (see intersyn/report/viewer.py): id, href, domain, category, topic, turns,
  // failed, judge status, tcc, icc, iq, its, overall, text, thumb.
  var COL = { id: 0, href: 1, domain: 2, category: 3, topic: 4, turns: 5, failed: 6, judge: 7,
              tcc: 8, icc: 9, iq: 10, its: 11, overall: 12, text: 13, thumb: 14 };
  var DIMS = ["tcc", "icc", "iq", "its", "overall"];

  function $(id) { return document.getElementById(id); }

  window.INTERSYN_CHUNK = function (chunk) {
    for (var i = 0; i < chunk.length; i++) {
      var r = chunk[i];
      r.push((r[COL.id] + " " + r[COL.topic] + " " + r[COL.category] + " " + r[COL.text]).toLowerCase());
      rows.push(r);
    }
  };

  function loadChunk(i) {
    if (i >= meta.chunks.length) { setStatusLoaded(); apply(); return; }
    var s = document.createElement("script");
    s.src = meta.chunks[i];
    s.onload = function () { loaded = i + 1; if (i % 20 === 19) { apply(); } loadChunk(i + 1); };
    s.onerror = function () { $("status").textContent = "could not load " + meta.chunks[i]; };
    document.head.appendChild(s);
  }

  function setStatusLoaded() { loaded = meta.chunks.length; }

  function option(select, value) {
    var o = document.createElement("option");
    o.value = value; o.textContent = value;
    select.appendChild(o);
  }

  function fillFacets() {
    var dsel = $("f-domain");
    Object.keys(meta.facets).forEach(function (d) { option(dsel, d); });
    fillCategories();
  }

  function fillCategories() {
    var d = $("f-domain").value;
    var csel = $("f-category");
    var keep = csel.value;
    while (csel.options.length > 1) { csel.remove(1); }
    var cats = {};
    Object.keys(meta.facets).forEach(function (dom) {
      if (d && dom !== d) { return; }
      Object.keys(meta.facets[dom]).forEach(function (c) { cats[c] = meta.facets[dom][c]; });
    });
    Object.keys(cats).sort().forEach(function (c) { option(csel, c); });
    csel.value = cats[keep] ? keep : "";
    fillTopics(cats);
  }

  function fillTopics(cats) {
    var c = $("f-category").value;
    var list = $("topic-list");
    while (list.firstChild) { list.removeChild(list.firstChild); }
    var seen = 0;
    Object.keys(cats).forEach(function (cat) {
      if (c && cat !== c) { return; }
      cats[cat].forEach(function (t) { if (seen++ < 2000) { option(list, t); } });
    });
  }

  function num(id) {
    var v = $(id).value;
    return v === "" ? null : Number(v);
  }

  function readFilters() {
    var f = {
      q: $("f-search").value.trim().toLowerCase(),
      domain: $("f-domain").value,
      category: $("f-category").value,
      topic: $("f-topic").value.trim().toLowerCase(),
      tmin: num("f-turns-min"), tmax: num("f-turns-max"),
      status: $("f-status").value,
      ranges: []
    };
    DIMS.forEach(function (d) {
      var lo = num("f-" + d + "-min"), hi = num("f-" + d + "-max");
      if (lo !== null || hi !== null) { f.ranges.push([COL[d], lo, hi]); }
    });
    return f;
  }

  function matches(r, f) {
    if (f.domain && r[COL.domain] !== f.domain) { return false; }
    if (f.category && r[COL.category] !== f.category) { return false; }
    if (f.topic && r[COL.topic].toLowerCase().indexOf(f.topic) < 0) { return false; }
    if (f.tmin !== null && r[COL.turns] < f.tmin) { return false; }
    if (f.tmax !== null && r[COL.turns] > f.tmax) { return false; }
    if (f.status === "failed" && !r[COL.failed]) { return false; }
    if (f.status === "ok" && r[COL.failed]) { return false; }
    if (f.status === "judge-ok" && r[COL.judge] !== "ok") { return false; }
    if (f.status === "judge-bad" && (r[COL.judge] === "ok" || r[COL.judge] === "")) { return false; }
    if (f.status === "unjudged" && r[COL.judge] !== "") { return false; }
    for (var i = 0; i < f.ranges.length; i++) {
      var v = r[f.ranges[i][0]];
      if (v === null) { return false; }
      if (f.ranges[i][1] !== null && v < f.ranges[i][1]) { return false; }
      if (f.ranges[i][2] !== null && v > f.ranges[i][2]) { return false; }
    }
    if (f.q && r[r.length - 1].indexOf(f.q) < 0) { return false; }
    return true;
  }

  function apply() {
    var f = readFilters();
    filtered = rows.filter(function (r) { return matches(r, f); });
    page = 0;
    render();
  }

  function cell(tr, text, cls) {
    var td = document.createElement("td");
    td.textContent = text;
    if (cls) { td.className = cls; }
    tr.appendChild(td);
    return td;
  }

  function fmt(v) { return v === null || v === undefined ? "–" : (Math.round(v * 100) / 100).toFixed(2); }

  function render() {
    var body = $("results").tBodies[0];
    while (body.firstChild) { body.removeChild(body.firstChild); }
    var start = page * PAGE;
    var slice = filtered.slice(start, start + PAGE);
    slice.forEach(function (r) {
      var tr = document.createElement("tr");
      if (r[COL.failed]) { tr.className = "failed"; }
      var th = cell(tr, "", "thumb");
      if (r[COL.thumb]) {
        var img = document.createElement("img");
        img.src = r[COL.thumb]; img.alt = ""; img.loading = "lazy"; img.className = "thumb";
        th.appendChild(img);
      }
      var idcell = cell(tr, "");
      var a = document.createElement("a");
      a.href = r[COL.href]; a.textContent = r[COL.id]; a.className = "sample-link";
      idcell.appendChild(a);
      var flag = r[COL.failed] ? "failed" : (r[COL.judge] && r[COL.judge] !== "ok" ? "judge " + r[COL.judge] : "");
      if (flag) {
        var badge = document.createElement("span");
        badge.className = "badge error"; badge.textContent = flag;
        idcell.appendChild(document.createTextNode(" ")); idcell.appendChild(badge);
      }
      cell(tr, r[COL.domain]); cell(tr, r[COL.category]); cell(tr, r[COL.topic]);
      cell(tr, String(r[COL.turns]), "num");
      DIMS.forEach(function (d) { cell(tr, fmt(r[COL[d]]), "num"); });
      var text = r[COL.text];
      cell(tr, text.length > 120 ? text.slice(0, 117) + "…" : text, "question");
      body.appendChild(tr);
    });
    var pages = Math.max(1, Math.ceil(filtered.length / PAGE));
    $("page-label").textContent = "page " + (page + 1) + " of " + pages;
    $("prev").disabled = page === 0;
    $("next").disabled = page + 1 >= pages;
    var status = filtered.length + " of " + rows.length + " samples match";
    if (loaded < meta.chunks.length) { status += " (loading " + loaded + "/" + meta.chunks.length + ")"; }
    $("status").textContent = status;
    $("status").setAttribute("data-matches", String(filtered.length));
    $("status").setAttribute("data-ready", loaded >= meta.chunks.length ? "1" : "0");
  }

  function start() {
    meta = window.INTERSYN_META_VALUE;
    if (!meta) { $("status").textContent = "index missing: data/meta.js did not load"; return; }
    fillFacets();
    var form = $("filters");
    var timer = null;
    form.addEventListener("input", function (e) {
      if (e.target.id === "f-domain") { fillCategories(); }
      if (e.target.id === "f-category") { fillCategories(); }
      clearTimeout(timer); timer = setTimeout(apply, 120);
    });
    form.addEventListener("change", function () { clearTimeout(timer); apply(); });
    form.addEventListener("submit", function (e) { e.preventDefault(); apply(); });
    form.addEventListener("reset", function () { setTimeout(function () { fillCategories(); apply(); }, 0); });
    $("prev").addEventListener("click", function () { if (page > 0) { page--; render(); } });
    $("next").addEventListener("click", function () { page++; render(); });
    loadChunk(0);
  }

  window.INTERSYN_META = function (m) { window.INTERSYN_META_VALUE = m; };
  if (window.INTERSYN_META_VALUE) { /* meta loaded before us */ }
  document.addEventListener("DOMContentLoaded", start);
})();
