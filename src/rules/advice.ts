import { dueText, headState, type HeadFacts } from "./head-state.js";
import { BASELINE_CRASHED, nightOverNext, STALL_LIMIT } from "./policy.js";

/**
 * What `status` tells the agent to do next, pure: it follows the state (a run going, an unlogged
 * run, an uncommitted edit, no baseline yet, a discard, a crash, the night over), so an agent that
 * lost its place after a restart or a compaction is told the one right call.
 */

export interface AdviceFacts {
  hasSession: boolean;
  /** HEAD is on the session branch (else: which branch to check out) */
  onBranch: { ok: true } | { ok: false; branch: string };
  running: { id: string } | null;
  /** runs in flight not logged yet (queued, running, finished) */
  inFlight?: number;
  /** of those, the ones finished (they wait for log_result) */
  inFlightFinished?: number;
  nightOver: string | null;
  /** HEAD's facts (null without a session or off the branch) */
  head: HeadFacts | null;
  /** the editable file has changes that are not committed */
  editableDirty: boolean;
  rowCount: number;
  stall: number;
}

export const BASELINE_NEXT = `Run the baseline as it is: run_training, then log_result {"description":"baseline"}.`;

export function statusNext(a: AdviceFacts): string {
  if (!a.hasSession) return 'Call start_session {"tag":"<tag>"} (or with "resume":true to continue a session).';
  if (!a.onBranch.ok) return `Run "git checkout ${a.onBranch.branch}": HEAD is not on the session branch.`;
  if (a.running) return `Wait for the run: run_training {"runId":"${a.running.id}"}.`;
  const f = a.head;
  if (f?.run?.finished && !f.run.logged && !f.run.interrupted) return `Log the run of ${f.head}: log_result {"description":"..."}.`;
  if (a.nightOver && a.inFlight) return `The night is over, but ${a.inFlight} run${a.inFlight === 1 ? " is" : "s are"} in flight: log_result {"wait":true} until none is left, then write the final summary.`;
  if (a.nightOver) return nightOverNext(a.nightOver);
  if (a.inFlightFinished && !a.editableDirty) return `${a.inFlightFinished} run${a.inFlightFinished === 1 ? "" : "s"} in flight finished: log_result {} logs the oldest.`;
  if (f?.run?.interrupted && !f.run.logged && !a.editableDirty) return `The run of ${f.head} was interrupted (the client went away or the server stopped): run it again with run_training.`;
  if (a.rowCount === 0) return a.editableDirty ? `train.py has uncommitted changes, but the baseline runs the code as it is: reset_to_best drops them; then ${BASELINE_NEXT}` : BASELINE_NEXT;
  const state = f ? headState(f) : "clean";
  if (state === "baseline_crashed") return BASELINE_CRASHED;
  if (state === "repeat_due" && f && !a.editableDirty) return `${dueText(f.repeatDue!, f.head)} Run it again: run_training, then log_result with the same description.`;
  if (state === "on_discard") return "HEAD is a logged discard: call reset_to_best, then try a different idea.";
  if (state === "second_crash") return "HEAD's fix crashed too: call reset_to_best and move on to a different idea.";
  if (state === "on_crash" && !a.editableDirty) return "HEAD crashed: if the fix is trivial, apply_patch + commit one fix and run it; otherwise reset_to_best.";
  if (a.editableDirty) return 'train.py has an uncommitted edit: commit {"description":"..."} it (or reset_to_best to drop it).';
  if (f && f.status === null && (f.run === null || f.run.interrupted)) return `HEAD ${f.head} is committed but has not run: run_training.`;
  if (a.stall >= STALL_LIMIT) return `${a.stall} experiments since the last keep: widen the search (a different component or optimizer class, not another small tweak): apply_patch.`;
  return "Next idea: apply_patch (one falsifiable idea per experiment).";
}

/** What reset_to_best tells the agent: files left over, the night over, the baseline still to succeed, or the next idea. */
export function nextAfterReset(f: { leftovers: string | null; nightOver: string | null; kept: boolean; rows: number }): string {
  if (f.leftovers) return `Reset done, but these files are still there: ${f.leftovers}; remove them before the next commit.`;
  if (f.nightOver) return nightOverNext(f.nightOver);
  if (f.kept) return "Reset done. Next idea: apply_patch.";
  return f.rows ? `Reset to the session base: nothing was kept yet. ${BASELINE_CRASHED}` : `Reset to the session base. ${BASELINE_NEXT}`;
}

/** What log_result tells the agent after logging a run in flight (the branch moved only for a keep). */
export function nextAfterFlightLog(f: { status: string; baseline: boolean; kept: boolean; stale: { reapplied: string | null } | null; revoked: boolean; confirmation: string | null; inFlight: number; nightOver: string | null }): string {
  if (f.nightOver) return f.inFlight ? `${f.nightOver} ${f.inFlight} run${f.inFlight === 1 ? " is" : "s are"} still in flight: log_result {"wait":true} until none is left.` : f.nightOver;
  const what = f.stale
    ? f.stale.reapplied
      ? `It beat the best but was built on an older one: its change was re-applied onto the best as ${f.stale.reapplied} and queued.`
      : "It beat the best but was built on an older one, and its change does not apply onto the best: not re-queued (redo it on the best if it is worth it)."
    : f.revoked
      ? "Revoked: the branch went back to the best."
      : f.kept
        ? `Kept: the branch advanced${f.confirmation ? "; its confirmation run is queued" : ""}.`
        : f.baseline && f.status === "keep"
          ? `Baseline logged${f.confirmation ? "; its repeat is queued (σ is measured from the baseline's runs)" : ""}.`
          : f.status === "keep"
            ? `Still kept${f.confirmation ? "; another run of it is queued" : ""}.`
            : `Not kept (${f.status}): the branch did not move.`;
  const queue = f.inFlight
    ? `${f.inFlight} run${f.inFlight === 1 ? "" : "s"} in flight. Queue the next idea (apply_patch, then commit {"description":"...","run":true}) or log the next: log_result {"wait":true}.`
    : 'Nothing in flight: apply_patch, then commit {"description":"...","run":true}.';
  return `${what} ${queue}`;
}
