import type { ResultRow, Status } from "../results.js";
import type { RunOutcome } from "./outcome.js";
import { asLogged, better, CRASHES_PER_IDEA, type Goal, type Proposal, type RunLimits, propose } from "./policy.js";

/**
 * The noise-aware keep rule, pure (SPEC §9). val_bpb is noisy run to run, so:
 *
 * - a commit's value is the **mean of all runs of its train.py** (runs are keyed by a hash of the
 *   file's content, so the same code under two commits is one measurement series);
 * - σ is **pooled** from every series with two or more runs (the baseline runs `baselineRuns` times);
 * - the best is the kept commit with the best mean, not the luckiest single run;
 * - a run that beats the best is kept and then **measured once more** (`confirmRuns`); a repeat may
 *   move the mean either way, and a kept commit whose mean falls behind the best of the others is
 *   **revoked** (logged as a discard; the branch goes back);
 * - a keep ahead by `clearLead` standard errors or more is not measured again: one more run would
 *   almost never take it back (bench/noise-model.mjs), and the run is worth more as the next idea.
 *
 * With `noise: false` the strict rule of policy.ts decides alone (a run is kept iff it is strictly
 * better than the best kept single run).
 */

export interface NoiseSettings {
  /** runs of the session's base before the first experiment (σ needs two) */
  baselineRuns: number;
  /** extra runs of each new keep before the next experiment */
  confirmRuns: number;
  /** a new keep ahead of the best by this many standard errors of the difference needs no confirmation (false: every keep is confirmed) */
  clearLead: number | false;
}

/**
 * σ must rest on this many degrees of freedom before a lead counts as clear: the baseline's one
 * pair alone gives σ under a tenth of the truth in about one night of twelve.
 */
export const CLEAR_LEAD_MIN_DF = 2;

/** One row of results.tsv with what the run log adds: which code ran and whether it measured anything. */
export interface MeasuredRow {
  row: ResultRow;
  /** the content hash of the editable file that ran (or a stand-in key for rows without one) */
  key: string;
  /** the run's value, null when it produced none (a crash, a timeout) */
  value: number | null;
  /** the row took a keep back */
  revoked?: boolean;
}

export interface Series {
  key: string;
  values: number[];
  n: number;
  mean: number;
}

/** Every key's measured runs, in file order. */
export function seriesOf(rows: readonly MeasuredRow[]): Map<string, Series> {
  const out = new Map<string, Series>();
  for (const m of rows) {
    if (m.value === null || !Number.isFinite(m.value)) continue;
    const s = out.get(m.key) ?? { key: m.key, values: [], n: 0, mean: NaN };
    s.values.push(asLogged(m.value));
    s.n = s.values.length;
    s.mean = s.values.reduce((a, b) => a + b, 0) / s.n;
    out.set(m.key, s);
  }
  return out;
}

export interface Sigma {
  /** pooled standard deviation of one run, null until some code ran twice */
  sigma: number | null;
  /** degrees of freedom behind it (runs minus series, over the repeated series) */
  df: number;
}

/** σ pooled over every series with two or more runs: sqrt(Σ (x − mean_k)² / Σ (n_k − 1)). */
export function pooledSigma(series: Iterable<Series>): Sigma {
  let ss = 0;
  let df = 0;
  for (const s of series) {
    if (s.n < 2) continue;
    for (const v of s.values) ss += (v - s.mean) ** 2;
    df += s.n - 1;
  }
  return df ? { sigma: Math.sqrt(ss / df), df } : { sigma: null, df: 0 };
}

/**
 * Each commit's standing: its last row says what it is, except that a kept commit stays kept
 * until a row revokes it. A repeat that failed (a crash of the baseline's repeat, a flake) or a
 * discard row an older server wrote for a repeat of a keep (#560) takes nothing back.
 */
export function standings(rows: readonly MeasuredRow[]): Map<string, MeasuredRow> {
  const out = new Map<string, MeasuredRow>();
  for (const m of rows) {
    const cur = out.get(m.row.commit);
    if (cur?.row.status === "keep" && m.row.status !== "keep" && !m.revoked) continue;
    out.set(m.row.commit, m);
  }
  return out;
}

export function standingOf(rows: readonly MeasuredRow[], commit: string): MeasuredRow | null {
  return standings(rows).get(commit) ?? null;
}

export interface Kept {
  commit: string;
  key: string;
  /** the commit's first row (its description) */
  first: ResultRow;
  mean: number;
  n: number;
  /** index in the rows of the row that made it kept (its first keep) */
  at: number;
}

/** Commits whose standing is keep, in the order they were first kept, with their means. */
export function keptCommits(rows: readonly MeasuredRow[]): Kept[] {
  const series = seriesOf(rows);
  const firstKeep = new Map<string, number>();
  const first = new Map<string, ResultRow>();
  rows.forEach((m, i) => {
    if (!first.has(m.row.commit)) first.set(m.row.commit, m.row);
    if (m.row.status === "keep" && !firstKeep.has(m.row.commit)) firstKeep.set(m.row.commit, i);
  });
  const out: Kept[] = [];
  for (const [commit, m] of standings(rows)) {
    const s = series.get(m.key);
    if (m.row.status !== "keep" || !s) continue;
    out.push({ commit, key: m.key, first: first.get(commit)!, mean: s.mean, n: s.n, at: firstKeep.get(commit) ?? 0 });
  }
  return out.sort((a, b) => a.at - b.at);
}

/** The kept commit with the best mean; the later kept on a tie (the simpler change). `except` leaves one key out. */
export function bestMean(kept: readonly Kept[], goal: Goal, except?: string): Kept | null {
  let best: Kept | null = null;
  for (const k of kept) {
    if (k.key === except) continue;
    if (!best || !better(asLogged(best.mean), asLogged(k.mean), goal)) best = k;
  }
  return best;
}

/**
 * Rows since the last row of a commit that is still kept (stall, #110): a keep that was revoked
 * later does not reset the count.
 */
export function stallOfMeasured(rows: readonly MeasuredRow[]): number {
  const standing = new Map<string, string>();
  for (const m of rows) standing.set(m.row.commit, String(m.row.status));
  for (let i = rows.length - 1; i >= 0; i--) if (rows[i].row.status === "keep" && standing.get(rows[i].row.commit) === "keep") return rows.length - 1 - i;
  return rows.length;
}

/**
 * How far a mean is ahead of another, in standard errors of the difference σ·√(1/n + 1/n′):
 * positive when better whatever the goal; ±Infinity at σ = 0; null while σ is unmeasured or
 * rests on fewer than `minDf` degrees of freedom.
 */
export function leadInSe(a: { mean: number; n: number }, b: { mean: number; n: number }, sigma: Sigma, goal: Goal, minDf = 1): number | null {
  if (sigma.sigma === null || sigma.df < minDf) return null;
  const gain = goal === "min" ? asLogged(b.mean) - asLogged(a.mean) : asLogged(a.mean) - asLogged(b.mean);
  if (sigma.sigma === 0) return gain === 0 ? 0 : gain > 0 ? Infinity : -Infinity;
  return gain / (sigma.sigma * Math.sqrt(1 / a.n + 1 / b.n));
}

/**
 * A kept commit's lead when it was kept: its mean on the row that kept it against the best of the
 * kept others before that row, in standard errors (σ as pooled then). Null when nothing to compare.
 */
export function leadWhenKept(rows: readonly MeasuredRow[], commit: string, key: string, goal: Goal): number | null {
  const at = rows.findIndex((m) => m.row.commit === commit && m.row.status === "keep");
  if (at < 0) return null;
  const other = bestMean(keptCommits(rows.slice(0, at)), goal, key);
  const upTo = seriesOf(rows.slice(0, at + 1));
  const own = upTo.get(key);
  if (!other || !own) return null;
  return leadInSe(own, other, pooledSigma(upTo.values()), goal, CLEAR_LEAD_MIN_DF);
}

/**
 * HEAD was kept on one run clearly ahead (its lead when kept ≥ clearLead), so the confirmation
 * `confirmRuns` would ask for is skipped. The one definition repeatDue and decide share.
 */
export function keptClearly(rows: readonly MeasuredRow[], head: { commit: string; key: string; isBase: boolean }, settings: NoiseSettings, goal: Goal): boolean {
  if (head.isBase || settings.clearLead === false || settings.confirmRuns === 0) return false;
  if (standingOf(rows, head.commit)?.row.status !== "keep" || seriesOf(rows).get(head.key)?.n !== 1) return false;
  const lead = leadWhenKept(rows, head.commit, head.key, goal);
  return lead !== null && lead >= settings.clearLead;
}

/** How many runs a commit needs before the next experiment: the baseline's, or a keep's confirmation unless it was kept clearly. */
export function runsWanted(isBase: boolean, kept: boolean, settings: NoiseSettings, clear = false): number {
  if (isBase) return settings.baselineRuns;
  return kept && !clear ? 1 + settings.confirmRuns : 1;
}

/** A repeat the server asks for before anything else: the baseline's, or a new keep's confirmation. */
export function repeatDue(rows: readonly MeasuredRow[], head: { commit: string; key: string; isBase: boolean }, settings: NoiseSettings, goal: Goal): { n: number; wanted: number } | null {
  const standing = standingOf(rows, head.commit);
  if (!standing) return null;
  if (!head.isBase && standing.row.status !== "keep") return null;
  const n = seriesOf(rows).get(head.key)?.n ?? 0;
  const kept = standing.row.status === "keep";
  const wanted = runsWanted(head.isBase, kept, settings, keptClearly(rows, head, settings, goal));
  // Repeats that failed are not asked for forever: after CRASHES_PER_IDEA the night goes on without them.
  const failed = rows.filter((m) => m.key === head.key && m.value === null && m.row.commit === head.commit).length;
  return n < wanted && standing.row.status !== "crash" && !(standing.row.status === "keep" && failed >= CRASHES_PER_IDEA) ? { n, wanted } : null;
}

/** |Δ| under this many standard errors of the difference is a close call: a repeat may decide it. */
export const CLOSE_CALL_SE = 1;

export type DecisionKind = "baseline" | "candidate" | "confirmation" | "repeat";

export interface Decision extends Proposal {
  kind: DecisionKind;
  /** the mean of this code's runs, this one included (null when it measured nothing) */
  mean: number | null;
  n: number;
  sigma: number | null;
  /** the kept commit it is compared with: the best of the others */
  against: { commit: string; mean: number; n: number } | null;
  /** a kept commit taken back: its mean fell behind `against`, or its repeat crashed */
  revoked: boolean;
  /** the commit was kept before this run (a confirmation or a repeat of a keep) */
  wasKept: boolean;
  /** the server wants this commit run again before the next experiment */
  due: { n: number; wanted: number } | null;
  /** a discard within one standard error of the best: a repeat may decide it */
  closeCall: boolean;
  /** how far this code's mean is ahead of `against`, in standard errors (negative: behind; null while σ is unmeasured) */
  lead: number | null;
  /** a new keep clearly ahead (clearLead): kept on one run, no confirmation */
  clear: boolean;
  /** what the row's description gets, in brackets (null for a plain first run) */
  note: string | null;
}

export interface DecisionInput {
  outcome: RunOutcome;
  /** HEAD's short hash and its code's key */
  commit: string;
  key: string;
  /** HEAD is the session base */
  isBase: boolean;
  /** the rows logged so far, with keys */
  rows: readonly MeasuredRow[];
  goal: Goal;
  settings: NoiseSettings;
  limits?: RunLimits;
}

const fmt = (v: number) => v.toFixed(6);

/** The status the server proposes for a finished run under the noise-aware rule, and why. */
export function decide(d: DecisionInput): Decision {
  const { outcome: o, goal } = d;
  const prior = standingOf(d.rows, d.commit);
  const wasKept = prior?.row.status === "keep";
  const kind: DecisionKind = d.isBase ? "baseline" : !prior ? "candidate" : wasKept && (seriesOf(d.rows).get(d.key)?.n ?? 0) < 1 + d.settings.confirmRuns ? "confirmation" : "repeat";
  const value = o.crashed || o.timedOut || o.value === null ? null : o.value;
  const thisRun = (status: string, revoked = false): MeasuredRow => ({ row: { line: 0, commit: d.commit, valueText: "", value: NaN, memoryText: "", memoryGb: NaN, status, description: "" }, key: d.key, value, revoked });
  const withThis = seriesOf([...d.rows, thisRun("")]);
  const series = withThis.get(d.key) ?? null;
  const pooled = pooledSigma(withThis.values());
  const { sigma } = pooled;
  const head = { commit: d.commit, key: d.key, isBase: d.isBase };
  // What the state machine will ask next once this run's row is written (one definition: repeatDue).
  const dueAfter = (status: Status, revoked: boolean) => repeatDue([...d.rows, thisRun(status, revoked)], head, d.settings, goal);
  const kept = keptCommits(d.rows);
  const other = bestMean(kept, goal, d.key);
  const against = other ? { commit: other.commit, mean: other.mean, n: other.n } : null;
  const lead = series && other ? leadInSe(series, other, pooled, goal) : null;
  const base = { kind, sigma, against, mean: series?.mean ?? null, n: series?.n ?? 0, closeCall: false, wasKept, lead, clear: false };
  // Crash, timeout and memory limits are judged as the strict rule judges them (one definition).
  const strict = propose(o, d.rows.map((m) => m.row), goal, d.limits);
  if (strict.status === "crash" || o.timedOut) {
    const failed = o.timedOut ? "timed out" : "crashed";
    // The baseline is the session's reference: a failed repeat of it is not counted, and taken again.
    if (d.isBase && wasKept) return { ...base, ...strict, revoked: false, due: dueAfter(strict.status, false), note: `[baseline repeat ${failed}: not counted]` };
    const revoked = wasKept;
    const note = revoked ? `[revoked: ${kind === "confirmation" ? "its confirmation" : "a repeat"} ${failed}]` : null;
    return { ...base, ...strict, revoked, due: null, note };
  }
  const mean = series!.mean;
  const n = series!.n;
  const stats = `mean ${fmt(mean)} of ${n} runs`;
  if (d.isBase || !other)
    return { ...base, status: "keep", reason: null, revoked: false, due: dueAfter("keep", false), note: n > 1 ? `[run ${n}: ${stats}${sigma !== null ? `, σ ${fmt(sigma)}` : ""}]` : null };
  if (better(asLogged(mean), asLogged(other.mean), goal)) {
    const due = dueAfter("keep", false);
    // A first keep that needs no confirmation says why it has one run (the lead, in standard errors).
    const clear = kind === "candidate" && keptClearly([...d.rows, thisRun("keep")], head, d.settings, goal);
    const note = n > 1 ? `[run ${n}: ${stats}, ahead of ${other.commit} ${fmt(other.mean)}]` : clear ? `[clear: ${Number.isFinite(lead) ? `${lead!.toFixed(1)} standard errors` : "σ 0,"} ahead of ${other.commit} ${fmt(other.mean)}]` : null;
    return { ...base, status: "keep", reason: null, revoked: false, due, note, clear };
  }
  const equal = asLogged(mean) === asLogged(other.mean);
  const reason = `${stats} is ${equal ? "level with" : "behind"} the best, ${other.commit} at ${fmt(other.mean)} (${other.n} runs)`;
  if (wasKept && !d.isBase) return { ...base, status: "discard", reason: `revoked: ${reason}`, revoked: true, due: null, note: `[revoked: ${stats} ${equal ? "level with" : "behind"} ${other.commit} ${fmt(other.mean)}]` };
  const closeCall = sigma !== null && sigma > 0 && lead !== null && Math.abs(lead) < CLOSE_CALL_SE;
  return { ...base, status: "discard", reason: n > 1 ? reason : null, revoked: false, due: null, closeCall, note: n > 1 ? `[run ${n}: ${stats}]` : null };
}

/** Statuses the agent may choose instead of the proposal: downgrades, and keep on a level mean. */
export function noiseOverrideAllowed(d: Decision, requested: Status): boolean {
  if (requested === d.status) return true;
  // The baseline is the code as it is: its runs are measurements, not choices.
  if (d.kind === "baseline") return false;
  if (d.status === "keep" && requested === "discard") return true;
  // Keep on a level mean (the simpler change), also where the level mean would revoke a keep; never on a crash.
  if (d.status !== "discard" || requested !== "keep" || d.mean === null || !d.against) return false;
  return asLogged(d.mean) === asLogged(d.against.mean);
}

/** Φ, the standard normal CDF (Abramowitz–Stegun 7.1.26, |error| < 1.5e-7). */
export function normalCdf(z: number): number {
  const t = 1 / (1 + 0.3275911 * (Math.abs(z) / Math.SQRT2));
  const poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  const erf = 1 - poly * Math.exp(-(z * z) / 2);
  return z >= 0 ? (1 + erf) / 2 : (1 - erf) / 2;
}

export interface NoiseSummary {
  sigma: number | null;
  df: number;
  /** the best kept commit: its mean, runs and standard error σ/√n */
  best: (Kept & { stderr: number | null }) | null;
  /** the session base's standing (its mean over the baseline runs) */
  baseline: Kept | null;
  /** the kept commits in the order they were kept (the branch's chain) */
  lineage: Kept[];
  /** experiments (codes other than the base's that ran) and how many of them are kept now */
  experiments: number;
  kept: number;
  keepRate: number | null;
  revoked: number;
  /**
   * The chance that a kept step is noise, averaged over the kept lineage: for each keep after the
   * baseline, Φ(−gain / (σ·√(1/n + 1/n_prev))) against the kept commit before it.
   */
  falseKeepRisk: number | null;
}

/** status's and the report's view of the noise: σ, the best as mean ± σ/√n, keep rate, false-keep risk. */
export function summarizeNoise(rows: readonly MeasuredRow[], goal: Goal): NoiseSummary {
  const series = seriesOf(rows);
  const { sigma, df } = pooledSigma(series.values());
  const kept = keptCommits(rows);
  const best = bestMean(kept, goal);
  const baseKey = rows[0]?.key;
  const tried = new Set(rows.filter((m) => m.key !== baseKey).map((m) => m.key));
  const keptNow = kept.filter((k) => k.key !== baseKey).length;
  const revoked = rows.filter((m) => m.revoked).length;
  let risk: number | null = null;
  if (sigma !== null && sigma > 0 && kept.length > 1) {
    let sum = 0;
    for (let i = 1; i < kept.length; i++) {
      const gain = goal === "min" ? kept[i - 1].mean - kept[i].mean : kept[i].mean - kept[i - 1].mean;
      sum += normalCdf(-gain / (sigma * Math.sqrt(1 / kept[i].n + 1 / kept[i - 1].n)));
    }
    risk = Math.round((sum / (kept.length - 1)) * 1000) / 1000;
  }
  return {
    sigma,
    df,
    best: best ? { ...best, stderr: sigma !== null ? sigma / Math.sqrt(best.n) : null } : null,
    baseline: kept.find((k) => k.key === baseKey) ?? null,
    lineage: kept,
    experiments: tried.size,
    kept: keptNow,
    keepRate: tried.size ? Math.round((keptNow / tried.size) * 1000) / 1000 : null,
    revoked,
    falseKeepRisk: risk,
  };
}
