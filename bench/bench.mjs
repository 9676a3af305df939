#!/usr/bin/env node
// `npm run bench` (full, writes bench/results.md) or `node bench/bench.mjs --quick` (tiny sizes,
// writes bench/out/results-quick.md). Issue #7: the server against the shell loop, side by side;
// figure 6: how fast the server answers initialize, against a bare node start.
//
//   --quick          every figure with tiny sizes (< 30 s)
//   --only 1,3       run only these figures
//   --out FILE       where the markdown goes
//   --python CMD     the Python both sides run (default python3 from PATH)
//   --node-args "…"  extra node flags for the server (e.g. "--optimize-for-size")
//   --cli FILE       drive another build of the server (default dist/cli.js), e.g. a patched copy
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import * as lib from "./lib.mjs";
import { DASHBOARD_SECTION, PY, QUEUE_SECTION, ROOT, SERVER, WAIT_MS, cleanupAll, leftoverProcesses, now, replaceSection, sectionOf, sleep, waitUntil } from "./lib.mjs";
import { figBytes, figCycle, figDuty, figKill, figScale, figStartup, resolvePython, versions } from "./figures.mjs";
import { renderReport } from "./report.mjs";

let args;
try {
  args = parseArgs({ options: { quick: { type: "boolean" }, only: { type: "string" }, out: { type: "string" }, python: { type: "string" }, "node-args": { type: "string" }, cli: { type: "string" } } }).values;
} catch (e) {
  process.stderr.write(`bench: ${e.message} (see the options at the top of bench/bench.mjs)\n`);
  process.exit(2);
}
const quick = !!args.quick;
const only = args.only?.split(",").map(Number) ?? [1, 2, 3, 4, 5, 6];
if (args.python) PY.cmd = args.python;
if (args.cli) lib.useCli(args.cli);
if (args["node-args"]) SERVER.nodeArgs = args["node-args"].split(/\s+/).filter(Boolean);
const outFile = path.resolve(args.out ?? (quick ? path.join(ROOT, "bench", "out", "results-quick.md") : path.join(ROOT, "bench", "results.md")));

const MB = 1 << 20;
const CONFIG = quick
  ? {
      cycle: { cycles: 2, warmup: 1 },
      cycleResolved: { cycles: 2, warmup: 0 },
      bytes: { rows: 50, steps: 1000 },
      kill: { runs: 2, limit: 1, grace: 0.2, naive: false },
      scale: { rowSizes: [10, 300], logSizes: [1 * MB, 16 * MB], reps: 2 },
      duty: { experiments: 2, budget: 0.5 },
      startup: { starts: 5, warmup: 1 },
    }
  : {
      cycle: { cycles: 40, warmup: 3 },
      cycleResolved: { cycles: 20, warmup: 2 },
      bytes: { rows: 50, steps: 1000 },
      kill: { runs: 5, limit: 1, grace: 0.5, naive: true },
      scale: { rowSizes: [10, 10_000], logSizes: [1 * MB, 1024 * MB], reps: 5 },
      duty: { experiments: 20, budget: 5 },
      startup: { starts: 20, warmup: 2 },
    };

let interrupted = false;
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"])
  process.on(sig, () => {
    if (interrupted) return;
    interrupted = true;
    process.stderr.write(`\nbench: ${sig}, cleaning up\n`);
    void cleanupAll().finally(() => process.exit(130));
  });

const log = (msg) => process.stderr.write(`[bench ${((now() - t0) / 1000).toFixed(1)}s] ${msg}\n`);
const t0 = now();
const load0 = os.loadavg();

async function main() {
  if (!fs.existsSync(lib.CLI)) throw new Error(`${lib.CLI} is missing: run "npm run build" first`);
  const data = {};
  const times = {};
  const py = resolvePython();
  const notes = [];
  const figures = [
    [1, "cycle", "1. overhead per cycle", () => figCycle(CONFIG.cycle)],
    ...(py.wrapper ? [[1, "cycleResolved", `1b. overhead per cycle with ${py.exe}`, () => figCycle({ ...CONFIG.cycleResolved, python: py.exe })]] : []),
    [2, "bytes", "2. bytes per experiment", () => figBytes(CONFIG.bytes)],
    [3, "kill", "3. kill precision", () => figKill(CONFIG.kill)],
    [4, "scale", "4. scale", () => figScale(CONFIG.scale)],
    [5, "duty", "5. duty cycle", () => figDuty(CONFIG.duty)],
    [6, "startup", "6. start-up", () => figStartup({ ...CONFIG.startup, nodeArgs: SERVER.nodeArgs })],
  ];
  for (const [n, key, title, run] of figures) {
    if (!only.includes(n)) continue;
    log(`${title} ...`);
    const t = now();
    data[key] = await run();
    times[key] = now() - t;
    log(`${title}: ${(times[key] / 1000).toFixed(1)} s`);
  }
  await cleanupAll();
  // Watchdogs poll every 500 ms and then exit: wait until they are gone (a loaded machine may take
  // longer than a fixed few seconds; what is still there after WAIT_MS is left behind).
  await waitUntil(() => leftoverProcesses().length === 0, WAIT_MS, 100);
  const left = leftoverProcesses();
  const meta = {
    quick,
    python: py,
    nodeArgs: SERVER.nodeArgs,
    cli: path.relative(ROOT, lib.CLI),
    loadavg: { start: load0, end: os.loadavg() },
    date: new Date().toISOString().replace("T", " ").slice(0, 19) + " UTC",
    cores: os.cpus().length,
    versions: versions(),
    config: CONFIG,
    totalMs: now() - t0,
    figureMs: times,
    leftovers: left.length === 0 ? "none" : left.map((p) => `${p.pid} ${p.cmd}`).join(", "),
    notes,
  };
  const rendered = renderReport(data, meta);
  const summary = rendered.summary;
  // The report is meant to be committed and shared: no home directory or temp paths of this machine.
  const markdown = rendered.markdown.split(os.homedir()).join("~").replace(/\/tmp\/arbench-[\w.-]+/g, "<tmp workspace>");
  fs.mkdirSync(path.dirname(outFile), { recursive: true });
  // Figure 7 comes from bench/queue.mjs (npm run bench:queue): a rewrite of the file keeps it
  // The sections other benches write (figures 7 and 8) survive a rewrite.
  const before = fs.existsSync(outFile) ? fs.readFileSync(outFile, "utf8") : "";
  let md = markdown + "\n";
  for (const heading of [QUEUE_SECTION, DASHBOARD_SECTION]) {
    const kept = sectionOf(before, heading);
    if (kept) md = replaceSection(md, heading, kept);
  }
  fs.writeFileSync(outFile, md);
  const raw = path.join(ROOT, "bench", "out", `${path.basename(outFile, ".md")}.json`);
  fs.mkdirSync(path.dirname(raw), { recursive: true });
  fs.writeFileSync(raw, JSON.stringify({ meta, summary, data }, null, 2));
  process.stdout.write(markdown + "\n");
  log(`wrote ${path.relative(process.cwd(), outFile)} (raw data: ${path.relative(process.cwd(), raw)})`);
  if (left.length) {
    process.stderr.write(`bench: processes left behind: ${meta.leftovers}\n`);
    process.exitCode = 1;
  }
}

main().catch(async (e) => {
  process.stderr.write(`bench failed: ${e?.stack ?? e}\n`);
  await cleanupAll().catch(() => undefined);
  await sleep(10);
  process.exit(1);
});
