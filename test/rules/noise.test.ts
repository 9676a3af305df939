import { describe, expect, it } from "vitest";
import {
  bestMean,
  decide,
  keptCommits,
  leadInSe,
  leadWhenKept,
  noiseOverrideAllowed,
  normalCdf,
  pooledSigma,
  repeatDue,
  seriesOf,
  stallOfMeasured,
  standingOf,
  summarizeNoise,
  type DecisionInput,
  type MeasuredRow,
  type NoiseSettings,
} from "../../src/rules/noise.js";
import type { RunOutcome } from "../../src/rules/outcome.js";

/**
 * The noise-aware rule as tables: rows as results.tsv + the run log would give them, then what
 * the rule makes of them. Keys stand for train.py contents (K0 = the base's code).
 */

let line = 1;
const r = (commit: string, key: string, value: number | null, status: string, description = "x", revoked = false): MeasuredRow => ({
  row: { line: ++line, commit, valueText: value === null ? "0.000000" : value.toFixed(6), value: value ?? 0, memoryText: "1.0", memoryGb: 1, status, description },
  key,
  value,
  revoked,
});

const ok = (value: number, memoryGb = 1): RunOutcome => ({ value, memoryGb, crashed: false, timedOut: false, reason: null });
const crash: RunOutcome = { value: null, memoryGb: null, crashed: true, timedOut: false, reason: "RuntimeError: boom" };
const timeout: RunOutcome = { value: null, memoryGb: null, crashed: false, timedOut: true, reason: "killed at the hard limit" };
const SETTINGS: NoiseSettings = { baselineRuns: 2, confirmRuns: 1, clearLead: 3 };

// A session after its two baseline runs (σ from them: 0.0002·√2/… see below) and one confirmed keep.
const BASE = [r("base000", "K0", 1.0, "keep", "baseline"), r("base000", "K0", 1.0004, "keep", "baseline [run 2]")];
const KEPT_A = [...BASE, r("aaaaaaa", "KA", 0.99, "keep", "A"), r("aaaaaaa", "KA", 0.9904, "keep", "A [run 2]")];

const input = (over: Partial<DecisionInput>): DecisionInput => ({ outcome: ok(1), commit: "ccccccc", key: "KC", isBase: false, rows: KEPT_A, goal: "min", settings: SETTINGS, ...over });

describe("series and σ", () => {
  it("groups measured runs by code, skipping runs without a value", () => {
    const s = seriesOf([...KEPT_A, r("bbbbbbb", "KB", null, "crash")]);
    expect([...s.keys()]).toEqual(["K0", "KA"]);
    expect(s.get("K0")).toMatchObject({ n: 2, values: [1.0, 1.0004] });
    expect(s.get("K0")!.mean).toBeCloseTo(1.0002, 9);
  });

  it.each<{ name: string; rows: MeasuredRow[]; sigma: number | null; df: number }>([
    { name: "nothing ran twice", rows: [r("b", "K0", 1, "keep")], sigma: null, df: 0 },
    { name: "one pair: |a-b|/√2", rows: BASE, sigma: 0.0004 / Math.SQRT2, df: 1 },
    { name: "two pairs with the same spread", rows: KEPT_A, sigma: 0.0004 / Math.SQRT2, df: 2 },
    { name: "a triple and a pair: Σ squares / Σ (n-1)", rows: [r("b", "K0", 1, "keep"), r("b", "K0", 1.0003, "keep"), r("b", "K0", 0.9997, "keep"), r("a", "KA", 0.99, "keep"), r("a", "KA", 0.9906, "keep")], sigma: Math.sqrt((0.0003 ** 2 * 2 + 0.0003 ** 2 * 2) / 3), df: 3 },
    { name: "identical repeats: σ 0", rows: [r("b", "K0", 1, "keep"), r("b", "K0", 1, "keep")], sigma: 0, df: 1 },
  ])("$name → σ $sigma (df $df)", ({ rows, sigma, df }) => {
    const got = pooledSigma(seriesOf(rows).values());
    expect(got.df).toBe(df);
    if (sigma === null) expect(got.sigma).toBeNull();
    else expect(got.sigma!).toBeCloseTo(sigma, 9);
  });
});

describe("kept commits and the best mean", () => {
  it("a commit is what its last row says: a revocation (a later discard) takes it out", () => {
    const rows = [...KEPT_A, r("ddddddd", "KD", 0.98, "keep", "D"), r("ddddddd", "KD", 1.01, "discard", "D [revoked]", true)];
    expect(keptCommits(rows).map((k) => k.commit)).toEqual(["base000", "aaaaaaa"]);
  });

  it("the best is the best mean, not the luckiest run", () => {
    // E had the single lowest run (0.985) but its mean 0.9915 is behind A's 0.9902
    const rows = [...KEPT_A, r("eeeeeee", "KE", 0.985, "keep"), r("eeeeeee", "KE", 0.998, "keep")];
    const kept = keptCommits(rows);
    expect(bestMean(kept, "min")!.commit).toBe("aaaaaaa");
    expect(bestMean(kept, "max")!.commit).toBe("base000");
    expect(bestMean(kept, "min", "KA")!.commit).toBe("eeeeeee");
  });

  it("a tie on the logged mean goes to the later keep (the simpler change)", () => {
    const rows = [r("base000", "K0", 1, "keep"), r("fffffff", "KF", 1.0000001, "keep")];
    expect(bestMean(keptCommits(rows), "min")!.commit).toBe("fffffff");
  });

  it("runs of the same code under two commits are one series", () => {
    const rows = [...BASE, r("aaaaaaa", "KA", 0.99, "discard"), r("a2a2a2a", "KA", 0.98, "keep")];
    expect(keptCommits(rows)[1]).toMatchObject({ commit: "a2a2a2a", n: 2, mean: 0.985 });
  });
});

describe("standingOf: a kept commit stays kept until a row revokes it", () => {
  it.each<{ name: string; rows: MeasuredRow[]; status: string }>([
    { name: "a keep", rows: KEPT_A, status: "keep" },
    { name: "a revocation (discard, revoked)", rows: [...KEPT_A, r("aaaaaaa", "KA", 1.01, "discard", "A [revoked]", true)], status: "discard" },
    { name: "a revocation by a crash", rows: [...KEPT_A, r("aaaaaaa", "KA", null, "crash", "A [revoked]", true)], status: "crash" },
    { name: "the baseline's failed repeat (not a revocation)", rows: [...BASE.slice(0, 1), r("base000", "K0", null, "crash", "baseline [baseline repeat crashed: not counted]")], status: "keep" },
    { name: "an older server's repeat of a keep logged as discard (#560)", rows: [...KEPT_A, r("aaaaaaa", "KA", 0.9903, "discard", "A again")], status: "keep" },
    { name: "a discard stays a discard; a later keep (a deliberate repeat) makes it kept", rows: [...BASE, r("ccccccc", "KC", 1.0, "discard"), r("ccccccc", "KC", 0.99, "keep")], status: "keep" },
  ])("$name → $status", ({ rows, status }) => {
    const commit = rows[rows.length - 1].row.commit;
    expect(standingOf(rows, commit)!.row.status).toBe(status);
  });
});

describe("stallOfMeasured", () => {
  it.each<{ name: string; rows: MeasuredRow[]; stall: number }>([
    { name: "right after a confirmed keep", rows: KEPT_A, stall: 0 },
    { name: "two discards later", rows: [...KEPT_A, r("c", "KC", 1.01, "discard"), r("d", "KD", 1.02, "discard")], stall: 2 },
    { name: "a keep revoked later does not reset the count", rows: [...KEPT_A, r("c", "KC", 1.01, "discard"), r("e", "KE", 0.98, "keep"), r("e", "KE", 1.0, "discard", "E [revoked]", true)], stall: 3 },
    { name: "nothing kept: every row", rows: [r("b", "K0", null, "crash"), r("b", "K0", null, "crash")], stall: 2 },
  ])("$name → $stall", ({ rows, stall }) => {
    expect(stallOfMeasured(rows)).toBe(stall);
  });
});

describe("repeatDue", () => {
  it.each<{ name: string; rows: MeasuredRow[]; head: { commit: string; key: string; isBase: boolean }; due: { n: number; wanted: number } | null }>([
    { name: "the baseline after one run", rows: BASE.slice(0, 1), head: { commit: "base000", key: "K0", isBase: true }, due: { n: 1, wanted: 2 } },
    { name: "the baseline after two", rows: BASE, head: { commit: "base000", key: "K0", isBase: true }, due: null },
    { name: "a baseline that crashed (the environment): no repeat is due", rows: [r("base000", "K0", null, "crash")], head: { commit: "base000", key: "K0", isBase: true }, due: null },
    { name: "a new keep on one run", rows: [...BASE, r("aaaaaaa", "KA", 0.99, "keep")], head: { commit: "aaaaaaa", key: "KA", isBase: false }, due: { n: 1, wanted: 2 } },
    { name: "a confirmed keep", rows: KEPT_A, head: { commit: "aaaaaaa", key: "KA", isBase: false }, due: null },
    { name: "a discard", rows: [...BASE, r("aaaaaaa", "KA", 1.01, "discard")], head: { commit: "aaaaaaa", key: "KA", isBase: false }, due: null },
    { name: "a commit with no rows", rows: BASE, head: { commit: "ccccccc", key: "KC", isBase: false }, due: null },
  ])("$name → $due", ({ rows, head, due }) => {
    expect(repeatDue(rows, head, SETTINGS, "min")).toEqual(due);
  });

  it("confirmRuns 0: a keep needs no repeat; baselineRuns 1: nor does the baseline", () => {
    expect(repeatDue([...BASE, r("aaaaaaa", "KA", 0.99, "keep")], { commit: "aaaaaaa", key: "KA", isBase: false }, { ...SETTINGS, confirmRuns: 0 }, "min")).toBeNull();
    expect(repeatDue(BASE.slice(0, 1), { commit: "base000", key: "K0", isBase: true }, { ...SETTINGS, baselineRuns: 1 }, "min")).toBeNull();
  });

  // After KEPT_A σ = 0.000283 on 2 degrees of freedom; a one-run keep against A (2 runs) has a
  // standard error of the difference of σ·√(1 + 1/2) = 0.000346.
  const C = { commit: "ccccccc", key: "KC", isBase: false };
  it.each<{ name: string; rows: MeasuredRow[]; settings?: Partial<NoiseSettings>; goal?: "min" | "max"; due: { n: number; wanted: number } | null }>([
    { name: "a keep 3.5 standard errors ahead when kept: clear, no confirmation", rows: [...KEPT_A, r("ccccccc", "KC", 0.989, "keep")], due: null },
    { name: "a keep 1.2 standard errors ahead: confirmed", rows: [...KEPT_A, r("ccccccc", "KC", 0.9898, "keep")], due: { n: 1, wanted: 2 } },
    { name: "clearLead false: every keep is confirmed", rows: [...KEPT_A, r("ccccccc", "KC", 0.989, "keep")], settings: { clearLead: false }, due: { n: 1, wanted: 2 } },
    { name: "clearLead 4: 3.5 is not enough", rows: [...KEPT_A, r("ccccccc", "KC", 0.989, "keep")], settings: { clearLead: 4 }, due: { n: 1, wanted: 2 } },
    { name: "σ on the baseline's pair alone (1 degree of freedom): even 58 standard errors are confirmed", rows: [...BASE, r("ccccccc", "KC", 0.98, "keep")], due: { n: 1, wanted: 2 } },
    { name: "σ 0 on 2 degrees of freedom (runs repeat exactly): any lead is clear", rows: [r("b", "K0", 1, "keep"), r("b", "K0", 1, "keep"), r("a", "KA", 0.99, "keep"), r("a", "KA", 0.99, "keep"), r("ccccccc", "KC", 0.989999, "keep")], due: null },
    { name: "the lead is the one when kept: later rows do not change it", rows: [...KEPT_A, r("ccccccc", "KC", 0.989, "keep"), r("base000", "K0", 1.5, "keep")], due: null },
    { name: "goal max: a keep far above is clear", rows: [r("b", "K0", 1, "keep"), r("b", "K0", 1.0004, "keep"), r("a", "KA", 1.01, "keep"), r("a", "KA", 1.0104, "keep"), r("ccccccc", "KC", 1.02, "keep")], goal: "max", due: null },
  ])("$name → $due", ({ rows, settings, goal, due }) => {
    expect(repeatDue(rows, C, { ...SETTINGS, ...settings }, goal ?? "min")).toEqual(due);
  });
});

describe("leads in standard errors", () => {
  const sig = (sigma: number | null, df: number) => ({ sigma, df });
  it.each<{ name: string; a: number; b: number; sigma: { sigma: number | null; df: number }; goal: "min" | "max"; minDf?: number; lead: number | null }>([
    { name: "ahead by one standard error", a: 0.999, b: 1.0, sigma: sig(0.001 / Math.SQRT2, 3), goal: "min", lead: 1 },
    { name: "behind: negative", a: 1.001, b: 1.0, sigma: sig(0.001 / Math.SQRT2, 3), goal: "min", lead: -1 },
    { name: "goal max: higher is ahead", a: 1.001, b: 1.0, sigma: sig(0.001 / Math.SQRT2, 3), goal: "max", lead: 1 },
    { name: "σ unmeasured", a: 0.9, b: 1.0, sigma: sig(null, 0), goal: "min", lead: null },
    { name: "too few degrees of freedom", a: 0.9, b: 1.0, sigma: sig(0.001, 1), goal: "min", minDf: 2, lead: null },
    { name: "σ 0, ahead", a: 0.999999, b: 1.0, sigma: sig(0, 2), goal: "min", lead: Infinity },
    { name: "σ 0, level", a: 1.0, b: 1.0000001, sigma: sig(0, 2), goal: "min", lead: 0 },
  ])("$name → $lead", ({ a, b, sigma, goal, minDf, lead }) => {
    const got = leadInSe({ mean: a, n: 1 }, { mean: b, n: 1 }, sigma, goal, minDf);
    if (lead === null || !Number.isFinite(lead)) expect(got).toBe(lead);
    else expect(got!).toBeCloseTo(lead, 6);
  });

  it("leadWhenKept compares the keeping row with the best of the others before it, σ as pooled then", () => {
    const rows = [...KEPT_A, r("ccccccc", "KC", 0.989, "keep"), r("ccccccc", "KC", 0.991, "keep")];
    expect(leadWhenKept(rows, "ccccccc", "KC", "min")!).toBeCloseTo(0.0012 / ((0.0004 / Math.SQRT2) * Math.sqrt(1.5)), 6);
    expect(leadWhenKept(rows, "ddddddd", "KD", "min")).toBeNull();
    expect(leadWhenKept(BASE, "base000", "K0", "min")).toBeNull();
  });
});

describe("decide: every kind of run", () => {
  it.each<{ name: string; d: Partial<DecisionInput>; status: string; kind: string; revoked?: boolean; due?: { n: number; wanted: number } | null; closeCall?: boolean; clear?: boolean; note?: RegExp | null }>([
    { name: "the baseline's first run", d: { commit: "base000", key: "K0", isBase: true, rows: [], outcome: ok(1) }, status: "keep", kind: "baseline", due: { n: 1, wanted: 2 }, note: null },
    { name: "the baseline's second run", d: { commit: "base000", key: "K0", isBase: true, rows: BASE.slice(0, 1), outcome: ok(1.0004) }, status: "keep", kind: "baseline", due: null, note: /^\[run 2: mean 1\.000200 of 2 runs, σ 0\.000283\]$/ },
    { name: "a candidate just ahead of the best mean: kept, confirmation due", d: { outcome: ok(0.9898) }, status: "keep", kind: "candidate", due: { n: 1, wanted: 2 }, clear: false, note: null },
    { name: "a candidate 3.5 standard errors ahead: kept, clear, no confirmation", d: { outcome: ok(0.989) }, status: "keep", kind: "candidate", due: null, clear: true, note: /^\[clear: 3\.5 standard errors ahead of aaaaaaa 0\.990200\]$/ },
    { name: "clearLead false: the same run waits for its confirmation", d: { outcome: ok(0.989), settings: { ...SETTINGS, clearLead: false } }, status: "keep", kind: "candidate", due: { n: 1, wanted: 2 }, clear: false, note: null },
    { name: "confirmRuns 0: no confirmation, and no 'clear' note either", d: { outcome: ok(0.989), settings: { ...SETTINGS, confirmRuns: 0 } }, status: "keep", kind: "candidate", due: null, clear: false, note: null },
    { name: "at σ 0 any lead is clear", d: { rows: [r("b", "K0", 1, "keep"), r("b", "K0", 1, "keep"), r("aaaaaaa", "KA", 0.99, "keep"), r("aaaaaaa", "KA", 0.99, "keep")], outcome: ok(0.989999) }, status: "keep", kind: "candidate", due: null, clear: true, note: /^\[clear: σ 0, ahead of aaaaaaa 0\.990000\]$/ },
    { name: "a candidate level with the best mean", d: { outcome: ok(0.9902) }, status: "discard", kind: "candidate", closeCall: true },
    { name: "a candidate behind by less than one standard error: a close call", d: { outcome: ok(0.9905) }, status: "discard", kind: "candidate", closeCall: true },
    { name: "a candidate far behind", d: { outcome: ok(1.01) }, status: "discard", kind: "candidate", closeCall: false },
    { name: "its confirmation holds: the mean is still ahead", d: { rows: [...KEPT_A, r("ccccccc", "KC", 0.985, "keep")], outcome: ok(0.987) }, status: "keep", kind: "confirmation", due: null, note: /^\[run 2: mean 0\.986000 of 2 runs, ahead of aaaaaaa 0\.990200\]$/ },
    { name: "its confirmation falls behind: revoked", d: { rows: [...KEPT_A, r("ccccccc", "KC", 0.989, "keep")], outcome: ok(0.993) }, status: "discard", kind: "confirmation", revoked: true, note: /^\[revoked: mean 0\.991000 of 2 runs behind aaaaaaa 0\.990200\]$/ },
    { name: "its confirmation crashes: revoked as a crash", d: { rows: [...KEPT_A, r("ccccccc", "KC", 0.989, "keep")], outcome: crash }, status: "crash", kind: "confirmation", revoked: true, note: /^\[revoked: its confirmation crashed\]$/ },
    { name: "its confirmation times out: revoked as a discard", d: { rows: [...KEPT_A, r("ccccccc", "KC", 0.989, "keep")], outcome: timeout }, status: "discard", kind: "confirmation", revoked: true },
    { name: "a repeat of the confirmed best that still holds", d: { commit: "aaaaaaa", key: "KA", outcome: ok(0.9903) }, status: "keep", kind: "repeat", due: null },
    { name: "a repeat of the best that drops its mean behind the baseline: revoked", d: { commit: "aaaaaaa", key: "KA", outcome: ok(1.03) }, status: "discard", kind: "repeat", revoked: true },
    { name: "a deliberate repeat of a close-call discard that pulls it ahead", d: { rows: [...KEPT_A, r("ccccccc", "KC", 0.9905, "discard")], outcome: ok(0.9893) }, status: "keep", kind: "repeat", due: null },
    { name: "a candidate that crashes", d: { outcome: crash }, status: "crash", kind: "candidate", revoked: false },
    { name: "a candidate killed at the hard limit", d: { outcome: timeout }, status: "discard", kind: "candidate", revoked: false },
    { name: "a candidate over maxMemoryGb: a crash whatever its value", d: { outcome: ok(0.9, 30), limits: { maxMemoryGb: 23 } }, status: "crash", kind: "candidate" },
    { name: "goal max: a higher run is ahead", d: { goal: "max", outcome: ok(1.2) }, status: "keep", kind: "candidate" },
    { name: "goal max: a lower run is behind", d: { goal: "max", outcome: ok(0.5) }, status: "discard", kind: "candidate" },
    { name: "the baseline's repeat crashes: not counted, asked again", d: { commit: "base000", key: "K0", isBase: true, rows: BASE.slice(0, 1), outcome: crash }, status: "crash", kind: "baseline", revoked: false, due: { n: 1, wanted: 2 }, note: /^\[baseline repeat crashed: not counted\]$/ },
    { name: "the baseline's repeat fails a second time: no more asking", d: { commit: "base000", key: "K0", isBase: true, rows: [...BASE.slice(0, 1), r("base000", "K0", null, "crash")], outcome: timeout }, status: "discard", kind: "baseline", revoked: false, due: null },
  ])("$name → $status ($kind)", ({ d, status, kind, revoked, due, closeCall, clear, note }) => {
    const got = decide(input(d));
    if (clear !== undefined) expect(got.clear).toBe(clear);
    expect(got.status).toBe(status);
    expect(got.kind).toBe(kind);
    if (revoked !== undefined) expect(got.revoked).toBe(revoked);
    if (due !== undefined) expect(got.due).toEqual(due);
    if (closeCall !== undefined) expect(got.closeCall).toBe(closeCall);
    if (note === null) expect(got.note).toBeNull();
    else if (note) expect(got.note).toMatch(note);
  });

  it("says what it compared: the mean, n, σ and the best of the others", () => {
    const got = decide(input({ outcome: ok(0.995) }));
    expect(got).toMatchObject({ mean: 0.995, n: 1, against: { commit: "aaaaaaa", n: 2 } });
    expect(got.against!.mean).toBeCloseTo(0.9902, 9);
    expect(got.sigma!).toBeCloseTo(0.0004 / Math.SQRT2, 9);
  });

  it("no close call before σ is known (one baseline run)", () => {
    const got = decide(input({ rows: [r("base000", "K0", 1.0, "keep"), r("aaaaaaa", "KA", 0.99, "keep")], outcome: ok(0.9901) }));
    expect(got.status).toBe("discard");
    expect(got.sigma).toBeNull();
    expect(got.closeCall).toBe(false);
  });

  it("a revoked confirmation's reason names the mean and the best", () => {
    const got = decide(input({ rows: [...KEPT_A, r("ccccccc", "KC", 0.989, "keep")], outcome: ok(0.993) }));
    expect(got.reason).toBe("revoked: mean 0.991000 of 2 runs is behind the best, aaaaaaa at 0.990200 (2 runs)");
  });
});

describe("noiseOverrideAllowed", () => {
  const keep = decide(input({ outcome: ok(0.98) }));
  const discard = decide(input({ outcome: ok(1.01) }));
  const level = decide(input({ outcome: ok(0.9902) }));
  const revoked = decide(input({ rows: [...KEPT_A, r("ccccccc", "KC", 0.989, "keep")], outcome: ok(0.993) }));
  const crashed = decide(input({ outcome: crash }));
  it.each([
    { name: "the proposal itself", d: keep, s: "keep", ok: true },
    { name: "keep → discard (simplicity)", d: keep, s: "discard", ok: true },
    { name: "keep → crash", d: keep, s: "crash", ok: false },
    { name: "discard → keep", d: discard, s: "keep", ok: false },
    { name: "discard → keep on a level mean (the simpler change)", d: level, s: "keep", ok: true },
    { name: "a revocation → keep", d: revoked, s: "keep", ok: false },
    { name: "crash → keep", d: crashed, s: "keep", ok: false },
    { name: "crash → discard", d: crashed, s: "discard", ok: false },
    { name: "a level confirmation (proposed as a revocation) → keep: the simpler change", d: decide(input({ rows: [...KEPT_A, r("ccccccc", "KC", 0.9902, "keep")], outcome: ok(0.9902) })), s: "keep", ok: true },
    { name: "the baseline's run → discard", d: decide(input({ commit: "base000", key: "K0", isBase: true, rows: BASE.slice(0, 1), outcome: ok(1.0) })), s: "discard", ok: false },
  ])("$name → $ok", ({ d, s, ok: allowed }) => {
    expect(noiseOverrideAllowed(d, s as "keep")).toBe(allowed);
  });
});

describe("summarizeNoise (status and the report)", () => {
  it("best as mean ± σ/√n, keep rate over experiments, revocations, and the false-keep risk of the chain", () => {
    const rows = [...KEPT_A, r("ccccccc", "KC", 1.01, "discard"), r("ddddddd", "KD", 0.98, "keep"), r("ddddddd", "KD", 1.0, "discard", "D [revoked]", true)];
    const z = summarizeNoise(rows, "min");
    // σ pools every code that ran twice, the revoked D too (its two runs differ by 0.02)
    const sigma = Math.sqrt((4 * 0.0002 ** 2 + 2 * 0.01 ** 2) / 3);
    expect(z.sigma!).toBeCloseTo(sigma, 9);
    expect(z.df).toBe(3);
    expect(z.best).toMatchObject({ commit: "aaaaaaa", n: 2 });
    expect(z.best!.mean).toBeCloseTo(0.9902, 9);
    expect(z.best!.stderr!).toBeCloseTo(sigma / Math.SQRT2, 9);
    expect(z.baseline!.mean).toBeCloseTo(1.0002, 9);
    expect(z.lineage.map((k) => k.commit)).toEqual(["base000", "aaaaaaa"]);
    expect(z).toMatchObject({ experiments: 3, kept: 1, keepRate: 0.333, revoked: 1 });
    // A's gain of 0.01 over the baseline against σ·√(1/2+1/2): Φ(−0.01/σ)
    expect(z.falseKeepRisk!).toBeCloseTo(normalCdf(-0.01 / sigma), 3);
  });

  it("a keep that gained less than its noise carries a real risk", () => {
    const rows = [...BASE, r("aaaaaaa", "KA", 1.0001, "keep"), r("aaaaaaa", "KA", 1.0001, "keep")];
    const z = summarizeNoise(rows, "min");
    // gain 0.0001 over the baseline's mean 1.0002, σ 0.000231 (df 2), se of the difference σ
    expect(z.falseKeepRisk!).toBeGreaterThan(0.3);
    expect(z.falseKeepRisk!).toBeLessThan(0.5);
  });

  it("nothing yet: no σ, no best, no rates", () => {
    expect(summarizeNoise([], "min")).toMatchObject({ sigma: null, best: null, experiments: 0, keepRate: null, falseKeepRisk: null });
  });
});

describe("normalCdf", () => {
  it.each([
    [0, 0.5],
    [1, 0.841345],
    [-1, 0.158655],
    [1.96, 0.975002],
    [-3, 0.00135],
  ])("Φ(%s) = %s", (z, p) => {
    expect(normalCdf(z)).toBeCloseTo(p, 5);
  });
});
