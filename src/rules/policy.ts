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

/** The status the server proposes for a finished run, given the rows logged so far. */
export function propose(o: RunOutcome, rows: readonly ResultRow[], goal: Goal): Proposal {
  if (o.timedOut) return { status: "discard", reason: o.reason };
  if (o.crashed || o.value === null) return { status: "crash", reason: o.reason };
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
  /** crash rows from the best kept commit to HEAD, this one included */
  crashesSinceBest: number;
  timedOut: boolean;
  rowNumber: number;
  stall: number;
}

/** What the agent does after a row is logged. */
export function nextAfterLog(f: LoggedFacts): string {
  const next =
    f.status === "keep"
      ? "Kept: the branch advances. Next idea: apply_patch."
      : f.status === "discard"
        ? "Not kept: call reset_to_best, then try a different idea."
        : f.crashesSinceBest >= CRASHES_PER_IDEA || f.timedOut
          ? "Crashed again: call reset_to_best and move on to a different idea."
          : f.rowNumber === 1
            ? "The baseline crashed: the environment or data is broken. Report it to the human and stop."
            : "Crashed: if the fix is trivial (typo, missing import), apply_patch + commit one fix and run again; otherwise reset_to_best.";
  return f.stall >= STALL_LIMIT && f.status !== "keep" ? `${next} ${f.stall} experiments since the last keep: widen the search (a structural change, not another small tweak).` : next;
}

/** The dashboard's one line of advice. */
export function statusAdvice(hasSession: boolean, stall: number): string {
  if (!hasSession) return "No session: call start_session.";
  if (stall >= STALL_LIMIT) return `${stall} experiments since the last keep: widen the search (a different component or optimizer class, not another small tweak).`;
  return "Keep going: one falsifiable idea per experiment.";
}
