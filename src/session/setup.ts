import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { execa } from "execa";
import { refuse } from "../errors.js";
import { readJson, writeJson } from "../files.js";
import { shortHash } from "../git.js";
import { printable, resolveRegularFile } from "../paths.js";
import { killTree, RUN_MARKER_ENV } from "../process-tree.js";
import { newRunId, type RunRecord } from "../executor/executor.js";
import { interrupted } from "../rules/outcome.js";
import type { Workspace } from "../workspace.js";
import type { Ledger } from "./ledger.js";
import type { SessionInfo } from "./history.js";
import { BASELINE_NEXT, describePaths } from "./messages.js";

/** start_session: a new session on a fresh branch, or one rebuilt from the branch and results.tsv. */

const TAG_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export interface CheckResult {
  argv: string[];
  ok: boolean;
  exit: string;
  tail: string[];
}

export interface SetupResult {
  /** untracked client setup files that were git-excluded so the single-file rule can hold */
  excluded: string[];
  tag: string;
  branch: string;
  base: string;
  resumed: boolean;
  headerWritten: boolean;
  rows: number;
  checks: CheckResult[];
  problems: string[];
  next: string;
}

function checkTag(tag: string): void {
  if (!TAG_RE.test(tag) || tag.includes("..") || tag.endsWith(".lock") || tag.endsWith("."))
    refuse("bad_tag", `Tag "${printable(tag)}" is not usable as a branch name.`, "Use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit (e.g. nov24).");
}

/** The saved session of this workspace, when HEAD is still on its branch. */
export async function savedSession(ws: Workspace): Promise<SessionInfo | null> {
  const saved = readJson<SessionInfo>(ws.sessionPath);
  return saved && (await ws.repo.currentBranch()) === saved.branch ? saved : null;
}

/**
 * Files MCP clients keep in the workspace (their config, skills, instructions). Untracked, they
 * are the user's setup, not the agent's change: excluded from git (.git/info/exclude, never a
 * tracked .gitignore) so the single-file rule refuses only what matters.
 */
export const CLIENT_FILES = ["opencode.json", ".mcp.json", ".opencode", ".claude", ".codex", ".agents", "AGENTS.md", "CLAUDE.md"];

async function excludeClientFiles(ws: Workspace): Promise<string[]> {
  const untracked = (await ws.repo.status()).filter((e) => e.untracked).map((e) => e.path);
  const found = CLIENT_FILES.filter((name) => untracked.some((p) => p === name || p.startsWith(`${name}/`)));
  if (found.length) ws.repo.ensureExcluded(found.map((name) => `/${name}`));
  return found;
}

/** What both paths check first: the tag, the files of the session, the server's state dir. */
export async function prepare(ws: Workspace, args: { tag?: string; resume?: boolean }): Promise<{ tag: string; branch: string; head: string; excluded: string[] }> {
  const { repo, config } = ws;
  const head = await repo.headOid();
  if (!head) refuse("no_commit", "The repository has no commit yet.", `Commit ${config.editable} and ${config.readonly.join(", ")} first.`);
  let tag = args.tag;
  if (!tag && args.resume) {
    const b = await repo.currentBranch();
    if (b?.startsWith(config.branchPrefix)) tag = b.slice(config.branchPrefix.length);
  }
  if (!tag) refuse("bad_tag", "A tag is needed.", 'Pass {"tag":"nov24"} (letters, digits, . _ -).');
  checkTag(tag);
  resolveRegularFile(ws.root, config.editable, "editable file");
  for (const r of config.readonly) resolveRegularFile(ws.root, r, "read-only file");
  // Paths the session writes are checked before anything changes (no half-made session).
  void ws.resultsPath;
  void ws.logPath;
  const ready = readiness(ws);
  if (ready) refuse(ready.code, ready.message, ready.next);
  repo.ensureExcluded([`/${config.results}`, `/${config.log}`, "__pycache__/"]);
  const excluded = await excludeClientFiles(ws);
  fs.mkdirSync(ws.stateDir, { recursive: true });
  return { tag, branch: config.branchPrefix + tag, head, excluded };
}

/**
 * What would make every run crash before train.py even starts: the launcher missing from PATH
 * (no uv), or, in karpathy's layout, the data prepare.py downloads not prepared. Found before
 * any run, with the fix, instead of a baseline "crash" over an empty log.
 */
export function readiness(ws: Workspace): { code: string; message: string; next: string } | null {
  const { config } = ws;
  const env = { ...process.env, ...config.env };
  const program = config.run[0];
  if (!findProgram(program, ws.root, env.PATH ?? "")) {
    const fix = program === "uv" ? 'Install uv (see docs.astral.sh/uv: "curl -LsSf https://astral.sh/uv/install.sh | sh" or "pip install uv")' : `Install ${JSON.stringify(program)}`;
    return {
      code: "missing_launcher",
      message: `The training command ${JSON.stringify(config.run)} cannot start: ${JSON.stringify(program)} is not ${program.includes("/") ? "an executable file" : "on PATH"}.`,
      next: `${fix}, or set "run" in autoresearch.json to a command that exists (e.g. ["python3","train.py"]); then call start_session again. Report this to the human if you cannot.`,
    };
  }
  const cache = karpathyCache(ws, env.HOME ?? os.homedir());
  if (cache && !(hasEntries(path.join(cache, "data")) && fs.existsSync(path.join(cache, "tokenizer")))) {
    return {
      code: "data_not_prepared",
      message: `prepare.py reads its data and tokenizer from ${cache}, which ${fs.existsSync(cache) ? "is incomplete (no data shards or no tokenizer)" : "does not exist"}: the data is not prepared.`,
      next: 'Report to the human: run "uv run prepare.py" once in the workspace (it downloads the data and trains the tokenizer), then call start_session again.',
    };
  }
  return null;
}

/** An argv[0] the way execve would find it: a path (relative to the workspace), or a name on PATH. */
function findProgram(program: string, cwd: string, PATH: string): boolean {
  const executable = (p: string) => {
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return fs.statSync(p).isFile();
    } catch {
      return false;
    }
  };
  if (program.includes("/")) return executable(path.resolve(cwd, program));
  return PATH.split(path.delimiter).some((dir) => dir && executable(path.join(dir, program)));
}

/** karpathy's prepare.py keeps DATA_DIR and TOKENIZER_DIR under ~/.cache/autoresearch. */
function karpathyCache(ws: Workspace, home: string): string | null {
  for (const name of ws.config.readonly) {
    let text: string;
    try {
      text = fs.readFileSync(resolveRegularFile(ws.root, name, "read-only file"), "utf8");
    } catch {
      continue;
    }
    if (/CACHE_DIR\s*=\s*os\.path\.join\(os\.path\.expanduser\("~"\),\s*"\.cache",\s*"autoresearch"\)/.test(text) && /DATA_DIR\s*=\s*os\.path\.join\(CACHE_DIR,\s*"data"\)/.test(text) && /TOKENIZER_DIR\s*=\s*os\.path\.join\(CACHE_DIR,\s*"tokenizer"\)/.test(text))
      return path.join(home, ".cache", "autoresearch");
  }
  return null;
}

function hasEntries(dir: string): boolean {
  try {
    return fs.readdirSync(dir).length > 0;
  } catch {
    return false;
  }
}

export async function createSession(ws: Workspace, ledger: Ledger, tag: string, branch: string, head: string, excluded: string[]): Promise<{ info: SessionInfo; result: SetupResult }> {
  const { repo, config } = ws;
  if (await repo.branchOid(branch))
    refuse("branch_exists", `Branch ${branch} already exists.`, `Pick a new tag, or continue it with start_session {"tag":"${tag}","resume":true}.`);
  if (!(await repo.readFileAt(head, config.editable))) refuse("untracked_editable", `${config.editable} is not committed.`, `Commit ${config.editable} first, then start the session.`);
  const dirty = await repo.status();
  if (dirty.length)
    refuse("dirty_tree", `The work tree is not clean: ${describePaths(dirty.map((d) => d.path))}.`, "Commit, remove or git-ignore these files first; the session starts from a clean commit.", { paths: dirty.map((d) => d.path) });
  const results = ledger.results();
  if (results.rows.length)
    refuse("results_exist", `${config.results} already holds ${results.rows.length} row(s) of an earlier session.`, `Continue that session with start_session {"resume":true}, or move ${config.results} out of the workspace.`);
  const checks = await runChecks(ws);
  const failed = checks.find((c) => !c.ok);
  if (failed)
    refuse("check_failed", `The check ${JSON.stringify(failed.argv)} failed (${failed.exit}).\n${failed.tail.join("\n")}`, "The data or environment is not ready: report this to the human and stop; do not start experiments.", { checks });
  await repo.createAndCheckoutBranch(branch);
  const headerWritten = ledger.begin();
  const info: SessionInfo = { tag, branch, base: head, createdAt: new Date().toISOString() };
  writeJson(ws.sessionPath, info);
  return { info, result: { excluded, tag, branch, base: shortHash(head), resumed: false, headerWritten, rows: 0, checks, problems: [], next: BASELINE_NEXT } };
}

export interface ResumeContext {
  ledger: Ledger;
  /** the run a dead server left behind, closed when this server opened the workspace */
  recovered: RunRecord | null;
  /** the last run's record and whether it is logged */
  lastRun: () => { rec: RunRecord | null; logged: boolean };
  /** what was found and mended when the workspace was opened */
  notes: readonly string[];
}

export async function resumeSession(ws: Workspace, ctx: ResumeContext, tag: string, branch: string, excluded: string[]): Promise<{ info: SessionInfo; result: SetupResult }> {
  const { repo, config } = ws;
  const tip = await repo.branchOid(branch);
  if (!tip) refuse("no_branch", `Branch ${branch} does not exist, so there is nothing to resume.`, `Start it with start_session {"tag":"${tag}"}.`);
  const current = await repo.currentBranch();
  const problems: string[] = [];
  if (current !== branch) {
    const dirty = await repo.status();
    if (dirty.length) refuse("dirty_tree", `HEAD is on ${current ?? "a detached commit"} and the work tree has changes (${describePaths(dirty.map((d) => d.path))}).`, `Commit or remove them, or run "git checkout ${branch}" yourself.`);
    await repo.checkoutBranch(branch);
    problems.push(`HEAD was on ${current ?? "a detached commit"}; checked out ${branch}`);
  }
  const restored = ctx.ledger.restore();
  if (restored) problems.push(restored);
  const results = ctx.ledger.results();
  problems.push(...results.problems.map((p) => `${config.results}: ${p}`));
  const saved = readJson<SessionInfo>(ws.sessionPath);
  let base = saved?.branch === branch ? saved.base : null;
  if (!base && results.rows[0]) base = await repo.expand(results.rows[0].commit);
  if (!base) base = await baseFromHistory(ws, tip, tag);
  const info: SessionInfo = { tag, branch, base, createdAt: saved?.createdAt ?? new Date().toISOString() };
  writeJson(ws.sessionPath, info);
  const dirty = await repo.status();
  if (dirty.length) problems.push(`work tree changes: ${describePaths(dirty.map((d) => `${d.path} (${d.untracked ? "untracked" : "modified"})`))}`);
  if (ctx.recovered) problems.push(`run ${ctx.recovered.id} of ${shortHash(ctx.recovered.commit)} was still going when its server died; its process tree was killed on restart`);
  const { rec, logged } = ctx.lastRun();
  const head = (await repo.headOid())!;
  const ofHead = rec && rec.exit && rec.commit === head && !logged ? rec : null;
  const cut = ofHead && interrupted(ofHead.exit);
  problems.push(...ctx.notes);
  return {
    info,
    result: {
      excluded,
      tag,
      branch,
      base: shortHash(base),
      resumed: true,
      headerWritten: false,
      rows: results.rows.length,
      checks: [],
      problems,
      next: cut
        ? `The run of ${shortHash(head)} was interrupted (the server stopped or died); it has no result: run it again with run_training.`
        : ofHead
          ? `The run of ${shortHash(head)} finished but is not logged: call log_result.`
          : results.rows.length === 0
          ? BASELINE_NEXT
          : "Continue the loop: status, then apply_patch, commit, run_training, log_result.",
    },
  };
}

/**
 * Without session.json or rows, the base is where the server's own commits ("<tag>: ...")
 * start: the parent of the oldest of them on the branch, or the tip when there are none.
 */
async function baseFromHistory(ws: Workspace, tip: string, tag: string): Promise<string> {
  const commits = await ws.repo.log(tip, undefined, 1000).catch(() => []);
  let base = tip;
  for (const c of commits) {
    if (!c.message.startsWith(`${tag}: `) || c.parents.length !== 1) break;
    base = c.parents[0];
  }
  return base;
}

/** Checks of the data and environment (autoresearch.json `checks`), one after another. */
async function runChecks(ws: Workspace): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  for (const argv of ws.config.checks) out.push(await runCheck(ws, argv));
  return out;
}

/**
 * A check runs in its own process group, marked like a run, so that at its time limit the whole
 * tree goes (a check that starts a server or a download must not leave it behind).
 */
async function runCheck(ws: Workspace, argv: string[]): Promise<CheckResult> {
  const id = `check-${newRunId().slice(4)}`;
  const sub = execa(argv[0], argv.slice(1), {
    cwd: ws.root,
    reject: false,
    all: true,
    stdin: "ignore",
    env: { ...ws.config.env, [RUN_MARKER_ENV]: id },
    detached: true,
    cleanup: false,
    maxBuffer: 1 << 20,
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    void killTree(sub.pid ?? null, id, ws.config.graceSeconds * 1000);
  }, ws.config.checkTimeoutSeconds * 1000);
  const r = await sub;
  clearTimeout(timer);
  // Whatever the check left running in its group goes with it.
  await killTree(sub.pid ?? null, id, Math.min(1000, ws.config.graceSeconds * 1000));
  const tail = String(r.all ?? "")
    .split(/\r?\n|\r/)
    .filter((l) => l.trim())
    .slice(-10)
    .map((l) => l.slice(0, 300));
  const exit = timedOut ? `timed out after ${ws.config.checkTimeoutSeconds} s` : r.exitCode === undefined ? String(r.code ?? r.message).split("\n")[0] : `exit ${r.exitCode}`;
  return { argv, ok: !timedOut && r.exitCode === 0, exit, tail };
}
