import fs from "node:fs";
import git from "isomorphic-git";
import { gitOut, type Author, type Backend } from "./backend.js";

/**
 * A plain clone: refs, objects and commits through isomorphic-git in-process (no process spawn per
 * call). It cannot open a linked worktree (isomorphic-git#735: it ignores `commondir`).
 */
export class IsoBackend implements Backend {
  private cache = {};

  constructor(private readonly dir: string, private readonly gitdir: string) {}

  private get base() {
    return { fs, dir: this.dir, gitdir: this.gitdir, cache: this.cache };
  }

  async headOid(): Promise<string | null> {
    try {
      return await git.resolveRef({ ...this.base, ref: "HEAD" });
    } catch {
      return null; // unborn branch: no commit yet
    }
  }

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

  async createAndCheckoutBranch(branch: string): Promise<void> {
    await git.branch({ ...this.base, ref: branch, checkout: false });
    await git.writeRef({ ...this.base, ref: "HEAD", value: `refs/heads/${branch}`, symbolic: true, force: true });
  }

  async checkoutBranch(branch: string): Promise<void> {
    await git.checkout({ ...this.base, ref: branch });
  }

  async expand(short: string): Promise<string | null> {
    try {
      return await git.expandOid({ ...this.base, oid: short });
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

  async readFileAt(oid: string, filepath: string): Promise<Buffer | null> {
    try {
      const { blob } = await git.readBlob({ ...this.base, oid, filepath });
      return Buffer.from(blob);
    } catch {
      return null;
    }
  }

  async isAncestor(ancestor: string, oid: string): Promise<boolean> {
    return git.isDescendent({ ...this.base, oid, ancestor, depth: -1 });
  }

  async log(oid: string, max: number) {
    const commits = await git.log({ ...this.base, ref: oid, depth: max });
    return commits.map((c) => ({ oid: c.oid, message: c.commit.message, parents: c.commit.parent }));
  }

  async configValue(key: string): Promise<string | undefined> {
    const local = (await git.getConfig({ ...this.base, path: key })) as string | undefined;
    if (local) return local;
    try {
      return (await gitOut(this.dir, ["config", "--get", key])).trim() || undefined;
    } catch {
      return undefined;
    }
  }

  async commitFile(filepath: string, message: string, author: Author, afterAdd?: () => void): Promise<string> {
    await git.add({ ...this.base, filepath });
    afterAdd?.();
    return git.commit({ ...this.base, message, author });
  }

  /**
   * The second step is git's own `reset --hard` (isomorphic-git has no reset, and its forced
   * checkout walks and rewrites every file: 5-7× slower).
   */
  async resetHard(branch: string, oid: string, afterRef?: () => void): Promise<void> {
    await git.writeRef({ ...this.base, ref: `refs/heads/${branch}`, value: oid, force: true });
    afterRef?.();
    if ((await this.currentBranch()) !== branch) await git.checkout({ ...this.base, ref: branch, force: true });
    else await gitOut(this.dir, ["reset", "--hard", "--quiet", oid]);
    this.cache = {};
  }

  async writeRef(ref: string, oid: string): Promise<void> {
    await git.writeRef({ ...this.base, ref, value: oid, force: true });
  }
}
