#!/usr/bin/env node
// `npm run bench:dashboard`: the live page's load and update times (issue 18) on karpathy's
// 126-row results.tsv (the stand-in in test/fixtures) and on 10,000 rows, through
// `autoresearch-mcp dashboard` over HTTP as the page polls it: the page itself, the first state
// (the chart drawn), a poll while nothing changed (204), and a poll after a row was appended
// (the update). p50 and p95 over repeats; writes the "Figure 8" section of bench/results.md.
//
//   node bench/dashboard.mjs [--repeats N] [--out FILE]

import { spawn } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { DASHBOARD_SECTION, ROOT, git, replaceSection, table } from "./lib.mjs";

const { values: opt } = parseArgs({ options: { repeats: { type: "string" }, out: { type: "string" } } });
const REPEATS = Number(opt.repeats ?? 20);
const OUT = opt.out ?? path.join(ROOT, "bench", "results.md");
const CLI = path.join(ROOT, "dist", "cli.js");
const STANDIN = path.join(ROOT, "test", "fixtures", "results-126-standin.tsv");

function get(url) {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    http.get(url, (res) => {
      let bytes = 0;
      res.on("data", (d) => (bytes += d.length));
      res.on("end", () => resolve({ ms: performance.now() - t0, status: res.statusCode, bytes }));
    }).on("error", reject);
  });
}

function workspace(rows) {
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "arbench-dash-")));
  const lines = fs.readFileSync(STANDIN, "utf8").trim().split("\n");
  const [header, ...body] = lines;
  const out = [header];
  for (let i = 0; out.length <= rows; i++) {
    const f = body[i % body.length].split("\t");
    f[0] = (0x1000000 + i).toString(16).slice(-7); // distinct commits
    out.push(f.join("\t"));
  }
  fs.writeFileSync(path.join(dir, "results.tsv"), out.join("\n") + "\n");
  fs.writeFileSync(path.join(dir, "train.py"), "print('x')\n");
  git(dir, "init", "-q");
  return dir;
}

function start(ws) {
  const p = spawn(process.execPath, [CLI, "dashboard", "--port", "0", "--workspace", ws], { stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((resolve, reject) => {
    let out = "";
    p.stdout.on("data", (d) => {
      out += d;
      const url = /at (http:\/\/\S+)/.exec(out)?.[1];
      if (url) resolve({ p, url });
    });
    p.on("exit", (c) => reject(new Error(`dashboard exited ${c}`)));
  });
}

const pct = (xs, q) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))];
const f = (ms) => `${ms.toFixed(1)} ms`;

const results = [];
for (const rows of [126, 10_000]) {
  const ws = workspace(rows);
  const { p, url } = await start(ws);
  try {
    const page = [];
    const first = [];
    const same = [];
    const update = [];
    let bytes = 0;
    for (let i = 0; i < REPEATS; i++) page.push((await get(url)).ms);
    // The first state of a fresh dashboard draws the chart: a new server each time.
    for (let i = 0; i < Math.min(REPEATS, 5); i++) {
      const d = await start(ws);
      const s = await get(`${d.url}api/state`);
      first.push(s.ms);
      bytes = s.bytes;
      d.p.kill();
    }
    const state = await new Promise((resolve) => http.get(`${url}api/state`, (res) => { let b = ""; res.on("data", (d) => (b += d)); res.on("end", () => resolve(JSON.parse(b))); }));
    let version = state.version;
    for (let i = 0; i < REPEATS; i++) same.push((await get(`${url}api/state?since=${encodeURIComponent(version)}`)).ms);
    for (let i = 0; i < REPEATS; i++) {
      fs.appendFileSync(path.join(ws, "results.tsv"), `${(0x2000000 + i).toString(16).slice(-7)}\t0.970000\t44.0\tdiscard\tbench row ${i}\n`);
      const s = await new Promise((resolve) => {
        const t0 = performance.now();
        http.get(`${url}api/state?since=${encodeURIComponent(version)}`, (res) => { let b = ""; res.on("data", (d) => (b += d)); res.on("end", () => resolve({ ms: performance.now() - t0, body: JSON.parse(b) })); });
      });
      update.push(s.ms);
      version = s.body.version;
    }
    results.push({ rows, page, first, same, update, bytes });
  } finally {
    p.kill();
    fs.rmSync(ws, { recursive: true, force: true });
  }
}

const head = ["rows", "page (HTML)", "first state (chart drawn)", "poll, nothing new (204)", "poll after a row appended", "state size"];
const body = results.map((r) => [String(r.rows), `${f(pct(r.page, 0.5))} / ${f(pct(r.page, 0.95))}`, `${f(pct(r.first, 0.5))} / ${f(pct(r.first, 0.95))}`, `${f(pct(r.same, 0.5))} / ${f(pct(r.same, 0.95))}`, `${f(pct(r.update, 0.5))} / ${f(pct(r.update, 0.95))}`, `${(r.bytes / 1024).toFixed(1)} KiB`]);
const ratio = pct(results[1].update, 0.5) / pct(results[0].update, 0.5);
const section = [
  DASHBOARD_SECTION,
  "",
  `\`npm run bench:dashboard\` (bench/dashboard.mjs): \`autoresearch-mcp dashboard\` on karpathy's 126 rows (the stand-in) and on 10,000, over HTTP as the page polls it every 2 s; p50 / p95 of ${REPEATS} requests (the first state: of ${Math.min(REPEATS, 5)} fresh dashboards). The page gets the newest 200 rows with each update (the rest on "show all") and the chart the server drew with the renderer of progress.svg.`,
  "",
  table(head, body),
  "",
  `- 10,000 rows against 126: an update (a row appended, then the poll) takes ${ratio.toFixed(2)}× as long; the page shows a new row within one poll interval (2 s) plus that time.`,
  `- ${os.cpus().length} cores, load average ${os.loadavg().map((x) => x.toFixed(2)).join(" ")} at the end; node ${process.version}; ${new Date().toISOString().replace("T", " ").slice(0, 19)} UTC.`,
  "",
].join("\n");
console.log(section);
fs.writeFileSync(OUT, replaceSection(fs.existsSync(OUT) ? fs.readFileSync(OUT, "utf8") : "", DASHBOARD_SECTION, section));
