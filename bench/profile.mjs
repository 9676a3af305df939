#!/usr/bin/env node
// Where does a cycle's time go inside the server? Runs N cycles of figure 1 against a server
// started with a spawn tracer preloaded (bench/spawn-trace.mjs: every child process, how long
// spawn() blocked the event loop, how long the child lived) and with `--cpu-prof` (in-process JS),
// and prints per tool call: the wall time, the processes the server started during it, and the
// top JS functions by self time. `--strace` adds a traced run (strace -f) as a cross-check.
//   node bench/profile.mjs [--cycles N] [--python /path/to/python3]
import fs from "node:fs";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { ROOT, CLI, callTool, cleanupAll, makeWorkspace, startServer, removeWorkspace, karpathyTrain } from "./lib.mjs";

const argv = process.argv.slice(2);
const opt = (n, d) => (argv.includes(n) ? argv[argv.indexOf(n) + 1] : d);
const cycles = Number(opt("--cycles", 10));
const python = opt("--python", "python3");
const outDir = path.join(ROOT, "bench", "out", "profile");
fs.rmSync(outDir, { recursive: true, force: true });
fs.mkdirSync(outDir, { recursive: true });
const hasStrace = (() => {
  try {
    execFileSync("strace", ["-V"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();

async function runCycles({ strace, cpuProf }) {
  const ws = makeWorkspace({ name: "profile", config: { run: [python, "train.py"], python, budgetSeconds: 5, graceSeconds: 1 }, train: karpathyTrain() });
  const traceFile = path.join(outDir, "strace.txt");
  const srv = await startServer(ws, {
    nodeArgs: [...(cpuProf ? ["--cpu-prof", "--cpu-prof-dir", outDir] : []), "--import", new URL("./spawn-trace.mjs", import.meta.url).href],
    wrap: strace ? ["strace", "-f", "-ttt", "-qq", "-e", "trace=execve,clone,clone3,vfork,fork", "-o", traceFile] : null,
  });
  const calls = [];
  const timed = async (name, args) => {
    const t0 = Date.now() / 1000;
    const r = await callTool(srv, name, args);
    calls.push({ name, t0, t1: Date.now() / 1000, ms: r.ms });
    return r;
  };
  try {
    await timed("start_session", { tag: "prof" });
    await timed("run_training");
    await timed("log_result", { description: "baseline" });
    for (let i = 0; i < (strace ? 3 : cycles); i++) {
      const lr = `MATRIX_LR = ${(0.04 + (i + 1) * 1e-5).toFixed(5)} `;
      const r = await timed("read_train");
      await timed("apply_patch", { edits: [{ old: "MATRIX_LR = 0.04 ", new: lr }], expectedHash: r.data.hash });
      await timed("commit", { description: `exp ${i}` });
      await timed("run_training");
      await timed("log_result", { description: `exp ${i}` });
      await timed("reset_to_best");
    }
  } finally {
    await srv.close();
    removeWorkspace(ws);
  }
  const lines = srv.stderr().split("\n");
  const life = new Map(lines.filter((l) => l.startsWith("@@exit ")).map((l) => JSON.parse(l.slice(7))).map((e) => [e.id, e.lifeMs]));
  const spawns = lines
    .filter((l) => l.startsWith("@@spawn "))
    .map((l) => JSON.parse(l.slice(8)))
    .map((sp) => ({ ...sp, lifeMs: life.get(sp.id) ?? NaN }));
  return { calls: calls.slice(3), serverPid: srv.pid, traceFile, spawns };
}

const timing = await runCycles({ strace: false, cpuProf: true });
const traced = hasStrace && argv.includes("--strace") ? await runCycles({ strace: true, cpuProf: false }) : null;
await cleanupAll();

// ---- per tool call: wall time (untraced run) and the processes the server itself started (traced run)
const perTool = {};
for (const c of timing.calls) (perTool[c.name] ??= { n: 0, ms: [], spawns: {}, tracedN: 0 }).ms.push(c.ms);
if (traced) {
  for (const c of traced.calls) perTool[c.name].tracedN++;
  const lines = fs.readFileSync(traced.traceFile, "utf8").split("\n");
  // strace runs the server: its first traced pid is the node server (after strace's own exec).
  const parent = new Map();
  const firstExec = new Map();
  let server = null;
  for (const l of lines) {
    const m = /^(\d+)\s+(\d+\.\d+)\s+(.*)$/.exec(l);
    if (!m) continue;
    const [, pid, ts, rest] = m;
    const c = /^(?:clone3?|vfork|fork)\(.*= (\d+)$/.exec(rest);
    if (c) parent.set(c[1], pid);
    const e = /^execve\("([^"]+)", \[([^\]]*)\]/.exec(rest);
    if (e && / = 0$/.test(rest)) {
      const args = e[2].split(", ").map((a) => a.replace(/^"|"$/g, ""));
      if (!server && args.includes("serve")) server = pid;
      if (!firstExec.has(pid)) firstExec.set(pid, { pid, t: Number(ts), prog: path.basename(args[0]), args: args.slice(1, 5).join(" ") });
    }
  }
  for (const p of firstExec.values()) {
    if (parent.get(p.pid) !== server) continue; // only what the server itself started
    const c = traced.calls.find((c) => p.t >= c.t0 - 0.002 && p.t <= c.t1 + 0.002);
    if (!c) continue;
    const key = `${p.prog} ${p.args.replace(/\/tmp\/\S+/g, "<ws>").replace(/\b\d{3,}\b/g, "N")}`.slice(0, 80);
    const s = (perTool[c.name].spawns[key] ??= { n: 0 });
    s.n++;
  }
}
// spawns from the tracer, attributed to the call they happened in
const med = (v) => {
  const s = [...v].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)] : NaN;
};
for (const sp of timing.spawns) {
  const c = timing.calls.find((c) => sp.start / 1000 >= c.t0 - 0.001 && sp.start / 1000 <= c.t1 + 0.001);
  if (!c) continue;
  const what = sp.argv[0].endsWith("node") ? `node ${sp.argv[1].split("/").pop()}` : `${sp.argv[0].split("/").pop()} ${sp.argv.slice(1, 3).join(" ").replace(/\n.*/s, "…")}`;
  const t = perTool[c.name];
  (t.traced ??= {})[what] ??= { n: 0, block: [], life: [] };
  t.traced[what].n++;
  t.traced[what].block.push(sp.blockMs);
  if (Number.isFinite(sp.lifeMs)) t.traced[what].life.push(sp.lifeMs);
}
console.log(`\n${cycles} cycles, python: ${python}; per tool call: wall p50, then each child process the server started (spawn() blocking the event loop, spawn → exit)\n`);
for (const [name, t] of Object.entries(perTool)) {
  console.log(`${name}: p50 ${med(t.ms).toFixed(1)} ms per call`);
  for (const [k, s] of Object.entries(t.traced ?? {})) console.log(`    ${(s.n / t.ms.length).toFixed(1)}× per call  spawn() ${med(s.block).toFixed(1)} ms, lives ${med(s.life).toFixed(1)} ms: ${k}`);
  for (const [k, s] of Object.entries(t.spawns)) console.log(`    (strace) ${(s.n / t.tracedN).toFixed(1)}× per call: ${k}`);
}

// ---- what one spawn of each costs on this machine (spawn → exit, from node)
const { spawnSync } = await import("node:child_process");
const inspectPy = /const INSPECT_PY = String\.raw ?`([\s\S]*?)`;/.exec(fs.readFileSync(path.join(ROOT, "dist", "guards", "source.js"), "utf8"))?.[1];
const src = karpathyTrain();
const costOf = (cmd, args, input) => {
  const ms = [];
  for (let i = 0; i < 9; i++) {
    const t = performance.now();
    spawnSync(cmd, args, { input, stdio: [input ? "pipe" : "ignore", "ignore", "ignore"], cwd: ROOT });
    ms.push(performance.now() - t);
  }
  return ms.sort((a, b) => a - b)[4];
};
const resolved = execFileSync(python, ["-c", "import sys; print(sys.executable)"], { encoding: "utf8" }).trim();
console.log("\none spawn, spawn → exit, median of 9:");
if (inspectPy) {
  console.log(`  ${costOf(python, ["-I", "-S", "-c", inspectPy, "train.py"], src).toFixed(1).padStart(7)} ms  ${python} -I -S -c INSPECT_PY < train.py (syntax + imports)`);
  console.log(`  ${costOf(resolved, ["-I", "-S", "-c", inspectPy, "train.py"], src).toFixed(1).padStart(7)} ms  ${resolved} -I -S -c INSPECT_PY < train.py`);
}
console.log(`  ${costOf(python, ["-I", "-S", "-c", "pass"]).toFixed(1).padStart(7)} ms  ${python} -I -S -c pass`);
console.log(`  ${costOf(resolved, ["-I", "-S", "-c", "pass"]).toFixed(1).padStart(7)} ms  ${resolved} -I -S -c pass`);
console.log(`  ${costOf("git", ["status", "--porcelain=v1", "-z", "--untracked-files=all", "--no-renames"]).toFixed(1).padStart(7)} ms  git status --porcelain (this repository)`);
console.log(`  ${costOf(process.execPath, ["-e", "0"]).toFixed(1).padStart(7)} ms  node -e 0 (what a watchdog costs to start)`);
console.log(`  ${costOf("bash", ["-c", "true"]).toFixed(1).padStart(7)} ms  bash -c true`);

// ---- in-process JS: top self time from the CPU profile
const prof = fs.readdirSync(outDir).find((f) => f.endsWith(".cpuprofile"));
if (prof) {
  const p = JSON.parse(fs.readFileSync(path.join(outDir, prof), "utf8"));
  const dt = new Map();
  for (let i = 0; i < p.samples.length; i++) dt.set(p.samples[i], (dt.get(p.samples[i]) ?? 0) + (p.timeDeltas[i] ?? 0));
  const self = new Map();
  for (const n of p.nodes) {
    const us = dt.get(n.id) ?? 0;
    if (!us) continue;
    const f = n.callFrame;
    const key = `${f.functionName || "(anonymous)"} ${f.url.replace(/^.*node_modules\//, "").replace(/^file:\/\/.*\/dist\//, "dist/")}:${f.lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + us);
  }
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  console.log(`\nserver JS profile (${prof}): ${(total / 1000).toFixed(0)} ms sampled; top self time:`);
  for (const [k, us] of [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(`  ${(us / 1000).toFixed(1).padStart(8)} ms  ${k}`);
}
console.log(`\nraw: ${path.relative(process.cwd(), outDir)}`);
