import type { ResultRow, Status } from "../results.js";
import type { RunOutcome } from "./outcome.js";

/**
 * The decision policy, pure: what counts as better, which kept row is the best, what status a
 * finished run is proposed, which overrides the agent may make, and when the search has stalled.
 * `log_result`, `status`, `run_training` and the report all decide through these functions.
 */

export type Goal = "min" | "max";

/** Experiments without a keep after which the agent is told to widen the search (#110). */
export const STALL_LIMIT = 10;

/** `a` is strictly better than `b`. */
export const better = (a: number, b: number, goal: Goal): boolean => (goal === "min" ? a < b : a > b);

/** Values as results.tsv writes them (`%.6f`): what the human sees decides what is equal. */
export const asLogged = (v: number): number => Number(v.toFixed(6));

/** The best kept row: the best value among keeps, the later one on a tie (the simpler change). */
export function bestKept(rows: readonly ResultRow[], goal: Goal): ResultRow | null {
  let best: ResultRow | null = null;
  for (const r of rows) {
    if (r.status !== "keep" || !Number.isFinite(r.value)) continue;
    if (!best || !better(best.value, r.value, goal)) best = r;
  }
  return best;
}

/** The baseline: the first kept row with a value. */
export function baselineOf(rows: readonly ResultRow[]): ResultRow | null {
  return rows.find((r) => r.status === "keep" && Number.isFinite(r.value)) ?? null;
}

/** How much `best` is better than `baseline`: positive when better, whatever the goal. */
export function improvement(baseline: number, best: number, goal: Goal): number {
  return asLogged(goal === "min" ? baseline - best : best - baseline);
}

/** Experiments since the last keep (all of them when nothing was kept). */
export const stallOf = (rowCount: number, lastKeepIndex: number): number => rowCount - 1 - lastKeepIndex;

export interface Proposal {
  status: Status;
  /** why, when the status is not a plain comparison (a crash, a timeout, memory) */
  reason: string | null;
}

/** Memory above this multiple of the baseline's counts as a crash (explosive growth). */
export const MEMORY_BLOWUP = 2;

/** What the human set as hard limits of a run (autoresearch.json). */
export interface RunLimits {
  /** a run whose peak memory is above this many GB counts as a crash (seed 002: "stay under 23 GB") */
  maxMemoryGb?: number;
}

/** The status the server proposes for a finished run, given the rows logged so far. */
export function propose(o: RunOutcome, rows: readonly ResultRow[], goal: Goal, limits: RunLimits = {}): Proposal {
  if (o.timedOut) return { status: "discard", reason: o.reason };
  if (o.crashed || o.value === null) return { status: "crash", reason: o.reason };
  if (o.memoryGb !== null && limits.maxMemoryGb !== undefined && o.memoryGb > limits.maxMemoryGb)
    return { status: "crash", reason: `memory ${o.memoryGb} GB is above the limit of ${limits.maxMemoryGb} GB (maxMemoryGb in autoresearch.json)` };
  const baselineMem = rows.find((r) => r.status === "keep" && r.memoryGb > 0)?.memoryGb ?? 0;
  if (o.memoryGb !== null && baselineMem > 0 && o.memoryGb > MEMORY_BLOWUP * baselineMem)
    return { status: "crash", reason: `memory ${o.memoryGb} GB is more than twice the baseline's ${baselineMem} GB (explosive growth counts as a crash)` };
  const best = bestKept(rows, goal);
  if (!best || better(asLogged(o.value), asLogged(best.value), goal)) return { status: "keep", reason: null };
  return { status: "discard", reason: null };
}

/**
 * The statuses the agent may choose instead of the proposal: a keep may be downgraded to a
 * discard (simplicity), and an equal value may be kept when the change is simpler. Never more.
 */
export function overrideAllowed(proposed: Status, requested: Status, o: RunOutcome, best: ResultRow | null): boolean {
  if (requested === proposed) return true;
  if (proposed === "keep" && requested === "discard") return true;
  const equalBest = o.value !== null && best !== null && !o.timedOut && o.value.toFixed(6) === best.value.toFixed(6);
  return proposed === "discard" && requested === "keep" && equalBest;
}

/** After a crash one fix is allowed; a crash of that fix (the second since the best) is the end of the idea. */
export const CRASHES_PER_IDEA = 2;

export interface LoggedFacts {
  status: Status;
  /** some run of the session was kept (false: the baseline has not succeeded yet) */
  keptAny: boolean;
  /** HEAD is a kept commit whatever this row says (a repeat of a keep logged as discard) */
  headKept: boolean;
  /** why the night is over (stopAt, maxRuns), null while it goes on */
  nightOver: string | null;
  /** crash rows from the best kept commit to HEAD, this one included */
  crashesSinceBest: number;
  timedOut: boolean;
  stall: number;
  /** what the noise rule decided (absent under the strict rule) */
  noise?: {
    due: { n: number; wanted: number; baseline: boolean } | null;
    revoked: boolean;
    resetTo: string | null;
    closeCall: boolean;
    /** a new keep clearly ahead: no confirmation (its lead in standard errors, Infinity at σ 0) */
    clear?: { lead: number } | null;
    reason: string | null;
    /** which run of the commit this was (a confirmation or repeat that held says so) */
    kind?: string;
    mean?: number | null;
    n?: number;
    sigma?: number | null;
  };
}

/** What the agent does after a row is logged. */
export function nextAfterLog(f: LoggedFacts): string {
  const z = f.noise;
  if (f.nightOver) return nightOverNext(f.nightOver);
  if (z?.kind === "baseline" && (f.status === "crash" || f.timedOut) && f.keptAny)
    return z.due
      ? `The baseline's repeat failed (${z.reason ?? f.status}); it is not counted: run_training again to measure σ. If it fails again, the night goes on without σ.`
      : `The baseline's repeats failed (${z.reason ?? f.status}): σ stays unmeasured and the environment may be unreliable; say so in the final summary. Next idea: apply_patch.`;
  if (z?.due) return z.due.baseline
    ? `Baseline run ${z.due.n} of ${z.due.wanted} logged: run_training again (σ is measured from the baseline's repeats), then log_result {"description":"baseline"}.`
    : `Kept for now on ${z.due.n} run${z.due.n === 1 ? "" : "s"}: every new keep is measured again before the next idea. run_training, then log_result with the same description.`;
  if (!f.keptAny) return BASELINE_CRASHED;
  if (z?.revoked) return `Revoked: ${z.reason ?? "its repeat did not hold"}. The branch went back to ${z.resetTo ?? "the best"}. Next idea: apply_patch.`;
  if (z && f.status === "keep" && z.kind === "baseline" && z.mean != null && (z.n ?? 0) > 1)
    return `Baseline measured: mean ${z.mean.toFixed(6)} of ${z.n} runs${z.sigma != null ? `, σ ${z.sigma.toFixed(6)}` : ""}. Next idea: apply_patch.`;
  if (z && f.status === "keep" && (z.kind === "confirmation" || z.kind === "repeat") && z.mean != null)
    return `${z.kind === "confirmation" ? "Confirmed" : "Still kept"}: the mean of ${z.n} runs, ${z.mean.toFixed(6)}, is ahead of the best of the others. Next idea: apply_patch.`;
  if (z?.closeCall && f.status === "discard")
    return `Not kept, but a close call (within one standard error of the best): run_training {"repeat":true} measures it again and the mean decides; otherwise reset_to_best and try a different idea.`;
  if (z?.clear && f.status === "keep")
    return `Kept, clearly ahead (${Number.isFinite(z.clear.lead) ? `${z.clear.lead.toFixed(1)} standard errors` : "σ is 0"}): no confirmation run is needed. Next idea: apply_patch.`;
  const next =
    f.status === "keep"
      ? "Kept: the branch advances. Next idea: apply_patch."
      : f.headKept
        ? "Logged as a repeat: HEAD stays the kept commit. Next idea: apply_patch."
        : f.status === "discard"
          ? "Not kept: call reset_to_best, then try a different idea."
          : f.crashesSinceBest >= CRASHES_PER_IDEA || f.timedOut
            ? "Crashed again: call reset_to_best and move on to a different idea."
            : "Crashed: if the fix is trivial (typo, missing name), apply_patch + commit one fix and run again; otherwise reset_to_best.";
  return f.stall >= STALL_LIMIT && f.status !== "keep" ? `${next} ${f.stall} experiments since the last keep: widen the search (a structural change, not another small tweak).` : next;
}

/**
 * The baseline is train.py as it is: when it crashes, the environment or the data is broken, not
 * the code, so no answer offers a fix of train.py.
 */
export const BASELINE_CRASHED =
  "The baseline crashed: the environment or data is broken (a missing package or prepared data is not fixed in train.py). Report the reason to the human and stop; after they fix it, run the baseline again with run_training.";

export const nightOverNext = (why: string) => `The night is over (${why}): no new run starts. Write the final summary (status {"rows":200}) and stop.`;

export interface NightLimits {
  /** a clock time ("07:00", the next one after the session started) or an ISO date-time */
  stopAt?: string;
  /** the most rows results.tsv may hold */
  maxRuns?: number;
}

/** The moment `stopAt` names: "HH:MM" is the first such time after `since`; else an ISO date-time. */
export function stopMoment(stopAt: string, since: Date): Date | null {
  const hm = /^([01]?\d|2[0-3]):([0-5]\d)$/.exec(stopAt);
  if (!hm) {
    const t = new Date(stopAt);
    return Number.isNaN(t.getTime()) ? null : t;
  }
  const t = new Date(since);
  t.setHours(Number(hm[1]), Number(hm[2]), 0, 0);
  if (t.getTime() <= since.getTime()) t.setDate(t.getDate() + 1);
  return t;
}

/** Why the night is over, or null: past stopAt, or maxRuns rows logged. */
export function nightOver(limits: NightLimits, now: Date, sessionStart: Date, rowCount: number): string | null {
  if (limits.maxRuns !== undefined && rowCount >= limits.maxRuns) return `maxRuns ${limits.maxRuns} reached: ${rowCount} runs logged`;
  const stop = limits.stopAt !== undefined ? stopMoment(limits.stopAt, sessionStart) : null;
  if (stop && now.getTime() >= stop.getTime()) return `stopAt ${limits.stopAt} passed`;
  return null;
}

/** The dashboard's one line of advice. */
export function statusAdvice(hasSession: boolean, stall: number): string {
  if (!hasSession) return "No session: call start_session.";
  if (stall >= STALL_LIMIT) return `${stall} experiments since the last keep: widen the search (a different component or optimizer class, not another small tweak).`;
  return "Keep going: one falsifiable idea per experiment.";
}
