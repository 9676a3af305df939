import { CONFIG_FILE } from "../config.js";
import { refuse } from "../errors.js";
import { isDependencyManifest, type TreeViolation } from "../guards/tree.js";
import { printable } from "../paths.js";
import type { Refusal } from "../rules/head-state.js";
import type { Workspace } from "../workspace.js";

/** Texts several parts of the session share: refusals and lists that must stay short. */

export function refuseWith(r: Refusal | null): void {
  if (r) refuse(r.code, r.message, r.next);
}

/** Files changed outside the editable file: which, and how to undo them. */
export function violationRefusal(v: TreeViolation[], editable: string): never {
  const deps = v.filter((x) => isDependencyManifest(x.path));
  const list = v.map((x) => `${printable(x.path)} (${x.what})`).slice(0, 10).join(", ");
  const msg = deps.length
    ? `Dependency files changed: ${deps.map((d) => printable(d.path)).join(", ")}. No new dependencies are allowed, and only ${editable} may change. All changes outside it: ${list}.`
    : `Only ${editable} may change, but: ${list}${v.length > 10 ? ` and ${v.length - 10} more` : ""}.`;
  const committed = v.some((x) => x.what.startsWith("committed"));
  const config = v.find((x) => x.path === CONFIG_FILE);
  refuse(
    "outside_editable",
    msg,
    config
      ? config.what === "untracked file"
        ? `${CONFIG_FILE} is the human's and the server reads it when it starts. To use it in this session: git-exclude it ("echo /${CONFIG_FILE} >> .git/info/exclude") and restart the server (the client); to make it part of the project, commit it and start a new session with a new tag.`
        : `${CONFIG_FILE} cannot change inside a session (the agent's commits may not touch it). Undo it ("git checkout -- ${CONFIG_FILE}"); to change the config, commit it outside the session branch and start a new session with a new tag.`
      : committed
      ? "Files were committed behind the server's back: call reset_to_best to return to the best kept commit (this drops those commits), then redo the change in the editable file only."
      : `Undo them: "git checkout -- <file>" for changed files, delete or git-ignore untracked ones, then retry.`,
    { paths: v.map((x) => x.path) },
  );
}

export function describePaths(p: string[]): string {
  const shown = p.slice(0, 8).map((x) => printable(x)).join(", ");
  return p.length > 8 ? `${shown} and ${p.length - 8} more` : shown;
}

/** The first `max` entries and a count of the rest: a badly hand-edited results.tsv must not flood the agent's context. */
export function capList(items: string[], max: number): string[] {
  return items.length <= max ? items : [...items.slice(0, max), `… and ${items.length - max} more`];
}

/** No session yet: how to start one, or to resume the one HEAD is on. */
export async function noSession(ws: Workspace): Promise<never> {
  const branch = await ws.repo.currentBranch();
  const prefix = ws.config.branchPrefix;
  const hint = branch?.startsWith(prefix)
    ? `HEAD is on ${branch}: call start_session {"tag":"${branch.slice(prefix.length)}","resume":true} to continue it.`
    : 'Call start_session {"tag":"<tag>"} first (e.g. the date, "nov24").';
  refuse("no_session", "No autoresearch session is active in this workspace.", hint);
}

export function runInProgress(id: string, commit: string, elapsedSeconds: number): never {
  refuse(
    "run_in_progress",
    `Run ${id} of ${commit} is in progress (${Math.round(elapsedSeconds)} s elapsed).`,
    `Wait for it with run_training {"runId":"${id}"} (or parse_metrics {"waitSeconds":50}), or stop it with run_training {"cancel":true}.`,
  );
}

export { BASELINE_NEXT } from "../rules/advice.js";
