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
  if (a.nightOver) return nightOverNext(a.nightOver);
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
