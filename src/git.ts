import fs from "node:fs";
import path from "node:path";
import git from "isomorphic-git";
import { execa } from "execa";

/**
 * The git layer. Refs, objects, commits and the hard reset go through isomorphic-git in-process
 * (no process spawn per call). `git status` goes through the git CLI on purpose: only git itself
 * applies every ignore source (global excludes, info/exclude, nested .gitignore) the way the user
 * sees them, and the single-file rule must agree with what the user's `git status` shows.
 */

export interface Author {
  name: string;
  email: string;
}

export interface StatusEntry {
  /** path relative to the repository root, with forward slashes */
  path: string;
  /** porcelain v1 XY code, e.g. " M", "??", "D " */
  code: string;
  untracked: boolean;
}

const ZERO_OID = /^0+$/;
const FULL_OID = /^[0-9a-f]{40}$/;

export class Repo {
  private cache = {};
  private readonly diffCache = new Map<string, string[]>();
  private author: Author | null = null;

  private constructor(readonly dir: string, readonly gitdir: string) {}

  /** Opens the repository whose work tree root is exactly `dir`. */
  static async open(dir: string): Promise<Repo> {
    const gitdir = path.join(dir, ".git");
    let st: fs.Stats;
    try {
      st = fs.statSync(gitdir);
    } catch {
      throw new Error(`${dir} is not the root of a git repository (no .git here). Run "git init" there, commit train.py and prepare.py, then start the session.`);
    }
    if (!st.isDirectory())
      throw new Error(`${dir}/.git is a file (a git worktree or submodule); autoresearch-mcp needs a plain clone. Use "git clone" to give each agent its own copy.`);
    return new Repo(dir, gitdir);
  }

  private get base() {
    return { fs, dir: this.dir, gitdir: this.gitdir, cache: this.cache };
  }

  /** Runs the git CLI in the work tree; output is bounded by what git prints for small queries. */
  async cli(args: string[], opts: { input?: string } = {}): Promise<string> {
    const r = await execa("git", args, { cwd: this.dir, input: opts.input, stripFinalNewline: false, reject: false, env: { GIT_TERMINAL_PROMPT: "0", LC_ALL: "C" } });
    if (r.exitCode !== 0) throw new Error(`git ${args.join(" ")} failed: ${String(r.stderr).trim() || `exit ${r.exitCode}`}`);
    return String(r.stdout);
  }

  async headOid(): Promise<string | null> {
    try {
      return await git.resolveRef({ ...this.base, ref: "HEAD" });
    } catch {
      return null; // unborn branch: no commit yet
    }
  }

  /** Full branch name checked out (without refs/heads/), or null when HEAD is detached. */
  async currentBranch(): Promise<string | null> {
    const b = await git.currentBranch({ ...this.base, fullname: false, test: true });
    return b ?? null;
  }

  async branchOid(branch: string): Promise<string | null> {
    try {
      return await git.resolveRef({ ...this.base, ref: `refs/heads/${branch}` });
    } catch {
      return null;
    }
  }

  /** Creates `branch` at HEAD and checks it out (HEAD moves, the work tree stays as it is). */
  async createAndCheckoutBranch(branch: string): Promise<void> {
    await git.branch({ ...this.base, ref: branch, checkout: false });
    await git.writeRef({ ...this.base, ref: "HEAD", value: `refs/heads/${branch}`, symbolic: true, force: true });
  }

  /** Points HEAD at an existing branch without touching files (used when resuming). */
  async checkoutBranch(branch: string): Promise<void> {
    await git.checkout({ ...this.base, ref: branch });
  }

  async expand(short: string): Promise<string | null> {
    if (!/^[0-9a-f]{4,40}$/i.test(short)) return null;
    try {
      return await git.expandOid({ ...this.base, oid: short.toLowerCase() });
    } catch {
      return null;
    }
  }

  async commitExists(oid: string): Promise<boolean> {
    try {
      await git.readCommit({ ...this.base, oid });
      return true;
    } catch {
      return false;
    }
  }

  async readCommit(oid: string) {
    const c = await git.readCommit({ ...this.base, oid });
    return { oid: c.oid, parents: c.commit.parent, message: c.commit.message, timestamp: c.commit.committer.timestamp };
  }

  /** Bytes of `filepath` in commit `oid`, or null when the file is not in that commit. */
  async readFileAt(oid: string, filepath: string): Promise<Buffer | null> {
    try {
      const { blob } = await git.readBlob({ ...this.base, oid, filepath });
      return Buffer.from(blob);
    } catch {
      return null;
    }
  }

  /** True when `ancestor` is `oid` or one of its ancestors. */
  async isAncestor(ancestor: string, oid: string): Promise<boolean> {
    if (ancestor === oid) return true;
    return git.isDescendent({ ...this.base, oid, ancestor, depth: -1 });
  }

  /** Commits from `oid` back to (excluding) `stop`, newest first. */
  async log(oid: string, stop?: string, max = 10_000) {
    const out: { oid: string; message: string; parents: string[] }[] = [];
    const commits = await git.log({ ...this.base, ref: oid, depth: max });
    for (const c of commits) {
      if (c.oid === stop) break;
      out.push({ oid: c.oid, message: c.commit.message, parents: c.commit.parent });
    }
    return out;
  }

  /** Who commits: the repository's or user's git identity, else a neutral default. */
  async commitAuthor(): Promise<Author> {
    if (this.author) return this.author;
    const get = async (key: string) => {
      const local = (await git.getConfig({ ...this.base, path: key })) as string | undefined;
      if (local) return local;
      try {
        return (await this.cli(["config", "--get", key])).trim() || undefined;
      } catch {
        return undefined;
      }
    };
    this.author = { name: (await get("user.name")) ?? "autoresearch", email: (await get("user.email")) ?? "autoresearch@localhost" };
    return this.author;
  }

  /** Stages exactly `filepath` and commits it; returns the new commit id. */
  async commitFile(filepath: string, message: string, afterAdd?: () => void): Promise<string> {
    await git.add({ ...this.base, filepath });
    afterAdd?.();
    const author = await this.commitAuthor();
    return git.commit({ ...this.base, message, author });
  }

  /**
   * `git reset --hard <oid>` on the current branch, in two steps so that a server killed in
   * between leaves a state the next one can finish: move the branch ref, then reset the index
   * and work tree to it. The second step is git's own `reset --hard` (isomorphic-git has no reset,
   * and its forced checkout walks and rewrites every file: 5-7× slower). Untracked and ignored
   * files (results.tsv, run.log) are never touched.
   */
  async resetHard(branch: string, oid: string, afterRef?: () => void): Promise<void> {
    await git.writeRef({ ...this.base, ref: `refs/heads/${branch}`, value: oid, force: true });
    afterRef?.();
    if ((await this.currentBranch()) !== branch) await git.checkout({ ...this.base, ref: branch, force: true });
    else await this.cli(["reset", "--hard", "--quiet", oid]);
    this.cache = {};
  }

  /**
   * Keeps a commit reachable under refs/autoresearch-mcp/ so that `git show <hash>` of any row in
   * results.tsv keeps working after reset_to_best and `git gc` (isomorphic-git writes no reflog).
   */
  async keepReachable(name: string, oid: string): Promise<void> {
    await git.writeRef({ ...this.base, ref: `refs/autoresearch-mcp/${name}`, value: oid, force: true });
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

  /** Adds patterns to .git/info/exclude (local, never a tracked .gitignore edit). */
  ensureExcluded(patterns: string[]): void {
    const file = path.join(this.gitdir, "info", "exclude");
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
