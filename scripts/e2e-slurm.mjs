#!/usr/bin/env node
// End-to-end test of the Slurm executor on a real cluster: a one-node Slurm with four fake GPUs on
// this machine (scripts/slurm-local.mjs: Debian's slurm-wlm and munge, installed with apt-get when
// missing; needs root). The built server, driven by the MCP SDK's Client over stdio as a user's
// client would, runs a session with "executor": {"type": "slurm", "sbatch": ["--gres=gpu:1"],
// "maxJobs": 4}:
//
//  1. the baseline as HEAD's run (a job, run_training waits for it);
//  2. four experiments queued at once (commit {"run": true}), held by a gate file so that all four
//     run together: four jobs, each with its own CUDA_VISIBLE_DEVICES, a fifth queued by the server;
//  3. one of them cancelled (run_training {"runId", "cancel": true}): scancel, the job gone;
//  4. the server SIGKILLed while jobs run: they go on; the next server follows them again by id;
//  5. one that sleeps past the hard limit: the server ends it (scancel) and it is a timeout;
//  6. everything logged; squeue holds no job of the session, no worktree is left.
//
//   node scripts/e2e-slurm.mjs [--keep] [--verbose] [--down]
// --down: stop the cluster's daemons at the end (by default they stay up for the next run).

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { parseArgs } from "node:util";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { CLI, git, oneLine, reporter, secs } from "./e2e-lib.mjs";
import { down, up } from "./slurm-local.mjs";

const args = parseArgs({ options: { keep: { type: "boolean" }, verbose: { type: "boolean" }, down: { type: "boolean" } } }).values;
const r = reporter("slurm");
const sleep = (ms) => new Promise((res) => setTimeout(res, ms));
const squeue = () => spawnSync("squeue", ["-h", "-o", "%i|%j|%T"], { encoding: "utf8" }).stdout.trim().split("\n").filter(Boolean).map((l) => l.split("|"));

const TRAIN = `import json, os, time
LR = 0.04
SLEEP = 0.5
ws = os.environ["AUTORESEARCH_WORKSPACE"]
gate = os.path.join(ws, ".git", "e2e-gate")
t0 = time.time()
print("job", os.environ.get("SLURM_JOB_ID"), "cuda", os.environ.get("CUDA_VISIBLE_DEVICES"), flush=True)
while os.path.exists(gate):
    time.sleep(0.1)
time.sleep(SLEEP)
with open(os.path.join(ws, ".git", "e2e-trace.jsonl"), "a") as f:
    f.write(json.dumps({"lr": LR, "job": os.environ.get("SLURM_JOB_ID"), "cuda": os.environ.get("CUDA_VISIBLE_DEVICES"), "node": os.uname().nodename, "start": t0, "end": time.time()}) + "\\n")
print("---")
print(f"val_bpb:          {1.0 + abs(LR - 0.05) * 10:.6f}")
print("peak_vram_mb:     512.0")
`;

let ws = null;
const servers = [];
async function server() {
  const transport = new StdioClientTransport({ command: process.execPath, args: [CLI, "serve", "--workspace", ws], stderr: "pipe", env: { ...process.env, AUTORESEARCH_PROGRESS_MS: "1000" } });
  let stderr = "";
  transport.stderr?.on("data", (d) => (stderr += d));
  const client = new Client({ name: "e2e-slurm", version: "0" });
  await client.connect(transport);
  const s = { client, transport, stderr: () => stderr };
  servers.push(s);
  return s;
}
async function call(s, name, a = {}) {
  const t0 = Date.now();
  const res = await s.client.callTool({ name, arguments: a }, undefined, { onprogress: () => {}, timeout: 600_000, resetTimeoutOnProgress: true });
  const text = res.content.map((c) => c.text).join("\n");
  if (args.verbose) r.say(`${name} ${JSON.stringify(a)} (${secs(Date.now() - t0)}): ${oneLine(text, 200)}`);
  return { ok: !res.isError, text, data: res.structuredContent ?? {} };
}
async function must(s, name, a) {
  const res = await call(s, name, a);
  if (!res.ok) throw new Error(`${name} ${JSON.stringify(a ?? {})} failed: ${res.text}`);
  return res.data;
}
const trace = () => (fs.existsSync(path.join(ws, ".git/e2e-trace.jsonl")) ? fs.readFileSync(path.join(ws, ".git/e2e-trace.jsonl"), "utf8").trim().split("\n").filter(Boolean).map((l) => JSON.parse(l)) : []);
const gate = (on) => (on ? fs.writeFileSync(path.join(ws, ".git/e2e-gate"), "") : fs.rmSync(path.join(ws, ".git/e2e-gate"), { force: true }));
const edit = async (s, from, to, description) => {
  await must(s, "apply_patch", { edits: [{ old: from, new: to }] });
  return (await must(s, "commit", { description, run: true })).run;
};
async function until(what, cond, ms = 120_000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return true;
    await sleep(250);
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function main() {
  if (process.getuid?.() !== 0) throw new Error("e2e:slurm needs root (it installs and starts Slurm and munge)");
  if (!fs.existsSync(CLI)) throw new Error(`${CLI} is missing: run "npm run build" first`);
  const t0 = Date.now();
  r.say(`cluster: node ${await up()}`);
  r.timings.push(["cluster up (install when missing)", Date.now() - t0]);
  const before = new Set(squeue().map((j) => j[0]));

  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "ar-e2e-slurm-"));
  ws = path.join(tmp, "ws");
  fs.mkdirSync(ws);
  fs.writeFileSync(path.join(ws, "train.py"), TRAIN);
  fs.writeFileSync(path.join(ws, "prepare.py"), "BASE = 1\n");
  fs.writeFileSync(path.join(ws, "autoresearch.json"), JSON.stringify({ run: ["python3", "train.py"], budgetSeconds: 4, killAfterSeconds: 12, graceSeconds: 1, noise: false, executor: { type: "slurm", sbatch: ["--gres=gpu:1"], maxJobs: 4, pollSeconds: 0.5 } }, null, 2));
  git(ws, "init", "-q", "-b", "master");
  git(ws, "config", "user.name", "e2e");
  git(ws, "config", "user.email", "e2e@example.invalid");
  git(ws, "add", "-A");
  git(ws, "commit", "-q", "-m", "e2e: slurm workspace");
  r.say(`workspace ${ws}`);

  let s = await server();
  await must(s, "start_session", { tag: "slurm" });
  const base = await must(s, "run_training");
  r.check("the baseline ran as a Slurm job (run_training waits for it)", base.state === "finished" && /^\d+$/.test(base.jobId ?? "") && base.metric === 1.1, `job ${base.jobId} on ${base.node}, val_bpb ${base.metric}`);
  r.check("its log has SLURM_JOB_ID", fs.readFileSync(path.join(ws, "run.log"), "utf8").includes(`job ${base.jobId} `), oneLine(fs.readFileSync(path.join(ws, "run.log"), "utf8"), 120));
  await must(s, "log_result", {});

  // Four at once, each on its own GPU; a fifth waits in the server's queue.
  gate(true);
  const runs = [];
  for (const lr of ["0.041", "0.042", "0.043", "0.044", "0.046"]) runs.push(await edit(s, "LR = 0.04\n", `LR = ${lr}\n`, `lr ${lr}`));
  await until("four jobs running", async () => (await must(s, "status")).inFlight.filter((f) => f.state === "running" && f.jobId).length === 4);
  const st = await must(s, "status");
  const jobs = st.inFlight.filter((f) => f.jobId).map((f) => f.jobId);
  r.check("maxJobs 4: four jobs submitted, the fifth run queued by the server", jobs.length === 4 && st.inFlight.filter((f) => f.state === "queued").length === 1, st.inFlight.map((f) => `${f.state}${f.jobId ? ` job ${f.jobId}` : ""}`).join(", "));
  r.check("the jobs are on the cluster (squeue)", jobs.every((j) => squeue().some((q) => q[0] === j)), squeue().map((q) => q.join(" ")).join("; "));
  await until("the four jobs to print their GPU", async () => runs.slice(0, 4).every((x) => {
    const f = path.join(ws, ".git/autoresearch/queue", `${x.runId}.log`);
    return fs.existsSync(f) && /cuda \d/.test(fs.readFileSync(f, "utf8"));
  }));
  const cudas = runs.slice(0, 4).map((x) => /cuda (\S+)/.exec(fs.readFileSync(path.join(ws, ".git/autoresearch/queue", `${x.runId}.log`), "utf8"))?.[1]);
  r.check("four jobs at once, each with its own CUDA_VISIBLE_DEVICES", new Set(cudas).size === 4, cudas.join(", "));

  // Cancel one: scancel, the job leaves the cluster, its run is a crash to log.
  const victim = runs[3];
  const victimJob = st.inFlight.find((f) => f.runId === victim.runId)?.jobId;
  const cancelled = await must(s, "run_training", { runId: victim.runId, cancel: true });
  r.check("cancel: the run ends as cancelled and the job leaves the cluster", cancelled.state === "finished" && cancelled.endReason === "cancel" && !squeue().some((q) => q[0] === victimJob), `endReason ${cancelled.endReason}, job ${victimJob}: ${squeue().some((q) => q[0] === victimJob) ? "still in squeue" : "gone"}`);

  // SIGKILL the server while three jobs run: they go on, and the next server follows them again.
  const pid = s.transport.pid;
  process.kill(pid, "SIGKILL");
  await until("the server to be gone", () => {
    try {
      process.kill(pid, 0);
      return false;
    } catch {
      return true;
    }
  });
  const alive = jobs.filter((j) => j !== victimJob);
  r.check("the SIGKILLed server's jobs keep running on the cluster", alive.every((j) => squeue().some((q) => q[0] === j && q[2] === "RUNNING")), squeue().map((q) => q.join(" ")).join("; "));
  s = await server();
  const st2 = await must(s, "status");
  r.check("the next server follows them again by job id", alive.every((j) => st2.inFlight.some((f) => f.jobId === j && f.state === "running")) && /outlived its server and is followed again/.test(st2.problems.join(" ")), `${st2.inFlight.map((f) => `${f.state} ${f.jobId ?? ""}`).join(", ")}; ${oneLine(st2.problems.join(" | "), 200)}`);
  gate(false);
  const logged = [];
  for (let i = 0; i < 5; i++) logged.push(await must(s, "log_result", { wait: true }));
  const byRun = new Map(logged.map((l) => [l.runId, l]));
  r.check("every run logged: the cancelled one as a crash, the rest by val_bpb", byRun.get(victim.runId)?.row?.status === "crash" && logged.filter((l) => l.row).length === 5, logged.map((l) => `${l.row?.commit} ${l.row?.status} ${oneLine(l.row?.description ?? "", 50)}`).join("; "));
  const t = trace();
  r.check("the trace: each job saw SLURM_JOB_ID and one GPU", t.length >= 5 && t.every((x) => /^\d+$/.test(x.job) && /^\d$/.test(x.cuda)), t.map((x) => `job ${x.job} cuda ${x.cuda}`).join(", "));

  // The hard limit: a run that sleeps past killAfterSeconds (12 s) is ended by the server.
  await must(s, "reset_to_best");
  const long = await edit(s, "SLEEP = 0.5", "SLEEP = 600", "sleep past the limit");
  const timedOut = await must(s, "run_training", { runId: long.runId });
  r.check("the hard limit ends the job (scancel by the server): a timeout, proposed discard", timedOut.state === "finished" && timedOut.timedOut === true && timedOut.proposedStatus === "discard" && !squeue().some((q) => q[0] === timedOut.jobId), `timedOut ${timedOut.timedOut}, ${timedOut.elapsedSeconds} s, job ${timedOut.jobId} ${squeue().some((q) => q[0] === timedOut.jobId) ? "still in squeue" : "gone"}`);
  await must(s, "log_result", { runId: long.runId });

  const runLog = fs.readFileSync(path.join(ws, ".git/autoresearch/runs.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
  r.check("the run log has each run's job id and node", runLog.length === 7 && runLog.every((e) => /^\d+$/.test(e.jobId ?? "") && typeof e.node === "string"), runLog.map((e) => `${e.commit} job ${e.jobId} on ${e.node}`).join("; "));
  const left = squeue().filter((q) => !before.has(q[0]));
  r.check("no job of the session is left on the cluster", left.length === 0, left.map((q) => q.join(" ")).join("; "));
  const worktrees = git(ws, "worktree", "list", "--porcelain").split("\n").filter((l) => l.startsWith("worktree ")).length;
  r.check("no worktree left, the work tree clean", worktrees === 1 && git(ws, "status", "--porcelain") === "", `${worktrees - 1} worktree(s)`);
  r.say(`results.tsv:\n${fs.readFileSync(path.join(ws, "results.tsv"), "utf8").trim().replace(/^/gm, "    ")}`);
  for (const x of servers) await x.client.close().catch(() => {});
  return { tmp };
}

let outcome = null;
try {
  outcome = await main();
} catch (e) {
  r.check("e2e ran to the end", false, e instanceof Error ? e.message : String(e));
}
for (const x of servers) await x.client.close().catch(() => {});
// Whatever a failure left on the cluster goes.
const mine = squeue().filter((q) => q[1].startsWith("ar-run-"));
if (mine.length) spawnSync("scancel", mine.map((q) => q[0]));
if (args.down) down();
const failed = r.checks.filter((c) => !c.ok);
console.log("\n---");
for (const [what, ms] of r.timings) console.log(`${what.padEnd(40)} ${secs(ms)}`);
if (outcome && !failed.length && !args.keep) fs.rmSync(outcome.tmp, { recursive: true, force: true });
else if (ws) console.log(`workspace kept: ${ws}`);
console.log(`${failed.length ? "FAIL" : "PASS"} e2e:slurm — ${r.checks.length - failed.length}/${r.checks.length} checks in ${secs(Date.now() - r.T0)}`);
for (const c of failed) console.log(`  failed: ${c.name}${c.detail ? `: ${oneLine(c.detail, 300)}` : ""}`);
process.exit(failed.length ? 1 : 0);
