import fs from "node:fs";
import { isUtf8 } from "node:buffer";
import path from "node:path";
import { execa } from "execa";
import { refuse, ProtocolRefusal, errorMessage } from "./errors.js";
import { openWorkspace, type Workspace } from "./workspace.js";
import { shortHash } from "./git.js";
import { resolveRegularFile, resolveWritable, printable } from "./paths.js";
import { applyEdits, contentHash, unifiedDiff, PatchError, type Edit } from "./patch.js";
import {
  dependencyPolicy,
  SourceChecker,
  installCommandHits,
  isDependencyManifest,
  newImports,
  treeViolations,
  type DependencyPolicy,
  type TreeViolation,
} from "./guards.js";
import { ActiveRun, readRecord, recoverStaleRun, pidAlive, writeRecord, type RunRecord } from "./runner.js";
import { classifyCrash, latestRecord, parseLogFile } from "./metrics.js";
import { appendDurably, emptySummary, ensureHeader, formatRow, headerFor, ResultsLog, sanitizeDescription, type ResultRow, type ResultsView, type Status } from "./results.js";

/**
 * The autoresearch protocol over one workspace: every rule of the session lives here, with no
 * MCP in sight. State is on disk (git, results.tsv, .git/autoresearch/), so a new server picks
 * up where the old one stopped; memory holds only caches and the run this server owns.
 */

export interface SessionInfo {
  tag: string;
  branch: string;
  base: string;
  createdAt: string;
}

export interface Callbacks {
  signal?: AbortSignal;
  /** called while waiting for a run; `line` is the latest progress record of the log */
  progress?: (elapsedSeconds: number, totalSeconds: number, line: string | null) => void;
  /** the client can receive progress: a wait may last the whole run */
  canProgress?: boolean;
}

const TAG_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const MAX_WAIT_WITHOUT_PROGRESS_S = 50;
const STALL_LIMIT = 10;

export class Lock {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.tail.then(fn, fn);
    this.tail = next.catch(() => undefined);
    return next;
  }
}

export class Autoresearch {
  private ws: Workspace | null = null;
  private session: SessionInfo | null = null;
  private policy: DependencyPolicy | null = null;
  private active: ActiveRun | null = null;
  private recovered: RunRecord | null = null;
  /** what was found and mended when the workspace was opened */
  private readonly notes: string[] = [];
  /** results.tsv as last parsed, kept in step with the file as it grows (null: read it all again) */
  private resultsCache: ResultsLog | null = null;
  private readonly lock = new Lock();
  private closed = false;
  private checker: SourceChecker | null = null;
  private interruptedFinished = false;
  private finishing: Promise<void> | null = null;
  /** texts of the editable file this server has shown or written, by hash, for read_train's sinceHash */
  private readonly versions = new Map<string, string>();

  constructor(readonly dir: string, private readonly opts: { progressIntervalMs?: number } = {}) {}

  // ---------------------------------------------------------------- workspace and session

  /** Opens (once) the workspace; config errors surface on every call until fixed. */
  async workspace(): Promise<Workspace> {
    if (!this.ws) {
      let ws: Workspace;
      try {
        ws = await openWorkspace(this.dir);
      } catch (e) {
        refuse("workspace", errorMessage(e), "Fix the workspace (autoresearch.json or the git repository), then call the tool again.");
      }
      // A run left behind by a server that died is killed and closed before anything else.
      this.recovered = await recoverStaleRun(ws.runRecordPath, ws.config.graceSeconds).catch(() => null);
      this.ws = ws;
      const saved = readJson<SessionInfo>(ws.sessionPath);
      if (saved && (await ws.repo.currentBranch()) === saved.branch) this.session = saved;
    }
    // Until the interrupted work is finished (it can fail, e.g. results.tsv swapped for a symlink),
    // every call tries again and says why it cannot; the intents stay on disk meanwhile.
    if (!this.interruptedFinished) {
      const ws = this.ws;
      this.finishing ??= this.finishInterrupted(ws)
        .then(() => {
          this.interruptedFinished = true;
        })
        .finally(() => {
          this.finishing = null;
        });
      await this.finishing;
    }
    return this.ws;
  }

  /**
   * A server killed mid-operation leaves intents on disk: a reset whose ref moved but whose files
   * were not checked out yet is completed; a row whose append may or may not have reached
   * results.tsv is looked up there, so it is neither lost nor written twice.
   */
  private async finishInterrupted(ws: Workspace) {
    const intent = readJson<{ branch: string; target: string }>(ws.resetIntentPath);
    if (intent) {
      if ((await ws.repo.currentBranch()) === intent.branch && (await ws.repo.commitExists(intent.target))) {
        await ws.repo.resetHard(intent.branch, intent.target);
        this.notes.push(`an interrupted reset_to_best to ${shortHash(intent.target)} was completed`);
      }
      fs.rmSync(ws.resetIntentPath, { force: true });
    }
    const rec = readRecord(ws.runRecordPath);
    if (rec?.pendingRow && !rec.loggedLine) {
      const line = findAppendedRow(ws.resultsPath, rec.pendingRow);
      if (line !== null) this.notes.push(`the row of ${shortHash(rec.commit)} had reached ${ws.config.results} when the server stopped; it is counted as logged`);
      rec.loggedLine = line;
      rec.pendingRow = null;
      writeRecord(ws.runRecordPath, rec);
    }
  }

  private async requireSession(): Promise<{ ws: Workspace; s: SessionInfo }> {
    const ws = await this.workspace();
    if (!this.session) {
      const branch = await ws.repo.currentBranch();
      const hint = branch?.startsWith(ws.config.branchPrefix)
        ? `HEAD is on ${branch}: call start_session {"tag":"${branch.slice(ws.config.branchPrefix.length)}","resume":true} to continue it.`
        : 'Call start_session {"tag":"<tag>"} first (e.g. the date, "nov24").';
      refuse("no_session", "No autoresearch session is active in this workspace.", hint);
    }
    return { ws, s: this.session };
  }

  async startSession(args: { tag?: string; resume?: boolean }) {
    return this.lock.run(async () => {
      const ws = await this.workspace();
      const { repo, config } = ws;
      this.assertNoActiveRun();
      const head = await repo.headOid();
      if (!head) refuse("no_commit", "The repository has no commit yet.", `Commit ${config.editable} and ${config.readonly.join(", ")} first.`);
      let tag = args.tag;
      if (!tag && args.resume) {
        const b = await repo.currentBranch();
        if (b?.startsWith(config.branchPrefix)) tag = b.slice(config.branchPrefix.length);
      }
      if (!tag) refuse("bad_tag", "A tag is needed.", 'Pass {"tag":"nov24"} (letters, digits, . _ -).');
      checkTag(tag);
      const branch = config.branchPrefix + tag;
      resolveRegularFile(ws.root, config.editable, "editable file");
      for (const r of config.readonly) resolveRegularFile(ws.root, r, "read-only file");
      repo.ensureExcluded([`/${config.results}`, `/${config.log}`, "__pycache__/"]);
      fs.mkdirSync(ws.stateDir, { recursive: true });
      return args.resume ? this.resume(ws, tag, branch) : this.create(ws, tag, branch, head);
    });
  }

  /**
   * Without session.json or rows, the base is where the server's own commits ("<tag>: ...")
   * start: the parent of the oldest of them on the branch, or the tip when there are none.
   */
  private async baseFromHistory(ws: Workspace, tip: string, tag: string): Promise<string> {
    const commits = await ws.repo.log(tip, undefined, 1000).catch(() => []);
    let base = tip;
    for (const c of commits) {
      if (!c.message.startsWith(`${tag}: `) || c.parents.length !== 1) break;
      base = c.parents[0];
    }
    return base;
  }

  private async create(ws: Workspace, tag: string, branch: string, head: string) {
    const { repo, config } = ws;
    // Paths the session writes are checked before anything changes (no half-made session).
    void ws.resultsPath;
    void ws.logPath;
    if (await repo.branchOid(branch))
      refuse("branch_exists", `Branch ${branch} already exists.`, `Pick a new tag, or continue it with start_session {"tag":"${tag}","resume":true}.`);
    if (!(await repo.readFileAt(head, config.editable))) refuse("untracked_editable", `${config.editable} is not committed.`, `Commit ${config.editable} first, then start the session.`);
    const dirty = await repo.status();
    if (dirty.length)
      refuse("dirty_tree", `The work tree is not clean: ${describePaths(dirty.map((d) => d.path))}.`, "Commit, remove or git-ignore these files first; the session starts from a clean commit.", { paths: dirty.map((d) => d.path) });
    const results = this.results(ws);
    if (results.rows.length)
      refuse("results_exist", `${config.results} already holds ${results.rows.length} row(s) of an earlier session.`, `Continue that session with start_session {"resume":true}, or move ${config.results} out of the workspace.`);
    const checks = await this.runChecks(ws);
    const failed = checks.find((c) => !c.ok);
    if (failed)
      refuse("check_failed", `The check ${JSON.stringify(failed.argv)} failed (${failed.exit}).\n${failed.tail.join("\n")}`, "The data or environment is not ready: report this to the human and stop; do not start experiments.", { checks });
    await repo.createAndCheckoutBranch(branch);
    const headerWritten = ensureHeader(ws.resultsPath, config.metric.name);
    fs.writeFileSync(ws.resultsMirrorPath, headerFor(config.metric.name).join("\t") + "\n");
    const info: SessionInfo = { tag, branch, base: head, createdAt: new Date().toISOString() };
    writeJson(ws.sessionPath, info);
    this.session = info;
    this.policy = null;
    this.resultsCache = null;
    return {
      tag,
      branch,
      base: shortHash(head),
      resumed: false,
      headerWritten,
      rows: 0,
      checks,
      problems: [] as string[],
      next: `Run the baseline as it is: run_training, then log_result {"description":"baseline"}.`,
    };
  }

  private async resume(ws: Workspace, tag: string, branch: string) {
    const { repo, config } = ws;
    void ws.resultsPath;
    void ws.logPath;
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
    if (!fs.existsSync(ws.resultsPath)) {
      if (fs.existsSync(ws.resultsMirrorPath)) {
        fs.copyFileSync(ws.resultsMirrorPath, ws.resultsPath);
        problems.push(`${config.results} was missing; restored it from the server's copy (.git/autoresearch/results.mirror.tsv)`);
      } else {
        ensureHeader(ws.resultsPath, config.metric.name);
        problems.push(`${config.results} was missing and no copy exists; started it with the header only`);
      }
    }
    this.resultsCache = null;
    const results = this.results(ws);
    problems.push(...results.problems.map((p) => `${config.results}: ${p}`));
    const saved = readJson<SessionInfo>(ws.sessionPath);
    let base = saved?.branch === branch ? saved.base : null;
    if (!base && results.rows[0]) base = await repo.expand(results.rows[0].commit);
    if (!base) base = await this.baseFromHistory(ws, tip, tag);
    if (!fs.existsSync(ws.resultsMirrorPath)) fs.copyFileSync(ws.resultsPath, ws.resultsMirrorPath);
    const info: SessionInfo = { tag, branch, base, createdAt: saved?.createdAt ?? new Date().toISOString() };
    writeJson(ws.sessionPath, info);
    this.session = info;
    this.policy = null;
    const dirty = await repo.status();
    if (dirty.length) problems.push(`work tree changes: ${describePaths(dirty.map((d) => `${d.path} (${d.untracked ? "untracked" : "modified"})`))}`);
    if (this.recovered) problems.push(`run ${this.recovered.id} of ${shortHash(this.recovered.commit)} was still going when its server died; its process tree was killed on restart`);
    const rec = readRecord(ws.runRecordPath);
    const head = (await repo.headOid())!;
    const unlogged = rec && rec.exit && rec.commit === head && !rec.loggedLine;
    problems.push(...this.notes);
    return {
      tag,
      branch,
      base: shortHash(base),
      resumed: true,
      headerWritten: false,
      rows: results.rows.length,
      checks: [] as CheckResult[],
      problems,
      next: unlogged
        ? `The run of ${shortHash(head)} finished but is not logged: call log_result.`
        : results.rows.length === 0
          ? `Run the baseline as it is: run_training, then log_result {"description":"baseline"}.`
          : "Continue the loop: status, then apply_patch, commit, run_training, log_result.",
    };
  }

  private async runChecks(ws: Workspace): Promise<CheckResult[]> {
    const out: CheckResult[] = [];
    for (const argv of ws.config.checks) {
      const r = await execa(argv[0], argv.slice(1), { cwd: ws.root, reject: false, all: true, timeout: 600_000, stdin: "ignore", env: ws.config.env, maxBuffer: 1 << 20 });
      const ok = r.exitCode === 0;
      const tail = String(r.all ?? "").split(/\r?\n|\r/).filter((l) => l.trim()).slice(-10).map((l) => l.slice(0, 300));
      out.push({ argv, ok, exit: r.timedOut ? "timed out" : r.exitCode === undefined ? String(r.code ?? r.message).split("\n")[0] : `exit ${r.exitCode}`, tail });
    }
    return out;
  }

  // ---------------------------------------------------------------- results

  private resultsLog(ws: Workspace): ResultsLog {
    if (this.resultsCache?.file !== ws.resultsPath || this.resultsCache.metric !== ws.config.metric.name) this.resultsCache = new ResultsLog(ws.resultsPath, ws.config.metric.name);
    return this.resultsCache;
  }

  /** results.tsv now: a stat when unchanged, the new bytes after an append, else a full read. */
  private results(ws: Workspace): ResultsView {
    try {
      return this.resultsLog(ws).read();
    } catch (e) {
      // Unreadable (a directory, no permission): report it; never guess at its rows.
      return { exists: true, header: null, rows: [], problems: [`${ws.config.results} cannot be read (${errorMessage(e)})`], partialLastLine: false, sizeBytes: 0, summary: emptySummary() };
    }
  }

  private better(a: number, b: number, goal: "min" | "max") {
    return goal === "min" ? a < b : a > b;
  }

  /** The best kept row: best value among keeps, the later one on a tie (the simpler change). */
  bestKept(rows: ResultRow[], goal: "min" | "max"): ResultRow | null {
    let best: ResultRow | null = null;
    for (const r of rows) {
      if (r.status !== "keep" || !Number.isFinite(r.value)) continue;
      if (!best || !this.better(best.value, r.value, goal)) best = r;
    }
    return best;
  }

  // ---------------------------------------------------------------- state checks

  private assertNoActiveRun() {
    if (this.active)
      refuse("run_in_progress", `Run ${this.active.record.id} of ${shortHash(this.active.record.commit)} is in progress (${Math.round(this.active.elapsedSeconds)} s elapsed).`, `Wait for it with run_training {"runId":"${this.active.record.id}"} (or parse_metrics {"waitSeconds":50}), or stop it with run_training {"cancel":true}.`);
  }

  private async assertOnBranch(ws: Workspace, s: SessionInfo): Promise<string> {
    const branch = await ws.repo.currentBranch();
    if (branch !== s.branch)
      refuse("wrong_branch", `HEAD is on ${branch ?? "a detached commit"}, not on the session branch ${s.branch}.`, `Run "git checkout ${s.branch}" (your changes elsewhere are not part of the session), then retry.`);
    return (await ws.repo.headOid())!;
  }

  private violationRefusal(v: TreeViolation[], editable: string): never {
    const deps = v.filter((x) => isDependencyManifest(x.path));
    const list = v.map((x) => `${printable(x.path)} (${x.what})`).slice(0, 10).join(", ");
    const msg = deps.length
      ? `Dependency files changed: ${deps.map((d) => printable(d.path)).join(", ")}. No new dependencies are allowed, and only ${editable} may change. All changes outside it: ${list}.`
      : `Only ${editable} may change, but: ${list}${v.length > 10 ? ` and ${v.length - 10} more` : ""}.`;
    const committed = v.some((x) => x.what.startsWith("committed"));
    refuse(
      "outside_editable",
      msg,
      committed
        ? 'Files were committed behind the server\'s back: call reset_to_best to return to the best kept commit (this drops those commits), then redo the change in the editable file only.'
        : `Undo them: "git checkout -- <file>" for changed files, delete or git-ignore untracked ones, then retry.`,
      { paths: v.map((x) => x.path) },
    );
  }

  private async headFacts(ws: Workspace, head: string) {
    const rows = this.results(ws).rows;
    const row = rowFor(rows, shortHash(head));
    const rec = readRecord(ws.runRecordPath);
    const runOfHead = rec && rec.commit === head ? rec : null;
    const unloggedRun = runOfHead && runOfHead.exit && !runOfHead.loggedLine ? runOfHead : null;
    return { rows, row, rec, runOfHead, unloggedRun };
  }

  /** The rules for changing code: not on top of a discard, not after a failed crash fix, not with an unlogged run. */
  /**
   * The rules read results.tsv: when it is missing or unreadable the server cannot tell a discard
   * from a keep, so it refuses rather than treat it as empty (a reset to the base would drop every
   * kept commit).
   */
  private requireResults(ws: Workspace): void {
    const name = ws.config.results;
    const resume = `Call start_session {"resume":true}: it restores ${name} from the server's copy.`;
    let file: ResultsView;
    try {
      file = this.resultsLog(ws).read();
    } catch (e) {
      if (e instanceof ProtocolRefusal) throw e;
      refuse("results_unreadable", `${name} cannot be read (${errorMessage(e)}); the rules need its rows.`, `Make it a readable plain file again, or move it away and ${resume.charAt(0).toLowerCase()}${resume.slice(1)}`);
    }
    if (!file.exists) refuse("results_missing", `${name} was deleted; the rules need its rows (which commits were kept or discarded).`, resume);
  }

  private async assertMayChangeCode(ws: Workspace, s: SessionInfo, head: string) {
    this.requireResults(ws);
    const { rows, row, unloggedRun } = await this.headFacts(ws, head);
    if (unloggedRun)
      refuse("unlogged_run", `The run of ${shortHash(head)} is finished but not logged in ${ws.config.results}.`, "Call log_result first: every run is logged before the code changes.");
    if (row?.status === "discard")
      refuse("on_discard", `HEAD ${shortHash(head)} is a logged discard; work on top of it would build on a rejected change.`, "Call reset_to_best, then apply your next idea.");
    if (row?.status === "crash") {
      const crashes = await this.crashesSinceBest(ws, s, head, rows);
      if (crashes >= 2)
        refuse("second_crash", `HEAD ${shortHash(head)} crashed again after a fix attempt.`, "One fix per crash: call reset_to_best and try a different idea.");
    }
  }

  /** After a crash, one fix commit: a second commit on top of an unrun fix is refused. */
  private async assertOneFixPerCrash(ws: Workspace, head: string) {
    const { rows, row, runOfHead } = await this.headFacts(ws, head);
    if (row || runOfHead) return;
    const parent = (await ws.repo.readCommit(head)).parents[0];
    if (parent && rowFor(rows, shortHash(parent))?.status === "crash")
      refuse("one_fix", `${shortHash(head)} is already the fix for the crash of ${shortHash(parent)} and has not run yet.`, "Run it with run_training (one fix commit per crash), or reset_to_best to drop it.");
  }

  private async crashesSinceBest(ws: Workspace, s: SessionInfo, head: string, rows: ResultRow[]): Promise<number> {
    const best = this.bestKept(rows, ws.config.metric.goal);
    const bestOid = best ? await this.resolveRowCommit(ws, s, best) : s.base;
    const status = new Map(rows.map((r) => [r.commit, r.status]));
    let n = 0;
    for (const c of await ws.repo.log(head, bestOid ?? undefined, 50)) if (status.get(shortHash(c.oid)) === "crash") n++;
    return n;
  }

  private async resolveRowCommit(ws: Workspace, s: SessionInfo, row: ResultRow): Promise<string | null> {
    if (row.commit === "baseline") return s.base;
    return ws.repo.expand(row.commit);
  }

  // ---------------------------------------------------------------- tools' domain operations

  /** Remembers a version of the editable file (bounded), so a later read can send only a diff. */
  private remember(text: string): string {
    const hash = contentHash(Buffer.from(text, "utf8"));
    this.versions.delete(hash);
    this.versions.set(hash, text);
    // Bounded in count and in characters (a 2 MB train.py must not pile up 64 copies).
    let chars = 0;
    for (const t of this.versions.values()) chars += t.length;
    while (this.versions.size > 1 && (this.versions.size > 64 || chars > 8_000_000)) {
      const oldest = this.versions.keys().next().value!;
      chars -= this.versions.get(oldest)!.length;
      this.versions.delete(oldest);
    }
    return hash;
  }

  async readFile(args: { file?: string; startLine?: number; endLine?: number; sinceHash?: string }): Promise<ReadResult> {
    const ws = await this.workspace();
    const name = args.file ?? ws.config.editable;
    const allowed = [ws.config.editable, ...ws.config.readonly];
    if (!allowed.includes(name))
      refuse("not_allowed", `"${printable(name)}" is not a file of the session; only ${allowed.join(", ")} can be read.`, `Pass file: "${ws.config.editable}" or one of the read-only files.`);
    if (args.sinceHash !== undefined && (name !== ws.config.editable || args.startLine !== undefined || args.endLine !== undefined))
      refuse("bad_range", `sinceHash works on ${ws.config.editable} as a whole, not with a line range or another file.`, "Drop sinceHash, or drop startLine/endLine/file.");
    const abs = resolveRegularFile(ws.root, name, name === ws.config.editable ? "editable file" : "read-only file");
    const buf = fs.readFileSync(abs);
    const text = buf.toString("utf8");
    const lines = text.split(/\r?\n/);
    if (lines.length > 1 && lines[lines.length - 1] === "") lines.pop();
    const total = lines.length;
    if (name === ws.config.editable && isUtf8(buf)) {
      const hash = this.remember(text);
      if (args.sinceHash !== undefined && args.sinceHash === hash)
        return { file: name, content: "", startLine: 1, endLine: total, totalLines: total, hash, truncated: false, readonly: false, unchanged: true };
      const old = args.sinceHash !== undefined ? this.versions.get(args.sinceHash) : undefined;
      if (old !== undefined) {
        const d = unifiedDiff(name, old, text);
        return { file: name, content: d.diff, startLine: 1, endLine: total, totalLines: total, hash, truncated: d.truncated, readonly: false, diffSince: args.sinceHash };
      }
    }
    const start = Math.max(1, args.startLine ?? 1);
    let end = Math.min(total, args.endLine ?? total);
    if (args.startLine !== undefined && start > total) refuse("bad_range", `startLine ${start} is past the end (${total} lines).`, `Use a startLine between 1 and ${total}.`);
    if (end < start) refuse("bad_range", `endLine ${end} is before startLine ${start}.`, "Give endLine ≥ startLine.");
    // Keep answers under what clients show whole (opencode cuts at 50 KB).
    const MAX = 40_000;
    let content = lines.slice(start - 1, end).join("\n");
    let truncated = false;
    if (content.length > MAX) {
      let acc = 0;
      let i = start - 1;
      for (; i < end && acc + lines[i].length + 1 <= MAX; i++) acc += lines[i].length + 1;
      end = Math.max(start, i);
      content = lines.slice(start - 1, end).join("\n");
      truncated = true;
    }
    return { file: name, content, startLine: start, endLine: end, totalLines: total, hash: contentHash(buf), truncated, readonly: name !== ws.config.editable, ...(args.sinceHash !== undefined ? { sinceUnknown: true } : {}) } as ReadResult;
  }

  async applyPatch(args: { edits?: Edit[]; content?: string; expectedHash?: string }) {
    return this.lock.run(async () => {
      const { ws, s } = await this.requireSession();
      this.assertNoActiveRun();
      const head = await this.assertOnBranch(ws, s);
      await this.assertMayChangeCode(ws, s, head);
      // git status and Python's check run side by side; the tree's violations still come first.
      const violations = settle(treeViolations(ws.repo, s.base, head, ws.config.editable));
      const treeFirst = async () => {
        const v = await violations;
        if ("error" in v) throw v.error;
        if (v.value.length) this.violationRefusal(v.value, ws.config.editable);
      };
      let edit: ReturnType<Autoresearch["prepareEdit"]>;
      try {
        edit = this.prepareEdit(ws, args);
      } catch (e) {
        await treeFirst();
        throw e;
      }
      const { abs, before, after, matches } = edit;
      const checking = settle(this.checkSource(ws, s, after));
      await treeFirst();
      const checked = await checking;
      if ("error" in checked) throw checked.error;
      const report = checked.value;
      // Written beside the file and renamed over it; never through a link planted at the tmp name.
      const tmp = `${abs}.autoresearch-tmp`;
      fs.rmSync(tmp, { force: true });
      const fd = fs.openSync(tmp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o644);
      try {
        fs.writeFileSync(fd, after);
      } finally {
        fs.closeSync(fd);
      }
      try {
        fs.chmodSync(tmp, fs.statSync(abs).mode);
      } catch {
        /* keep default mode */
      }
      fs.renameSync(tmp, abs);
      const d = unifiedDiff(ws.config.editable, before, after);
      this.remember(before);
      return { file: ws.config.editable, hash: this.remember(after), diff: d.diff, added: d.added, removed: d.removed, matches, syntaxChecked: report.checkedByPython && ws.config.syntaxCheck };
    });
  }

  /** The new text of the editable file for apply_patch's arguments; refuses what cannot apply. */
  private prepareEdit(ws: Workspace, args: { edits?: Edit[]; content?: string; expectedHash?: string }) {
    const hasEdits = (args.edits?.length ?? 0) > 0;
    if (hasEdits === (args.content !== undefined))
      refuse("bad_patch", hasEdits ? 'Give either "edits" or "content", not both.' : 'Nothing to apply: give "edits" (a list of {old, new}) or "content".', "Retry with one of them.");
    const abs = resolveRegularFile(ws.root, ws.config.editable, "editable file");
    const beforeBuf = fs.readFileSync(abs);
    const before = beforeBuf.toString("utf8");
    // Bytes that are not UTF-8 would be rewritten as U+FFFD: refuse rather than change them.
    if (hasEdits && !isUtf8(beforeBuf))
      refuse("not_utf8", `${ws.config.editable} is not valid UTF-8, so an edit would change bytes outside it.`, 'Convert the file to UTF-8, or pass the whole new text as "content".');
    const hash = contentHash(beforeBuf);
    if (args.expectedHash && args.expectedHash !== hash)
      refuse("stale", `${ws.config.editable} changed since you read it (hash ${hash}, you expected ${printable(args.expectedHash, 20)}).`, "Call read_train again and redo the edit on the current text.");
    let after: string;
    let matches: string[] = [];
    if (hasEdits) {
      try {
        ({ text: after, matches } = applyEdits(before, args.edits!));
      } catch (e) {
        if (e instanceof PatchError) refuse("patch_failed", `Patch not applied (${ws.config.editable} unchanged): ${e.message}`, e.hint);
        throw e;
      }
    } else {
      if (args.content!.includes("\0")) refuse("patch_failed", "content contains a NUL byte; nothing was written.", "Remove NUL bytes.");
      after = args.content!;
    }
    if (after === before) refuse("no_change", `The patch leaves ${ws.config.editable} as it is.`, "Give an edit that changes something.");
    return { abs, before, after, matches };
  }

  /** Syntax and dependency rules on a candidate source; refuses with the reason. */
  private async checkSource(ws: Workspace, s: SessionInfo, source: string) {
    const name = path.basename(ws.config.editable);
    if (this.checker?.python !== ws.config.python) {
      this.checker?.close();
      this.checker = new SourceChecker(ws.config.python);
    }
    const report = await this.checker.inspect(source, name);
    if (ws.config.syntaxCheck && report.syntaxError) {
      const e = report.syntaxError;
      refuse("syntax_error", `${e.message}${e.line ? ` at line ${e.line}${e.col ? `:${e.col}` : ""}` : ""}${e.text ? `: ${e.text.trim()}` : ""}. ${ws.config.editable} was left unchanged.`, "Fix the edit and apply it again.");
    }
    const policy = await this.dependencyPolicy(ws, s);
    const fresh = newImports(report.imports, policy);
    if (fresh.length)
      refuse("new_dependency", `New import${fresh.length > 1 ? "s" : ""} ${fresh.map((m) => `"${m}"`).join(", ")}: not in the standard library, the base version of ${ws.config.editable}, the project's own modules, or pyproject.toml.`, "No new dependencies: use only what is already available (stdlib or the packages the project declares).");
    const installs = installCommandHits(source);
    if (installs.length > policy.baseInstallHits)
      refuse("install_command", `The code runs a package install ("${installs[installs.length - 1]}").`, "No new dependencies: remove the install command.");
    if (report.computedImports > policy.baseComputedImports)
      refuse("new_dependency", "The code imports a module whose name is computed at run time (__import__/import_module).", "Import modules by name, from the standard library or the declared dependencies.");
    return report;
  }

  private async dependencyPolicy(ws: Workspace, s: SessionInfo) {
    this.policy ??= await dependencyPolicy(ws.repo, s.base, ws.config.editable, ws.config.python);
    return this.policy;
  }

  async commit(args: { description: string }) {
    return this.lock.run(async () => {
      const { ws, s } = await this.requireSession();
      this.assertNoActiveRun();
      const head = await this.assertOnBranch(ws, s);
      await this.assertMayChangeCode(ws, s, head);
      const status = await ws.repo.status();
      const v = await treeViolations(ws.repo, s.base, head, ws.config.editable, status);
      if (v.length) this.violationRefusal(v, ws.config.editable);
      const description = sanitizeDescription(args.description, 120);
      if (!description) refuse("bad_description", "The description is empty.", "Describe the change in one line, e.g. \"raise LR to 0.04\".");
      await this.assertOneFixPerCrash(ws, head);
      if (!status.some((e) => e.path === ws.config.editable))
        refuse("nothing_to_commit", `${ws.config.editable} has no changes since ${shortHash(head)}.`, "Use apply_patch to make the change first.");
      const abs = resolveRegularFile(ws.root, ws.config.editable, "editable file");
      await this.checkSource(ws, s, fs.readFileSync(abs, "utf8"));
      const oid = await ws.repo.commitFile(ws.config.editable, `${s.tag}: ${description}`, () => crashPoint("commit:after-add"));
      return { commit: shortHash(oid), message: `${s.tag}: ${description}`, next: "Call run_training." };
    });
  }

  async runTraining(args: { wait?: boolean; waitSeconds?: number; cancel?: boolean; runId?: string }, cb: Callbacks = {}) {
    const start = await this.lock.run(async () => {
      const { ws, s } = await this.requireSession();
      if (args.cancel) {
        if (!this.active) refuse("no_run", "No run is in progress.", "Nothing to cancel.");
        if (args.runId && args.runId !== this.active.record.id) refuse("no_run", `Run ${printable(args.runId)} is not the one in progress (${this.active.record.id}).`, "Pass the id of the run in progress.");
        return { kind: "cancel" as const, run: this.active };
      }
      if (this.active) {
        if (args.runId === this.active.record.id) return { kind: "attach" as const, run: this.active };
        this.assertNoActiveRun();
      }
      if (args.runId) {
        const rec = readRecord(ws.runRecordPath);
        if (rec?.id === args.runId && rec.exit) return { kind: "finished" as const, rec };
        refuse("no_run", `Run ${printable(args.runId)} is not known (the last run is ${rec?.id ?? "none"}).`, "Call run_training without runId to start a run.");
      }
      const other = readRecord(ws.runRecordPath);
      if (other && !other.exit && other.serverPid !== process.pid && pidAlive(other.serverPid))
        refuse("run_in_progress", `Run ${other.id} is in progress in another autoresearch-mcp server (pid ${other.serverPid}).`, "Only one run at a time per workspace: wait for it to finish.");
      const head = await this.assertOnBranch(ws, s);
      this.requireResults(ws);
      // Work tree and committed history are checked side by side (two git processes at once).
      const [status, committed] = await Promise.all([ws.repo.status(), treeViolations(ws.repo, s.base, head, ws.config.editable, [])]);
      if (status.length) {
        const v = await treeViolations(ws.repo, s.base, head, ws.config.editable, status);
        if (v.length) this.violationRefusal(v, ws.config.editable);
        refuse("dirty_tree", `${ws.config.editable} has uncommitted changes; the code that runs must be the code that is logged.`, "Call commit first (or reset_to_best to drop the changes).");
      }
      if (committed.length) this.violationRefusal(committed, ws.config.editable);
      const { unloggedRun } = await this.headFacts(ws, head);
      if (unloggedRun)
        refuse("unlogged_run", `The previous run of ${shortHash(head)} (${unloggedRun.id}) is not logged yet.`, "Call log_result first, so every run has its row.");
      const { config } = ws;
      const logFile = ws.logPath;
      const spec = {
        commit: head,
        argv: config.run,
        cwd: ws.root,
        env: { ...stringEnv(process.env), ...config.env, AUTORESEARCH_BUDGET_SECONDS: String(config.budgetSeconds) },
        logFile,
        logName: config.log,
        budgetSeconds: config.budgetSeconds,
        killAfterSeconds: config.killAfterSeconds,
        graceSeconds: config.graceSeconds,
        recordFile: ws.runRecordPath,
      };
      let run: ActiveRun;
      try {
        run = ActiveRun.start(spec);
      } catch (e) {
        refuse("bad_log", `Not started: ${errorMessage(e)}.`, `Remove ${config.log} (the server recreates it as a plain file), then call run_training again.`);
      }
      this.active = run;
      void run.done
        .finally(() => {
          if (this.active === run) this.active = null;
        })
        .catch(() => undefined); // callers awaiting run.done see the error; no unhandled rejection here
      return { kind: "started" as const, run };
    });
    const ws = await this.workspace();
    if (start.kind === "cancel") return this.describeRun(ws, await start.run.stop("cancel"));
    if (start.kind === "finished") return this.describeRun(ws, start.rec);
    const run = start.run;
    if (args.wait === false) return this.describeRun(ws, run.record);
    return this.describeRun(ws, await this.waitFor(ws, run, args.waitSeconds, cb));
  }

  /** Waits for `run` with progress; returns its record (finished, or still running when the wait ends). */
  private async waitFor(ws: Workspace, run: ActiveRun, waitSeconds: number | undefined, cb: Callbacks): Promise<RunRecord> {
    const limit = waitSeconds ?? (cb.canProgress ? Infinity : MAX_WAIT_WITHOUT_PROGRESS_S);
    const deadline = Date.now() + limit * 1000;
    const interval = this.opts.progressIntervalMs ?? 5000;
    const total = ws.config.killAfterSeconds;
    const tick = () => cb.progress?.(run.elapsedSeconds, total, latestLine(ws));
    tick();
    while (!this.closed) {
      const left = deadline - Date.now();
      if (left <= 0 || cb.signal?.aborted) break;
      const step = Math.min(interval, left);
      const finished = await Promise.race([run.done.then(() => true), sleep(step).then(() => false), abortPromise(cb.signal)]);
      if (finished) break;
      tick();
    }
    return run.record;
  }

  private describeRun(ws: Workspace, rec: RunRecord) {
    const { config } = ws;
    const base = { runId: rec.id, commit: shortHash(rec.commit), elapsedSeconds: Math.round(((rec.endedAt ?? Date.now()) - rec.startedAt) / 100) / 10, killAfterSeconds: rec.killAfterSeconds };
    if (!rec.exit) {
      return {
        ...base,
        state: "running" as const,
        latest: latestLine(ws),
        next: `Still running. Wait again with run_training {"runId":"${rec.id}"} or parse_metrics {"waitSeconds":50}; nothing else can change the code meanwhile.`,
      };
    }
    const parsed = parseLogFile(runLogPath(ws, rec), config.metric.name);
    const outcome = this.outcome(ws, rec, parsed);
    return {
      ...base,
      state: "finished" as const,
      exitCode: rec.exit.code,
      signal: rec.exit.signal,
      timedOut: rec.exit.timedOut,
      endReason: rec.exit.reason,
      ...(rec.exit.killLatencyMs !== undefined ? { killLatencyMs: rec.exit.killLatencyMs } : {}),
      metric: outcome.value,
      memoryGb: outcome.memoryGb,
      metrics: parsed.metrics,
      crashed: outcome.crashed,
      reason: outcome.reason,
      tail: outcome.crashed || rec.exit.timedOut ? parsed.tail : [],
      proposedStatus: outcome.proposed,
      logged: !!rec.loggedLine,
      next: rec.loggedLine
        ? "Already logged."
        : `Call log_result {"description":"..."}; the server proposes "${outcome.proposed}"${outcome.crashed ? " (read the tail above to decide whether one fix is worth it)" : ""}.`,
    };
  }

  /** What a finished run means: value, memory and the status the server proposes. */
  private outcome(ws: Workspace, rec: RunRecord, parsed: ReturnType<typeof parseLogFile>) {
    const { config } = ws;
    const rows = this.results(ws).rows;
    const raw = parsed.metrics[config.metric.name];
    const value = parsed.hasMetric && typeof raw === "number" ? raw : null;
    const mem = parsed.metrics[config.memoryKey];
    const memoryGb = typeof mem === "number" && Number.isFinite(mem) ? Math.round((mem / 1024) * 10) / 10 : null;
    const exit = rec.exit!;
    const stoppedEarly = exit.reason === "cancel" || exit.reason === "shutdown" || exit.reason === "server-died" || exit.reason === "spawn-failed";
    let proposed: Status;
    let reason: string | null = null;
    const crashed = value === null || stoppedEarly || (exit.code !== 0 && !exit.timedOut);
    if (exit.timedOut) {
      proposed = "discard";
      reason = `killed at the hard limit of ${rec.killAfterSeconds} s (budget ${rec.budgetSeconds} s)`;
    } else if (crashed) {
      proposed = "crash";
      reason = exit.error ? `could not start ${JSON.stringify(rec.argv[0])}: ${exit.error}` : exit.reason === "server-died" ? "the server died during the run; its tree was killed" : classifyCrash(parsed.tail, { code: exit.code, signal: exit.signal, timedOut: false, cancelled: exit.reason === "cancel" || exit.reason === "shutdown" });
    } else {
      const best = this.bestKept(rows, config.metric.goal);
      const baselineMem = rows.find((r) => r.status === "keep" && r.memoryGb > 0)?.memoryGb ?? 0;
      if (memoryGb !== null && baselineMem > 0 && memoryGb > 2 * baselineMem) {
        proposed = "crash";
        reason = `memory ${memoryGb} GB is more than twice the baseline's ${baselineMem} GB (explosive growth counts as a crash)`;
      } else if (!best || this.better(Number(value!.toFixed(6)), Number(best.value.toFixed(6)), config.metric.goal)) proposed = "keep";
      else proposed = "discard";
    }
    return { value, memoryGb, proposed, reason, crashed: crashed && !exit.timedOut };
  }

  async parseMetrics(args: { log?: string; waitSeconds?: number }, cb: Callbacks = {}) {
    const ws = await this.workspace();
    if (args.waitSeconds && this.active) await this.waitFor(ws, this.active, Math.min(args.waitSeconds, MAX_WAIT_WITHOUT_PROGRESS_S), cb);
    const name = args.log ?? ws.config.log;
    const abs = resolveRegularFile(ws.root, name, "log");
    const parsed = parseLogFile(abs, ws.config.metric.name);
    const rec = readRecord(ws.runRecordPath);
    const running = this.active && name === ws.config.log ? this.active.record : null;
    const exit = rec && rec.log === name && rec.exit ? rec.exit : null;
    const crashed = !parsed.hasMetric && !running;
    const raw = parsed.metrics[ws.config.metric.name];
    const mem = parsed.metrics[ws.config.memoryKey];
    return {
      log: name,
      sizeBytes: parsed.sizeBytes,
      metric: parsed.hasMetric && typeof raw === "number" ? raw : null,
      memoryGb: typeof mem === "number" && Number.isFinite(mem) ? Math.round((mem / 1024) * 10) / 10 : null,
      metrics: parsed.metrics,
      crashed,
      reason: crashed ? classifyCrash(parsed.tail, { code: exit?.code ?? null, signal: exit?.signal ?? null, timedOut: exit?.timedOut ?? false, cancelled: exit?.reason === "cancel" }) : null,
      tail: crashed ? parsed.tail : [],
      running: running ? { runId: running.id, elapsedSeconds: Math.round((Date.now() - running.startedAt) / 1000), latest: parsed.lastProgress } : null,
    };
  }

  async logResult(args: { description: string; status?: Status }) {
    return this.lock.run(async () => {
      const { ws, s } = await this.requireSession();
      this.assertNoActiveRun();
      const head = await this.assertOnBranch(ws, s);
      const rec = readRecord(ws.runRecordPath);
      if (!rec || rec.commit !== head || !rec.exit)
        refuse("no_run", `HEAD ${shortHash(head)} has no finished run to log.`, "Call run_training first; the server logs only results of runs it made.");
      const facts = await this.headFacts(ws, head);
      if (!facts.unloggedRun) refuse("already_logged", `The last run of ${shortHash(head)} is already logged (line ${rec.loggedLine ?? facts.row?.line}).`, "Go on: reset_to_best after a discard or crash, or apply_patch for the next idea.");
      const description = sanitizeDescription(args.description);
      if (!description) refuse("bad_description", "The description is empty.", 'Describe the experiment in one line, e.g. "baseline" or "raise LR to 0.04".');
      const parsed = parseLogFile(runLogPath(ws, rec), ws.config.metric.name);
      const o = this.outcome(ws, rec, parsed);
      const status = args.status ?? o.proposed;
      const best = this.bestKept(facts.rows, ws.config.metric.goal);
      if (status !== o.proposed) {
        const equalBest = o.value !== null && best && o.value.toFixed(6) === best.value.toFixed(6) && !rec.exit.timedOut;
        const ok = (o.proposed === "keep" && status === "discard") || (o.proposed === "discard" && status === "keep" && equalBest);
        if (!ok)
          refuse(
            "status_refused",
            `Status "${status}" is not allowed for this run: the server proposes "${o.proposed}"${o.reason ? ` (${o.reason})` : ""}${o.value !== null ? `, ${ws.config.metric.name} ${o.value.toFixed(6)}` : ""}${best ? ` vs best kept ${best.value.toFixed(6)}` : ""}.`,
            'Only downgrades are allowed (keep → discard), or keep for an equal value when the change is simpler. Call log_result without "status" to accept the proposal.',
          );
      }
      const row = formatRow({ commit: shortHash(head), value: o.value, memoryGb: o.memoryGb, status, description });
      const cannotAppend: (why: string) => never = (why) =>
        refuse("write_failed", `Could not append to ${ws.config.results} (${why}); nothing was written. The row is: ${row.trimEnd().replace(/\t/g, " | ")}`, "Fix the file or the disk (space, permissions), then call log_result again; the run stays unlogged until then.");
      let resultsPath: string;
      try {
        resultsPath = ws.resultsPath;
      } catch (e) {
        cannotAppend(errorMessage(e));
      }
      if (!fs.existsSync(resultsPath))
        refuse("results_missing", `${ws.config.results} was deleted; appending now would start a log without its earlier rows.`, `Call start_session {"resume":true}: it restores ${ws.config.results} from the server's copy. Then log_result again.`);
      rec.pendingRow = { offset: fileSize(resultsPath), text: row };
      writeRecord(ws.runRecordPath, rec);
      crashPoint("log_result:before-append");
      try {
        this.resultsLog(ws).append(row);
      } catch (e) {
        rec.pendingRow = null;
        writeRecord(ws.runRecordPath, rec);
        cannotAppend(errorMessage(e));
      }
      crashPoint("log_result:after-append");
      await ws.repo.keepReachable(`${s.tag}/${shortHash(head)}`, head).catch(() => undefined);
      const results = this.results(ws);
      const rows = results.rows;
      const line = rows[rows.length - 1]?.line ?? null;
      rec.loggedLine = line;
      rec.pendingRow = null;
      writeRecord(ws.runRecordPath, rec);
      try {
        appendDurably(ws.resultsMirrorPath, row);
      } catch {
        /* the mirror is a convenience copy */
      }
      const n = rows.length;
      const fields = row.trimEnd().split("\t");
      const exp = `[EXP] ${s.tag} ${n} | commit:${fields[0]} | ${ws.config.metric.name}:${fields[1]} | mem:${fields[2]}GB | status:${status} | ${fields[4]}`;
      const newBest = status === "keep";
      const stall = rows.length - 1 - results.summary.lastKeep;
      const next =
        status === "keep"
          ? "Kept: the branch advances. Next idea: apply_patch."
          : status === "discard"
            ? "Not kept: call reset_to_best, then try a different idea."
            : (await this.crashesSinceBest(ws, s, head, rows)) >= 2 || rec.exit.timedOut
              ? "Crashed again: call reset_to_best and move on to a different idea."
              : n === 1
                ? "The baseline crashed: the environment or data is broken. Report it to the human and stop."
                : "Crashed: if the fix is trivial (typo, missing import), apply_patch + commit one fix and run again; otherwise reset_to_best.";
      return {
        line: exp,
        row: { commit: fields[0], metric: fields[1], memoryGb: fields[2], status, description: fields[4] },
        rowNumber: n,
        newBest,
        stall,
        next: stall >= STALL_LIMIT && status !== "keep" ? `${next} ${stall} experiments since the last keep: widen the search (a structural change, not another small tweak).` : next,
      };
    });
  }

  async resetToBest() {
    return this.lock.run(async () => {
      const { ws, s } = await this.requireSession();
      this.assertNoActiveRun();
      const head = await this.assertOnBranch(ws, s);
      this.requireResults(ws);
      const facts = await this.headFacts(ws, head);
      if (facts.unloggedRun) refuse("unlogged_run", `The run of ${shortHash(head)} is not logged yet; a reset now would lose it.`, "Call log_result first, then reset_to_best.");
      const best = this.bestKept(facts.rows, ws.config.metric.goal);
      const target = best ? await this.resolveRowCommit(ws, s, best) : s.base;
      if (!target || !(await ws.repo.commitExists(target)))
        refuse("no_best", `The best kept commit ${best?.commit ?? "?"} is not in the repository.`, "Check results.tsv and git log; resume with start_session if the branch changed.");
      const dropped = target === head ? 0 : (await ws.repo.log(head, target, 1000)).length;
      writeJson(ws.resetIntentPath, { branch: s.branch, target });
      await ws.repo.resetHard(s.branch, target, () => crashPoint("reset_to_best:after-ref"));
      fs.rmSync(ws.resetIntentPath, { force: true });
      const left = await ws.repo.status();
      let hash: string | null = null;
      try {
        const buf = fs.readFileSync(resolveRegularFile(ws.root, ws.config.editable, "editable file"));
        hash = isUtf8(buf) ? this.remember(buf.toString("utf8")) : contentHash(buf);
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
        next: left.length ? `Reset done, but these files are still there: ${describePaths(left.map((e) => e.path))}; remove them before the next commit.` : "Reset done. Next idea: apply_patch.",
      };
    });
  }

  async status(args: { rows?: number }) {
    const ws = await this.workspace();
    const { config } = ws;
    const results = this.results(ws);
    const rows = results.rows;
    // Counts, keeps and the last keep come with the parse: nothing here walks all rows.
    const { keeps, lastKeep } = results.summary;
    const counts = { ...results.summary.counts };
    const best = this.bestKept(keeps, config.metric.goal);
    const n = Math.max(0, Math.min(args.rows ?? 20, 200));
    const baseline = keeps[0] ?? null;
    const rec = readRecord(ws.runRecordPath);
    const head = await ws.repo.headOid();
    const branch = await ws.repo.currentBranch();
    const trajectory = keeps.map((r) => ({ commit: r.commit, metric: r.value, description: r.description }));
    const stall = rows.length - 1 - lastKeep;
    const session = this.session;
    return {
      session: session ? { tag: session.tag, branch: session.branch, base: shortHash(session.base) } : null,
      head: head ? shortHash(head) : null,
      branch,
      metric: config.metric.name,
      best: best ? { commit: best.commit, metric: best.value, description: best.description } : null,
      baseline: baseline ? { commit: baseline.commit, metric: baseline.value } : null,
      improvement: best && baseline ? Number((baseline.value - best.value).toFixed(6)) : null,
      counts: { total: rows.length, ...counts },
      sinceLastKeep: stall,
      keepRate: rows.length ? Math.round((counts.keep / rows.length) * 1000) / 1000 : null,
      lastRows: rows.slice(rows.length - Math.min(n, rows.length)).map((r, i, shown) => ({ n: rows.length - shown.length + i + 1, commit: r.commit, metric: r.valueText, memoryGb: r.memoryText, status: r.status, description: r.description })),
      running: this.active ? { runId: this.active.record.id, commit: shortHash(this.active.record.commit), elapsedSeconds: Math.round(this.active.elapsedSeconds), latest: latestLine(ws) } : null,
      lastRun: rec ? { runId: rec.id, commit: shortHash(rec.commit), endReason: rec.exit?.reason ?? (this.active ? "running" : "unknown"), logged: !!rec.loggedLine } : null,
      recovered: this.recovered ? `run ${this.recovered.id} was still running when its server died; it was killed when this server started` : null,
      problems: capList([...(session && !results.exists ? [`${config.results} is missing: start_session {"resume":true} restores it from the server's copy`] : []), ...results.problems, ...this.notes], 20),
      trajectory,
      advice: !session
        ? "No session: call start_session."
        : stall >= STALL_LIMIT
          ? `${stall} experiments since the last keep: widen the search (a different component or optimizer class, not another small tweak).`
          : "Keep going: one falsifiable idea per experiment.",
    };
  }

  /** Stops a run of this server (shutdown); resolves when its tree is gone. */
  async close(): Promise<void> {
    this.closed = true;
    this.checker?.close();
    if (this.active) await this.active.stop("shutdown").catch(() => undefined);
  }
}

/** The first `max` entries and a count of the rest: a badly hand-edited results.tsv must not flood the agent's context. */
function capList(items: string[], max: number): string[] {
  return items.length <= max ? items : [...items.slice(0, max), `… and ${items.length - max} more`];
}

/** A promise's outcome as a value, so two checks can run side by side and be reported in order. */
function settle<T>(p: Promise<T>): Promise<{ value: T } | { error: unknown }> {
  return p.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
}

/** read_train's answer: the file or a range of it, or (with sinceHash) nothing or a diff. */
export interface ReadResult {
  file: string;
  content: string;
  startLine: number;
  endLine: number;
  totalLines: number;
  hash: string;
  truncated: boolean;
  readonly: boolean;
  unchanged?: boolean;
  diffSince?: string;
  sinceUnknown?: boolean;
}

/** The log a run wrote; the name comes from a record on disk, so it is checked like any path. */
function runLogPath(ws: Workspace, rec: RunRecord): string {
  return rec.log === ws.config.log ? ws.logPath : resolveWritable(ws.root, rec.log, "log");
}

/** The latest progress line for a progress note: never throws (it runs on a timer). */
function latestLine(ws: Workspace): string | null {
  try {
    return latestRecord(ws.logPath);
  } catch {
    return null;
  }
}

export interface CheckResult {
  argv: string[];
  ok: boolean;
  exit: string;
  tail: string[];
}

function checkTag(tag: string) {
  if (!TAG_RE.test(tag) || tag.includes("..") || tag.endsWith(".lock") || tag.endsWith("."))
    refuse("bad_tag", `Tag "${printable(tag)}" is not usable as a branch name.`, "Use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit (e.g. nov24).");
}

/**
 * The row that says what a commit is: a keep if it was ever kept (a kept commit run again for a
 * noise check, #560, stays kept), else its last row.
 */
function rowFor(rows: ResultRow[], short: string): ResultRow | null {
  let last: ResultRow | null = null;
  for (const r of rows) {
    if (r.commit !== short) continue;
    if (r.status === "keep") return r;
    last = r;
  }
  return last;
}

/** Test hook: the server kills itself at a named point, to prove nothing is lost when that happens. */
function crashPoint(name: string) {
  if (process.env.AUTORESEARCH_TEST_CRASH_AT === name) process.kill(process.pid, "SIGKILL");
}

function fileSize(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch {
    return 0;
  }
}

/** The line number of `pending.text` if it was appended at (or right after) `pending.offset`. */
function findAppendedRow(file: string, pending: { offset: number; text: string }): number | null {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch {
    return null;
  }
  const tail = buf.subarray(pending.offset).toString("utf8");
  if (!tail.replace(/^\n/, "").startsWith(pending.text)) return null;
  const before = buf.subarray(0, pending.offset).toString("utf8") + (tail.startsWith("\n") ? "\n" : "");
  return before.split("\n").length;
}

function describePaths(p: string[]): string {
  const shown = p.slice(0, 8).map((x) => printable(x)).join(", ");
  return p.length > 8 ? `${shown} and ${p.length - 8} more` : shown;
}

function stringEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out[k] = v;
  return out;
}

function readJson<T>(file: string): T | null {
  try {
    return JSON.parse(fs.readFileSync(file, "utf8")) as T;
  } catch {
    return null;
  }
}

function writeJson(file: string, v: unknown) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(v, null, 2));
  fs.renameSync(tmp, file);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function abortPromise(signal?: AbortSignal): Promise<boolean> {
  if (!signal) return new Promise(() => undefined);
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => signal.addEventListener("abort", () => resolve(false), { once: true }));
}

export { ProtocolRefusal };
