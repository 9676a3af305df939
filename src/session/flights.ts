import { applyPatch, structuredPatch } from "diff";
import fs from "node:fs";
import { refuse } from "../errors.js";
import { writeJson } from "../files.js";
import { shortHash } from "../git.js";
import type { ResultRow, Status } from "../results.js";
import type { Flight } from "../executor/queue.js";
import { interrupted } from "../rules/outcome.js";
import { nextAfterFlightLog } from "../rules/advice.js";
import { noiseSettings } from "./measures.js";
import type { Workspace } from "../workspace.js";
import { readHead, type SessionInfo } from "./history.js";
import type { InFlight } from "./in-flight.js";
import type { Ledger } from "./ledger.js";
import { logRun } from "./logging.js";
import { assertRunnable, judge } from "./training.js";
import type { SourceGuard } from "./editing.js";

/**
 * Experiments in flight, the protocol side (SPEC §8): queueing HEAD (the branch goes back to what
 * the candidate was built on, so the next idea can start at once), and logging a finished run.
 * The branch stays a chain of kept commits, each measured better than the kept commit it was
 * built on: a keep built on HEAD advances it; a candidate built on an older best that beats the
 * current one is not fast-forwarded over a keep it never saw. Its row says so, and its change is
 * re-applied onto the current best and queued again (when it applies there).
 */

export interface FlightContext {
  ws: Workspace;
  s: SessionInfo;
  ledger: Ledger;
  flight: InFlight;
  guard: SourceGuard;
  crashPoint: (name: string) => void;
}

/** A commit's description: its message without the session's tag; the base is the baseline. */
export async function descriptionOf(ws: Workspace, s: SessionInfo, rows: readonly ResultRow[], oid: string): Promise<string> {
  // A repeat is logged with the description of the code's first row (its notes left off).
  const first = rows.find((r) => r.commit === shortHash(oid) || (oid === s.base && r.commit === "baseline"));
  if (first) return first.description.replace(/(\s*\[[^\]]*\])+$/, "") || first.description;
  if (oid === s.base) return "baseline";
  const msg = (await ws.repo.readCommit(oid)).message.split("\n")[0].trim();
  return msg.startsWith(`${s.tag}: `) ? msg.slice(s.tag.length + 2) : msg;
}

/** Moves the session branch to `target`, with an intent on disk first (finishInterruptedReset completes it). */
async function moveBranch(ws: Workspace, s: SessionInfo, target: string, afterRunId?: string): Promise<void> {
  writeJson(ws.resetIntentPath, { branch: s.branch, target, ...(afterRunId ? { afterRunId } : {}) });
  if (afterRunId) return; // the row comes first; the caller finishes the move
  await ws.repo.resetHard(s.branch, target);
  fs.rmSync(ws.resetIntentPath, { force: true });
}

async function finishMove(ws: Workspace, s: SessionInfo, target: string): Promise<void> {
  await ws.repo.resetHard(s.branch, target);
  fs.rmSync(ws.resetIntentPath, { force: true });
}

/**
 * run_training {"wait": false}: HEAD's commit joins the queue. A new candidate leaves the branch
 * (a ref keeps it) and HEAD goes back to the commit it was built on.
 */
export async function enqueueHead(c: FlightContext, head: string, opts: { repeat?: boolean }) {
  const { ws, s, ledger, flight } = c;
  const same = flight.pending().filter((f) => f.run.commit === head).length + flight.finished().filter((f) => f.run.commit === head).length;
  if (same && !opts.repeat && !baselineRepeatsWanted(c, head, same))
    refuse("already_queued", `${shortHash(head)} is already in flight (${same} run${same === 1 ? "" : "s"} queued, running or unlogged).`, 'To measure it once more on purpose, run_training {"wait":false,"repeat":true}; otherwise apply_patch the next idea.');
  // (A run in flight is never HEAD's attached run: no record of it to check.)
  await assertRunnable(ws, s, ledger, null, head, c.guard, { repeat: opts.repeat || same > 0 });
  const rows = ledger.results().rows;
  // maxRuns counts the runs on their way: each will be a row.
  const coming = flight.pending().length + flight.finished().length;
  if (ws.config.maxRuns !== undefined && rows.length + coming >= ws.config.maxRuns)
    refuse("night_over", `No new run: maxRuns ${ws.config.maxRuns} is reached with ${rows.length} rows and ${coming} run${coming === 1 ? "" : "s"} in flight.`, 'Log the runs in flight (log_result {"wait":true} until none is left), then write the final summary.');
  const view = await readHead(ws, s, ledger, null, head);
  const isCandidate = view.facts.status === null && head !== s.base;
  const parent = isCandidate ? ((await ws.repo.readCommit(head)).parents[0] ?? null) : null;
  const f = await flight.enqueue({ commit: head, parent, description: await descriptionOf(ws, s, rows, head), repeat: !!opts.repeat || !isCandidate });
  if (parent) await moveBranch(ws, s, parent);
  return { flight: f, releasedTo: parent };
}

/** The baseline's repeats under the noise rule may be queued side by side, up to baselineRuns. */
function baselineRepeatsWanted(c: FlightContext, head: string, inFlight: number): boolean {
  const settings = noiseSettings(c.ws.config);
  if (!settings || head !== c.s.base) return false;
  const logged = c.ledger.results().rows.filter((r) => r.commit === shortHash(head) || r.commit === "baseline").length;
  return logged + inFlight < settings.baselineRuns;
}

/** Which finished run log_result logs when no runId is given: the oldest whose base is measured. */
export function nextLoggable(c: FlightContext): Flight | null {
  return c.flight.finished().find((f) => !baseUnmeasured(c, f)) ?? null;
}

/** The candidate's base is itself still in flight, unlogged: it is logged first (it is what the candidate is judged against). */
function baseUnmeasured(c: FlightContext, f: Flight): Flight | null {
  if (!f.run.parent) return null;
  return c.flight.list().find((o) => o.run.commit === f.run.parent && o.run.id !== f.run.id && !c.flight.logged(o)) ?? null;
}

/** log_result of a run in flight. */
export async function logFlight(c: FlightContext, f: Flight, head: string, args: { description?: string; status?: Status }) {
  const { ws, s, ledger, flight } = c;
  const rec = f.record;
  if (!rec?.exit) refuse("not_finished", `Run ${f.run.id} of ${shortHash(f.run.commit)} is ${f.state}.`, `Wait for it: run_training {"runId":"${f.run.id}"}, or log_result {"wait":true} for whichever finishes first.`);
  if (interrupted(rec.exit)) refuse("interrupted", `Run ${f.run.id} was interrupted; it is queued again.`, 'log_result {"wait":true} logs it when it has run.');
  const first = baseUnmeasured(c, f);
  if (first) refuse("base_unlogged", `Run ${f.run.id} was built on ${shortHash(f.run.parent!)}, whose run ${first.run.id} is not logged yet.`, `Log that first: log_result {"runId":"${first.run.id}"}${first.state === "finished" ? "" : ` (it is ${first.state})`}.`);
  const status = await ws.repo.status();
  if (status.some((e) => e.path === ws.config.editable))
    refuse("dirty_tree", `${ws.config.editable} has an uncommitted edit; logging a run in flight can move the branch.`, 'Queue the edit first (commit {"description":"...","run":true}) or drop it (reset_to_best), then log.');
  const headView = await readHead(ws, s, ledger, null, head);
  if (headView.facts.status === null && head !== s.base)
    refuse("head_unrun", `HEAD ${shortHash(head)} is committed but has not run.`, 'Queue it (run_training {"wait":false}) or drop it (reset_to_best), then log.');
  if (headView.facts.status === "discard" || headView.facts.status === "crash")
    refuse("head_rejected", `HEAD ${shortHash(head)} is a logged ${headView.facts.status}; a keep could not advance from there.`, "Call reset_to_best, then log.");

  const view = await readHead(ws, s, ledger, rec, f.run.commit);
  const { judged } = judge(ws, s, view, rec);
  const candidate = f.run.parent !== null && !f.run.repeat && (!judged.decision || judged.decision.kind === "candidate");
  const stale = candidate && f.run.parent !== head && judged.proposal.status === "keep" && (args.status ?? "keep") === "keep";
  const description = args.description ?? f.run.description;
  let reapplied: { commit: string; flightId: string | null } | null = null;
  let note: string | null = null;
  if (stale) {
    reapplied = await reapply(c, f, head);
    const where = `built on ${shortHash(f.run.parent!)}, the best is now ${shortHash(head)}`;
    note = reapplied ? `[stale base: ${where}; re-applied as ${shortHash(reapplied.commit)}, queued]` : `[stale base: ${where}; its change does not apply there, not re-queued]`;
  }
  const willKeep = candidate && !stale && (args.status ?? judged.proposal.status) === "keep";
  if (willKeep) await moveBranch(ws, s, f.run.commit, rec.id);
  let r: Awaited<ReturnType<typeof logRun>>;
  try {
    r = await logRun(ws, s, ledger, rec, f.run.commit, { description: note ? `${description} ${note}` : description, status: stale ? "discard" : args.status }, c.crashPoint);
  } catch (e) {
    if (willKeep) fs.rmSync(ws.resetIntentPath, { force: true });
    throw e;
  }
  if (willKeep) await finishMove(ws, s, f.run.commit);
  await flight.forget(f.run.id);
  if (reapplied) reapplied.flightId = (await flight.enqueue({ commit: reapplied.commit, parent: head, description, repeat: false, reappliedFrom: f.run.commit }, { overBound: true })).run.id;
  // A repeat the rule wants (a new keep's confirmation, the baseline's) is queued at once: it uses a free slot.
  let confirmation: string | null = null;
  // (Runs of the same commit already on their way count, finished ones too; each log checks again.)
  const coming = [...flight.pending(), ...flight.finished()].some((p) => p.run.commit === f.run.commit);
  if (r.due && !coming) confirmation = (await flight.enqueue({ commit: f.run.commit, parent: null, description, repeat: true }, { overBound: true })).run.id;
  const pending = flight.pending().length + flight.finished().length;
  return {
    ...r,
    runId: rec.id,
    due: null,
    ...(reapplied ? { requeued: { commit: shortHash(reapplied.commit), runId: reapplied.flightId } } : {}),
    ...(confirmation ? { confirmation } : {}),
    next: nextAfterFlightLog({ status: r.row.status, baseline: f.run.commit === s.base, kept: willKeep, stale: stale ? { reapplied: reapplied ? shortHash(reapplied.commit) : null } : null, revoked: !!r.decision?.revoked, confirmation, inFlight: pending, nightOver: r.next.startsWith("The night is over") ? r.next : null }),
  };
}

/** The candidate's change (its train.py against the commit it was built on) applied onto `best`; queued as a new commit. */
async function reapply(c: FlightContext, f: Flight, best: string): Promise<{ commit: string; flightId: string | null } | null> {
  const { ws, s } = c;
  const file = ws.config.editable;
  const [from, to, onto] = await Promise.all([f.run.parent!, f.run.commit, best].map((o) => ws.repo.readFileAt(o, file)));
  if (from === null || to === null || onto === null) return null;
  // With context first; then by the changed lines alone: hyperparameters sit on adjacent lines, and
  // a neighbour the best changed is no conflict with this change.
  const [a, b, base] = [from, to, onto].map((x) => x.toString("utf8"));
  let text: string | false = false;
  for (const context of [3, 0]) {
    text = applyPatch(base, structuredPatch(file, file, a, b, undefined, undefined, { context }));
    if (text !== false) break;
  }
  if (text === false || text === base) return null;
  try {
    await c.guard.check(ws, s, text);
  } catch {
    return null; // the merge broke the source rules: not queued
  }
  const author = await ws.repo.commitAuthor();
  const message = `${s.tag}: ${f.run.description} (re-applied onto ${shortHash(best)})`;
  const commit = await c.flight.dirs.commitOnto(`reapply-${f.run.id}`, best, file, text, message, author);
  return { commit, flightId: null };
}
