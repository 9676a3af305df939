import { describe, expect, it } from "vitest";
import { parseResults, type ResultRow, type Status } from "../../src/results.js";
import type { RunOutcome } from "../../src/rules/outcome.js";
import {
  asLogged,
  baselineOf,
  bestKept,
  better,
  CRASHES_PER_IDEA,
  type Goal,
  improvement,
  MEMORY_BLOWUP,
  nextAfterLog,
  nightOver,
  overrideAllowed,
  propose,
  STALL_LIMIT,
  stallOf,
  statusAdvice,
  stopMoment,
} from "../../src/rules/policy.js";

const HEADER = "commit\tval_bpb\tmemory_gb\tstatus\tdescription";

/** Rows as results.tsv holds them: each entry is `commit value memory status description...`. */
function rows(...lines: string[]): ResultRow[] {
  const tsv = lines.map((l) => {
    const [commit, value, memory, status, ...description] = l.trim().split(/\s+/);
    return [commit, value, memory, status, description.join(" ") || "experiment"].join("\t");
  });
  const text = [HEADER, ...tsv].join("\n") + "\n";
  const parsed = parseResults(text);
  expect(parsed.header).toEqual(HEADER.split("\t"));
  return parsed.rows;
}

const outcome = (over: Partial<RunOutcome>): RunOutcome => ({ value: null, memoryGb: null, crashed: false, timedOut: false, reason: null, ...over });
const ok = (value: number, memoryGb: number | null = 44.0) => outcome({ value, memoryGb });

describe("constants", () => {
  it("are the protocol's numbers", () => {
    expect(STALL_LIMIT).toBe(10);
    expect(CRASHES_PER_IDEA).toBe(2);
    expect(MEMORY_BLOWUP).toBe(2);
  });
});

describe("rows helper", () => {
  it("builds realistic rows through parseResults", () => {
    const [r] = rows("a1b2c3d 0.997900 44.0 keep baseline run");
    expect(r).toMatchObject({ line: 2, commit: "a1b2c3d", valueText: "0.997900", value: 0.9979, memoryGb: 44, status: "keep", description: "baseline run" });
  });
});

describe("better / asLogged", () => {
  it.each<{ a: number; b: number; goal: Goal; want: boolean }>([
    { a: 0.98, b: 0.99, goal: "min", want: true },
    { a: 0.99, b: 0.98, goal: "min", want: false },
    { a: 0.99, b: 0.99, goal: "min", want: false },
    { a: 0.99, b: 0.98, goal: "max", want: true },
    { a: 0.98, b: 0.99, goal: "max", want: false },
    { a: 0.99, b: 0.99, goal: "max", want: false },
  ])("better($a, $b, $goal) = $want", ({ a, b, goal, want }) => {
    expect(better(a, b, goal)).toBe(want);
  });

  it.each([
    [0.9979004, 0.9979],
    [0.9978996, 0.9979],
    [0.1 + 0.2, 0.3],
    [1, 1],
  ])("asLogged(%s) = %s", (v, want) => {
    expect(asLogged(v)).toBe(want);
  });
});

describe("bestKept", () => {
  it.each<{ name: string; lines: string[]; goal: Goal; want: string | null }>([
    { name: "empty", lines: [], goal: "min", want: null },
    { name: "empty, max", lines: [], goal: "max", want: null },
    { name: "lowest keep for min", lines: ["c1 1.000000 44.0 keep", "c2 0.980000 44.0 keep", "c3 0.990000 44.0 keep"], goal: "min", want: "c2" },
    { name: "highest keep for max", lines: ["c1 0.500000 1.0 keep", "c2 0.700000 1.0 keep", "c3 0.600000 1.0 keep"], goal: "max", want: "c2" },
    { name: "tie → the later row (min)", lines: ["c1 0.980000 44.0 keep", "c2 0.980000 44.0 keep"], goal: "min", want: "c2" },
    { name: "tie → the later row (max)", lines: ["c1 0.700000 1.0 keep", "c2 0.700000 1.0 keep"], goal: "max", want: "c2" },
    { name: "tie after a worse keep → the later tied row", lines: ["c1 0.980000 44.0 keep", "c2 0.990000 44.0 keep", "c3 0.980000 44.0 keep"], goal: "min", want: "c3" },
    { name: "a better discard is not a keep", lines: ["c1 1.000000 44.0 keep", "c2 0.900000 44.0 discard"], goal: "min", want: "c1" },
    { name: "a crash's 0.000000 is not the best for min", lines: ["c1 1.000000 44.0 keep", "c2 0.000000 0.0 crash"], goal: "min", want: "c1" },
    { name: "a keep with a non-numeric value is ignored", lines: ["c1 n/a 44.0 keep", "c2 1.000000 44.0 keep"], goal: "min", want: "c2" },
    { name: "a keep with a NaN value is ignored even when later", lines: ["c1 1.000000 44.0 keep", "c2 nan 44.0 keep"], goal: "max", want: "c1" },
    { name: "only non-numeric keeps → none", lines: ["c1 n/a 44.0 keep"], goal: "min", want: null },
    { name: "only discards and crashes → none", lines: ["c1 0.900000 44.0 discard", "c2 0.000000 0.0 crash"], goal: "min", want: null },
    { name: "an unknown status is not a keep", lines: ["c1 1.000000 44.0 keep", "c2 0.500000 44.0 kept"], goal: "min", want: "c1" },
  ])("$name → $want", ({ lines, goal, want }) => {
    expect(bestKept(rows(...lines), goal)?.commit ?? null).toBe(want);
  });
});

describe("baselineOf", () => {
  it.each<{ name: string; lines: string[]; want: string | null }>([
    { name: "empty", lines: [], want: null },
    { name: "the first keep", lines: ["c1 1.000000 44.0 keep", "c2 0.900000 44.0 keep"], want: "c1" },
    { name: "a crashed first run is not the baseline", lines: ["c1 0.000000 0.0 crash", "c2 1.000000 44.0 keep"], want: "c2" },
    { name: "a discard first is skipped", lines: ["c1 0.900000 44.0 discard", "c2 1.000000 44.0 keep"], want: "c2" },
    { name: "a keep with no number is skipped", lines: ["c1 n/a 44.0 keep", "c2 1.000000 44.0 keep"], want: "c2" },
    { name: "no keep at all", lines: ["c1 0.000000 0.0 crash"], want: null },
  ])("$name → $want", ({ lines, want }) => {
    expect(baselineOf(rows(...lines))?.commit ?? null).toBe(want);
  });
});

describe("improvement: positive when better, whatever the goal", () => {
  it.each<{ baseline: number; best: number; goal: Goal; want: number }>([
    { baseline: 0.9979, best: 0.985123, goal: "min", want: 0.012777 },
    { baseline: 1.0, best: 0.98, goal: "min", want: 0.02 },
    { baseline: 0.5, best: 0.7, goal: "max", want: 0.2 },
    { baseline: 0.1, best: 0.3, goal: "max", want: 0.2 },
    { baseline: 0.98, best: 0.98, goal: "min", want: 0 },
    { baseline: 0.7, best: 0.7, goal: "max", want: 0 },
    { baseline: 0.98, best: 1.0, goal: "min", want: -0.02 },
    { baseline: 0.7, best: 0.5, goal: "max", want: -0.2 },
  ])("$goal: $baseline → $best = $want", ({ baseline, best, goal, want }) => {
    expect(improvement(baseline, best, goal)).toBe(want);
  });

  it.each<Goal>(["min", "max"])("from rows, the kept best is an improvement > 0 for goal %s", (goal) => {
    const r = goal === "min" ? rows("c1 1.000000 44.0 keep", "c2 0.950000 44.0 keep", "c3 0.800000 44.0 discard") : rows("c1 0.500000 1.0 keep", "c2 0.650000 1.0 keep", "c3 0.900000 1.0 discard");
    const base = baselineOf(r)!;
    const best = bestKept(r, goal)!;
    expect(improvement(base.value, best.value, goal)).toBeGreaterThan(0);
    expect(improvement(base.value, best.value, goal)).toBe(goal === "min" ? 0.05 : 0.15);
  });
});

describe("stallOf: experiments since the last keep", () => {
  const lastKeep = (rs: ResultRow[]) => rs.map((r) => r.status).lastIndexOf("keep");
  const ofStatuses = (statuses: string) => rows(...statuses.split(" ").filter(Boolean).map((s, i) => `c${i} ${s === "crash" ? "0.000000 0.0" : "1.000000 44.0"} ${s}`));

  it.each<{ statuses: string; want: number }>([
    { statuses: "", want: 0 },
    { statuses: "keep", want: 0 },
    { statuses: "crash", want: 1 },
    { statuses: "keep discard", want: 1 },
    { statuses: "keep discard crash discard", want: 3 },
    { statuses: "keep discard keep", want: 0 },
    { statuses: "discard discard discard", want: 3 },
    { statuses: "keep " + "discard ".repeat(10), want: 10 },
    { statuses: "keep discard keep " + "crash discard ".repeat(6), want: 12 },
  ])("[$statuses] → $want", ({ statuses, want }) => {
    const rs = ofStatuses(statuses);
    expect(stallOf(rs.length, lastKeep(rs))).toBe(want);
  });
});

describe("propose", () => {
  // baseline 0.997900 at 44.0 GB, best 0.990000
  const MIN_ROWS = rows("base 0.997900 44.0 keep baseline", "c2 0.990000 45.0 keep lr", "c3 0.980000 44.5 discard noisy", "c4 0.000000 0.0 crash oom");
  const MAX_ROWS = rows("base 0.500000 10.0 keep baseline", "c2 0.600000 10.0 keep wider");

  it.each<{ name: string; o: RunOutcome; rs: ResultRow[]; goal: Goal; status: Status; reason: RegExp | null }>([
    { name: "timeout → discard with its reason (even with a better value)", o: outcome({ value: 0.9, memoryGb: 44, timedOut: true, reason: "killed at the hard limit of 600 s (budget 300 s)" }), rs: MIN_ROWS, goal: "min", status: "discard", reason: /hard limit of 600 s/ },
    { name: "timeout without a value → discard", o: outcome({ timedOut: true, reason: "killed at the hard limit" }), rs: MIN_ROWS, goal: "min", status: "discard", reason: /hard limit/ },
    { name: "crash with no value → crash", o: outcome({ crashed: true, reason: "RuntimeError: boom" }), rs: MIN_ROWS, goal: "min", status: "crash", reason: /RuntimeError: boom/ },
    { name: "crashed with a better value (exit 1) → crash", o: outcome({ value: 0.9, memoryGb: 44, crashed: true, reason: "exited with code 1" }), rs: MIN_ROWS, goal: "min", status: "crash", reason: /exited with code 1/ },
    { name: "no value, not marked crashed → crash", o: outcome({ value: null }), rs: MIN_ROWS, goal: "min", status: "crash", reason: null },
    { name: "memory > 2× the baseline's → crash with the figures", o: ok(0.95, 90.5), rs: MIN_ROWS, goal: "min", status: "crash", reason: /memory 90\.5 GB .*baseline's 44 GB/ },
    { name: "memory blowup on a worse value → crash too", o: ok(1.2, 100), rs: MIN_ROWS, goal: "min", status: "crash", reason: /memory 100 GB/ },
    { name: "memory exactly 2× the baseline's → not a crash", o: ok(0.95, 88.0), rs: MIN_ROWS, goal: "min", status: "keep", reason: null },
    { name: "memory just over 2× → crash", o: ok(0.95, 88.1), rs: MIN_ROWS, goal: "min", status: "crash", reason: /88\.1 GB/ },
    { name: "memory unknown → no memory check", o: ok(0.95, null), rs: MIN_ROWS, goal: "min", status: "keep", reason: null },
    { name: "better than the best keep → keep", o: ok(0.989999), rs: MIN_ROWS, goal: "min", status: "keep", reason: null },
    { name: "better than the baseline but not the best → discard", o: ok(0.995), rs: MIN_ROWS, goal: "min", status: "discard", reason: null },
    { name: "a better discard row does not raise the bar: worse than it, better than the best keep → keep", o: ok(0.985), rs: MIN_ROWS, goal: "min", status: "keep", reason: null },
    { name: "equal to the best → discard", o: ok(0.99), rs: MIN_ROWS, goal: "min", status: "discard", reason: null },
    { name: "equal at 6 decimals (a hair below) → discard", o: ok(0.9899996), rs: MIN_ROWS, goal: "min", status: "discard", reason: null },
    { name: "equal at 6 decimals (a hair above) → discard", o: ok(0.9900004), rs: MIN_ROWS, goal: "min", status: "discard", reason: null },
    { name: "better at 6 decimals → keep", o: ok(0.9899994), rs: MIN_ROWS, goal: "min", status: "keep", reason: null },
    { name: "worse → discard", o: ok(1.01), rs: MIN_ROWS, goal: "min", status: "discard", reason: null },
    { name: "first run, no rows → keep", o: ok(1.5), rs: [], goal: "min", status: "keep", reason: null },
    { name: "first run, huge memory, no baseline → keep", o: ok(1.5, 500), rs: [], goal: "min", status: "keep", reason: null },
    { name: "only a crashed baseline before → keep", o: ok(1.5), rs: rows("c1 0.000000 0.0 crash"), goal: "min", status: "keep", reason: null },
    { name: "max: higher than the best → keep", o: ok(0.61, 10), rs: MAX_ROWS, goal: "max", status: "keep", reason: null },
    { name: "max: lower than the best → discard", o: ok(0.59, 10), rs: MAX_ROWS, goal: "max", status: "discard", reason: null },
    { name: "max: equal → discard", o: ok(0.6000002, 10), rs: MAX_ROWS, goal: "max", status: "discard", reason: null },
    { name: "max: memory blowup → crash", o: ok(0.9, 20.1), rs: MAX_ROWS, goal: "max", status: "crash", reason: /20\.1 GB .*10 GB/ },
  ])("$name", ({ o, rs, goal, status, reason }) => {
    const p = propose(o, rs, goal);
    expect(p.status).toBe(status);
    if (reason === null) expect(p.reason).toBeNull();
    else expect(p.reason).toMatch(reason);
  });

  it("the memory baseline is the first keep's memory, not a later or a discarded row's", () => {
    const rs = rows("c0 0.900000 60.0 discard", "base 1.000000 10.0 keep", "c2 0.990000 40.0 keep");
    // 25 GB: under 2× the later keep's 40 GB, over 2× the baseline's 10 GB
    expect(propose(ok(0.95, 25), rs, "min")).toMatchObject({ status: "crash" });
    expect(propose(ok(0.95, 20), rs, "min")).toEqual({ status: "keep", reason: null });
  });
});

describe("overrideAllowed", () => {
  const RS = rows("base 0.997900 44.0 keep baseline", "c2 0.990000 44.0 keep lr");
  const BEST = bestKept(RS, "min");

  it.each<{ name: string; proposed: Status; requested: Status; o: RunOutcome; best: ResultRow | null; want: boolean }>([
    { name: "keep → keep", proposed: "keep", requested: "keep", o: ok(0.98), best: BEST, want: true },
    { name: "discard → discard", proposed: "discard", requested: "discard", o: ok(1.1), best: BEST, want: true },
    { name: "crash → crash", proposed: "crash", requested: "crash", o: outcome({ crashed: true }), best: BEST, want: true },
    { name: "keep → discard (simplicity)", proposed: "keep", requested: "discard", o: ok(0.98), best: BEST, want: true },
    { name: "keep → crash", proposed: "keep", requested: "crash", o: ok(0.98), best: BEST, want: false },
    { name: "discard → keep, equal value", proposed: "discard", requested: "keep", o: ok(0.99), best: BEST, want: true },
    { name: "discard → keep, equal at 6 decimals", proposed: "discard", requested: "keep", o: ok(0.9900004), best: BEST, want: true },
    { name: "discard → keep, worse value", proposed: "discard", requested: "keep", o: ok(0.990001), best: BEST, want: false },
    { name: "discard → keep, equal value but timed out", proposed: "discard", requested: "keep", o: outcome({ value: 0.99, memoryGb: 44, timedOut: true }), best: BEST, want: false },
    { name: "discard → keep, timed out without a value", proposed: "discard", requested: "keep", o: outcome({ timedOut: true }), best: BEST, want: false },
    { name: "discard → keep, no best", proposed: "discard", requested: "keep", o: ok(0.99), best: null, want: false },
    { name: "discard → crash", proposed: "discard", requested: "crash", o: ok(1.1), best: BEST, want: false },
    { name: "crash → keep, even with a value equal to the best", proposed: "crash", requested: "keep", o: outcome({ value: 0.99, memoryGb: 44, crashed: true }), best: BEST, want: false },
    { name: "crash → discard", proposed: "crash", requested: "discard", o: outcome({ crashed: true }), best: BEST, want: false },
    { name: "crash (memory blowup) → keep", proposed: "crash", requested: "keep", o: ok(0.99, 100), best: BEST, want: false },
  ])("$name → $want", ({ proposed, requested, o, best, want }) => {
    expect(overrideAllowed(proposed, requested, o, best)).toBe(want);
  });

  it("agrees with propose: what propose says is always allowed, and an equal value may be kept", () => {
    for (const v of [0.9, 0.99, 0.9900004, 1.2]) {
      const o = ok(v);
      const p = propose(o, RS, "min");
      expect(overrideAllowed(p.status, p.status, o, BEST)).toBe(true);
    }
    const equal = ok(0.99);
    expect(propose(equal, RS, "min").status).toBe("discard");
    expect(overrideAllowed("discard", "keep", equal, BEST)).toBe(true);
  });
});

describe("nextAfterLog", () => {
  const Z = { due: null, revoked: false, resetTo: null, closeCall: false, reason: null };
  const WIDEN = /experiments since the last keep: widen the search/;
  type F = Parameters<typeof nextAfterLog>[0];
  const f = (over: Partial<F>): F => ({ status: "discard", keptAny: true, headKept: false, nightOver: null, crashesSinceBest: 0, timedOut: false, stall: 1, ...over });

  it.each<{ name: string; facts: F; says: RegExp; not?: RegExp; widen: boolean }>([
    { name: "keep", facts: f({ status: "keep", stall: 0 }), says: /^Kept: .*apply_patch/, widen: false },
    { name: "keep after a long stall (stall passed in ≥ 10): no widen", facts: f({ status: "keep", stall: 12 }), says: /^Kept/, widen: false },
    { name: "discard", facts: f({ status: "discard", stall: 3 }), says: /^Not kept: call reset_to_best/, widen: false },
    { name: "discard of a timeout", facts: f({ status: "discard", timedOut: true, stall: 3 }), says: /^Not kept/, widen: false },
    { name: "first crash: one fix or reset", facts: f({ status: "crash", crashesSinceBest: 1 }), says: /^Crashed: .*one fix.*reset_to_best/, widen: false },
    { name: "baseline crash (nothing kept yet)", facts: f({ status: "crash", keptAny: false, crashesSinceBest: 1, stall: 1 }), says: /baseline crashed.*Report the reason to the human and stop/, not: /apply_patch|one fix/, widen: false },
    { name: "the baseline run again crashes again: still report and stop", facts: f({ status: "crash", keptAny: false, crashesSinceBest: 2, stall: 2 }), says: /baseline crashed.*stop/, not: /reset_to_best|apply_patch/, widen: false },
    { name: "second crash since the best", facts: f({ status: "crash", crashesSinceBest: 2 }), says: /^Crashed again: call reset_to_best/, widen: false },
    { name: "more crashes than that", facts: f({ status: "crash", crashesSinceBest: 3 }), says: /^Crashed again/, widen: false },
    { name: "a repeat of a kept commit logged as discard: HEAD stays kept, no reset", facts: f({ status: "discard", headKept: true }), says: /repeat: HEAD stays the kept commit.*apply_patch/, not: /reset_to_best/, widen: false },
    { name: "past stopAt or maxRuns: the summary, whatever the row", facts: f({ status: "keep", nightOver: "maxRuns 3 reached: 3 runs logged" }), says: /night is over \(maxRuns 3 reached.*final summary.*stop/, not: /apply_patch/, widen: false },
    { name: "crash of a timed-out run", facts: f({ status: "crash", crashesSinceBest: 1, timedOut: true }), says: /^Crashed again/, widen: false },
    { name: "discard at stall 9: no widen yet", facts: f({ status: "discard", stall: 9 }), says: /^Not kept/, widen: false },
    { name: "discard at stall 10: widen", facts: f({ status: "discard", stall: 10 }), says: /^Not kept.* 10 experiments since the last keep/, widen: true },
    { name: "first crash at stall 11: widen", facts: f({ status: "crash", crashesSinceBest: 1, stall: 11 }), says: /^Crashed: .* 11 experiments since the last keep/, widen: true },
    { name: "second crash at stall 25: widen", facts: f({ status: "crash", crashesSinceBest: 2, stall: 25 }), says: /^Crashed again.* 25 experiments/, widen: true },
    // the noise-aware rule
    { name: "noise: the baseline's repeat is due", facts: f({ status: "keep", stall: 0, noise: { ...Z, due: { n: 1, wanted: 2, baseline: true } } }), says: /^Baseline run 1 of 2 logged: run_training again .*σ.*log_result \{"description":"baseline"\}/, not: /apply_patch/, widen: false },
    { name: "noise: a new keep's confirmation is due", facts: f({ status: "keep", stall: 0, noise: { ...Z, due: { n: 1, wanted: 2, baseline: false } } }), says: /^Kept for now on 1 run: .*run_training, then log_result with the same description/, not: /apply_patch/, widen: false },
    { name: "noise: the night ends before a due confirmation", facts: f({ status: "keep", nightOver: "maxRuns 9 reached: 9 runs logged", noise: { ...Z, due: { n: 1, wanted: 2, baseline: false } } }), says: /night is over/, not: /run_training again|Kept for now/, widen: false },
    { name: "noise: a revoked keep says why and where the branch went", facts: f({ status: "discard", noise: { ...Z, revoked: true, resetTo: "abc1234", reason: "revoked: mean 0.991000 of 2 runs is behind the best" } }), says: /^Revoked: revoked: mean 0\.991000.*The branch went back to abc1234\. Next idea: apply_patch/, not: /reset_to_best/, widen: false },
    { name: "noise: a close call offers the repeat", facts: f({ status: "discard", noise: { ...Z, closeCall: true } }), says: /close call.*run_training \{"repeat":true\}.*otherwise reset_to_best/, widen: false },
    { name: "noise: a plain discard is a discard", facts: f({ status: "discard", noise: Z }), says: /^Not kept: call reset_to_best/, widen: false },
    { name: "noise: a new keep with no confirmation wanted goes on", facts: f({ status: "keep", stall: 0, noise: Z }), says: /^Kept: .*apply_patch/, widen: false },
    { name: "noise: the baseline's repeat says it is measured", facts: f({ status: "keep", stall: 0, noise: { ...Z, kind: "baseline", mean: 1.0002, n: 2, sigma: 0.000283 } }), says: /^Baseline measured: mean 1\.000200 of 2 runs, σ 0\.000283\. Next idea: apply_patch\.$/, not: /advances/, widen: false },
    { name: "noise: a clear keep says why no confirmation runs", facts: f({ status: "keep", stall: 0, noise: { ...Z, kind: "candidate", clear: { lead: 4.26 } } }), says: /^Kept, clearly ahead \(4\.3 standard errors\): no confirmation run is needed\. Next idea: apply_patch\.$/, widen: false },
    { name: "noise: a clear keep at σ 0", facts: f({ status: "keep", stall: 0, noise: { ...Z, kind: "candidate", clear: { lead: Infinity } } }), says: /^Kept, clearly ahead \(σ is 0\)/, widen: false },
    { name: "noise: a confirmation that held says so", facts: f({ status: "keep", stall: 0, noise: { ...Z, kind: "confirmation", mean: 0.95, n: 2 } }), says: /^Confirmed: the mean of 2 runs, 0\.950000, is ahead .*Next idea: apply_patch/, widen: false },
    { name: "noise: a repeat of the best that held says so", facts: f({ status: "keep", stall: 0, noise: { ...Z, kind: "repeat", mean: 0.95, n: 3 } }), says: /^Still kept: the mean of 3 runs/, not: /advances/, widen: false },
  ])("$name", ({ facts, says, not, widen }) => {
    const next = nextAfterLog(facts);
    expect(next).toMatch(says);
    if (not) expect(next).not.toMatch(not);
    if (widen) expect(next).toMatch(WIDEN);
    else expect(next).not.toMatch(WIDEN);
  });

  it("each branch says something different", () => {
    const branches = [
      f({ status: "keep" }),
      f({ status: "discard" }),
      f({ status: "crash", crashesSinceBest: 1 }),
      f({ status: "crash", crashesSinceBest: 1, keptAny: false }),
      f({ status: "discard", headKept: true }),
      f({ status: "crash", crashesSinceBest: 2 }),
    ].map(nextAfterLog);
    expect(new Set(branches).size).toBe(branches.length);
  });

  it("the widen sentence is added after the branch's own advice", () => {
    const plain = nextAfterLog(f({ status: "discard", stall: 1 }));
    const widened = nextAfterLog(f({ status: "discard", stall: STALL_LIMIT }));
    expect(widened.startsWith(plain + " ")).toBe(true);
  });
});

describe("propose with maxMemoryGb (autoresearch.json)", () => {
  const RS = rows("baseline 1.000000 44.0 keep baseline");
  it.each<{ mem: number | null; limit: number | undefined; status: Status }>([
    { mem: 22.9, limit: 23, status: "keep" },
    { mem: 23, limit: 23, status: "keep" },
    { mem: 23.1, limit: 23, status: "crash" },
    { mem: 80, limit: undefined, status: "keep" },
    { mem: null, limit: 23, status: "keep" },
  ])("memory $mem GB, limit $limit GB → $status", ({ mem, limit, status }) => {
    const p = propose(ok(0.9, mem), RS, "min", limit === undefined ? {} : { maxMemoryGb: limit });
    expect(p.status).toBe(status);
    if (status === "crash") expect(p.reason).toBe(`memory ${mem} GB is above the limit of ${limit} GB (maxMemoryGb in autoresearch.json)`);
  });
  it("the limit applies only to runs that would otherwise count (a timeout stays a discard)", () => {
    expect(propose(outcome({ value: 0.9, memoryGb: 30, timedOut: true, reason: "killed" }), RS, "min", { maxMemoryGb: 23 }).status).toBe("discard");
  });
});

describe("stopMoment / nightOver", () => {
  const at = (h: number, m = 0, day = 1) => new Date(2026, 11, day, h, m, 0, 0);
  it.each<{ stopAt: string; since: Date; want: Date | null }>([
    { stopAt: "07:00", since: at(22), want: at(7, 0, 2) },
    { stopAt: "23:30", since: at(22), want: at(23, 30, 1) },
    { stopAt: "7:05", since: at(6), want: at(7, 5, 1) },
    { stopAt: "22:00", since: at(22), want: at(22, 0, 2) },
    { stopAt: "2026-12-02T06:30:00", since: at(22), want: new Date("2026-12-02T06:30:00") },
    { stopAt: "tomorrow", since: at(22), want: null },
    { stopAt: "25:00", since: at(22), want: null },
  ])("stopAt $stopAt", ({ stopAt, since, want }) => {
    const got = stopMoment(stopAt, since);
    expect(got?.getTime() ?? null).toBe(want?.getTime() ?? null);
  });
  it.each<{ name: string; limits: { stopAt?: string; maxRuns?: number }; now: Date; rows: number; over: RegExp | null }>([
    { name: "no limits", limits: {}, now: at(9, 0, 5), rows: 1000, over: null },
    { name: "before stopAt", limits: { stopAt: "07:00" }, now: at(6, 59, 2), rows: 10, over: null },
    { name: "at stopAt", limits: { stopAt: "07:00" }, now: at(7, 0, 2), rows: 10, over: /^stopAt 07:00 passed$/ },
    { name: "below maxRuns", limits: { maxRuns: 100 }, now: at(23), rows: 99, over: null },
    { name: "maxRuns reached", limits: { maxRuns: 100 }, now: at(23), rows: 100, over: /^maxRuns 100 reached: 100 runs logged$/ },
  ])("$name", ({ limits, now, rows: n, over }) => {
    const got = nightOver(limits, now, at(22), n);
    if (over) expect(got).toMatch(over);
    else expect(got).toBeNull();
  });
});

describe("statusAdvice", () => {
  it.each<{ has: boolean; stall: number; says: RegExp }>([
    { has: false, stall: 0, says: /start_session/ },
    { has: false, stall: 30, says: /^No session: call start_session\.$/ },
    { has: true, stall: 0, says: /^Keep going/ },
    { has: true, stall: 9, says: /^Keep going/ },
    { has: true, stall: 10, says: /^10 experiments since the last keep: widen the search/ },
    { has: true, stall: 27, says: /^27 experiments since the last keep: widen the search/ },
  ])("session $has, stall $stall", ({ has, stall, says }) => {
    expect(statusAdvice(has, stall)).toMatch(says);
  });
});
