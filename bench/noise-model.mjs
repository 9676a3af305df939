#!/usr/bin/env node
// `node bench/noise-model.mjs` (after `npm run build`): keep rules in a pure model of the noise
// bench's night, thousands of nights in seconds. The problem and the agent are bench/noise.mjs's
// (bench/noise-problem.mjs: the same knobs, truth, ideas and seeds); the decisions are the
// server's own pure rules from dist/ (rules/noise.js `decide`, rules/policy.js `propose`); only
// git, processes and MCP are left out, which bench/noise.mjs drives for real. Every variant gets
// the same number of runs; strict is the baseline of every comparison, night by night.
//
//   --nights N   nights per σ and variant (default 400)
//   --runs N     runs per night (default 40)
//   --sigmas a,b (default 0,0.0003,0.001)
//
// Variants marked "not built" answer what-if questions with the built decide(): free
// confirmations (an upper bound: what the rule's decisions are worth when repeats cost nothing),
// the last runs of a night spent re-measuring the best; and an oracle that keeps a candidate iff
// its truth is better, on one run: the ceiling of any keep rule at this number of runs.
import { parseArgs } from "node:util";
import { bestMean, decide, keptCommits } from "../dist/rules/noise.js";
import { asLogged, bestKept, propose } from "../dist/rules/policy.js";
import { START, KNOBS, knobLine, knobsOf, proposeIdea, rngOf, truthOf } from "./noise-problem.mjs";

const { values: args } = parseArgs({ options: { nights: { type: "string" }, runs: { type: "string" }, sigmas: { type: "string" } } });
const NIGHTS = Number(args.nights ?? 400);
const RUNS = Number(args.runs ?? 40);
const SIGMAS = (args.sigmas ?? "0,0.0003,0.001").split(",").map(Number);
if (!(NIGHTS >= 1 && RUNS >= 3 && SIGMAS.every((s) => s >= 0))) {
  process.stderr.write("noise-model: --nights ≥ 1, --runs ≥ 3, --sigmas ≥ 0\n");
  process.exit(2);
}

const VARIANTS = {
  strict: { strict: true },
  "noise, every keep confirmed": { settings: { baselineRuns: 2, confirmRuns: 1, clearLead: false } },
  "clearLead 3": { settings: { baselineRuns: 2, confirmRuns: 1, clearLead: 3 } },
  "noise (default: clearLead 5)": { settings: { baselineRuns: 2, confirmRuns: 1, clearLead: 5 } },
  "clearLead 8": { settings: { baselineRuns: 2, confirmRuns: 1, clearLead: 8 } },
  "confirmRuns 2, clearLead 5": { settings: { baselineRuns: 2, confirmRuns: 2, clearLead: 5 } },
  "not built: last 3 runs re-measure the best": { settings: { baselineRuns: 2, confirmRuns: 1, clearLead: 5 }, finalRepeats: 3 },
  "not built: repeats cost no run": { settings: { baselineRuns: 2, confirmRuns: 1, clearLead: false }, freeRepeats: true },
  // the ceiling of any rule: keep iff truly better, one run each (the shown value is that run)
  "not built: an oracle that knows each truth": { oracle: true },
};

const srcOf = (values) => KNOBS.map((k, i) => knobLine(k, values[i])).join("\n");

/** One night under one variant: the agent of bench/noise.mjs, the server's decisions. */
function night(sigma, seed, v) {
  const rng = rngOf(seed);
  const noiseRng = rngOf(seed ^ 0x5eed);
  const gauss = () => {
    let u = 0;
    while (!u) u = noiseRng();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * noiseRng());
  };
  const commits = new Map();
  const ran = new Set();
  const commit = (src, parent) => {
    const id = `c${commits.size}`;
    commits.set(id, { src, truth: truthOf(knobsOf(src)), parent });
    ran.add(src);
    return id;
  };
  const rows = [];
  let used = 0;
  let revoked = 0;
  const base = commit(srcOf(START), null);
  let head = base;
  let oracleBest = base;
  /** Run HEAD and log what the rule proposes; true while the rule wants HEAD run again. */
  const runOnce = (counted = true) => {
    const c = commits.get(head);
    const value = asLogged(c.truth + sigma * gauss());
    if (counted) used++;
    const o = { value, memoryGb: 1, crashed: false, timedOut: false, reason: null };
    const row = { line: rows.length + 2, commit: head, valueText: value.toFixed(6), value, memoryText: "1.0", memoryGb: 1, status: "", description: "" };
    if (v.oracle) {
      const bestNow = rows.length ? commits.get(oracleBest).truth : Infinity;
      row.status = c.truth < bestNow ? "keep" : "discard";
      rows.push({ row, key: c.src, value });
      if (row.status === "keep") oracleBest = head;
      else head = oracleBest;
      return false;
    }
    if (v.strict) {
      row.status = propose(o, rows.map((m) => m.row), "min").status;
      rows.push({ row, key: c.src, value });
      if (row.status !== "keep") head = bestKept(rows.map((m) => m.row), "min").commit;
      return false;
    }
    const d = decide({ outcome: o, commit: head, key: c.src, isBase: head === base, rows, goal: "min", settings: v.settings });
    row.status = d.status;
    rows.push({ row, key: c.src, value, revoked: d.revoked });
    if (d.revoked) revoked++;
    if (d.status !== "keep") head = bestMean(keptCommits(rows), "min").commit;
    return d.due !== null;
  };
  // the baseline's runs always count: σ is measured from them
  while (runOnce() && used < RUNS);
  while (used < RUNS) {
    if (v.finalRepeats && RUNS - used <= v.finalRepeats) {
      head = bestMean(keptCommits(rows), "min").commit;
      runOnce();
      continue;
    }
    const idea = proposeIdea(rng, commits.get(head).src, ran);
    head = commit(idea.next, head);
    if (runOnce()) while (used < RUNS && runOnce(!v.freeRepeats));
  }
  let best, shown;
  if (v.oracle) {
    best = oracleBest;
    shown = rows.filter((m) => m.row.commit === best).at(-1).value;
  } else if (v.strict) {
    const b = bestKept(rows.map((m) => m.row), "min");
    best = b.commit;
    shown = b.value;
  } else {
    const b = bestMean(keptCommits(rows), "min");
    best = b.commit;
    shown = b.mean;
  }
  const lineage = [];
  for (let c = best; c; c = commits.get(c).parent) lineage.unshift(commits.get(c).truth);
  let falseKeeps = 0;
  for (let i = 1; i < lineage.length; i++) if (!(lineage[i] < lineage[i - 1])) falseKeeps++;
  const truth = commits.get(best).truth;
  return { keeps: lineage.length - 1, falseKeeps, truth, optimism: shown - truth, revoked, runs: rows.length };
}

const mean = (a) => a.reduce((x, y) => x + y, 0) / a.length;
const se = (a) => {
  const m = mean(a);
  return Math.sqrt(a.reduce((x, y) => x + (y - m) ** 2, 0) / (a.length - 1) / a.length);
};
const fe = (x) => (x === 0 ? "0" : x.toExponential(2));

const t0 = Date.now();
const out = [
  `| σ | variant | keeps / night | false-keep rate | final true val_bpb | vs strict, night by night | \\|shown − true\\| / σ | revoked / night |`,
  "|---|---|---:|---:|---:|---:|---:|---:|",
];
for (const sigma of SIGMAS) {
  const results = {};
  for (const [name, v] of Object.entries(VARIANTS)) {
    results[name] = Array.from({ length: NIGHTS }, (_, i) => night(sigma, 20240611 + i, v));
  }
  const strict = results.strict;
  for (const [name, rs] of Object.entries(results)) {
    const keeps = rs.reduce((a, r) => a + r.keeps, 0);
    const fk = rs.reduce((a, r) => a + r.falseKeeps, 0);
    const diff = rs.map((r, i) => r.truth - strict[i].truth);
    const absOpt = mean(rs.map((r) => Math.abs(r.optimism)));
    out.push(
      `| ${sigma === 0 ? "0" : fe(sigma)} | ${name} | ${(keeps / NIGHTS).toFixed(1)} | ${keeps ? ((100 * fk) / keeps).toFixed(1) : "0.0"}% | ${mean(rs.map((r) => r.truth)).toFixed(6)} | ${name === "strict" ? "–" : `${fe(mean(diff))} ± ${fe(se(diff))}`} | ${sigma ? (absOpt / sigma).toFixed(2) : "n/a"} | ${VARIANTS[name].strict || VARIANTS[name].oracle ? "–" : (mean(rs.map((r) => r.revoked))).toFixed(2)} |`,
    );
  }
}
process.stdout.write(`${out.join("\n")}\n\n${NIGHTS} nights per σ and variant, ${RUNS} runs a night, seeds 20240611 + i; ${((Date.now() - t0) / 1000).toFixed(1)} s, node ${process.version}\n`);
