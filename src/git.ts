import fs from "node:fs";
import path from "node:path";
import { gitOut, runGit, type Author, type Backend } from "./git/backend.js";
import { CliBackend } from "./git/cli.js";
import { IsoBackend } from "./git/iso.js";

/**
 * The git layer. In a plain clone, refs, objects and commits go through isomorphic-git in-process
 * (no process spawn per call); in a linked worktree (or any workspace whose .git is a file) they go
 * through the git CLI, because isomorphic-git cannot open one. `git status` always goes through the
 * CLI on purpose: only git itself applies every ignore source (global excludes, info/exclude, nested
 * .gitignore) the way the user sees them, and the single-file rule must agree with what the user's
 * `git status` shows.
 */

export type { Author } from "./git/backend.js";

export interface StatusEntry {
  /** path relative to the repository root, with forward slashes */
  path: string;
  /** porcelain v1 XY code, e.g. " M", "??", "D " */
  code: string;
  untracked: boolean;
}

const ZERO_OID = /^0+$/;
const FULL_OID = /^[0-9a-f]{40}$/;

const realOrSelf = (p: string) => {
  try {
    return fs.realpathSync(p);
  } catch {
    return path.resolve(p);
  }
};

export class Repo {
  private readonly diffCache = new Map<string, string[]>();
  private author: Author | null = null;

  private constructor(
    readonly dir: string,
    /** this work tree's own git dir (HEAD, index): `<dir>/.git`, or `.git/worktrees/<name>` of a linked worktree */
    readonly gitdir: string,
    /** where objects, refs and config live; the same as gitdir in a plain clone */
    readonly commonDir: string,
    /** true: isomorphic-git; false (linked worktree, submodule, separate git dir): the git CLI */
    readonly plainClone: boolean,
    /** the info/exclude that git reads (in the common dir) */
    private readonly excludeFile: string,
    private readonly impl: Backend,
  ) {}

  /** Opens the repository whose work tree root is exactly `dir`. */
  static async open(dir: string): Promise<Repo> {
    const notRoot = `${dir} is not the root of a git repository (no .git here). Run "git init" there, commit train.py and prepare.py, then start the session.`;
    // Relative answers are relative to `dir` (no --path-format=absolute: that needs git 2.31).
    const r = await runGit(dir, ["rev-parse", "--show-toplevel", "--git-dir", "--git-common-dir", "--git-path", "info/exclude"]);
    if (r.exitCode !== 0) {
      // Outside any repository, or inside a .git dir / bare repository (no work tree).
      if (/not a git repository|must be run in a work tree/i.test(r.stderr)) throw new Error(notRoot);
      throw new Error(`git cannot open the repository at ${dir}: ${r.stderr.trim() || `exit ${r.exitCode}`}. Fix what git reports, then start the session.`);
    }
    const lines = r.stdout.split("\n");
    if (lines.length < 4 || lines.slice(0, 4).some((l) => !l)) throw new Error(notRoot);
    const [top, gitdir, commonDir, excludeFile] = lines.slice(0, 4).map((l) => path.resolve(dir, l));
    if (realOrSelf(top) !== realOrSelf(dir)) throw new Error(notRoot);
    const dotGit = path.join(dir, ".git");
    const plain = realOrSelf(gitdir) === realOrSelf(dotGit) && realOrSelf(commonDir) === realOrSelf(gitdir);
    if (plain) return new Repo(dir, dotGit, dotGit, true, excludeFile, new IsoBackend(dir, dotGit));
    return new Repo(dir, gitdir, commonDir, false, excludeFile, new CliBackend(dir));
  }

  /** Runs the git CLI in the work tree; output is bounded by what git prints for small queries. */
  cli(args: string[], opts: { input?: string } = {}): Promise<string> {
    return gitOut(this.dir, args, opts);
  }

  headOid(): Promise<string | null> {
    return this.impl.headOid();
  }

  /** Full branch name checked out (without refs/heads/), or null when HEAD is detached. */
  currentBranch(): Promise<string | null> {
    return this.impl.currentBranch();
  }

  branchOid(branch: string): Promise<string | null> {
    return this.impl.branchOid(branch);
  }

  /** Creates `branch` at HEAD and checks it out (HEAD moves, the work tree stays as it is). */
  createAndCheckoutBranch(branch: string): Promise<void> {
    return this.impl.createAndCheckoutBranch(branch);
  }

  /** Points HEAD at an existing branch without touching files (used when resuming). */
  checkoutBranch(branch: string): Promise<void> {
    return this.impl.checkoutBranch(branch);
  }

  async expand(short: string): Promise<string | null> {
    if (!/^[0-9a-f]{4,40}$/i.test(short)) return null;
    return this.impl.expand(short.toLowerCase());
  }

  commitExists(oid: string): Promise<boolean> {
    return this.impl.commitExists(oid);
  }

  readCommit(oid: string) {
    return this.impl.readCommit(oid);
  }

  /** Bytes of `filepath` in commit `oid`, or null when the file is not in that commit. */
  readFileAt(oid: string, filepath: string): Promise<Buffer | null> {
    return this.impl.readFileAt(oid, filepath);
  }

  /** True when `ancestor` is `oid` or one of its ancestors. */
  async isAncestor(ancestor: string, oid: string): Promise<boolean> {
    if (ancestor === oid) return true;
    return this.impl.isAncestor(ancestor, oid);
  }

  /** Commits from `oid` back to (excluding) `stop`, newest first. */
  async log(oid: string, stop?: string, max = 10_000) {
    const out = [];
    for (const c of await this.impl.log(oid, max)) {
      if (c.oid === stop) break;
      out.push(c);
    }
    return out;
  }

  /** Who commits: the repository's or user's git identity, else a neutral default. */
  async commitAuthor(): Promise<Author> {
    if (this.author) return this.author;
    const get = (key: string) => this.impl.configValue(key);
    this.author = { name: (await get("user.name")) ?? "autoresearch", email: (await get("user.email")) ?? "autoresearch@localhost" };
    return this.author;
  }

  /** Stages exactly `filepath` and commits it; returns the new commit id. */
  async commitFile(filepath: string, message: string, afterAdd?: () => void): Promise<string> {
    return this.impl.commitFile(filepath, message, await this.commitAuthor(), afterAdd);
  }

  /**
   * `git reset --hard <oid>` on the current branch, in two steps so that a server killed in
   * between leaves a state the next one can finish: move the branch ref, then reset the index
   * and work tree to it. Untracked and ignored files (results.tsv, run.log) are never touched.
   */
  resetHard(branch: string, oid: string, afterRef?: () => void): Promise<void> {
    return this.impl.resetHard(branch, oid, afterRef);
  }

  /**
   * Keeps a commit reachable under refs/autoresearch-mcp/ so that `git show <hash>` of any row in
   * results.tsv keeps working after reset_to_best and `git gc` (isomorphic-git writes no reflog).
   */
  keepReachable(name: string, oid: string): Promise<void> {
    return this.impl.writeRef(`refs/autoresearch-mcp/${name}`, oid);
  }

  /** Drops a ref keepReachable wrote (a queued run's, once it is logged and kept under its row's name). */
  async dropReachable(name: string): Promise<void> {
    await this.cli(["update-ref", "-d", `refs/autoresearch-mcp/${name}`]);
  }

  /** `git status` of the work tree, untracked files listed one by one, ignored files left out. */
  async status(): Promise<StatusEntry[]> {
    const out = await this.cli(["status", "--porcelain=v1", "-z", "--untracked-files=all", "--no-renames"]);
    const entries: StatusEntry[] = [];
    for (const rec of out.split("\0")) {
      if (rec.length < 4) continue;
      const code = rec.slice(0, 2);
      entries.push({ code, path: rec.slice(3), untracked: code === "??" });
    }
    return entries;
  }

  /** Tracked paths whose content differs between two commits. */
  async changedBetween(a: string, b: string): Promise<string[]> {
    if (a === b) return [];
    // Two commit ids name immutable trees: their diff never changes, and every tool call asks.
    const key = `${a}..${b}`;
    const hit = this.diffCache.get(key);
    if (hit) return [...hit];
    const out = await this.cli(["diff", "--name-only", "-z", "--no-renames", a, b]);
    const paths = out.split("\0").filter(Boolean);
    if (FULL_OID.test(a) && FULL_OID.test(b)) {
      if (this.diffCache.size >= 256) this.diffCache.delete(this.diffCache.keys().next().value!);
      this.diffCache.set(key, paths);
    }
    return [...paths];
  }

  /** Adds patterns to info/exclude (local, never a tracked .gitignore edit; shared by all worktrees). */
  ensureExcluded(patterns: string[]): void {
    const file = this.excludeFile;
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const text = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "";
    const have = new Set(text.split(/\r?\n/).map((l) => l.trim()));
    const missing = patterns.filter((p) => !have.has(p));
    if (missing.length === 0) return;
    const prefix = text.length && !text.endsWith("\n") ? "\n" : "";
    fs.appendFileSync(file, prefix + "# autoresearch-mcp: session files are never committed\n" + missing.join("\n") + "\n");
  }

  isZero(oid: string): boolean {
    return ZERO_OID.test(oid);
  }
}

export const shortHash = (oid: string) => oid.slice(0, 7);
