import fs from "node:fs";
import path from "node:path";
import { gitOut, runGit } from "../git/backend.js";

/**
 * A run's own directory: a detached git worktree of exactly its commit, under the server's state
 * dir (inside .git, so the agent's work tree never shows it). The agent's next edits never touch a
 * running or queued run. What the workspace has but git does not track (a .venv, prepared data,
 * any ignored top-level entry) is linked in, so relative paths in train.py work as before.
 */
export class RunDirs {
  constructor(
    private readonly root: string,
    private readonly dir: string,
    /** top-level names never linked into a run's directory (results.tsv, run.log, autoresearch.json) */
    private readonly skip: readonly string[],
  ) {}

  pathOf(id: string): string {
    return path.join(this.dir, id);
  }

  /** Checks out `commit` into the run's directory (a leftover of the same id is replaced). */
  async create(id: string, commit: string): Promise<string> {
    const wt = this.pathOf(id);
    await this.remove(id);
    fs.mkdirSync(this.dir, { recursive: true });
    // No hooks: a post-checkout hook is the user's, not something a run start may trigger.
    await gitOut(this.root, ["-c", "core.hooksPath=/dev/null", "worktree", "add", "--detach", "--quiet", wt, commit]);
    await this.linkIgnored(wt);
    return wt;
  }

  /** Commits `text` as `file` on top of `parent` without touching the agent's work tree; returns the new commit. */
  async commitOnto(id: string, parent: string, file: string, text: string, message: string, author: { name: string; email: string }): Promise<string> {
    const wt = await this.create(id, parent);
    try {
      fs.writeFileSync(path.join(wt, file), text);
      const env = { GIT_AUTHOR_NAME: author.name, GIT_AUTHOR_EMAIL: author.email, GIT_COMMITTER_NAME: author.name, GIT_COMMITTER_EMAIL: author.email };
      await gitOut(wt, ["-c", "core.hooksPath=/dev/null", "-c", "commit.gpgSign=false", "commit", "--quiet", "--no-verify", "-m", message, "--", file], { env });
      return (await gitOut(wt, ["rev-parse", "HEAD"])).trim();
    } finally {
      await this.remove(id);
    }
  }

  async remove(id: string): Promise<void> {
    const wt = this.pathOf(id);
    if (!fs.existsSync(wt)) return;
    await runGit(this.root, ["worktree", "remove", "--force", wt]);
    fs.rmSync(wt, { recursive: true, force: true });
  }

  /** Removes every run directory but those of `keep` (a server that died left them), and git's records of them. */
  async prune(keep: ReadonlySet<string>): Promise<void> {
    let names: string[] = [];
    try {
      names = fs.readdirSync(this.dir);
    } catch {
      /* none yet */
    }
    for (const n of names) if (!keep.has(n)) await this.remove(n);
    await runGit(this.root, ["worktree", "prune"]);
  }

  private async linkIgnored(wt: string): Promise<void> {
    const out = await gitOut(this.root, ["ls-files", "--others", "--ignored", "--exclude-standard", "--directory", "-z"]);
    const tops = new Set(out.split("\0").filter(Boolean).map((p) => p.replace(/\/$/, "").split("/")[0]));
    for (const name of tops) {
      if (!name || name === ".git" || this.skip.includes(name)) continue;
      const target = path.join(wt, name);
      if (fs.existsSync(target)) continue;
      fs.symlinkSync(path.join(this.root, name), target);
    }
  }
}
