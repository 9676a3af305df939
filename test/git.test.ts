import fs from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { Repo } from "../src/git.js";
import { git, makeWorkspace, removeWorkspaces, write } from "./helpers/workspace.js";

afterEach(() => removeWorkspaces());

/** What isomorphic-git does must be what the git CLI sees. */
describe("git layer against the git CLI", () => {
  it("creates and checks out a branch that git sees, with HEAD unchanged", async () => {
    const ws = makeWorkspace();
    const repo = await Repo.open(ws);
    const head = await repo.headOid();
    await repo.createAndCheckoutBranch("autoresearch/x");
    expect(git(ws, "branch", "--show-current").trim()).toBe("autoresearch/x");
    expect(git(ws, "rev-parse", "HEAD").trim()).toBe(head);
    expect(git(ws, "status", "--porcelain")).toBe("");
    expect(await repo.currentBranch()).toBe("autoresearch/x");
  });

  it("commits exactly one file with the author from git config; git log and git show agree", async () => {
    const ws = makeWorkspace();
    const repo = await Repo.open(ws);
    write(ws, "train.py", "LR = 1\n");
    write(ws, "prepare.py", "changed but not staged\n");
    const oid = await repo.commitFile("train.py", "t: one file");
    expect(git(ws, "rev-parse", "HEAD").trim()).toBe(oid);
    expect(git(ws, "log", "-1", "--format=%s|%an|%ae").trim()).toBe("t: one file|Test|test@example.com");
    expect(git(ws, "show", "--name-only", "--format=", "HEAD").trim()).toBe("train.py");
    expect(git(ws, "status", "--porcelain")).toBe(" M prepare.py\n");
    expect(git(ws, "fsck", "--no-dangling").trim()).toBe("");
  });

  it("emulates reset --hard: ref moved, tracked files restored, untracked and ignored files kept", async () => {
    const ws = makeWorkspace();
    const repo = await Repo.open(ws);
    await repo.createAndCheckoutBranch("autoresearch/x");
    const base = (await repo.headOid())!;
    write(ws, "train.py", "LR = 2\n");
    await repo.commitFile("train.py", "t: a");
    write(ws, "train.py", "LR = 3\n");
    await repo.commitFile("train.py", "t: b");
    write(ws, "train.py", "LR = 4 uncommitted\n");
    write(ws, "results.tsv", "keep me\n");
    write(ws, "notes.txt", "untracked\n");
    await repo.resetHard("autoresearch/x", base);
    expect(git(ws, "rev-parse", "HEAD").trim()).toBe(base);
    expect(git(ws, "rev-parse", "autoresearch/x").trim()).toBe(base);
    expect(fs.readFileSync(path.join(ws, "train.py"), "utf8")).toBe(git(ws, "show", "HEAD:train.py"));
    expect(git(ws, "status", "--porcelain", "--untracked-files=all")).toBe("?? notes.txt\n?? results.tsv\n");
    expect(git(ws, "diff", "--cached", "--stat")).toBe("");
    expect(fs.readFileSync(path.join(ws, "results.tsv"), "utf8")).toBe("keep me\n");
  });

  it("status honours .git/info/exclude the way git does", async () => {
    const ws = makeWorkspace();
    const repo = await Repo.open(ws);
    write(ws, "results.tsv", "x\n");
    write(ws, "run.log", "x\n");
    expect((await repo.status()).map((e) => e.path).sort()).toEqual(["results.tsv", "run.log"]);
    repo.ensureExcluded(["/results.tsv", "/run.log"]);
    repo.ensureExcluded(["/results.tsv", "/run.log"]);
    expect(await repo.status()).toEqual([]);
    expect(git(ws, "status", "--porcelain")).toBe("");
    expect(fs.readFileSync(path.join(ws, ".git/info/exclude"), "utf8").match(/^\/results\.tsv$/gm)?.length).toBe(1);
  });

  it("refuses a worktree checkout (.git is a file) with a clear message", async () => {
    const ws = makeWorkspace();
    const wt = ws + "-wt";
    git(ws, "worktree", "add", "-q", wt);
    try {
      await expect(Repo.open(wt)).rejects.toThrow(/\.git is a file \(a git worktree or submodule\)/);
    } finally {
      fs.rmSync(wt, { recursive: true, force: true });
    }
  });
});
