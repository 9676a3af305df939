import { BASELINE_CRASHED, CRASHES_PER_IDEA } from "./policy.js";

/**
 * The HEAD state machine, pure. What HEAD is (from results.tsv, the last run and git history)
 * decides which actions the protocol allows next; every refusal says what to do instead.
 *
 *   clean         → edit, commit, run
 *   unlogged_run  → log only (every run is logged before the code changes or resets)
 *   on_discard    → reset only (no work on top of a rejected change)
 *   on_crash      → one fix (edit, commit) or reset
 *   fix_pending   → the fix is committed but has not run: run it, or reset
 *   second_crash  → the fix crashed too: reset
 *   repeat_due    → (noise rule) the baseline or a new keep needs another run first: run only
 *   baseline_crashed → nothing was ever kept and the baseline crashed: no edit (the environment
 *                   is broken, not train.py); run it again once the human fixed it
 *
 * A run ended because the client went away or the server died (`interrupted`) is not the code's
 * fault: it has no result, needs no row, and HEAD is as if it had not run.
 */

export type HeadState = "clean" | "unlogged_run" | "on_discard" | "on_crash" | "fix_pending" | "second_crash" | "baseline_crashed" | "repeat_due";

export type Action = "edit" | "commit" | "run" | "log" | "reset";

export interface HeadFacts {
  /** HEAD's short hash */
  head: string;
  /** the status results.tsv gives HEAD (a keep if it was ever kept, else its last row), null when none */
  status: string | null;
  /** HEAD's last run, when it has one: its id and whether it finished and was logged */
  run: { id: string; finished: boolean; logged: boolean; line?: number | null; interrupted?: boolean } | null;
  /** HEAD is the session base and no run of the session was kept yet */
  baselinePending?: boolean;
  /** the status results.tsv gives HEAD's parent, null when none */
  parentStatus: string | null;
  /** crash rows from the best kept commit to HEAD (asked for only when HEAD is a crash) */
  crashesSinceBest: number;
  /** results.tsv's name, for messages */
  results: string;
  /** (noise rule) HEAD needs more runs before the next experiment: the baseline's, or a new keep's confirmation */
  repeatDue?: { n: number; wanted: number; baseline: boolean } | null;
  /** (noise rule) HEAD's code already ran and measured a value: where and what */
  ranBefore?: { commit: string; line: number; value: number | null; status: string; session: string } | null;
}

export interface Refusal {
  code: string;
  message: string;
  next: string;
}

export function headState(f: HeadFacts): HeadState {
  const run = f.run?.interrupted ? null : f.run;
  if (run?.finished && !run.logged) return "unlogged_run";
  if (f.repeatDue) return "repeat_due";
  if (f.status === "discard") return "on_discard";
  if (f.status === "crash" && f.baselinePending) return "baseline_crashed";
  if (f.status === "crash") return f.crashesSinceBest >= CRASHES_PER_IDEA ? "second_crash" : "on_crash";
  if (f.status === null && run === null && f.parentStatus === "crash") return "fix_pending";
  return "clean";
}

/** What the answer says of a due repeat: which run of how many, and why. */
export function dueText(d: NonNullable<HeadFacts["repeatDue"]>, head: string): string {
  return d.baseline
    ? `The baseline ${head} has ${d.n} of ${d.wanted} runs: the noise (σ) is measured from its repeats before the first experiment.`
    : `${head} was kept on ${d.n} run${d.n === 1 ? "" : "s"}; every new keep is measured ${d.wanted} times before the next idea, and a repeat can take it back.`;
}

const ranText = (r: NonNullable<HeadFacts["ranBefore"]>) =>
  `${r.session ? `session ${r.session}, ` : ""}row ${r.line}: ${r.commit} ${r.value !== null ? r.value.toFixed(6) : "no value"} ${r.status}`;

/** Why `action` is not allowed now, or null when it is. `repeat`: the agent asked to run HEAD's code again on purpose. */
export function refusalFor(action: Action, f: HeadFacts, opts: { repeat?: boolean } = {}): Refusal | null {
  const state = headState(f);
  const runId = f.run?.id ?? "";
  switch (action) {
    case "edit":
    case "commit":
      if (state === "unlogged_run")
        return { code: "unlogged_run", message: `The run of ${f.head} is finished but not logged in ${f.results}.`, next: "Call log_result first: every run is logged before the code changes." };
      if (state === "on_discard")
        return { code: "on_discard", message: `HEAD ${f.head} is a logged discard; work on top of it would build on a rejected change.`, next: "Call reset_to_best, then apply your next idea." };
      if (state === "second_crash")
        return { code: "second_crash", message: `HEAD ${f.head} crashed again after a fix attempt.`, next: "One fix per crash: call reset_to_best and try a different idea." };
      if (state === "baseline_crashed")
        return { code: "baseline_crashed", message: `The baseline ${f.head} crashed and nothing was kept yet; the baseline is train.py as it is, so the fault is in the environment or the data.`, next: BASELINE_CRASHED };
      if (state === "repeat_due") return { code: "repeat_due", message: dueText(f.repeatDue!, f.head), next: "Run it again first: run_training, then log_result with the same description." };
      return null;
    case "run":
      if (state === "unlogged_run")
        return { code: "unlogged_run", message: `The previous run of ${f.head} (${runId}) is not logged yet.`, next: "Call log_result first, so every run has its row." };
      if (f.ranBefore && state !== "repeat_due" && !opts.repeat)
        return {
          code: "already_run",
          message: `This ${f.head === f.ranBefore.commit ? "commit" : "train.py"} already ran (${ranText(f.ranBefore)}); running it again by accident would log the same code twice.`,
          next: `To measure it again on purpose, run_training {"repeat":true}: the run counts toward its mean. Otherwise ${state === "on_discard" ? "reset_to_best" : "change it with apply_patch"}.`,
        };
      return null;
    case "log":
      if (f.run?.interrupted)
        return { code: "interrupted", message: `The run of ${f.head} (${runId}) was interrupted (the client went away or the server stopped): it has no result to log.`, next: "Run it again: run_training." };
      if (!f.run?.finished) return { code: "no_run", message: `HEAD ${f.head} has no finished run to log.`, next: "Call run_training first; the server logs only results of runs it made." };
      if (f.run.logged)
        return { code: "already_logged", message: `The last run of ${f.head} is already logged (line ${f.run.line ?? "?"}).`, next: "Go on: reset_to_best after a discard or crash, or apply_patch for the next idea." };
      return null;
    case "reset":
      if (state === "unlogged_run")
        return { code: "unlogged_run", message: `The run of ${f.head} is not logged yet; a reset now would lose it.`, next: "Call log_result first, then reset_to_best." };
      return null;
  }
}

/** The one-fix rule at commit time: a second commit on top of an unrun fix is refused. */
export function oneFixRefusal(f: HeadFacts, parent: string): Refusal | null {
  if (headState(f) !== "fix_pending") return null;
  return { code: "one_fix", message: `${f.head} is already the fix for the crash of ${parent} and has not run yet.`, next: "Run it with run_training (one fix commit per crash), or reset_to_best to drop it." };
}
