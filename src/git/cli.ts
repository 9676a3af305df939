import { gitOut, normalizeMessage, runGit, runGitBytes, type Author, type Backend, type CommitInfo, type LogEntry } from "./backend.js";

// isomorphic-git runs no hooks and never signs; a hook could also rewrite the commit message.
const PLAIN = ["-c", "core.hooksPath=/dev/null", "-c", "commit.gpgSign=false"];

/** A revision or ref name as a positional argument: never one git could read as an option. */
function rev(s: string): string {
  if (s.startsWith("-")) throw new Error(`not a revision: ${JSON.stringify(s)}`);
  return s;
}

/** Raw `git cat-file commit` text as isomorphic-git parses it. */
function parseCommit(oid: string, raw: string): CommitInfo {
  const end = raw.indexOf("\n\n");
  const headers = (end < 0 ? raw : raw.slice(0, end)).split("\n");
  const parents = headers.filter((h) => h.startsWith("parent ")).map((h) => h.slice("parent ".length));
  const committer = headers.find((h) => h.startsWith("committer ")) ?? "";
  const timestamp = Number(/ (\d+) [^ ]*$/.exec(committer)?.[1] ?? NaN);
  return { oid, parents, message: normalizeMessage(end < 0 ? "" : raw.slice(end + 2)), timestamp };
}

/**
 * Any other layout, above all a linked worktree (HEAD and index per worktree, objects and refs in
 * the common dir): every call goes through the git CLI, which resolves that layout itself.
 */
export class CliBackend implements Backend {
  constructor(private readonly dir: string) {}

  private out(args: string[], opts?: { input?: string; env?: Record<string, string> }) {
    return gitOut(this.dir, args, opts);
  }

  /** stdout trimmed, or null when git exits non-zero (the ref or object is not there) */
  private async query(args: string[]): Promise<string | null> {
    const r = await runGit(this.dir, args);
    return r.exitCode === 0 ? r.stdout.trim() : null;
  }

  headOid(): Promise<string | null> {
    return this.query(["rev-parse", "--verify", "--quiet", "HEAD"]);
  }

  async currentBranch(): Promise<string | null> {
    // "HEAD" when detached; exit 1 on an unborn branch (isomorphic-git's test: true gives null too).
    const ref = await this.query(["rev-parse", "--verify", "--quiet", "--symbolic-full-name", "HEAD"]);
    return ref?.startsWith("refs/heads/") ? ref.slice("refs/heads/".length) : null;
  }

  branchOid(branch: string): Promise<string | null> {
    return this.query(["show-ref", "--verify", "--hash", `refs/heads/${branch}`]);
  }

  async createAndCheckoutBranch(branch: string): Promise<void> {
    // Not `checkout -b`: that would run post-checkout hooks; these two touch neither index nor files.
    await this.out(["branch", rev(branch)]);
    await this.out(["symbolic-ref", "HEAD", `refs/heads/${branch}`]);
  }

  async checkoutBranch(branch: string): Promise<void> {
    // git refuses a branch checked out in another worktree, so two sessions never share one.
    await this.out([...PLAIN, "switch", "--quiet", "--no-guess", rev(branch)]);
  }

  async expand(short: string): Promise<string | null> {
    const all = (await this.query(["rev-parse", `--disambiguate=${short}`]))?.split("\n").filter(Boolean) ?? [];
    return all.length === 1 ? all[0] : null; // none, or ambiguous
  }

  async commitExists(oid: string): Promise<boolean> {
    return (await runGit(this.dir, ["cat-file", "-e", `${rev(oid)}^{commit}`])).exitCode === 0;
  }

  async readCommit(oid: string): Promise<CommitInfo> {
    return parseCommit(oid, await this.out(["cat-file", "commit", rev(oid)]));
  }

  async readFileAt(oid: string, filepath: string): Promise<Buffer | null> {
    const r = await runGitBytes(this.dir, ["cat-file", "blob", `${rev(oid)}:${filepath}`]);
    return r.exitCode === 0 ? r.stdout : null;
  }

  async isAncestor(ancestor: string, oid: string): Promise<boolean> {
    const r = await runGit(this.dir, ["merge-base", "--is-ancestor", rev(ancestor), rev(oid)]);
    if (r.exitCode === 0 || r.exitCode === 1) return r.exitCode === 0;
    throw new Error(`git merge-base --is-ancestor failed: ${r.stderr.trim() || `exit ${r.exitCode}`}`);
  }

  async log(oid: string, max: number): Promise<LogEntry[]> {
    const oids = (await this.out(["rev-list", `--max-count=${max}`, rev(oid)])).split("\n").filter(Boolean);
    if (oids.length === 0) return [];
    // One `cat-file --batch` for all of them: "<oid> <type> <size>\n<raw>\n" each, sizes in bytes.
    const r = await runGitBytes(this.dir, ["cat-file", "--batch"], { input: oids.join("\n") + "\n" });
    if (r.exitCode !== 0) throw new Error(`git cat-file --batch failed: ${r.stderr.trim() || `exit ${r.exitCode}`}`);
    const out: LogEntry[] = [];
    let at = 0;
    while (at < r.stdout.length) {
      const nl = r.stdout.indexOf(10, at);
      const [id, type, size] = r.stdout.subarray(at, nl).toString().split(" ");
      if (type !== "commit") throw new Error(`git cat-file --batch: ${id} is ${type ?? "missing"}`);
      const { message, parents } = parseCommit(id, r.stdout.subarray(nl + 1, nl + 1 + Number(size)).toString("utf8"));
      out.push({ oid: id, message, parents });
      at = nl + 1 + Number(size) + 1;
    }
    return out;
  }

  async configValue(key: string): Promise<string | undefined> {
    return (await this.query(["config", "--get", key])) || undefined;
  }

  async commitFile(filepath: string, message: string, author: Author, afterAdd?: () => void): Promise<string> {
    await this.out(["--literal-pathspecs", "add", "--", filepath]);
    afterAdd?.();
    // --only with the path: exactly this file is committed, whatever else the index holds.
    const env = { GIT_AUTHOR_NAME: author.name, GIT_AUTHOR_EMAIL: author.email, GIT_COMMITTER_NAME: author.name, GIT_COMMITTER_EMAIL: author.email };
    await this.out([...PLAIN, "--literal-pathspecs", "commit", "--quiet", "--no-verify", "--cleanup=verbatim", "--file=-", "--only", "--", filepath], { input: normalizeMessage(message), env });
    return (await this.out(["rev-parse", "HEAD"])).trim();
  }

  async resetHard(branch: string, oid: string, afterRef?: () => void): Promise<void> {
    await this.out(["update-ref", `refs/heads/${branch}`, rev(oid)]);
    afterRef?.();
    if ((await this.currentBranch()) !== branch) await this.out([...PLAIN, "switch", "--quiet", "--no-guess", "--discard-changes", rev(branch)]);
    else await this.out(["reset", "--hard", "--quiet", rev(oid)]);
  }

  async writeRef(ref: string, oid: string): Promise<void> {
    await this.out(["update-ref", rev(ref), rev(oid)]);
  }
}
