// Shared helpers of the bench: temp git workspaces, the built server over stdio (SDK Client),
// shell steps as an agent's bash tool runs them, process checks, statistics.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawn, execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { performance } from "node:perf_hooks";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";

export const ROOT = fileURLToPath(new URL("..", import.meta.url));
export let CLI = path.join(ROOT, "dist", "cli.js");
/** Drive another build of the server (e.g. a patched copy of dist/ when trying a fix). */
export const useCli = (file) => (CLI = path.resolve(file));
export const FIXTURES = path.join(ROOT, "bench", "fixtures");
export const now = () => performance.now();
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Waits are for events (a process gone, a tree up), each with a deadline far above what it takes
 * on an idle machine: a loaded machine makes them slower, never makes the bench give up a figure.
 */
export const WAIT_MS = 60_000;
/**
 * The hard limit (killAfterSeconds) of every bench run that ends by itself: only a hang reaches
 * it. The default, 2 × budget, is 1 s in the quick duty figure and 10 s elsewhere, and a run
 * killed there on a loaded machine changes the figure (figure 2's crash would be a time-out).
 */
export const NO_KILL_S = 600;

/** Bench-wide settings: the Python both sides run, extra node flags for the server. */
export const PY = { cmd: "python3" };
export const SERVER = { nodeArgs: [] };

// ------------------------------------------------------------------ workspaces

const workspaces = new Set();
const servers = new Set();
/** pids of every server this bench started (for the leftover-process check) */
export const serverPids = new Set();

const GIT_ENV = { GIT_AUTHOR_NAME: "bench", GIT_AUTHOR_EMAIL: "bench@localhost", GIT_COMMITTER_NAME: "bench", GIT_COMMITTER_EMAIL: "bench@localhost" };

export function git(dir, ...args) {
  return execFileSync("git", args, { cwd: dir, encoding: "utf8", env: { ...process.env, ...GIT_ENV } });
}

/** The karpathy-sized train.py with BENCH_* switches set. */
export function karpathyTrain({ steps = 0, seconds = 0, val = 0.9979 } = {}) {
  let src = fs.readFileSync(path.join(FIXTURES, "train.py"), "utf8");
  src = setConst(src, "BENCH_STEPS", String(steps));
  src = setConst(src, "BENCH_SECONDS", Number(seconds).toFixed(1));
  src = setConst(src, "BENCH_VAL_BPB", val.toFixed(6));
  return src;
}

function setConst(src, name, value) {
  const re = new RegExp(`^${name} = \\S+`, "m");
  if (!re.test(src)) throw new Error(`no ${name} in the fixture`);
  return src.replace(re, `${name} = ${value}`);
}

/**
 * A fresh git repository in /tmp with train.py, prepare.py, pyproject.toml and autoresearch.json
 * committed on master (as test/helpers/workspace.ts makes them). results.tsv and run.log are
 * git-ignored locally, as karpathy's setup has them untracked. Figures 1-6 time the server's own
 * work per run, so a config without "noise" gets the strict rule (one run per row); bench/noise.mjs
 * compares the two rules. A config without "evaluation" gets false (see below).
 */
export function makeWorkspace({ train, config = { run: [PY.cmd, "train.py"], python: PY.cmd, budgetSeconds: 5, killAfterSeconds: NO_KILL_S, graceSeconds: 1 }, files = {}, name = "ws" } = {}) {
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), `arbench-${name}-`)));
  workspaces.add(dir);
  fs.writeFileSync(path.join(dir, "train.py"), train ?? karpathyTrain());
  fs.copyFileSync(path.join(FIXTURES, "prepare.py"), path.join(dir, "prepare.py"));
  fs.writeFileSync(path.join(dir, "pyproject.toml"), '[project]\nname = "autoresearch"\nversion = "0.1.0"\nrequires-python = ">=3.10"\ndependencies = ["torch==2.9.1", "kernels>=0.11.7", "numpy>=2.2.6", "pyarrow>=21.0.0", "rustbpe>=0.1.0", "tiktoken>=0.11.0"]\n');
  fs.writeFileSync(path.join(dir, ".gitignore"), "__pycache__/\n");
  // The stand-in train.py prints a value its knobs set instead of calling prepare.evaluate_bpb,
  // which the evaluation check would (rightly) call a crash: the benches turn the check off.
  const withRules = { ...("noise" in (config ?? {}) ? {} : { noise: false }), ...("evaluation" in (config ?? {}) ? {} : { evaluation: false }), ...config };
  if (config) fs.writeFileSync(path.join(dir, "autoresearch.json"), JSON.stringify(withRules, null, 2));
  for (const [rel, content] of Object.entries(files)) fs.writeFileSync(path.join(dir, rel), content);
  git(dir, "init", "-q", "-b", "master");
  git(dir, "config", "user.name", "bench");
  git(dir, "config", "user.email", "bench@localhost");
  git(dir, "add", "-A");
  git(dir, "commit", "-q", "-m", "initial");
  fs.appendFileSync(path.join(dir, ".git", "info", "exclude"), "/results.tsv\n/run.log\n");
  return dir;
}

export function removeWorkspace(dir) {
  fs.rmSync(dir, { recursive: true, force: true });
  workspaces.delete(dir);
}

export const wsPath = (ws, rel) => path.join(ws, rel);
export const readText = (ws, rel) => fs.readFileSync(path.join(ws, rel), "utf8");

/** Fake rows (discards worse than the baseline) appended to results.tsv until it has `total` rows. */
export function fillResults(ws, total, metricBase = 1.1) {
  const file = path.join(ws, "results.tsv");
  const have = fs.readFileSync(file, "utf8").split("\n").filter((l) => l.trim()).length - 1;
  let out = "";
  for (let i = have; i < total; i++) {
    const commit = (0x1000000 + i * 7919).toString(16).slice(-7);
    out += `${commit}\t${(metricBase + (i % 97) / 1e4).toFixed(6)}\t44.0\tdiscard\texperiment ${i}: tweak the matrix LR and warmdown ratio\n`;
  }
  fs.appendFileSync(file, out);
}

// ------------------------------------------------------------------ the server

/** Starts the built server over stdio, as an MCP client (opencode, Claude Code) does. */
export async function startServer(ws, { env = {}, nodeArgs = SERVER.nodeArgs, wrap = null } = {}) {
  const argv = [process.execPath, ...nodeArgs, CLI, "serve", "--workspace", ws];
  const transport = new StdioClientTransport({
    command: wrap ? wrap[0] : argv[0],
    args: wrap ? [...wrap.slice(1), ...argv] : argv.slice(1),
    stderr: "pipe",
    env: { ...process.env, ...env },
  });
  let stderr = "";
  transport.stderr?.on("data", (d) => (stderr += d));
  const client = new Client({ name: "bench", version: "0.0.0" });
  await client.connect(transport);
  const pid = transport.pid;
  serverPids.add(pid);
  const srv = {
    client,
    transport,
    pid,
    stderr: () => stderr,
    async close() {
      servers.delete(srv);
      await client.close().catch(() => undefined);
      // The server exits on stdin close; wait until it is gone (it takes a running tree with it).
      await waitUntil(() => !alive(pid), WAIT_MS);
    },
  };
  servers.add(srv);
  return srv;
}

/**
 * One tool call through the SDK client, timed. The client sends a progress token (like opencode)
 * so a long run_training is one call. Returns the result with its sizes as the agent sees them.
 */
export async function callTool(srv, name, args = {}, { allowError = false } = {}) {
  const t0 = now();
  let r;
  try {
    r = await srv.client.callTool({ name, arguments: args }, undefined, { onprogress: () => undefined, timeout: 900_000, resetTimeoutOnProgress: true });
  } catch (e) {
    e.message += `\n(during ${name}; server stderr: ${srv.stderr().slice(-2000)})`;
    throw e;
  }
  const ms = now() - t0;
  const text = (r.content ?? []).filter((c) => c.type === "text").map((c) => c.text).join("\n");
  if (r.isError && !allowError) throw new Error(`${name} ${JSON.stringify(args).slice(0, 200)} failed: ${text}`);
  return {
    ms,
    isError: !!r.isError,
    text,
    data: r.structuredContent ?? null,
    textBytes: Buffer.byteLength(text, "utf8"),
    structBytes: r.structuredContent ? Buffer.byteLength(JSON.stringify(r.structuredContent), "utf8") : 0,
  };
}

/** Peak and current resident set of a process, in MB (from /proc/<pid>/status). */
export function memoryOf(pid) {
  try {
    const s = fs.readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = (k) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, "m").exec(s)?.[1] ?? NaN);
    return { hwmMB: kb("VmHWM") / 1024, rssMB: kb("VmRSS") / 1024 };
  } catch {
    return { hwmMB: NaN, rssMB: NaN };
  }
}

// ------------------------------------------------------------------ the shell loop

/**
 * One step of the shell loop, run as an agent's bash tool runs it: a separate `bash -c` process,
 * stdout and stderr captured (what comes back to the agent).
 */
export function sh(cmd, cwd, { timeoutMs = 600_000 } = {}) {
  return new Promise((resolve, reject) => {
    const t0 = now();
    const child = spawn("bash", ["-c", cmd], { cwd, env: { ...process.env, ...GIT_ENV }, stdio: ["ignore", "pipe", "pipe"] });
    const out = [];
    const err = [];
    child.stdout.on("data", (d) => out.push(d));
    child.stderr.on("data", (d) => err.push(d));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(out);
      const stderr = Buffer.concat(err);
      resolve({ ms: now() - t0, code, signal, pid: child.pid, stdout: stdout.toString("utf8"), bytes: stdout.length + stderr.length, stderr: stderr.toString("utf8") });
    });
  });
}

/** A shell step that must succeed (exit 0, or one of `okCodes`). */
export async function shOk(cmd, cwd, okCodes = [0]) {
  const r = await sh(cmd, cwd);
  if (!okCodes.includes(r.code)) throw new Error(`shell step failed (${r.code}): ${cmd}\n${r.stderr.slice(0, 500)}`);
  return r;
}

export const shq = (s) => `'${String(s).replace(/'/g, `'\\''`)}'`;

// ------------------------------------------------------------------ processes

/** True when a process with this pid exists and is not a zombie. */
export function alive(pid) {
  try {
    process.kill(pid, 0);
  } catch (e) {
    if (e.code !== "EPERM") return false;
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    const state = stat.slice(stat.lastIndexOf(")") + 2)[0];
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}

/** Pids a fixture printed as `pid: <n>` lines into a log. */
export function pidsIn(file) {
  try {
    return [...fs.readFileSync(file, "utf8").matchAll(/^pid: (\d+)$/gm)].map((m) => Number(m[1]));
  } catch {
    return [];
  }
}

export async function waitUntil(cond, ms = WAIT_MS, step = 20) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await sleep(step);
  }
  return cond();
}

/**
 * Live processes started on behalf of this bench that are still around: anything whose cwd is
 * one of our workspaces, or a watchdog of one of our servers (argv carries the server pid).
 */
export function leftoverProcesses(dirs = [...workspaces]) {
  const out = [];
  for (const name of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    const pid = Number(name);
    if (!alive(pid)) continue;
    let cwd = "";
    let cmd = "";
    try {
      cwd = fs.readlinkSync(`/proc/${name}/cwd`);
      cmd = fs.readFileSync(`/proc/${name}/cmdline`, "utf8").split("\0");
    } catch {
      continue;
    }
    const ours = dirs.some((d) => cwd === d || cwd.startsWith(d + "/")) || (cmd.some((a) => a.endsWith("watchdog.js")) && serverPids.has(Number(cmd[cmd.findIndex((a) => a.endsWith("watchdog.js")) + 1])));
    if (ours) out.push({ pid, cmd: cmd.join(" ").trim().slice(0, 120) });
  }
  return out;
}

/** Closes every server and removes every workspace this bench made (also on errors and signals). */
export async function cleanupAll() {
  for (const s of [...servers]) await s.close().catch(() => undefined);
  for (const d of [...workspaces]) {
    for (const p of leftoverProcesses([d])) {
      try {
        process.kill(p.pid, "SIGKILL");
      } catch {
        /* gone */
      }
    }
    removeWorkspace(d);
  }
}

// ------------------------------------------------------------------ statistics and formatting

export function percentile(values, p) {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return NaN;
  const idx = (p / 100) * (v.length - 1);
  const lo = Math.floor(idx);
  const hi = Math.ceil(idx);
  return v[lo] + (v[hi] - v[lo]) * (idx - lo);
}
export const p50 = (v) => percentile(v, 50);
export const p95 = (v) => percentile(v, 95);
export const max = (v) => Math.max(...v.filter((x) => Number.isFinite(x)));
export const sum = (v) => v.reduce((a, b) => a + b, 0);

export function fmtMs(ms) {
  if (!Number.isFinite(ms)) return "n/a";
  if (ms >= 10_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms >= 100) return `${ms.toFixed(0)} ms`;
  if (ms >= 10) return `${ms.toFixed(1)} ms`;
  return `${ms.toFixed(2)} ms`;
}
export const fmtRatio = (r) => (Number.isFinite(r) ? `${r.toFixed(2)}×` : "n/a");
export const fmtBytes = (b) => (!Number.isFinite(b) ? "n/a" : b >= 1 << 20 ? `${(b / (1 << 20)).toFixed(1)} MiB` : b >= 1024 ? `${(b / 1024).toFixed(1)} KiB` : `${b} B`);
export const fmtInt = (n) => (Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "n/a");
export const tokens = (bytes) => Math.round(bytes / 4);

export function table(head, rows) {
  const lines = [`| ${head.join(" | ")} |`, `|${head.map((h, i) => (i === 0 ? "---" : "---:")).join("|")}|`];
  for (const r of rows) lines.push(`| ${r.join(" | ")} |`);
  return lines.join("\n");
}

/** The heading of bench/queue.mjs's section of bench/results.md (bench/bench.mjs keeps it when it rewrites the file). */
export const QUEUE_SECTION = "## Figure 7: experiments in flight";
/** The heading of bench/dashboard.mjs's section (kept the same way). */
export const DASHBOARD_SECTION = "## Figure 8: the live dashboard";

/**
 * `md` with the section that starts at the line `heading` (up to the next heading of the same
 * level or the end) replaced by `section`, or `section` appended when there is none; the rest of
 * the file is left as it is.
 */
export function replaceSection(md, heading, section) {
  const level = /^#+/.exec(heading)[0];
  const lines = md.split("\n");
  const start = lines.findIndex((l) => l.trimEnd() === heading);
  const body = section.replace(/\n+$/, "").split("\n");
  if (start < 0) {
    const head = md.replace(/\n+$/, "");
    return (head ? `${head}\n\n` : "") + body.join("\n") + "\n";
  }
  const same = new RegExp(`^#{1,${level.length}} `);
  let end = lines.findIndex((l, i) => i > start && same.test(l));
  if (end < 0) end = lines.length;
  const rest = lines.slice(end);
  return [...lines.slice(0, start), ...body, ...(rest.length ? ["", ...rest] : [""])].join("\n").replace(/\n*$/, "\n");
}

/** The section that starts at the line `heading` (up to the next heading of its level), or null. */
export function sectionOf(md, heading) {
  const level = /^#+/.exec(heading)[0];
  const lines = md.split("\n");
  const start = lines.findIndex((l) => l.trimEnd() === heading);
  if (start < 0) return null;
  const same = new RegExp(`^#{1,${level.length}} `);
  let end = lines.findIndex((l, i) => i > start && same.test(l));
  if (end < 0) end = lines.length;
  return lines.slice(start, end).join("\n").replace(/\n+$/, "");
}

/** mulberry32: a small seeded RNG, a scripted agent's only source of randomness. */
export function rngOf(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
