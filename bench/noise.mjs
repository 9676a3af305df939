#!/usr/bin/env node
// `npm run bench:noise` (writes bench/noise-results.md) or `node bench/noise.mjs --quick` (one
// night of 12 runs at σ = 3e-4, both rules, writes bench/out/noise-quick.md).
//
// A simulation with a known truth, driven through the real server (dist/cli.js serve over stdio,
// the MCP SDK Client, as bench/bench.mjs does): train.py holds a few numeric knobs, its TRUE
// val_bpb is a known function of them, and every run adds seeded Gaussian noise of σ. A scripted
// agent perturbs one knob per experiment and follows the server's decisions. Two keep rules at
// the same number of runs (maxRuns in autoresearch.json):
//
//   strict  "noise": false: keep iff a run is strictly below the best single kept run
//   noise   "noise": true (the server's default settings): repeated baseline, σ pooled from
//           repeated commits, a commit's value is the mean of its runs, a new keep is measured
//           again and revoked (the server resets the branch) when its mean falls behind the best
//
// and, per σ and rule: false keeps in the final kept lineage, revocations, the true val_bpb of the
// final best commit, optimism (the best value status shows minus its truth), runs used.
//
//   --nights N      nights per σ and rule (default 24)
//   --runs N        runs per night, maxRuns (default 40)
//   --sigmas a,b    noise levels (default 0,0.0003,0.001)
//   --rules a,b     strict,noise (default both)
//   --seed N        base seed (default 20240611); night i uses seed + i for both rules
//   --jobs N        nights run at the same time (default 2)
//   --quick         1 night × 12 runs at σ = 3e-4, both rules (~30 s)
//   --out FILE      where the markdown goes
//   --cli FILE      drive another build of the server (default dist/cli.js)
//   --noise JSON    the noise rule's "noise" object (default: no key, the server's default),
//                   e.g. '{"baselineRuns":2,"confirmRuns":2}'
//   --trace         every run's value, truth, proposal and decision on stderr
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import * as lib from "./lib.mjs";
import { FLOOR, KNOBS, START_TRUTH, STEP_MAX, STEP_MIN, fmtKnob, knobLine, knobsOf, proposeIdea, rngOf, truthOf } from "./noise-problem.mjs";
import { NO_KILL_S, PY, ROOT, WAIT_MS, callTool, cleanupAll, git, leftoverProcesses, makeWorkspace, now, removeWorkspace, sleep, startServer, table, waitUntil } from "./lib.mjs";

let args;
try {
  args = parseArgs({
    options: {
      quick: { type: "boolean" },
      nights: { type: "string" },
      runs: { type: "string" },
      sigmas: { type: "string" },
      rules: { type: "string" },
      seed: { type: "string" },
      jobs: { type: "string" },
      out: { type: "string" },
      cli: { type: "string" },
      python: { type: "string" },
      trace: { type: "boolean" },
      noise: { type: "string" },
    },
  }).values;
} catch (e) {
  process.stderr.write(`bench:noise: ${e.message} (see the options at the top of bench/noise.mjs)\n`);
  process.exit(2);
}
const quick = !!args.quick;
const int = (v, d, name) => {
  if (v === undefined) return d;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) {
    process.stderr.write(`bench:noise: --${name} must be a whole number ≥ 1\n`);
    process.exit(2);
  }
  return n;
};
const SETTINGS = {
  nights: int(args.nights, quick ? 1 : 24, "nights"),
  runs: int(args.runs, quick ? 12 : 40, "runs"),
  sigmas: (args.sigmas ?? (quick ? "0.0003" : "0,0.0003,0.001")).split(",").map(Number),
  rules: (args.rules ?? "strict,noise").split(","),
  seed: int(args.seed, 20240611, "seed"),
  jobs: int(args.jobs, 2, "jobs"),
};
if (SETTINGS.sigmas.some((s) => !(s >= 0))) {
  process.stderr.write("bench:noise: --sigmas must be numbers ≥ 0\n");
  process.exit(2);
}
if (SETTINGS.rules.some((r) => r !== "strict" && r !== "noise")) {
  process.stderr.write("bench:noise: --rules takes strict and/or noise\n");
  process.exit(2);
}
let NOISE_CONFIG = null;
if (args.noise !== undefined) {
  try {
    NOISE_CONFIG = JSON.parse(args.noise);
  } catch (e) {
    process.stderr.write(`bench:noise: --noise must be JSON (${e.message})\n`);
    process.exit(2);
  }
}
if (args.python) PY.cmd = args.python;
if (args.cli) lib.useCli(args.cli);
const outFile = path.resolve(args.out ?? (quick ? path.join(ROOT, "bench", "out", "noise-quick.md") : path.join(ROOT, "bench", "noise-results.md")));

const t0 = now();
const log = (msg) => process.stderr.write(`[noise ${((now() - t0) / 1000).toFixed(1)}s] ${msg}\n`);

// ------------------------------------------------------------------ train.py of the simulated problem (bench/noise-problem.mjs)

/**
 * train.py: the knobs, the same truth as truthOf, and noise of SIM_SIGMA per RUN (not per
 * content: two runs of the same code differ), seeded by SIM_SEED and the run's index, which the
 * counter file SIM_COUNTER (outside the work tree) hands out. Run k of a night gets the same noise
 * under both rules. Prints karpathy's summary block.
 */
function trainPy() {
  const terms = KNOBS.map((k) => (k.log ? `${k.w} * math.log(${k.name} / ${k.opt}) ** 2` : `${k.w} * ((${k.name} - ${k.opt}) / ${k.unit}) ** 2`));
  return `"""Simulated training for bench/noise.mjs: val_bpb = a known function of the knobs + noise per run."""
import math
import os
import random

# knobs the agent tunes
${KNOBS.map((k) => knobLine(k, k.start)).join("\n")}


def true_val_bpb():
    return (
        ${FLOOR}
        + ${terms.join("\n        + ")}
    )


def run_index():
    path = os.environ["SIM_COUNTER"]
    try:
        with open(path) as f:
            n = int(f.read().strip() or 0)
    except FileNotFoundError:
        n = 0
    with open(path, "w") as f:
        f.write(str(n + 1))
    return n


sigma = float(os.environ.get("SIM_SIGMA", "0"))
noise = random.Random(f"{os.environ.get('SIM_SEED', '0')}:{run_index()}").gauss(0.0, sigma) if sigma > 0 else 0.0
val_bpb = true_val_bpb() + noise

print("step 00001 (100.0%) | loss: 1.000000 | remaining: 0s")
print("---")
print(f"val_bpb:          {val_bpb:.6f}")
print("training_seconds: 0.0")
print("total_seconds:    0.0")
print("peak_vram_mb:     1024.0")
print("mfu_percent:      0.00")
print("total_tokens_M:   0.0")
print("num_steps:        1")
print("num_params_M:     0.0")
print("depth:            8")
`;
}

const NIGHT_OVER = /night is over|No new run/i;

/**
 * One night: a fresh workspace and server, start_session, the baseline, then ideas until the
 * server says the night is over. Returns what the night's results, git and status say.
 */
async function night({ rule, sigma, seed, runs, label }) {
  const config = {
    run: [PY.cmd, "train.py"],
    python: PY.cmd,
    budgetSeconds: 5,
    killAfterSeconds: NO_KILL_S,
    graceSeconds: 1,
    syntaxCheck: false,
    maxRuns: runs,
    // a path relative to the run's cwd (the workspace root), inside .git: outside the work tree,
    // so no untracked file breaks the single-file rule
    env: { SIM_SEED: String(seed), SIM_SIGMA: String(sigma), SIM_COUNTER: ".git/sim-run-counter" },
    ...(rule === "strict" && NOISE_KEY ? { noise: false } : {}),
    // true: the server's default settings (lib's makeWorkspace pins the strict rule where the key is absent)
    ...(rule === "noise" ? { noise: NOISE_CONFIG ?? true } : {}),
  };
  const t = now();
  const ws = makeWorkspace({ train: trainPy(), config, name: `noise-${rule}` });
  const srv = await startServer(ws);
  const rng = rngOf(seed);
  const ran = new Set();
  const awkward = [];
  const stats = { revocations: 0, due: 0, ideas: 0, resets: 0 };
  const call = (name, a = {}) => callTool(srv, name, a, { allowError: true });
  const must = async (name, a = {}) => {
    const r = await call(name, a);
    if (r.isError) throw new Error(`${label}: ${name} ${JSON.stringify(a)} refused: ${r.text}`);
    return r;
  };
  try {
    await must("start_session", { tag: `night${seed}` });
    /** run_training + log_result, again while the server says a repeat is due. */
    const measure = async (description) => {
      for (;;) {
        const content = fs.readFileSync(path.join(ws, "train.py"), "utf8");
        let run = await call("run_training", {});
        if (run.isError && NIGHT_OVER.test(run.text)) return { over: true, log: null };
        if (run.isError && /already/i.test(run.text)) {
          awkward.push(`run_training refused a repeat the server itself had asked for: ${run.text.split("\n")[0]}`);
          run = await call("run_training", { repeat: true });
        }
        if (run.isError) throw new Error(`${label}: run_training refused: ${run.text}`);
        ran.add(content);
        if (sigma === 0 && run.data.metric !== null && Math.abs(run.data.metric - truthOf(knobsOf(content))) > 1.5e-6)
          throw new Error(`${label}: at σ = 0 the run gave ${run.data.metric}, the truth is ${truthOf(knobsOf(content))}: train.py and truthOf disagree`);
        const logged = await must("log_result", { description });
        const d = logged.data;
        if (args.trace) {
          const dec = d.decision ? ` ${d.decision.kind} mean ${d.decision.mean?.toFixed(6)} n ${d.decision.n} σ ${d.decision.sigma?.toFixed(6) ?? "-"}${d.decision.against ? ` vs ${d.decision.against.commit} ${d.decision.against.mean.toFixed(6)}/${d.decision.against.n}` : ""}${d.decision.revoked ? ` REVOKED → ${d.decision.resetTo}` : ""}${d.decision.closeCall ? " close" : ""}` : "";
          log(`${label} #${d.rowNumber} ${d.row.commit} ${d.row.metric} (true ${truthOf(knobsOf(content)).toFixed(6)}) ${d.row.status}${dec}${d.due ? ` due ${d.due}` : ""} | ${d.row.description}`);
        }
        if (d.decision?.revoked) stats.revocations++;
        if (d.due === "run_training") {
          stats.due++;
          if (NIGHT_OVER.test(d.next ?? "")) awkward.push("log_result said a repeat is due and that the night is over");
          continue;
        }
        return { over: NIGHT_OVER.test(d.next ?? ""), log: d };
      }
    };
    let m = await measure("baseline");
    while (!m.over) {
      const src = fs.readFileSync(path.join(ws, "train.py"), "utf8");
      const idea = proposeIdea(rng, src, ran);
      stats.ideas++;
      await must("apply_patch", { edits: [{ old: idea.oldLine, new: idea.newLine }] });
      await must("commit", { description: idea.description });
      m = await measure(idea.description);
      if (m.over || !m.log) break;
      if (m.log.row.status !== "keep" && !m.log.decision?.revoked) {
        await must("reset_to_best");
        stats.resets++;
      }
    }
    const st = (await must("status", { rows: 0 })).data;
    const rows = fs
      .readFileSync(path.join(ws, "results.tsv"), "utf8")
      .split("\n")
      .slice(1)
      .filter((l) => l.trim())
      .map((l) => l.split("\t"));
    const best = st.best;
    if (!best) throw new Error(`${label}: status shows no best commit`);
    // status.noise is null under the strict rule: a night under the wrong rule would compare nothing
    if (NOISE_KEY && (rule === "noise") !== (st.noise != null)) throw new Error(`${label}: status.noise is ${JSON.stringify(st.noise)}: the server did not run the ${rule} rule`);
    const base = st.session.base;
    const truthAt = (rev) => truthOf(knobsOf(git(ws, "show", `${rev}:train.py`)));
    // The final kept lineage: the best commit and its first-parent ancestors back to the session's
    // base (the baseline). Discards and revoked keeps were reset away, so every commit on it is a
    // keep, compared against its parent (the previous kept commit, the best when it was kept).
    const chain = git(ws, "rev-list", "--first-parent", `${base}..${best.commit}`).trim().split("\n").filter(Boolean).reverse();
    const lineage = [base, ...chain].map((c) => ({ commit: c, truth: truthAt(c) }));
    let falseKeeps = 0;
    for (let i = 1; i < lineage.length; i++) if (!(lineage[i].truth < lineage[i - 1].truth)) falseKeeps++;
    const short = (c) => c.slice(0, 7);
    // (a commit measured more than once may appear once per row: compare distinct commits)
    const trajectory = [...new Set((st.trajectory ?? []).map((p) => short(p.commit)))];
    const lineageShort = lineage.map((l) => short(l.commit));
    if (trajectory.length && trajectory.join(",") !== lineageShort.join(","))
      awkward.push(`status.trajectory (${trajectory.join(" ")}) is not the lineage of best (${lineageShort.join(" ")})`);
    const bestTruth = truthAt(best.commit);
    const r = {
      rule,
      sigma,
      seed,
      runsUsed: rows.length,
      keeps: lineage.length - 1,
      // true change of each kept step (negative = a real improvement), for the raw data
      steps: lineage.slice(1).map((l, i) => l.truth - lineage[i].truth),
      falseKeeps,
      revocations: stats.revocations,
      repeats: stats.due,
      ideas: stats.ideas,
      bestTruth,
      bestShown: best.metric,
      bestN: best.n ?? 1,
      optimism: best.metric - bestTruth,
      noise: st.noise ?? null,
      awkward,
      seconds: (now() - t) / 1000,
    };
    log(
      `${label}: ${r.runsUsed} runs, ${r.keeps} keeps (${r.falseKeeps} false)${rule === "noise" ? `, ${r.revocations} revoked` : ""}, best true ${bestTruth.toFixed(6)} shown ${best.metric.toFixed(6)}, ${r.seconds.toFixed(1)} s`,
    );
    return r;
  } finally {
    await srv.close();
    removeWorkspace(ws);
  }
}

// ------------------------------------------------------------------ does the server know "noise"?

/**
 * Until the server has the noise rule, "noise" is an unknown field of autoresearch.json (the
 * config is strict) and the default IS the strict rule. One start_session on a probe workspace
 * with "noise": false tells which server this is.
 */
let NOISE_KEY = true;
async function probeNoiseKey() {
  const ws = makeWorkspace({ train: trainPy(), config: { run: [PY.cmd, "train.py"], python: PY.cmd, syntaxCheck: false, noise: false }, name: "noise-probe" });
  const srv = await startServer(ws);
  try {
    const r = await callTool(srv, "start_session", { tag: "probe" }, { allowError: true });
    if (!r.isError) return true;
    if (/unknown field.*"noise"/.test(r.text)) return false;
    throw new Error(`start_session on the probe workspace was refused: ${r.text}`);
  } finally {
    await srv.close();
    removeWorkspace(ws);
  }
}

// ------------------------------------------------------------------ statistics and the report

const mean = (v) => (v.length ? v.reduce((a, b) => a + b, 0) / v.length : NaN);
const sd = (v) => {
  if (v.length < 2) return NaN;
  const m = mean(v);
  return Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / (v.length - 1));
};
const se = (v) => sd(v) / Math.sqrt(v.length);
const f6 = (x) => (Number.isFinite(x) ? x.toFixed(6) : "n/a");
const fe = (x) => (Number.isFinite(x) ? (x === 0 ? "0" : x.toExponential(2)) : "n/a");
const f2 = (x) => (Number.isFinite(x) ? x.toFixed(2) : "n/a");
const pct = (x) => (Number.isFinite(x) ? `${(100 * x).toFixed(1)}%` : "n/a");
const pm = (v, fmt) => `${fmt(mean(v))}${v.length > 1 ? ` ± ${fmt(se(v))}` : ""}`;

function summarize(results) {
  const out = [];
  for (const sigma of SETTINGS.sigmas)
    for (const rule of SETTINGS.rules) {
      const rs = results.filter((r) => r.sigma === sigma && r.rule === rule);
      if (!rs.length) continue;
      const keeps = rs.reduce((a, r) => a + r.keeps, 0);
      const fk = rs.reduce((a, r) => a + r.falseKeeps, 0);
      const opt = rs.map((r) => r.optimism);
      out.push({
        sigma,
        rule,
        nights: rs.length,
        runs: rs.map((r) => r.runsUsed),
        keeps,
        falseKeeps: fk,
        falseKeepRate: keeps ? fk / keeps : NaN,
        // what the false keeps cost, per night: the sum of their true changes (all ≥ 0)
        falseKeepCost: rs.map((r) => r.steps.filter((x) => x >= 0).reduce((a, b) => a + b, 0)),
        revocations: rs.reduce((a, r) => a + r.revocations, 0),
        repeats: rs.reduce((a, r) => a + r.repeats, 0),
        ideas: rs.reduce((a, r) => a + r.ideas, 0),
        bestTruth: rs.map((r) => r.bestTruth),
        bestN: rs.map((r) => r.bestN),
        optimism: opt,
        absOptimism: opt.map(Math.abs),
        seconds: rs.map((r) => r.seconds),
      });
    }
  return out;
}

/** The product's goals (the issue): at σ = 3e-4 and at σ = 1e-3, the noise rule against strict. */
function goals(sum, results) {
  const row = (sigma, rule) => sum.find((s) => s.sigma === sigma && s.rule === rule);
  // final truth, noise minus strict, night by night (the same seeds): mean ± se
  const paired = (sigma) => {
    const strict = new Map(results.filter((r) => r.sigma === sigma && r.rule === "strict").map((r) => [r.seed, r.bestTruth]));
    const d = results.filter((r) => r.sigma === sigma && r.rule === "noise" && strict.has(r.seed)).map((r) => r.bestTruth - strict.get(r.seed));
    return d.length ? `; night by night ${pm(d, fe)}` : "";
  };
  const lines = [];
  const check = (name, ok, detail) => lines.push(`| ${name} | ${detail} | ${ok === null ? "n/a" : ok ? "yes" : "**no**"} |`);
  const s3 = row(3e-4, "strict");
  const n3 = row(3e-4, "noise");
  if (s3 && n3) {
    check("σ=3e-4: false-keep rate ≤ ½ strict's", n3.falseKeepRate <= s3.falseKeepRate / 2, `${pct(n3.falseKeepRate)} vs ${pct(s3.falseKeepRate)}`);
    check("σ=3e-4: mean \\|optimism\\| ≤ ½ strict's", mean(n3.absOptimism) <= mean(s3.absOptimism) / 2, `${fe(mean(n3.absOptimism))} vs ${fe(mean(s3.absOptimism))}`);
    check("σ=3e-4: final true val_bpb no worse than strict's", mean(n3.bestTruth) <= mean(s3.bestTruth), `${f6(mean(n3.bestTruth))} vs ${f6(mean(s3.bestTruth))}${paired(3e-4)}`);
  }
  const s10 = row(1e-3, "strict");
  const n10 = row(1e-3, "noise");
  if (s10 && n10) check("σ=1e-3: final true val_bpb better than strict's", mean(n10.bestTruth) < mean(s10.bestTruth), `${f6(mean(n10.bestTruth))} vs ${f6(mean(s10.bestTruth))}${paired(1e-3)}`);
  return lines;
}

function render(results, meta) {
  const sum = summarize(results);
  const head = ["σ", "rule", "nights", "runs/night", "keeps in final lineage", "false keeps", "false-keep rate", "false keeps' true cost / night", "revoked", "final true val_bpb (mean ± se)", "shown − true: mean", "\\|shown − true\\|", "\\|shown − true\\| / σ", "best's runs n"];
  const rowsOut = sum.map((s) => {
    const runs = [...new Set(s.runs)];
    return [
      s.sigma === 0 ? "0" : fe(s.sigma),
      s.rule,
      String(s.nights),
      runs.length === 1 ? String(runs[0]) : `**${runs.join("/")}**`,
      String(s.keeps),
      String(s.falseKeeps),
      pct(s.falseKeepRate),
      fe(mean(s.falseKeepCost)),
      s.rule === "noise" ? String(s.revocations) : "–",
      pm(s.bestTruth, f6),
      fe(mean(s.optimism)),
      fe(mean(s.absOptimism)),
      s.sigma > 0 ? f2(mean(s.absOptimism) / s.sigma) : "n/a",
      f2(mean(s.bestN)),
    ];
  });
  const goalLines = goals(sum, results);
  const awkward = [...new Set(results.flatMap((r) => r.awkward))];
  // σ as the server pooled it (status.noise.sigma at the end of each noise night), against the true σ
  const sigmaSeen = SETTINGS.sigmas
    .map((sigma) => {
      const v = results.filter((r) => r.sigma === sigma && r.rule === "noise" && Number.isFinite(r.noise?.sigma)).map((r) => r.noise.sigma);
      return v.length ? `σ ${sigma}: ${pm(v, fe)}` : null;
    })
    .filter(Boolean);
  const md = [
    `# Noise bench: strict keep rule against the noise rule${meta.quick ? " (quick)" : ""}`,
    "",
    "`npm run bench:noise` (bench/noise.mjs). A simulated train.py with a known truth, driven through the real",
    "server over stdio by a scripted agent (one knob perturbed per experiment, the server's proposal accepted,",
    "a repeat run whenever log_result says one is due, reset_to_best after a discard). Both rules get the same",
    "nights: the same agent seed and the same noise for run k of a night; they diverge after their first",
    "different decision.",
    "",
    table(head, rowsOut),
    "",
    "- **false keep**: a commit in the final kept lineage (the best commit and its first-parent ancestors back",
    "  to the baseline, which is not counted) whose true val_bpb is not below that of the kept commit before it.",
    "  Rate = false keeps / keeps, pooled over the nights. Their true cost: the sum of their true changes in a",
    "  night (a false keep of a truly tiny change costs little, one that truly hurts costs more).",
    "- **revoked**: keeps the noise rule took back after their confirmation run (the server reset the branch).",
    "- **final true val_bpb**: the truth of the commit `status` names as best at the end (from its train.py).",
    `  The baseline's truth is ${f6(START_TRUTH)}, the optimum ${f6(FLOOR)}.`,
    "- **shown − true**: `status`'s best.metric (the mean of its runs under the noise rule) minus its truth;",
    "  negative = looks better than it is (goal min).",
    "- **runs/night**: rows in results.tsv (maxRuns); the same for both rules.",
    "",
    ...(goalLines.length ? ["## Goals", "", "| goal | noise vs strict | met |", "|---|---:|---:|", ...goalLines, ""] : []),
    "## Settings",
    "",
    `- nights per σ and rule: ${SETTINGS.nights}; runs per night (maxRuns): ${SETTINGS.runs}; σ: ${SETTINGS.sigmas.join(", ")}`,
    `- seed: ${SETTINGS.seed} (night i: agent and noise seed ${SETTINGS.seed} + i, for both rules)`,
    `- truth: ${FLOOR} + Σ w·u²; ${KNOBS.map((k) => `${k.name} start ${fmtKnob(k.start)}, opt ${k.opt}, ${k.log ? "u = ln(x/opt)" : `u = (x − opt)/${k.unit}`}, w ${k.w}`).join("; ")}`,
    `- ideas: one knob, uniformly; a factor e^±s (multiplicative knobs) or a shift ±s·unit, s log-uniform in [${STEP_MIN}, ${STEP_MAX}]; knobs written with 4 decimals; no content runs twice as a new idea`,
    `- strict: ${NOISE_KEY ? '`"noise": false`' : "the server had no noise rule yet: its default (no `noise` key) is the strict rule"}; noise: ${NOISE_CONFIG !== null ? `\`"noise": ${JSON.stringify(NOISE_CONFIG)}\`` : '`"noise": true` (the server\'s default settings, as with no `noise` key)'}`,
    ...(sigmaSeen.length ? [`- σ the server pooled (status.noise.sigma at the end of a night, mean ± se over nights): ${sigmaSeen.join("; ")}`] : []),
    `- ${meta.cores} cores, ${meta.jobs} nights at a time, ${(meta.totalMs / 1000).toFixed(0)} s in all (p50 ${f2(meta.p50Night)} s a night); load average ${meta.loadavg.start.map((x) => x.toFixed(2)).join(" ")} at the start, ${meta.loadavg.end.map((x) => x.toFixed(2)).join(" ")} at the end; node ${process.version}; ${meta.date}`,
    `- processes left behind at the end: ${meta.leftovers}`,
    ...(awkward.length ? ["", "## Notes from the runs", "", ...awkward.map((a) => `- ${a}`)] : []),
  ];
  return { markdown: md.join("\n"), summary: sum };
}

// ------------------------------------------------------------------ main

let interrupted = false;
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"])
  process.on(sig, () => {
    if (interrupted) return;
    interrupted = true;
    process.stderr.write(`\nbench:noise: ${sig}, cleaning up\n`);
    void cleanupAll().finally(() => process.exit(130));
  });

async function pool(tasks, jobs) {
  const out = new Array(tasks.length);
  let next = 0;
  let failed = null;
  const worker = async () => {
    while (next < tasks.length && !failed && !interrupted) {
      const i = next++;
      try {
        out[i] = await tasks[i]();
      } catch (e) {
        failed ??= e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(jobs, tasks.length) }, worker));
  if (failed) throw failed;
  return out;
}

async function main() {
  if (!fs.existsSync(lib.CLI)) throw new Error(`${lib.CLI} is missing: run "npm run build" first`);
  const load0 = os.loadavg();
  NOISE_KEY = await probeNoiseKey();
  let rules = SETTINGS.rules;
  if (!NOISE_KEY) {
    log('the server does not know "noise" in autoresearch.json yet: its default is the strict rule; running strict only');
    rules = rules.filter((r) => r === "strict");
  }
  const total = SETTINGS.sigmas.length * SETTINGS.nights * rules.length;
  log(`${total} nights of ${SETTINGS.runs} runs (σ ${SETTINGS.sigmas.join(", ")}; ${rules.join(", ")}; seed ${SETTINGS.seed}; ${SETTINGS.jobs} at a time)`);
  const tasks = [];
  let done = 0;
  for (const sigma of SETTINGS.sigmas)
    for (let i = 0; i < SETTINGS.nights; i++)
      for (const rule of rules) {
        const seed = SETTINGS.seed + i;
        tasks.push(async () => {
          const r = await night({ rule, sigma, seed, runs: SETTINGS.runs, label: `σ=${sigma} ${rule} night ${i + 1}/${SETTINGS.nights}` });
          done++;
          if (done % 5 === 0 || done === total) log(`${done}/${total} nights done`);
          return r;
        });
      }
  const results = await pool(tasks, SETTINGS.jobs);
  await cleanupAll();
  await waitUntil(() => leftoverProcesses().length === 0, WAIT_MS, 100);
  const left = leftoverProcesses();
  const secs = results.map((r) => r.seconds).sort((a, b) => a - b);
  const meta = {
    quick,
    jobs: SETTINGS.jobs,
    cores: os.cpus().length,
    totalMs: now() - t0,
    p50Night: secs[Math.floor((secs.length - 1) / 2)],
    loadavg: { start: load0, end: os.loadavg() },
    date: new Date().toISOString().replace("T", " ").slice(0, 19) + " UTC",
    leftovers: left.length === 0 ? "none" : left.map((p) => `${p.pid} ${p.cmd}`).join(", "),
  };
  const { markdown, summary } = render(results, meta);
  fs.mkdirSync(path.dirname(outFile), { recursive: true });
  fs.writeFileSync(outFile, markdown + "\n");
  const raw = path.join(ROOT, "bench", "out", `${path.basename(outFile, ".md")}.json`);
  fs.mkdirSync(path.dirname(raw), { recursive: true });
  fs.writeFileSync(raw, JSON.stringify({ settings: SETTINGS, meta, summary, results }, null, 2));
  process.stdout.write(markdown + "\n");
  log(`wrote ${path.relative(process.cwd(), outFile)} (raw data: ${path.relative(process.cwd(), raw)})`);
  if (left.length) {
    process.stderr.write(`bench:noise: processes left behind: ${meta.leftovers}\n`);
    process.exitCode = 1;
  }
}

main().catch(async (e) => {
  process.stderr.write(`bench:noise failed: ${e?.stack ?? e}\n`);
  await cleanupAll().catch(() => undefined);
  await sleep(10);
  process.exit(1);
});
