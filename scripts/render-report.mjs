#!/usr/bin/env node
// Look at progress.svg the way a person would: writes the report of a workspace with the built CLI,
// then screenshots progress.svg with headless Chromium (Debian: `apt-get install chromium`).
// Given a results.tsv file instead (e.g. test/fixtures/results-126-standin.tsv), it reports on a
// scratch workspace holding a copy of it. Not part of `npm test`.
//
//   node scripts/render-report.mjs WORKSPACE|RESULTS.tsv [OUT.png]   (default OUT: WORKSPACE/progress.png)
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const [arg, outArg] = process.argv.slice(2);
if (!arg) {
  console.error("usage: node scripts/render-report.mjs WORKSPACE|RESULTS.tsv [OUT.png]");
  process.exit(2);
}
let ws = arg;
if (fs.statSync(arg).isFile()) {
  ws = fs.mkdtempSync(path.join(os.tmpdir(), "render-report-"));
  execFileSync("git", ["init", "-q", ws]);
  fs.copyFileSync(arg, path.join(ws, "results.tsv"));
}
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
execFileSync(process.execPath, [path.join(root, "dist", "cli.js"), "report", "--workspace", ws], { stdio: "inherit" });

const browser = ["chromium", "chromium-browser", "google-chrome"].find((b) => spawnSync(b, ["--version"], { stdio: "ignore" }).status === 0);
if (!browser) {
  console.error("no chromium found (apt-get install chromium); the report itself was written");
  process.exit(3);
}
const out = path.resolve(outArg ?? path.join(ws, "progress.png"));
const svg = pathToFileURL(path.resolve(ws, "progress.svg")).href;
const r = spawnSync(browser, ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", `--screenshot=${out}`, "--window-size=1100,660", svg], { encoding: "utf8" });
if (r.status !== 0 || !fs.existsSync(out)) {
  console.error(r.stderr);
  process.exit(1);
}
console.log(out);
