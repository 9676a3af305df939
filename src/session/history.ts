import fs from "node:fs";
import { refuse } from "../errors.js";
import { readJson, writeJson } from "../files.js";
import { shortHash, type Repo } from "../git.js";
import type { ResultRow } from "../results.js";
import type { RunRecord } from "../executor/executor.js";
import type { HeadFacts } from "../rules/head-state.js";
import { interrupted } from "../rules/outcome.js";
import { bestKept, nightOver } from "../rules/policy.js";
import { nextAfterReset } from "../rules/advice.js";
import { refusalFor } from "../rules/head-state.js";
import { resolveRegularFile } from "../paths.js";
import { describePaths, refuseWith } from "./messages.js";
import type { Versions } from "./editing.js";
import { bestMean, keptCommits, repeatDue, standingOf, type MeasuredRow } from "../rules/noise.js";
import { earlierRunsOf, noiseSettings } from "./measures.js";
import type { Workspace } from "../workspace.js";
import type { Ledger } from "./ledger.js";

/** The session branch's history read against results.tsv: what HEAD is, where the best is, the reset. */

export interface SessionInfo {
  tag: string;
  branch: string;
  base: string;
  createdAt: string;
}

/**
 * The row that says what a commit is: a keep if it was ever kept (a kept commit run again for a
 * noise check, #560, stays kept), else its last row.
 */
export function rowFor(rows: readonly ResultRow[], short: string): ResultRow | null {
  let last: ResultRow | null = null;
  for (const r of rows) {
    if (r.commit !== short) continue;
    if (r.status === "keep") return r;
    last = r;
  }
  return last;
}

/** HEAD's commit, refusing when HEAD is not on the session branch. */
export async function headOnBranch(ws: Workspace, s: SessionInfo): Promise<string> {
  const branch = await ws.repo.currentBranch();
  if (branch !== s.branch)
    refuse("wrong_branch", `HEAD is on ${branch ?? "a detached commit"}, not on the session branch ${s.branch}.`, `Run "git checkout ${s.branch}" (your changes elsewhere are not part of the session), then retry.`);
  return (await ws.repo.headOid())!;
}

/** The commit a row names; karpathy's literal "baseline" is the session base. */
export async function commitOfRow(repo: Repo, info: SessionInfo, row: { commit: string }): Promise<string | null> {
  if (row.commit === "baseline") return info.base;
  return repo.expand(row.commit);
}

/** Crash rows between the best kept commit (or the base, when nothing is kept) and `head`. */
export async function crashesSinceBest(repo: Repo, info: SessionInfo, head: string, rows: readonly ResultRow[], best: { commit: string } | null): Promise<number> {
  const bestOid = best ? await commitOfRow(repo, info, best) : info.base;
  const status = new Map(rows.map((r) => [r.commit, r.status]));
  let n = 0;
  for (const c of await repo.log(head, bestOid ?? undefined, 50)) if (status.get(shortHash(c.oid)) === "crash") n++;
  return n;
}

export interface HeadView {
  facts: HeadFacts;
  rows: readonly ResultRow[];
  /** the rows with their code keys (noise rule), null under the strict rule */
  measured: MeasuredRow[] | null;
  /** HEAD's code key (noise rule) */
  key: string | null;
  /** the last run's record, whichever commit it ran */
  rec: RunRecord | null;
}

/** The facts of the HEAD state machine, read from results.tsv, the run record and git. */
/** `known`: the rows with their keys when the caller read them already (status does). */
export async function readHead(ws: Workspace, info: SessionInfo, ledger: Ledger, rec: RunRecord | null, head: string, known: MeasuredRow[] | null = null): Promise<HeadView> {
  const rows = ledger.results().rows;
  const short = shortHash(head);
  const settings = noiseSettings(ws.config);
  // Under the noise rule a commit stands as its rows say (standingOf: kept until revoked).
  const measured = settings ? (known ?? (await ledger.measured(info, rows))) : null;
  const row = measured ? (standingOf(measured, short)?.row ?? null) : rowFor(rows, short);
  const ofHead = rec && rec.commit === head ? rec : null;
  const loggedLine = ofHead ? ledger.loggedLine(ofHead) : null;
  const run = ofHead ? { id: ofHead.id, finished: !!ofHead.exit, logged: !!loggedLine, line: loggedLine ?? row?.line ?? null, interrupted: interrupted(ofHead.exit) } : null;
  // Git is asked only where the state machine needs it: the parent for the one-fix rule, the
  // crash count for a crashed HEAD.
  let parentStatus: string | null = null;
  if (!row && (!run || run.interrupted)) {
    const parent = (await ws.repo.readCommit(head)).parents[0];
    parentStatus = parent ? (rowFor(rows, shortHash(parent))?.status ?? null) : null;
  }
  const crashes = row?.status === "crash" ? await crashesSinceBest(ws.repo, info, head, rows, bestOf(ws, rows, measured)) : 0;
  const baselinePending = head === info.base && !rows.some((r) => r.status === "keep");
  const facts: HeadFacts = { head: short, status: row?.status ?? null, run, parentStatus, crashesSinceBest: crashes, results: ws.config.results, baselinePending };
  let key: string | null = null;
  if (settings && measured) {
    key = await ledger.keys.at(head, short);
    const isBase = head === info.base;
    const due = repeatDue(measured, { commit: short, key, isBase }, settings, ws.config.metric.goal);
    // Repeats already queued or running count: HEAD is free for the next idea meanwhile.
    const coming = ledger.inFlight().filter((c) => c === head).length;
    facts.repeatDue = due && due.n + coming < due.wanted ? { ...due, baseline: isBase } : null;
    // A new session's baseline runs whatever earlier sessions ran: a night measures its own start.
    const baselineStart = isBase && !measured.some((m) => m.key === key);
    const earlier = baselineStart ? [] : earlierRunsOf(key, measured, ledger.runs, info.tag).filter((r) => r.value !== null);
    const last = earlier[earlier.length - 1];
    facts.ranBefore = last ? { ...last, session: last.session === info.tag ? "" : last.session } : null;
  }
  return { facts, rows, rec, measured, key };
}

/** The best kept commit under the configured rule: the best mean (noise), else the best single kept run. */
export function bestOf(ws: Workspace, rows: readonly ResultRow[], measured: readonly MeasuredRow[] | null): { commit: string; value: number } | null {
  if (measured) {
    const b = bestMean(keptCommits(measured), ws.config.metric.goal);
    return b ? { commit: b.commit, value: b.mean } : null;
  }
  const b = bestKept(rows, ws.config.metric.goal);
  return b ? { commit: b.commit, value: b.value } : null;
}

/**
 * `git reset --hard` to the best kept commit, with an intent on disk first: a server killed
 * after the ref moved but before the files were checked out has the next one finish it.
 */
export async function resetBranch(ws: Workspace, info: SessionInfo, rows: readonly ResultRow[], measured: readonly MeasuredRow[] | null, head: string, crashPoint: (name: string) => void) {
  const best = bestOf(ws, rows, measured);
  const target = best ? await commitOfRow(ws.repo, info, best) : info.base;
  if (!target || !(await ws.repo.commitExists(target)))
    refuse("no_best", `The best kept commit ${best?.commit ?? "?"} is not in the repository.`, "Check results.tsv and git log; resume with start_session if the branch changed.");
  const dropped = target === head ? 0 : (await ws.repo.log(head, target, 1000)).length;
  writeJson(ws.resetIntentPath, { branch: info.branch, target });
  await ws.repo.resetHard(info.branch, target, () => crashPoint("reset_to_best:after-ref"));
  fs.rmSync(ws.resetIntentPath, { force: true });
  return { best, target, dropped };
}

/** Finishes a reset a dead server left halfway; returns a note when it did. */
export async function finishInterruptedReset(ws: Workspace, logged: (runId: string) => boolean): Promise<string | null> {
  const intent = readJson<{ branch: string; target: string; afterRunId?: string }>(ws.resetIntentPath);
  if (!intent) return null;
  let note: string | null = null;
  // A revocation's reset waits for its row: without the row the run is still to be logged on HEAD.
  const rowLanded = !intent.afterRunId || logged(intent.afterRunId);
  if (rowLanded && (await ws.repo.currentBranch()) === intent.branch && (await ws.repo.commitExists(intent.target))) {
    await ws.repo.resetHard(intent.branch, intent.target);
    note = `an interrupted reset_to_best to ${shortHash(intent.target)} was completed`;
  }
  fs.rmSync(ws.resetIntentPath, { force: true });
  return note;
}

/** reset_to_best: HEAD's state allows it, the branch goes to the best, and what is left over is said. */
export async function resetToBest(ws: Workspace, s: SessionInfo, ledger: Ledger, rec: RunRecord | null, head: string, versions: Versions, crashPoint: (name: string) => void) {
  const { facts, rows, measured } = await readHead(ws, s, ledger, rec, head);
  refuseWith(refusalFor("reset", facts));
  const { best, target, dropped } = await resetBranch(ws, s, rows, measured, head, crashPoint);
  const left = await ws.repo.status();
  let hash: string | null = null;
  try {
    hash = versions.rememberFile(fs.readFileSync(resolveRegularFile(ws.root, ws.config.editable, "editable file")));
  } catch {
    /* the leftovers note says what is wrong */
  }
  return {
    commit: shortHash(target),
    hash,
    metric: best ? best.value : null,
    droppedCommits: dropped,
    untouched: [ws.config.results, ws.config.log],
    leftovers: left.map((e) => e.path),
    next: nextAfterReset({ leftovers: left.length ? describePaths(left.map((e) => e.path)) : null, nightOver: nightOver(ws.config, new Date(), new Date(s.createdAt), rows.length), kept: best !== null, rows: rows.length }),
  };
}
