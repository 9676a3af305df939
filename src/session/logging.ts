import fs from "node:fs";
import { refuse } from "../errors.js";
import { writeJson } from "../files.js";
import { shortHash } from "../git.js";
import { formatRow, sanitizeDescription, type Status } from "../results.js";
import type { RunRecord } from "../executor/executor.js";
import { refusalFor } from "../rules/head-state.js";
import { noiseOverrideAllowed, repeatDue, stallOfMeasured } from "../rules/noise.js";
import { bestKept, nextAfterLog, overrideAllowed, stallOf } from "../rules/policy.js";
import type { Workspace } from "../workspace.js";
import { bestOf, commitOfRow, crashesSinceBest, readHead, resetBranch, rowFor, type SessionInfo } from "./history.js";
import { noiseSettings } from "./measures.js";
import type { Ledger } from "./ledger.js";
import { refuseWith } from "./messages.js";
import { judge, nightOverNow } from "./training.js";

/** log_result: the server's proposal for the last run, the row, the run log entry, and a revocation's reset. */

export async function logRun(ws: Workspace, s: SessionInfo, ledger: Ledger, rec: RunRecord | null, head: string, args: { description: string; status?: Status }, crashPoint: (name: string) => void) {
  const view = await readHead(ws, s, ledger, rec, head);
  refuseWith(refusalFor("log", view.facts));
  const run = rec!;
  const description = sanitizeDescription(args.description);
  if (!description) refuse("bad_description", "The description is empty.", 'Describe the experiment in one line, e.g. "baseline" or "raise LR to 0.04".');
  const { o, judged } = judge(ws, s, view, run);
  const { proposal, decision } = judged;
  const status = args.status ?? proposal.status;
  const allowed = decision ? noiseOverrideAllowed(decision, status) : overrideAllowed(proposal.status, status, o, bestKept(view.rows, ws.config.metric.goal));
  if (!allowed)
    refuse(
      "status_refused",
      `Status "${status}" is not allowed for this run: the server proposes "${proposal.status}"${proposal.reason ? ` (${proposal.reason})` : ""}${o.value !== null ? `, ${ws.config.metric.name} ${o.value.toFixed(6)}` : ""}${judged.against !== null ? ` vs best kept ${judged.against.toFixed(6)}` : ""}.`,
      'Only downgrades are allowed (keep → discard), or keep for an equal value when the change is simpler. Call log_result without "status" to accept the proposal.',
    );
  // A kept commit logged as anything but keep is taken back, whether the mean or the agent decided it.
  const revoked = !!decision && status !== "keep" && (decision.revoked || (decision.wasKept && head !== s.base));
  const note = revoked ? (decision!.revoked ? decision!.note : "[revoked: downgraded by the agent]") : status === proposal.status ? (decision?.note ?? null) : null;
  const short = shortHash(head);
  const row = formatRow({ commit: short, value: o.value, memoryGb: o.memoryGb, status, description: note ? `${description} ${note}` : description });
  const key = view.key ?? (await ledger.keys.at(head, short));
  const measuredValue = o.crashed || o.timedOut ? null : o.value;
  const entry = { session: s.tag, commit: short, oid: head, key, value: measuredValue, memoryGb: o.memoryGb, durationSeconds: run.endedAt ? Math.round((run.endedAt - run.startedAt) / 100) / 10 : null, status, runId: run.id, slot: run.gpu ?? null, ...(run.jobId ? { jobId: run.jobId, node: run.node ?? null } : {}), revoked, at: new Date().toISOString() };
  // A revocation moves the branch back to the best of the others. Its intent is on disk before the
  // row, so a server killed in between has the next one finish the reset once the row is found.
  const target = revoked ? (decision!.against ? await commitOfRow(ws.repo, s, decision!.against) : s.base) : null;
  if (target) writeJson(ws.resetIntentPath, { branch: s.branch, target, afterRunId: run.id });
  try {
    ledger.append(run, row, crashPoint, entry);
  } catch (e) {
    if (target) fs.rmSync(ws.resetIntentPath, { force: true });
    throw e;
  }
  await ws.repo.keepReachable(`${s.tag}/${short}`, head).catch(() => undefined);
  const after = ledger.results();
  const afterMeasured = decision ? await ledger.measured(s, after.rows) : null;
  let resetTo: string | null = null;
  if (revoked) {
    // the revoked commit stays reachable under its tag ref
    const reset = await resetBranch(ws, s, after.rows, afterMeasured, head, crashPoint);
    resetTo = shortHash(reset.target);
  }
  const n = after.rows.length;
  const fields = row.trimEnd().split("\t");
  const stall = afterMeasured ? stallOfMeasured(afterMeasured) : stallOf(n, after.summary.lastKeep);
  const crashes = status === "crash" && !revoked ? await crashesSinceBest(ws.repo, s, head, after.rows, bestOf(ws, after.rows, afterMeasured)) : 0;
  const headKept = !decision && rowFor(after.rows, short)?.status === "keep";
  const nightOver = nightOverNow(ws, s, n);
  // Past the night's end no run starts, so no repeat is due either.
  // The same definition the state machine refuses edits by: what HEAD still needs after this row.
  const settings = noiseSettings(ws.config);
  // a keep the agent downgraded to discard was not kept clearly
  const clear = !!decision?.clear && status === "keep";
  const due = settings && afterMeasured && !revoked && !nightOver ? repeatDue(afterMeasured, { commit: short, key, isBase: head === s.base }, settings, ws.config.metric.goal) : null;
  return {
    line: `[EXP] ${s.tag} ${n} | commit:${fields[0]} | ${ws.config.metric.name}:${fields[1]} | mem:${fields[2]}GB | status:${status} | ${fields[4]}`,
    row: { commit: fields[0], metric: fields[1], memoryGb: fields[2], status, description: fields[4] },
    rowNumber: n,
    newBest: status === "keep" && !decision?.wasKept,
    stall,
    ...(decision
      ? {
          decision: {
            kind: decision.kind,
            mean: decision.mean,
            n: decision.n,
            sigma: decision.sigma,
            against: decision.against,
            revoked,
            resetTo,
            closeCall: decision.closeCall && status === "discard",
            // ±Infinity (σ 0) is not JSON: null there as while σ is unmeasured
            lead: decision.lead !== null && Number.isFinite(decision.lead) ? Math.round(decision.lead * 100) / 100 : null,
            clear,
          },
        }
      : {}),
    due: due ? ("run_training" as const) : null,
    next: nextAfterLog({
      status,
      keptAny: after.summary.keeps.length > 0,
      headKept,
      nightOver,
      crashesSinceBest: crashes,
      timedOut: o.timedOut,
      stall,
      noise: decision ? { due: due ? { ...due, baseline: head === s.base } : null, revoked, resetTo, closeCall: decision.closeCall && status === "discard", clear: clear ? { lead: decision.lead! } : null, reason: proposal.reason, kind: decision.kind, mean: decision.mean, n: decision.n, sigma: decision.sigma } : undefined,
    }),
  };
}
