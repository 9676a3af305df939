#!/usr/bin/env node
// The live dashboard in a real headless browser: Debian's Chromium (apt-get install chromium when
// missing and root), driven by playwright-core (installed on demand into <tmpdir>/autoresearch-e2e,
// never a dependency of this package; it drives a system browser and downloads none).
//
//  1. a session through the real MCP server (stdio, the SDK's Client): the baseline logged;
//  2. `autoresearch-mcp dashboard --port 0` beside it; the page opens and shows the row and the chart;
//  3. on the same open page, without a reload: a run starts (it shows in flight with its progress
//     line), ends and is logged (the row appears, nothing in flight), a row opens its diff;
//  4. screenshots: this night, the demo night (`npm run demo --keep`), and the 126-row stand-in of
//     karpathy's results.tsv (test/fixtures/results-126-standin.tsv), into --shots DIR.
//
//   node scripts/e2e-dashboard.mjs [--shots DIR] [--keep]

import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { CACHE, CLI, git, oneLine, reporter, secs } from "./e2e-lib.mjs";

const args = parseArgs({ options: { shots: { type: "string" }, keep: { type: "boolean" } } }).values;
const r = reporter("dashboard");
const PW = "1.65.1";
const sleep = (ms) => new Promise((res) => setTimeout(res, ms));

function chromium() {
  const found = ["chromium", "chromium-browser", "google-chrome"].map((b) => spawnSync("sh", ["-c", `command -v ${b}`], { encoding: "utf8" }).stdout.trim()).find(Boolean);
  if (found) return found;
  if (process.getuid?.() !== 0) throw new Error("no Chromium: apt-get install chromium (as root), then run again");
  r.say("installing Debian's chromium with apt-get");
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  for (const a of [["update"], ["install", "-y", "chromium"]]) if (spawnSync("apt-get", a, { env, stdio: "ignore" }).status !== 0) throw new Error(`apt-get ${a.join(" ")} failed`);
  return "/usr/bin/chromium";
}

async function playwright() {
  const dir = path.join(CACHE, `playwright-core-${PW}`);
  const entry = path.join(dir, "node_modules", "playwright-core", "index.mjs");
  if (!fs.existsSync(entry)) {
    r.say(`installing playwright-core@${PW} into ${dir}`);
    fs.mkdirSync(dir, { recursive: true });
    const res = spawnSync("npm", ["install", "--prefix", dir, "--no-audit", "--no-fund", "--loglevel=error", `playwright-core@${PW}`], { encoding: "utf8", env: { ...process.env, PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD: "1" } });
    if (res.status !== 0) throw new Error(`npm install playwright-core failed: ${res.stderr.trim()}`);
  }
  return import(entry);
}

/** `dashboard --port 0` on `ws`; resolves with its URL. */
function dashboard(ws, procs) {
  const p = spawn(process.execPath, [CLI, "dashboard", "--port", "0", "--workspace", ws], { stdio: ["ignore", "pipe", "pipe"] });
  procs.push(p);
  return new Promise((resolve, reject) => {
    let out = "";
    p.stdout.on("data", (d) => {
      out += d;
      const url = /at (http:\/\/\S+)/.exec(out)?.[1];
      if (url) resolve(url);
    });
    p.on("exit", (code) => reject(new Error(`dashboard exited ${code}`)));
  });
}

async function waitFor(page, what, fn, ms = 30_000) {
  const t0 = Date.now();
  try {
    await page.waitForFunction(fn, undefined, { timeout: ms });
    return Date.now() - t0;
  } catch {
    return null;
  } finally {
    void what;
  }
}

const procs = [];
const made = [];
let browser = null;
let client = null;
try {
  const exe = chromium();
  const { chromium: pwChromium } = await playwright();
  browser = await pwChromium.launch({ executablePath: exe, args: ["--no-sandbox", "--disable-gpu"] });
  r.say(`browser: ${exe} (${browser.version()})`);

  // 1. A workspace and a session with the baseline logged, through the real server.
  const ws = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "ar-e2e-dash-")));
  made.push(ws);
  const fixtures = new URL("../test/fixtures/", import.meta.url);
  const train = fs.readFileSync(new URL("train.py", fixtures), "utf8").replace("    if CRASH:", '    while os.path.exists(os.path.join(os.environ["AUTORESEARCH_WORKSPACE"], ".git", "hold")):\n        time.sleep(0.05)\n    if CRASH:');
  fs.writeFileSync(path.join(ws, "train.py"), train);
  fs.copyFileSync(new URL("prepare.py", fixtures), path.join(ws, "prepare.py"));
  fs.writeFileSync(path.join(ws, "autoresearch.json"), JSON.stringify({ run: ["python3", "train.py"], budgetSeconds: 5, killAfterSeconds: 600, noise: false }));
  git(ws, "init", "-q");
  git(ws, "config", "user.name", "e2e");
  git(ws, "config", "user.email", "e2e@example.invalid");
  git(ws, "add", "-A");
  git(ws, "commit", "-q", "-m", "dashboard e2e");
  client = new Client({ name: "e2e-dashboard", version: "0" });
  await client.connect(new StdioClientTransport({ command: process.execPath, args: [CLI, "serve", "--workspace", ws], stderr: "ignore" }));
  const call = async (name, a = {}) => {
    const res = await client.callTool({ name, arguments: a }, undefined, { timeout: 600_000 });
    if (res.isError) throw new Error(`${name}: ${res.content[0].text}`);
    return res.structuredContent;
  };
  await call("start_session", { tag: "dash" });
  await call("run_training");
  await call("log_result", { description: "baseline" });

  // 2. The page.
  const url = await dashboard(ws, procs);
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  const t0 = Date.now();
  await page.goto(url);
  const shown = await waitFor(page, "the baseline row", () => document.querySelector("#rows tr")?.textContent.includes("baseline"));
  r.check("the page loads and shows the row and the chart", shown !== null && (await page.locator("#chart svg").count()) === 1, `${Date.now() - t0} ms to the first row`);

  // 3. Live, on the open page: a run starts, ends, is logged.
  fs.writeFileSync(path.join(ws, ".git", "hold"), "");
  await call("apply_patch", { edits: [{ old: "LR = 0.04", new: "LR = 0.05" }] });
  await call("commit", { description: "lr 0.05" });
  const run = await call("run_training", { waitSeconds: 0 });
  const inFlight = await waitFor(page, "the run in flight with its progress line", () => / running .*step 0000\d/.test(document.querySelector("#running")?.textContent ?? ""), 30_000);
  const runText = await page.locator("#running").textContent();
  r.check("a run that starts shows in flight, with its progress line", inFlight !== null && runText.includes(run.runId) && /step 0000\d/.test(runText), `${inFlight} ms: ${oneLine(runText, 160)}`);
  fs.rmSync(path.join(ws, ".git", "hold"));
  await call("run_training", { runId: run.runId });
  const ended = await waitFor(page, "nothing in flight", () => document.querySelector("#running")?.textContent === "nothing running");
  r.check("when it ends, nothing is in flight", ended !== null, `${ended} ms`);
  await call("log_result", {});
  const row = await waitFor(page, "the new row", () => document.querySelector("#rows tr")?.textContent.includes("lr 0.05"));
  r.check("the logged row appears at the top without a reload", row !== null && (await page.locator("#rows tr").count()) === 2, `${row} ms; ${await page.locator("#counts").textContent()}`);
  await page.locator("#rows tr").first().click();
  const diff = await waitFor(page, "the diff", () => document.querySelector("#diff")?.textContent.includes("+LR = 0.05"));
  r.check("a row opens its commit's diff", diff !== null, oneLine(await page.locator("#diff").textContent(), 120));
  const shots = args.shots ?? fs.mkdtempSync(path.join(os.tmpdir(), "ar-dash-shots-"));
  fs.mkdirSync(shots, { recursive: true });
  await page.screenshot({ path: path.join(shots, "dashboard-live.png"), fullPage: true });

  // 4. The demo night and karpathy's 126 rows (stand-in), each in its own dashboard.
  const demo = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "ar-e2e-demo-")));
  made.push(demo);
  const d = spawnSync(process.execPath, [CLI, "demo", "--keep", demo], { encoding: "utf8", timeout: 600_000 });
  r.check("the demo night ran", d.status === 0, oneLine(d.stdout.split("\n").at(-2) ?? d.stderr, 120));
  const k126 = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "ar-e2e-126-")));
  made.push(k126);
  fs.copyFileSync(new URL("results-126-standin.tsv", fixtures), path.join(k126, "results.tsv"));
  fs.writeFileSync(path.join(k126, "train.py"), "print('x')\n");
  git(k126, "init", "-q");
  for (const [name, dir, rows] of [["dashboard-demo.png", demo, null], ["dashboard-karpathy-126.png", k126, 126]]) {
    const u = await dashboard(dir, procs);
    const p = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
    const t = Date.now();
    await p.goto(u);
    const ok = await waitFor(p, "rows", () => document.querySelectorAll("#rows tr").length > 0 && !!document.querySelector("#chart svg"));
    const n = await p.locator("#rows tr").count();
    r.check(`${name}: rows and chart shown`, ok !== null && (rows === null || n === rows), `${n} rows in ${Date.now() - t} ms`);
    await p.screenshot({ path: path.join(shots, name), fullPage: false });
  }
  r.say(`screenshots in ${shots}`);
} catch (e) {
  r.check("e2e ran to the end", false, e instanceof Error ? e.message : String(e));
} finally {
  await browser?.close().catch(() => {});
  await client?.close().catch(() => {});
  for (const p of procs) p.kill("SIGTERM");
  await sleep(200);
  if (!args.keep) for (const d of made) fs.rmSync(d, { recursive: true, force: true });
}
const failed = r.checks.filter((c) => !c.ok);
console.log(`${failed.length ? "FAIL" : "PASS"} e2e:dashboard — ${r.checks.length - failed.length}/${r.checks.length} checks in ${secs(Date.now() - r.T0)}`);
for (const c of failed) console.log(`  failed: ${c.name}: ${oneLine(c.detail, 300)}`);
process.exit(failed.length ? 1 : 0);
