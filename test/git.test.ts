import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { afterEach, describe, expect, it } from "vitest";
import { Repo } from "../src/git.js";
import { isInside } from "../src/paths.js";
import { openWorkspace } from "../src/workspace.js";
import { addWorktree, git, makeWorkspace, removeWorkspaces, write } from "./helpers/workspace.js";

const scratch: string[] = [];
afterEach(() => {
  removeWorkspaces();
  for (const d of scratch.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

const real = (p: string) => fs.realpathSync(p);
const revParse = (dir: string, ...args: string[]) => git(dir, "rev-parse", ...args).trim();

/** The same behaviours in a plain clone (isomorphic-git) and in a linked worktree of one (the git CLI). */
const LAYOUTS: [string, (main: string) => string][] = [
  ["plain clone", (main) => main],
  ["linked worktree", (main) => addWorktree(main)],
];

describe.each(LAYOUTS)("git layer against the git CLI: %s", (layout, workTreeOf) => {
  const linked = layout === "linked worktree";
  async function open() {
    const main = makeWorkspace();
    const ws = workTreeOf(main);
    return { main, ws, repo: await Repo.open(ws) };
  }

  it("finds the work tree's own git dir and the common dir where git does", async () => {
    const { main, ws, repo } = await open();
    expect(repo.plainClone).toBe(!linked);
    expect(real(repo.gitdir)).toBe(real(revParse(ws, "--absolute-git-dir")));
    expect(real(repo.commonDir)).toBe(real(path.join(main, ".git")));
    expect(isInside(ws, real(repo.gitdir))).toBe(!linked);
  });

  it("creates and checks out a branch that git sees, with HEAD unchanged", async () => {
    const { main, ws, repo } = await open();
    const head = await repo.headOid();
    await repo.createAndCheckoutBranch("autoresearch/x");
    expect(git(ws, "branch", "--show-current").trim()).toBe("autoresearch/x");
    expect(revParse(ws, "HEAD")).toBe(head);
    expect(git(ws, "status", "--porcelain")).toBe("");
    expect(await repo.currentBranch()).toBe("autoresearch/x");
    expect(await repo.branchOid("autoresearch/x")).toBe(head);
    expect(await repo.branchOid("nope")).toBeNull();
    if (linked) expect(git(main, "branch", "--show-current").trim()).toBe("master");
    await expect(repo.createAndCheckoutBranch("autoresearch/x")).rejects.toThrow();
  });

  it("checks out an existing branch, and says null for a detached HEAD", async () => {
    const { ws, repo } = await open();
    git(ws, "branch", "other");
    git(ws, "checkout", "-q", "--detach");
    expect(await repo.currentBranch()).toBeNull();
    await repo.checkoutBranch("other");
    expect(git(ws, "branch", "--show-current").trim()).toBe("other");
    expect(await repo.currentBranch()).toBe("other");
  });

  it("commits exactly one file with the author from git config; git log and git show agree", async () => {
    const { main, ws, repo } = await open();
    const mainHead = revParse(main, "HEAD");
    write(ws, "train.py", "LR = 1\n");
    write(ws, "prepare.py", "changed but not staged\n");
    const oid = await repo.commitFile("train.py", "t: one file");
    expect(revParse(ws, "HEAD")).toBe(oid);
    expect(git(ws, "log", "-1", "--format=%B|%an|%ae|%cn").trim()).toBe("t: one file\n|Test|test@example.com|Test");
    expect(git(ws, "cat-file", "commit", "HEAD").endsWith("\n\nt: one file\n")).toBe(true);
    expect(git(ws, "show", "--name-only", "--format=", "HEAD").trim()).toBe("train.py");
    expect(git(ws, "status", "--porcelain")).toBe(" M prepare.py\n");
    expect(git(ws, "fsck", "--no-dangling").trim()).toBe("");
    if (linked) {
      expect(revParse(main, "HEAD")).toBe(mainHead);
      expect(git(main, "status", "--porcelain")).toBe("");
    }
  });

  it.runIf(linked)("commits only that file even when another one is staged", async () => {
    const { ws, repo } = await open();
    write(ws, "train.py", "LR = 7\n");
    write(ws, "prepare.py", "staged, not ours\n");
    git(ws, "add", "prepare.py");
    await repo.commitFile("train.py", "t: only train.py");
    expect(git(ws, "show", "--name-only", "--format=", "HEAD").trim()).toBe("train.py");
    expect(git(ws, "status", "--porcelain")).toBe("M  prepare.py\n");
  });

  it("emulates reset --hard: ref moved, tracked files restored, untracked and ignored files kept", async () => {
    const { ws, repo } = await open();
    await repo.createAndCheckoutBranch("autoresearch/x");
    const base = (await repo.headOid())!;
    write(ws, "train.py", "LR = 2\n");
    await repo.commitFile("train.py", "t: a");
    write(ws, "train.py", "LR = 3\n");
    await repo.commitFile("train.py", "t: b");
    write(ws, "train.py", "LR = 4 uncommitted\n");
    write(ws, "results.tsv", "keep me\n");
    write(ws, "notes.txt", "untracked\n");
    let refMoved = "";
    await repo.resetHard("autoresearch/x", base, () => (refMoved = revParse(ws, "autoresearch/x")));
    expect(refMoved).toBe(base);
    expect(revParse(ws, "HEAD")).toBe(base);
    expect(revParse(ws, "autoresearch/x")).toBe(base);
    expect(fs.readFileSync(path.join(ws, "train.py"), "utf8")).toBe(git(ws, "show", "HEAD:train.py"));
    expect(git(ws, "status", "--porcelain", "--untracked-files=all")).toBe("?? notes.txt\n?? results.tsv\n");
    expect(git(ws, "diff", "--cached", "--stat")).toBe("");
    expect(fs.readFileSync(path.join(ws, "results.tsv"), "utf8")).toBe("keep me\n");
  });

  it("resets a branch that is not checked out by checking it out (forced)", async () => {
    const { ws, repo } = await open();
    const base = revParse(ws, "HEAD");
    git(ws, "branch", "autoresearch/y");
    write(ws, "train.py", "LR = 9 uncommitted\n");
    await repo.resetHard("autoresearch/y", base);
    expect(git(ws, "branch", "--show-current").trim()).toBe("autoresearch/y");
    expect(git(ws, "status", "--porcelain")).toBe("");
  });

  it("status honours info/exclude the way git does, written where git reads it", async () => {
    const { main, ws, repo } = await open();
    write(ws, "results.tsv", "x\n");
    write(ws, "run.log", "x\n");
    expect((await repo.status()).map((e) => e.path).sort()).toEqual(["results.tsv", "run.log"]);
    repo.ensureExcluded(["/results.tsv", "/run.log"]);
    repo.ensureExcluded(["/results.tsv", "/run.log"]);
    expect(await repo.status()).toEqual([]);
    expect(git(ws, "status", "--porcelain")).toBe("");
    const exclude = path.join(main, ".git/info/exclude");
    expect(real(path.resolve(ws, revParse(ws, "--git-path", "info/exclude")))).toBe(real(exclude));
    expect(fs.readFileSync(exclude, "utf8").match(/^\/results\.tsv$/gm)?.length).toBe(1);
  });

  it("reads a file's bytes at a commit exactly (binary, CRLF, no final newline); null when absent", async () => {
    const { ws, repo } = await open();
    const bytes = Buffer.from([0, 1, 2, 0xff, 0xfe, 13, 10, 0x80, 10, 10, 32]);
    fs.writeFileSync(path.join(ws, "blob.bin"), bytes);
    fs.mkdirSync(path.join(ws, "sub"));
    write(ws, "sub/x.py", "x = 1");
    git(ws, "add", "blob.bin", "sub/x.py");
    git(ws, "commit", "-q", "-m", "bytes");
    const head = (await repo.headOid())!;
    expect(await repo.readFileAt(head, "blob.bin")).toEqual(bytes);
    expect((await repo.readFileAt(head, "sub/x.py"))!.toString()).toBe("x = 1");
    expect(await repo.readFileAt(head, "missing.py")).toBeNull();
    expect(await repo.readFileAt(head, "sub")).toBeNull();
    expect(await repo.readFileAt(revParse(ws, "HEAD~1"), "blob.bin")).toBeNull();
  });

  it("log, readCommit, expand, commitExists and isAncestor say what git says", async () => {
    const { ws, repo } = await open();
    const first = revParse(ws, "HEAD");
    for (const n of [1, 2, 3]) {
      write(ws, "train.py", `LR = ${n}\n`);
      await repo.commitFile("train.py", `t: step ${n}`);
    }
    const head = revParse(ws, "HEAD");
    const oids = git(ws, "rev-list", "HEAD").trim().split("\n");
    const log = await repo.log(head);
    expect(log.map((c) => c.oid)).toEqual(oids);
    expect(log.map((c) => c.message)).toEqual(["t: step 3\n", "t: step 2\n", "t: step 1\n", "initial\n"]);
    expect(log.map((c) => c.parents)).toEqual(oids.map((o) => git(ws, "rev-list", "--parents", "-n1", o).trim().split(" ").slice(1)));
    expect((await repo.log(head, first)).map((c) => c.oid)).toEqual(oids.slice(0, 3));
    expect((await repo.log(head, undefined, 2)).map((c) => c.oid)).toEqual(oids.slice(0, 2));
    const c = await repo.readCommit(head);
    expect(c).toEqual({ oid: head, parents: [oids[1]], message: "t: step 3\n", timestamp: Number(git(ws, "log", "-1", "--format=%ct").trim()) });
    expect(await repo.expand(head.slice(0, 7))).toBe(head);
    expect(await repo.expand(head.slice(0, 7).toUpperCase())).toBe(head);
    expect(await repo.expand(head)).toBe(head);
    expect(await repo.expand("0000000")).toBeNull();
    expect(await repo.expand("HEAD")).toBeNull();
    expect(await repo.expand("abc")).toBeNull();
    expect(await repo.commitExists(head)).toBe(true);
    expect(await repo.commitExists("0".repeat(40))).toBe(false);
    expect(await repo.commitExists(revParse(ws, "HEAD:train.py"))).toBe(false); // a blob
    expect(await repo.isAncestor(first, head)).toBe(true);
    expect(await repo.isAncestor(head, first)).toBe(false);
    expect(await repo.isAncestor(head, head)).toBe(true);
  });

  it("keeps a commit reachable under refs/autoresearch-mcp/, seen from every worktree", async () => {
    const { main, ws, repo } = await open();
    write(ws, "train.py", "LR = 5\n");
    const oid = await repo.commitFile("train.py", "t: keep");
    await repo.keepReachable(`t/${oid.slice(0, 7)}`, oid);
    expect(revParse(ws, `refs/autoresearch-mcp/t/${oid.slice(0, 7)}`)).toBe(oid);
    expect(revParse(main, `refs/autoresearch-mcp/t/${oid.slice(0, 7)}`)).toBe(oid);
  });

  it("commits as the default identity when git has none", async () => {
    const { ws } = await open();
    const home = fs.mkdtempSync(path.join(os.tmpdir(), "arhome-"));
    scratch.push(home);
    const env = { HOME: process.env.HOME, XDG_CONFIG_HOME: process.env.XDG_CONFIG_HOME, GIT_CONFIG_NOSYSTEM: process.env.GIT_CONFIG_NOSYSTEM };
    try {
      git(ws, "config", "--unset", "user.name");
      git(ws, "config", "--unset", "user.email");
      Object.assign(process.env, { HOME: home, XDG_CONFIG_HOME: home, GIT_CONFIG_NOSYSTEM: "1" });
      const repo = await Repo.open(ws);
      write(ws, "train.py", "LR = 6\n");
      await repo.commitFile("train.py", "t: anonymous");
      expect(git(ws, "log", "-1", "--format=%an|%ae|%cn|%ce").trim()).toBe("autoresearch|autoresearch@localhost|autoresearch|autoresearch@localhost");
    } finally {
      for (const [k, v] of Object.entries(env)) v === undefined ? delete process.env[k] : (process.env[k] = v);
    }
  });
});

describe("the git CLI backend reads exactly what isomorphic-git reads", () => {
  /** Commits with fixed, distinct dates after the initial commit's, so both walks order them alike. */
  const at = (t: number) => ({ env: { ...process.env, GIT_AUTHOR_DATE: `${t} +0100`, GIT_COMMITTER_DATE: `${t} +0100` } });

  it("on the same objects, seen from the main checkout and from a linked worktree", async () => {
    const main = makeWorkspace();
    const wt = addWorktree(main);
    let t = Number(git(main, "log", "-1", "--format=%ct").trim()) + 100;
    write(wt, "train.py", "LR = 1\r\n");
    git(wt, "add", "train.py");
    execFileSync("git", ["commit", "-q", "--cleanup=verbatim", "-m", "\n\nsubject\r\n\r\nbody line\n\n\n"], { cwd: wt, ...at(++t) });
    fs.writeFileSync(path.join(wt, "data.bin"), Buffer.from([0, 255, 10, 13]));
    git(wt, "add", "data.bin");
    execFileSync("git", ["commit", "-q", "-m", "bytes"], { cwd: wt, ...at(++t) });
    const iso = await Repo.open(main);
    const cli = await Repo.open(wt);
    expect([iso.plainClone, cli.plainClone]).toEqual([true, false]);
    const linear = revParse(wt, "HEAD");
    expect(await cli.log(linear)).toEqual(await iso.log(linear));
    expect((await cli.log(linear)).map((c) => c.message)).toEqual(["bytes\n", "subject\n\nbody line\n", "initial\n"]);

    git(wt, "checkout", "-q", "-b", "side", "HEAD~2");
    write(wt, "side.py", "s = 1\n");
    git(wt, "add", "side.py");
    execFileSync("git", ["commit", "-q", "-m", "side"], { cwd: wt, ...at(++t) });
    git(wt, "checkout", "-q", "wt");
    execFileSync("git", ["merge", "-q", "--no-ff", "-m", "merge side", "side"], { cwd: wt, ...at(++t) });
    const oids = git(wt, "rev-list", "HEAD").trim().split("\n");
    expect(oids).toHaveLength(5);
    // isomorphic-git's log lists a merge's shared ancestors twice; git's (and ours) once each.
    expect((await cli.log(oids[0])).map((c) => c.oid)).toEqual(oids);
    expect((await cli.readCommit(oids[0])).parents).toHaveLength(2);
    for (const oid of oids) {
      expect(await cli.readCommit(oid)).toEqual(await iso.readCommit(oid));
      for (const f of ["train.py", "data.bin", "side.py", "prepare.py", "nope"]) expect(await cli.readFileAt(oid, f)).toEqual(await iso.readFileAt(oid, f));
      for (const other of oids) expect(await cli.isAncestor(other, oid)).toBe(await iso.isAncestor(other, oid));
      expect(await cli.expand(oid.slice(0, 5))).toBe(await iso.expand(oid.slice(0, 5)));
    }
    expect(await cli.currentBranch()).toBe("wt");
    expect(await iso.currentBranch()).toBe("master");
  });
});

describe("Repo.open", () => {
  it.each<[string, (main: string) => string]>([
    ["a directory outside any repository", () => {
      scratch.push(fs.mkdtempSync(path.join(os.tmpdir(), "arnorepo-")));
      return scratch[scratch.length - 1];
    }],
    ["a subdirectory of a plain clone", (main) => {
      fs.mkdirSync(path.join(main, "sub"));
      return path.join(main, "sub");
    }],
    ["a subdirectory of a linked worktree", (main) => {
      const wt = addWorktree(main);
      fs.mkdirSync(path.join(wt, "sub"));
      return path.join(wt, "sub");
    }],
    ["the .git directory itself", (main) => path.join(main, ".git")],
  ])("refuses %s: it is not the root of a work tree", async (_what, dirOf) => {
    await expect(Repo.open(dirOf(makeWorkspace()))).rejects.toThrow(/is not the root of a git repository \(no \.git here\)\. Run "git init" there/);
  });
});

describe("state dir", () => {
  it("is per worktree, in that worktree's own git dir and outside its work tree", async () => {
    const main = makeWorkspace();
    const a = addWorktree(main, "a");
    const b = addWorktree(main, "b");
    const dirs = await Promise.all([main, a, b].map(async (d) => (await openWorkspace(d)).stateDir));
    expect(new Set(dirs).size).toBe(3);
    expect(dirs[0]).toBe(path.join(main, ".git", "autoresearch"));
    for (const [i, wt] of [a, b].entries()) {
      expect(real(path.dirname(dirs[i + 1]))).toBe(real(revParse(wt, "--absolute-git-dir")));
      expect(isInside(wt, dirs[i + 1])).toBe(false);
    }
  });
});
