/**
 * The live page: one HTML document, no framework and no build step (a table, a chart the server
 * draws with the same renderer as progress.svg, and a poll of /api/state every 2 s that only
 * redraws when the workspace changed).
 */
export const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>autoresearch</title>
<style>
body{font:14px/1.4 system-ui,-apple-system,Segoe UI,sans-serif;margin:0;background:#fafafa;color:#222}
header{padding:12px 20px;background:#fff;border-bottom:1px solid #ddd;display:flex;gap:24px;flex-wrap:wrap;align-items:baseline}
header h1{font-size:18px;margin:0}
.stat b{font-size:16px}
main{padding:16px 20px;display:grid;gap:16px}
section{background:#fff;border:1px solid #ddd;border-radius:6px;padding:12px}
#chart svg{max-width:100%;height:auto}
table{border-collapse:collapse;width:100%}
td,th{padding:3px 8px;border-bottom:1px solid #eee;text-align:left;vertical-align:top}
td.num{font-variant-numeric:tabular-nums;text-align:right}
tr.keep td{background:#eef8ee}
tr.crash td{color:#a33}
tbody tr{cursor:pointer}
tbody tr:hover td{background:#f3f3ff}
pre#diff{white-space:pre-wrap;font-size:12px;max-height:480px;overflow:auto;background:#f6f6f6;padding:8px}
.run{font-family:ui-monospace,monospace;font-size:12px}
.muted{color:#888}
</style></head>
<body>
<header><h1 id="title">autoresearch</h1>
<span class="stat">best <b id="best">–</b></span>
<span class="stat">runs <b id="counts">–</b></span>
<span class="stat">keep rate <b id="rate">–</b></span>
<span class="stat">since the last keep <b id="stall">–</b></span>
<span class="muted" id="updated"></span></header>
<main>
<section><h2>In flight</h2><div id="running" class="muted">nothing running</div></section>
<section id="chart"></section>
<section><h2>Experiments <span class="muted" id="shown"></span> <a href="#" id="all">show all</a></h2>
<table><thead><tr><th>#</th><th>commit</th><th class="num">metric</th><th class="num">mem GB</th><th>status</th><th>description</th></tr></thead><tbody id="rows"></tbody></table></section>
<section><h2>Diff <span class="muted" id="diffof">(click a row)</span></h2><pre id="diff"></pre></section>
<div id="problems" class="muted"></div>
</main>
<script>
const token = new URLSearchParams(location.search).get("token");
const q = (p) => p + (token ? (p.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token) : "");
const $ = (id) => document.getElementById(id);
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
let version = null, showAll = false;
function rowsHtml(rows) {
  return rows.map((r) => '<tr class="' + esc(r.status) + '" data-commit="' + esc(r.commit) + '"><td class="num">' + r.n + "</td><td>" + esc(r.commit) + '</td><td class="num">' + esc(r.metric) + '</td><td class="num">' + esc(r.memoryGb) + "</td><td>" + esc(r.status) + "</td><td>" + esc(r.description) + "</td></tr>").join("");
}
function render(s) {
  $("title").textContent = "autoresearch" + (s.tag ? " · " + s.tag : "");
  const b = s.noise ? s.noise.mean.toFixed(6) + (s.noise.stderr != null ? " ± " + s.noise.stderr.toFixed(6) : "") + " (n " + s.noise.n + ")" : s.best ? s.best.metric.toFixed(6) : "–";
  $("best").textContent = s.best || s.noise ? b + " at " + (s.noise ? s.noise.commit : s.best.commit) : "–";
  $("counts").textContent = s.counts.total + " (" + s.counts.keep + " keep, " + s.counts.discard + " discard, " + s.counts.crash + " crash)";
  $("rate").textContent = s.keepRate == null ? "–" : Math.round(s.keepRate * 100) + "%";
  $("stall").textContent = String(s.sinceLastKeep);
  $("running").innerHTML = s.running.length ? s.running.map((r) => '<div class="run">' + esc(r.runId) + " " + esc(r.commit) + " " + esc(r.state) + (r.gpu != null ? " gpu " + esc(r.gpu) : "") + (r.jobId ? " job " + esc(r.jobId) : "") + " " + r.elapsedSeconds + " s" + (r.latest ? " | " + esc(r.latest) : "") + "</div>").join("") : "nothing running";
  $("chart").innerHTML = s.svg;
  if (!showAll) { $("rows").innerHTML = rowsHtml(s.rows); $("shown").textContent = s.totalRows > s.rows.length ? "(newest " + s.rows.length + " of " + s.totalRows + ")" : "(" + s.totalRows + ")"; }
  $("problems").textContent = s.problems.join(" · ");
}
async function poll() {
  try {
    const r = await fetch(q("/api/state" + (version ? "?since=" + encodeURIComponent(version) : "")));
    if (r.status === 200) { const s = await r.json(); version = s.version; render(s); }
    $("updated").textContent = "updated " + new Date().toLocaleTimeString();
  } catch (e) { $("updated").textContent = "server unreachable"; }
  setTimeout(poll, 2000);
}
$("rows").addEventListener("click", async (e) => {
  const tr = e.target.closest("tr"); if (!tr) return;
  $("diffof").textContent = tr.dataset.commit;
  const r = await fetch(q("/api/diff?commit=" + encodeURIComponent(tr.dataset.commit)));
  $("diff").textContent = r.ok ? await r.text() : "no such commit here (a literal like baseline, or dropped)";
});
$("all").addEventListener("click", async (e) => {
  e.preventDefault(); showAll = true;
  const rows = await (await fetch(q("/api/rows"))).json();
  $("rows").innerHTML = rowsHtml(rows); $("shown").textContent = "(all " + rows.length + ")";
});
poll();
</script></body></html>
`;
