#!/usr/bin/env node
// `npm run bench:queue` (writes the section "## Figure 7: experiments in flight" of
// bench/results.md) or `node bench/queue.mjs --quick` (3 experiments a slot, 1 s budget, writes
// bench/out/queue-quick.md). Issue #15: experiments in flight, on one GPU or several.
//
// A simulated agent drives the real server (dist/cli.js serve over stdio, the MCP SDK Client, as
// bench/bench.mjs does) and sleeps one LLM turn before every tool call. train.py sleeps the budget
// (AUTORESEARCH_BUDGET_SECONDS, which the server sets) and appends {start, end, cuda, pid} to the
// trace file BENCH_TRACE (an absolute path from autoresearch.json's env: runs execute in worktrees
// of their own, not in the workspace). Its val_bpb is a known function of a few knobs the agent
// moves (seeded), so some experiments keep and some discard. Under the strict rule
// ("noise": false). Three configurations, one after the other, each in a fresh workspace:
//
//   sequential    today's loop on one slot: apply_patch, commit, run_training (waits), log_result,
//                 reset_to_best after a discard
//   pipelined ×1  one slot, one candidate queued while one trains: apply_patch, commit {run: true},
//                 log_result {wait: true}
//   pipelined ×4  "gpus": [0, 1, 2, 3], every slot busy plus the queue (slots + 2 in flight)
//
// and, per configuration: GPU duty (the trace's training time / slots × wall time from the first
// run's start to the last run's end), experiments per budget of that wall time, tool calls per
// experiment in steady state, overlaps on one GPU, the CUDA ids seen.
//
//   --experiments N  experiments a slot (default 14; the 4-slot configuration runs 4 × N, and on
//                    until its runs are a multiple of 4, stale bases re-queued included)
//   --budget S       budgetSeconds, what train.py sleeps (default 6)
//   --turn S         the agent's LLM turn before every call (default budget / 30: 0.2 s)
//   --seed N         the agent's seed (default 20240615)
//   --only a,b       sequential,pipelined-1,pipelined-4 (default all three)
//   --quick          3 experiments a slot, 1 s budget (~30 s; test/bench-queue.test.ts runs it)
//   --out FILE       the markdown file whose Figure 7 section is written (replaced, rest kept)
//   --cli FILE       drive another build of the server (default dist/cli.js)
//   --python CMD     the Python train.py runs on (default python3)
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { parseArgs } from "node:util";
import * as lib from "./lib.mjs";
import { resolvePython } from "./figures.mjs";
import { NO_KILL_S, PY, ROOT, WAIT_MS, alive, callTool, cleanupAll, git, leftoverProcesses, makeWorkspace, now, p50, QUEUE_SECTION, removeWorkspace, replaceSection, rngOf, sleep, startServer, sum, table, waitUntil } from "./lib.mjs";

let args;
try {
  args = parseArgs({
    options: {
      quick: { type: "boolean" },
      experiments: { type: "string" },
      budget: { type: "string" },
      turn: { type: "string" },
      seed: { type: "string" },
      only: { type: "string" },
      out: { type: "string" },
      cli: { type: "string" },
      python: { type: "string" },
    },
  }).values;
} catch (e) {
  process.stderr.write(`bench:queue: ${e.message} (see the options at the top of bench/queue.mjs)\n`);
  process.exit(2);
}
const fail = (msg) => {
  process.stderr.write(`bench:queue: ${msg}\n`);
  process.exit(2);
};
const quick = !!args.quick;
const num = (v, d, name, { int = false } = {}) => {
  if (v === undefined) return d;
  const n = Number(v);
  if (!(n > 0) || (int && !Number.isInteger(n))) fail(`--${name} must be a ${int ? "whole " : ""}number > 0`);
  return n;
};
const BUDGET = num(args.budget, quick ? 1 : 6, "budget");
const SETTINGS = {
  experiments: num(args.experiments, quick ? 3 : 14, "experiments", { int: true }),
  budget: BUDGET,
  turn: num(args.turn, BUDGET / 30, "turn"),
  seed: num(args.seed, 20240615, "seed", { int: true }),
};
const CONFIGS = [
  { key: "sequential", label: "sequential (today's loop)", slots: 1, gpus: null, inFlight: 1 },
  // one trains, one waits: the agent has a whole budget to prepare the next
  { key: "pipelined-1", label: "pipelined, 1 slot", slots: 1, gpus: null, inFlight: 2 },
  // every slot busy plus the queue: the server's bound, slots + 2
  { key: "pipelined-4", label: "pipelined, 4 slots", slots: 4, gpus: [0, 1, 2, 3], inFlight: 6 },
];
const only = args.only ? args.only.split(",") : CONFIGS.map((c) => c.key);
for (const k of only) if (!CONFIGS.some((c) => c.key === k)) fail(`--only takes ${CONFIGS.map((c) => c.key).join(",")}`);
if (args.python) PY.cmd = args.python;
if (args.cli) lib.useCli(args.cli);
const outFile = path.resolve(args.out ?? (quick ? path.join(ROOT, "bench", "out", "queue-quick.md") : path.join(ROOT, "bench", "results.md")));
const SECTION = QUEUE_SECTION;

// The runs of the 1-slot configurations must see no CUDA_VISIBLE_DEVICES of ours (the server
// passes its environment on): "unset" is then the one GPU they share.
delete process.env.CUDA_VISIBLE_DEVICES;

const t0 = now();
const log = (msg) => process.stderr.write(`[queue ${((now() - t0) / 1000).toFixed(1)}s] ${msg}\n`);

// ------------------------------------------------------------------ the simulated problem

/**
 * val_bpb = FLOOR + Σ w·ln(x/opt)². LR and WD start away from their optimum (about half the moves
 * of them help), WARMUP and BETA2 start at theirs (every move hurts): about a quarter of the
 * proposals keep at first, fewer later, as in a real night.
 */
const FLOOR = 0.95;
const KNOBS = [
  { name: "LR", start: 0.04, opt: 0.08, w: 0.04 },
  { name: "WD", start: 0.2, opt: 0.08, w: 0.02 },
  { name: "WARMUP", start: 0.05, opt: 0.05, w: 0.01 },
  { name: "BETA2", start: 0.95, opt: 0.95, w: 0.01 },
];
const fmtKnob = (v) => v.toFixed(4);
const knobLine = (k, v) => `${k.name} = ${fmtKnob(v)}`;

/** train.py: the knobs, the truth, a sleep of the budget, one trace line, karpathy's summary. */
function trainPy() {
  return `"""Simulated training for bench/queue.mjs: sleeps the budget, records when it ran and on which GPU."""
import json
import math
import os
import time

# knobs the agent tunes
${KNOBS.map((k) => knobLine(k, k.start)).join("\n")}

start = time.time()
time.sleep(float(os.environ.get("AUTORESEARCH_BUDGET_SECONDS", "${BUDGET}")))
end = time.time()
with open(os.environ["BENCH_TRACE"], "a") as f:
    f.write(json.dumps({"start": start, "end": end, "cuda": os.environ.get("CUDA_VISIBLE_DEVICES"), "pid": os.getpid()}) + "\\n")

val_bpb = ${FLOOR} + ${KNOBS.map((k) => `${k.w} * math.log(${k.name} / ${k.opt}) ** 2`).join(" + ")}
print("step 00001 (100.0%) | loss: 1.000000 | remaining: 0s")
print("---")
print(f"val_bpb:          {val_bpb:.6f}")
print(f"training_seconds: {end - start:.1f}")
print(f"total_seconds:    {end - start:.1f}")
print("peak_vram_mb:     1024.0")
print("mfu_percent:      0.00")
print("total_tokens_M:   0.0")
print("num_steps:        1")
print("num_params_M:     0.0")
print("depth:            8")
`;
}

/** One idea on the current train.py: a knob times e^±s, s log-uniform in [0.03, 0.4]; never a content already tried. */
function proposeIdea(rng, src, tried) {
  for (let tries = 0; tries < 1000; tries++) {
    const k = KNOBS[Math.floor(rng() * KNOBS.length)];
    const m = new RegExp(`^${k.name} = ([0-9.]+)$`, "m").exec(src);
    if (!m) throw new Error(`train.py has no line "${k.name} = <number>"`);
    const old = Number(m[1]);
    const step = Math.exp(Math.log(0.03) + rng() * (Math.log(0.4) - Math.log(0.03)));
    const sign = rng() < 0.5 ? -1 : 1;
    const v = old * Math.exp(sign * step);
    const oldLine = knobLine(k, old);
    const newLine = knobLine(k, v);
    const next = src.replace(oldLine, newLine);
    if (newLine === oldLine || tried.has(next)) continue;
    tried.add(next);
    return { content: next, edits: [{ old: oldLine, new: newLine }], description: `${sign > 0 ? "raise" : "lower"} ${k.name} to ${fmtKnob(v)} (from ${fmtKnob(old)})` };
  }
  throw new Error("no new idea in 1000 draws");
}

// ------------------------------------------------------------------ one configuration

class Unsupported extends Error {}

/** The refusal of a run past the queue's bound (slots + 2 in flight; every refusal starts with "Refused:"). */
const QUEUE_FULL = /^Refused: \d+ runs are in flight \(/;

/** The trace: one line per finished run (train.py writes it after its sleep). */
function readTrace(file) {
  try {
    return fs
      .readFileSync(file, "utf8")
      .split("\n")
      .filter((l) => l.trim())
      .map((l) => JSON.parse(l));
  } catch (e) {
    if (e.code === "ENOENT") return [];
    throw e;
  }
}

/** Pairs of trace intervals on the same CUDA id (unset is one GPU too) that overlap in time. */
function overlaps(trace) {
  let n = 0;
  for (let i = 0; i < trace.length; i++)
    for (let j = i + 1; j < trace.length; j++) {
      const a = trace[i];
      const b = trace[j];
      if (a.cuda === b.cuda && a.start < b.end && b.start < a.end) n++;
    }
  return n;
}

const rowsOf = (ws) => {
  try {
    return fs
      .readFileSync(path.join(ws, "results.tsv"), "utf8")
      .split("\n")
      .slice(1)
      .filter((l) => l.trim())
      .map((l) => l.split("\t"));
  } catch {
    return [];
  }
};

async function runConfig(cfg) {
  const experiments = SETTINGS.experiments * cfg.slots;
  const turnMs = SETTINGS.turn * 1000;
  const config = {
    run: [PY.cmd, "train.py"],
    python: PY.cmd,
    budgetSeconds: SETTINGS.budget,
    killAfterSeconds: NO_KILL_S,
    graceSeconds: 1,
    noise: false,
    // its train.py prints a knob-made val_bpb, not prepare.evaluate_bpb's (see lib.mjs)
    evaluation: false,
    env: { BENCH_TRACE: "" },
    ...(cfg.gpus ? { gpus: cfg.gpus } : {}),
  };
  const ws = makeWorkspace({ train: trainPy(), config, name: `queue-${cfg.key}` });
  // inside .git: outside the work tree (no untracked file), removed with the workspace, also on errors
  const traceFile = path.join(ws, ".git", "bench-trace.jsonl");
  config.env.BENCH_TRACE = traceFile;
  fs.writeFileSync(path.join(ws, "autoresearch.json"), JSON.stringify(config, null, 2));
  git(ws, "commit", "-q", "-m", "bench trace path", "--", "autoresearch.json");
  const srv = await startServer(ws);
  const rng = rngOf(SETTINGS.seed);
  const tried = new Set([fs.readFileSync(path.join(ws, "train.py"), "utf8")]);
  const calls = [];
  const notes = [];
  const stats = { requeued: 0, refused: 0, waiting: 0, resets: 0, keeps: 0, discards: 0, crashes: 0 };
  let phase = "setup";
  /** One agent turn, then the call. Every call is counted with the phase it was made in. */
  const call = async (name, a = {}) => {
    await sleep(turnMs);
    const r = await callTool(srv, name, a, { allowError: true });
    calls.push({ name, phase, ms: r.ms, isError: r.isError, row: name === "log_result" && !!r.data?.row });
    return r;
  };
  const must = async (name, a = {}) => {
    const r = await call(name, a);
    if (r.isError) throw new Error(`${cfg.key}: ${name} ${JSON.stringify(a)} refused: ${r.text}`);
    return r;
  };
  const readTrain = () => fs.readFileSync(path.join(ws, "train.py"), "utf8");
  /** A logged row: counts its status; returns it. */
  const counted = (row) => {
    if (row.status === "keep") stats.keeps++;
    else if (row.status === "crash") stats.crashes++;
    else stats.discards++;
    return row;
  };
  let unsupported = null;
  try {
    const started = await call("start_session", { tag: `queue-${cfg.key}` });
    if (started.isError) {
      if (cfg.gpus && /gpus/.test(started.text)) throw new Unsupported(`start_session refused "gpus": ${started.text.split("\n")[0]}`);
      throw new Error(`${cfg.key}: start_session refused: ${started.text}`);
    }
    if (cfg.key === "sequential") {
      phase = "baseline";
      await must("run_training");
      counted((await must("log_result", { description: "baseline" })).data.row);
      phase = "steady";
      for (let i = 0; i < experiments; i++) {
        const idea = proposeIdea(rng, readTrain(), tried);
        await must("apply_patch", { edits: idea.edits });
        await must("commit", { description: idea.description });
        await must("run_training");
        const row = counted((await must("log_result", { description: idea.description })).data.row);
        if (row.status !== "keep") {
          await must("reset_to_best");
          stats.resets++;
        }
      }
    } else {
      // The baseline goes in first; candidates are built on what the branch shows (the best, or
      // the base a queued candidate was built on) while it trains.
      phase = "fill";
      const base = await call("run_training", { wait: false });
      if (base.isError) throw new Error(`${cfg.key}: run_training {wait: false} refused: ${base.text}`);
      if (!base.data || !["queued", "running"].includes(base.data.state)) throw new Unsupported(`run_training {wait: false} answered state ${JSON.stringify(base.data?.state)}`);
      let inFlight = 1;
      let submitted = 0;
      let pending = null; // an idea applied whose commit {run} was refused (queue full)
      /** Before the first candidate is in, a refusal means this server has no queue yet. */
      const firstIn = async (name, a) => {
        const r = await call(name, a);
        if (r.isError && submitted === 0 && !QUEUE_FULL.test(r.text)) throw new Unsupported(`${name} with the baseline in flight was refused: ${r.text.split("\n")[0]}`);
        return r;
      };
      // Past the target, on several slots, the agent goes on until the runs (the baseline, its
      // candidates, the stale bases the server queued again) are a multiple of the slots: else the
      // last round leaves whole GPUs idle for a budget, which the end of a real night would not show.
      const more = () => submitted < experiments || (cfg.slots > 1 && (1 + submitted + stats.requeued) % cfg.slots !== 0);
      // fill until the agent first has its runs in flight, drain once it submits no more
      const phaseNow = () => {
        if (phase === "fill" && inFlight >= cfg.inFlight) phase = "steady";
        if (!more()) phase = "drain";
      };
      while (more() || inFlight > 0) {
        if (more() && inFlight < cfg.inFlight) {
          if (!pending) {
            const idea = proposeIdea(rng, readTrain(), tried);
            const p = await firstIn("apply_patch", { edits: idea.edits });
            if (p.isError) throw new Error(`${cfg.key}: apply_patch refused: ${p.text}`);
            pending = idea;
          }
          const c = await firstIn("commit", { description: pending.description, run: true });
          if (c.isError && QUEUE_FULL.test(c.text)) {
            // the bound was reached before the agent's count said so (it counts what log_result
            // says is in flight): drop the edit (a run in flight is not logged over an uncommitted
            // edit), log one, then try the idea again
            stats.refused++;
            if (stats.refused === 1) notes.push(`commit {run: true} was refused with ${inFlight} in flight by the agent's count: ${c.text.split("\n")[0]}`);
            await must("reset_to_best");
            tried.delete(pending.content);
            pending = null;
          } else {
            if (c.isError) throw new Error(`${cfg.key}: commit {run: true} refused: ${c.text}`);
            if (!c.data?.run) throw new Unsupported("commit {run: true} did not enqueue a run (no run in its answer)");
            pending = null;
            inFlight++;
            submitted++;
            phaseNow();
            continue;
          }
        }
        const r = await call("log_result", { wait: true });
        if (r.isError) throw new Error(`${cfg.key}: log_result {wait: true} refused: ${r.text}`);
        const d = r.data ?? {};
        if (d.waiting) {
          stats.waiting++;
          continue;
        }
        if (!d.row) throw new Error(`${cfg.key}: log_result {wait: true} logged no row and is not waiting: ${r.text}`);
        // a stale base (built on an older best, better than the current one) is logged as a
        // discard and its change queued again onto the best: that idea is not decided yet. While
        // waiting the server logs such rows on the way (alsoLogged) and goes on to the next run.
        for (const a of d.alsoLogged ?? []) {
          counted(a.row);
          stats.requeued++;
        }
        counted(d.row);
        if (d.requeued) stats.requeued++;
        else calls[calls.length - 1].decided = true;
        inFlight = d.inFlight ?? inFlight - 1 + (d.requeued ? 1 : 0);
        phaseNow();
      }
    }
    phase = "after";
  } catch (e) {
    if (!(e instanceof Unsupported)) throw e;
    unsupported = e.message;
    log(`${cfg.key}: not supported by this server: ${unsupported}`);
  }
  let st = null;
  try {
    // the end state, not part of the agent's loop: no turn, not counted
    st = (await callTool(srv, "status", { rows: 0 }, { allowError: true })).data;
  } catch {
    /* reported as unknown */
  }
  const rows = rowsOf(ws);
  await srv.close();
  // what the queue may leave once every run is logged: git worktrees, run directories, queue refs
  const worktrees = git(ws, "worktree", "list", "--porcelain")
    .split("\n")
    .filter((l) => l.startsWith("worktree ")).length - 1;
  let runDirs = 0;
  try {
    runDirs = fs.readdirSync(path.join(ws, ".git", "autoresearch", "worktrees")).length;
  } catch {
    /* none made */
  }
  const queueRefs = git(ws, "for-each-ref", "--format=%(refname)", "refs/autoresearch-mcp/queue/").split("\n").filter(Boolean).length;
  const trace = readTrace(traceFile);
  await waitUntil(() => trace.every((t) => !alive(t.pid)), WAIT_MS, 100);
  const runsLeft = trace.filter((t) => alive(t.pid)).length;
  removeWorkspace(ws);
  return { cfg, experiments, unsupported, calls, stats, rows: rows.length, trace, inFlightAtEnd: st?.inFlight?.length ?? null, worktrees, runDirs, queueRefs, runsLeft, notes };
}

// ------------------------------------------------------------------ figures and the report

function figures(r) {
  const { cfg, trace, calls } = r;
  const budgetMs = SETTINGS.budget * 1000;
  const first = Math.min(...trace.map((t) => t.start));
  const last = Math.max(...trace.map((t) => t.end));
  const wallMs = trace.length ? (last - first) * 1000 : NaN;
  const trainMs = sum(trace.map((t) => (t.end - t.start) * 1000));
  const byGpu = new Map();
  for (const t of trace) byGpu.set(t.cuda, (byGpu.get(t.cuda) ?? 0) + (t.end - t.start) * 1000);
  const steady = calls.filter((c) => c.phase === "steady");
  // experiments decided in steady state: log_result calls of that phase that decided one (the
  // sequential loop decides one per experiment; a pipelined row of a stale base decides nothing yet)
  const steadyRows = cfg.key === "sequential" ? r.experiments : calls.filter((c) => c.phase === "steady" && c.decided).length;
  const decided = r.rows - r.stats.requeued;
  // every slot up: from the last slot's first start to the first slot's last end (fill and drain
  // left out), the trace clipped to it
  const gpus = [...byGpu.keys()];
  const upFrom = Math.max(...gpus.map((g) => Math.min(...trace.filter((t) => t.cuda === g).map((t) => t.start))));
  const upTo = Math.min(...gpus.map((g) => Math.max(...trace.filter((t) => t.cuda === g).map((t) => t.end))));
  const upMs = (upTo - upFrom) * 1000;
  const upTrainMs = sum(trace.map((t) => Math.max(0, Math.min(t.end, upTo) - Math.max(t.start, upFrom)) * 1000));
  // the idle time between two runs on one GPU (the server's hand-over: the run's exit to the next one's start)
  const handover = gpus.flatMap((g) => {
    const ts = trace.filter((t) => t.cuda === g).sort((a, b) => a.start - b.start);
    return ts.slice(1).map((t, i) => (t.start - ts[i].end) * 1000);
  });
  return {
    wallMs,
    trainMs,
    duty: trainMs / (cfg.slots * wallMs),
    dutyPerGpu: [...byGpu].map(([cuda, ms]) => ({ cuda, duty: ms / wallMs })),
    upMs,
    dutyUp: upTrainMs / (cfg.slots * upMs),
    handoverP50: p50(handover),
    handoverMax: handover.length ? Math.max(...handover) : NaN,
    staleLogs: calls.filter((c) => c.phase === "steady" && c.name === "log_result" && c.row && !c.decided).length,
    decided,
    perBudget: decided / (wallMs / budgetMs),
    callsPerExperiment: steady.length / steadyRows,
    steadyCalls: steady.length,
    steadyRows,
    overlaps: overlaps(trace),
    cudaIds: [...new Set(trace.map((t) => t.cuda ?? "unset"))].sort(),
    // per tool, steady state (a waiting log_result or run_training includes the run's time)
    callMsP50: Object.fromEntries([...new Set(steady.map((c) => c.name))].map((n) => [n, p50(steady.filter((c) => c.name === n).map((c) => c.ms))])),
    byTool: Object.fromEntries([...new Set(steady.map((c) => c.name))].map((n) => [n, steady.filter((c) => c.name === n).length])),
  };
}

const f2 = (x) => (Number.isFinite(x) ? x.toFixed(2) : "n/a");
const f3 = (x) => (Number.isFinite(x) ? x.toFixed(3) : "n/a");
const secs = (ms) => (Number.isFinite(ms) ? `${(ms / 1000).toFixed(1)} s` : "n/a");

function render(results, meta) {
  const head = ["configuration", "slots", "in flight", "experiments", "runs", "stale bases re-queued", "wall (first start → last end)", "GPU duty per slot", "duty, every slot up", "experiments / budget", "tool calls / experiment (steady)", "overlaps on one GPU", "CUDA ids"];
  const rowsOut = [];
  const goals = [];
  const check = (name, ok, detail) => goals.push(`| ${name} | ${detail} | ${ok ? "yes" : "**no**"} |`);
  for (const r of results) {
    if (r.unsupported) {
      rowsOut.push([r.cfg.label, String(r.cfg.slots), String(r.cfg.inFlight), "not supported by this server", ...head.slice(4).map(() => "")]);
      continue;
    }
    const f = (r.figures = figures(r));
    rowsOut.push([
      r.cfg.label,
      String(r.cfg.slots),
      String(r.cfg.inFlight),
      String(f.decided),
      String(r.trace.length),
      String(r.stats.requeued),
      secs(f.wallMs),
      f3(f.duty),
      f3(f.dutyUp),
      f2(f.perBudget),
      `${f2(f.callsPerExperiment)} (${f.steadyCalls} / ${f.steadyRows})`,
      String(f.overlaps),
      f.cudaIds.join(", "),
    ]);
    check(`${r.cfg.label}: 0 overlaps on one GPU`, f.overlaps === 0, String(f.overlaps));
    if (r.cfg.key === "pipelined-1") check("pipelined, 1 slot: GPU duty ≥ 0.97", f.duty >= 0.97, f3(f.duty));
    if (r.cfg.key === "pipelined-4") {
      const min = Math.min(...f.dutyPerGpu.map((g) => g.duty));
      check("pipelined, 4 slots: GPU duty ≥ 0.95 per slot", f.duty >= 0.95, `${f3(f.duty)} (GPUs ${f.dutyPerGpu.map((g) => `${g.cuda}: ${f3(g.duty)}`).join(", ")}; lowest ${f3(min)})`);
      check("pipelined, 4 slots: 4 distinct CUDA ids", f.cudaIds.length === 4, f.cudaIds.join(", "));
    }
    if (r.cfg.key !== "sequential") check(`${r.cfg.label}: ≤ 3 tool calls per experiment in steady state`, f.callsPerExperiment <= 3, f2(f.callsPerExperiment));
  }
  const detail = results
    .filter((r) => !r.unsupported)
    .map((r) => {
      const f = r.figures;
      const s = r.stats;
      return `- ${r.cfg.label}: ${s.keeps} keep, ${s.discards} discard${s.crashes ? `, ${s.crashes} crash` : ""}; steady-state calls ${Object.entries(f.byTool).map(([n, c]) => `${n} ${c}`).join(", ")}${s.waiting ? `; log_result answered waiting ${s.waiting}×` : ""}${s.refused ? `; commit {run} refused ${s.refused}× (queue full)` : ""}${r.cfg.key !== "sequential" && f.staleLogs ? ` (${f.staleLogs} of the log_result calls logged a stale base: ${f2(f.steadyCalls / (f.steadyRows + f.staleLogs))} calls a row logged)` : ""}; training ${secs(f.trainMs)}; GPU idle between two runs p50 ${f.handoverP50.toFixed(0)} ms, max ${f.handoverMax.toFixed(0)} ms${r.cfg.key === "sequential" ? " (the agent's calls)" : " (the server's hand-over)"}; a call's round trip p50 ${Object.entries(f.callMsP50).map(([n, ms]) => `${n} ${ms.toFixed(0)} ms`).join(", ")}`;
    });
  const unsupported = results.filter((r) => r.unsupported).map((r) => `- ${r.cfg.label}: ${r.unsupported}`);
  const left = results
    .filter((r) => r.runsLeft || r.worktrees || r.runDirs || r.queueRefs || r.inFlightAtEnd)
    .map((r) => `${r.cfg.key}: ${r.runsLeft} runs alive, ${r.worktrees} worktrees, ${r.runDirs} run directories, ${r.queueRefs} queue refs, ${r.inFlightAtEnd} in flight`);
  const notes = results.flatMap((r) => r.notes.map((n) => `- ${r.cfg.label}: ${n}`));
  const md = [
    SECTION,
    "",
    `\`npm run bench:queue\` (bench/queue.mjs)${meta.quick ? ", **quick**" : ""}: ${SETTINGS.experiments} experiments a slot, budget ${SETTINGS.budget} s, one LLM turn of ${SETTINGS.turn.toFixed(3)} s before every tool call (turn:budget 1:${Math.round(SETTINGS.budget / SETTINGS.turn)}), strict rule (\`"noise": false\`). train.py sleeps the budget and records when it ran and which \`CUDA_VISIBLE_DEVICES\` it saw; its val_bpb is a function of knobs the agent moves (seed ${SETTINGS.seed}), so some experiments keep and some discard.`,
    "",
    table(head, rowsOut),
    "",
    "- **sequential**: today's loop, apply_patch, commit, run_training (waits), log_result, reset_to_best after a discard. **pipelined**: apply_patch, commit `{run: true}` while fewer than *in flight* runs are queued, running or unlogged (the count log_result answers), else `log_result {wait: true}` (logs the first run to finish); no reset_to_best (a queued run never moves the branch).",
    "- **experiments**: ideas decided, the baseline included: rows of results.tsv less the rows of stale bases (a candidate built on an older best that beat the current one: logged as a discard, its change re-applied onto the best and queued again by the server, decided by that run's row). **runs**: lines of the trace.",
    "- **GPU duty per slot**: Σ training time of the trace (train.py's sleep; its interpreter start counts as idle) / (slots × wall time from the first run's start to the last run's end). **duty, every slot up**: the same from the last slot's first start to the first slot's last end (the fill and the drain left out). **experiments / budget**: experiments per budget of that wall time; ideal 1 per slot.",
    "- **tool calls / experiment (steady)**: calls / experiments decided between the pipeline's fill (until *in flight* runs were first out) and its drain (from the last candidate's commit on); start_session and the baseline's call are outside it, and so is the baseline's row in the sequential loop, which counts every call after it. Every call costs one turn.",
    "- **overlaps on one GPU**: pairs of trace intervals with the same CUDA id (unset counts as one GPU) that overlap in time.",
    ...detail,
    ...(notes.length ? notes : []),
    ...(unsupported.length ? ["", "Not run (the server refused the queue):", ...unsupported] : []),
    "",
    ...(goals.length ? ["| goal | measured | met |", "|---|---:|---:|", ...goals, ""] : []),
    `${PY.cmd} starts (with train.py's imports) in ${meta.pythonStartMs.toFixed(0)} ms p50 on this machine: that is in every hand-over${meta.python.wrapper ? ` (${PY.cmd} is a wrapper in front of ${meta.python.exe}; \`--python ${meta.python.exe}\` leaves the wrapper's start out)` : ""}. ${meta.cores} cores, load average ${meta.loadavg.start.map((x) => x.toFixed(2)).join(" ")} at the start, ${meta.loadavg.end.map((x) => x.toFixed(2)).join(" ")} at the end; ${(meta.totalMs / 1000).toFixed(0)} s in all; node ${process.version}; ${meta.date}. Processes left behind: ${meta.leftovers}; ${left.length ? `at the end of a configuration: ${left.join("; ")}` : "worktrees, run directories, queue refs and runs in flight at the end of each configuration: none"}.`,
  ];
  return md.join("\n");
}

// ------------------------------------------------------------------ main

let interrupted = false;
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"])
  process.on(sig, () => {
    if (interrupted) return;
    interrupted = true;
    process.stderr.write(`\nbench:queue: ${sig}, cleaning up\n`);
    void cleanupAll().finally(() => process.exit(130));
  });

/** p50 of a few starts of train.py's interpreter with its imports: part of every hand-over between two runs. */
function pythonStartMs() {
  const ms = [];
  for (let i = 0; i < 5; i++) {
    const t = now();
    execFileSync(PY.cmd, ["-c", "import json, math, os, time"]);
    ms.push(now() - t);
  }
  return p50(ms);
}

async function main() {
  if (!fs.existsSync(lib.CLI)) throw new Error(`${lib.CLI} is missing: run "npm run build" first`);
  const load0 = os.loadavg();
  const pyStart = pythonStartMs();
  log(`${only.join(", ")}: ${SETTINGS.experiments} experiments a slot, budget ${SETTINGS.budget} s, turn ${SETTINGS.turn.toFixed(3)} s, seed ${SETTINGS.seed}`);
  const results = [];
  for (const cfg of CONFIGS.filter((c) => only.includes(c.key))) {
    const t = now();
    const r = await runConfig(cfg);
    results.push(r);
    log(`${cfg.key}: ${r.unsupported ? "not supported" : `${r.rows} rows, ${r.trace.length} runs`} in ${((now() - t) / 1000).toFixed(1)} s`);
  }
  await cleanupAll();
  await waitUntil(() => leftoverProcesses().length === 0, WAIT_MS, 100);
  const left = leftoverProcesses();
  const meta = {
    quick,
    cores: os.cpus().length,
    totalMs: now() - t0,
    loadavg: { start: load0, end: os.loadavg() },
    pythonStartMs: pyStart,
    python: resolvePython(),
    date: new Date().toISOString().replace("T", " ").slice(0, 19) + " UTC",
    leftovers: left.length === 0 ? "none" : left.map((p) => `${p.pid} ${p.cmd}`).join(", "),
  };
  // The report is meant to be committed and shared: no home directory or temp paths of this machine.
  const section = render(results, meta).split(os.homedir()).join("~").replace(/\/tmp\/arbench-[\w.-]+/g, "<tmp workspace>");
  fs.mkdirSync(path.dirname(outFile), { recursive: true });
  const before = fs.existsSync(outFile) ? fs.readFileSync(outFile, "utf8") : "";
  fs.writeFileSync(outFile, replaceSection(before, SECTION, section));
  const raw = path.join(ROOT, "bench", "out", quick ? "queue-quick.json" : "queue.json");
  fs.mkdirSync(path.dirname(raw), { recursive: true });
  fs.writeFileSync(raw, JSON.stringify({ settings: SETTINGS, meta, results: results.map(({ cfg, ...r }) => ({ config: cfg.key, ...r })) }, null, 2));
  process.stdout.write(section + "\n");
  log(`wrote the section "${SECTION.slice(3)}" of ${path.relative(process.cwd(), outFile)} (raw data: ${path.relative(process.cwd(), raw)})`);
  if (left.length || results.some((r) => r.runsLeft || r.worktrees || r.runDirs || r.queueRefs || r.inFlightAtEnd)) {
    process.stderr.write(`bench:queue: processes left behind: ${meta.leftovers}\n`);
    process.exitCode = 1;
  }
}

main().catch(async (e) => {
  process.stderr.write(`bench:queue failed: ${e?.stack ?? e}\n`);
  await cleanupAll().catch(() => undefined);
  await sleep(10);
  process.exit(1);
});
