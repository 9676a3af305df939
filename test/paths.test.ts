import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ProtocolRefusal } from "../src/errors.js";
import { checkRelativePath, isInside, printable, resolveInside, resolveRegularFile } from "../src/paths.js";
import { addWorktree, makeWorkspace, removeWorkspaces } from "./helpers/workspace.js";

/**
 * Path safety, table-style as modelcontextprotocol/servers' filesystem server tests it: every
 * way out of the workspace is refused with a ProtocolRefusal whose code and message say why.
 */

let base: string;
let ws: string;
let outside: string;

beforeAll(() => {
  base = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "arpaths-")));
  ws = path.join(base, "ws");
  outside = path.join(base, "ws2"); // a prefix sibling of the workspace
  fs.mkdirSync(ws);
  fs.mkdirSync(outside);
  fs.writeFileSync(path.join(ws, "train.py"), "x = 1\n");
  fs.writeFileSync(path.join(ws, "..train.py"), "x = 1\n");
  fs.mkdirSync(path.join(ws, "sub"));
  fs.writeFileSync(path.join(ws, "sub", "data.py"), "y = 2\n");
  fs.mkdirSync(path.join(ws, ".git"));
  fs.writeFileSync(path.join(ws, ".git", "config"), "[core]\n");
  fs.writeFileSync(path.join(outside, "secret.py"), "s = 3\n");
  fs.mkdirSync(path.join(outside, "dir"));
  fs.symlinkSync(path.join(outside, "secret.py"), path.join(ws, "link-out.py"));
  fs.symlinkSync(path.join(ws, ".git", "config"), path.join(ws, "link-git.py"));
  fs.symlinkSync(path.join(outside, "dir"), path.join(ws, "linkdir"));
  fs.symlinkSync(path.join(ws, ".git"), path.join(ws, "gitdir"));
  fs.symlinkSync(path.join(ws, "train.py"), path.join(ws, "link-in.py"));
  fs.symlinkSync(path.join(outside, "not-yet.py"), path.join(ws, "dangling.py"));
  fs.symlinkSync(path.join(outside, "missing-dir"), path.join(ws, "dangling-dir"));
  execFileSync("mkfifo", [path.join(ws, "fifo.py")]);
  fs.mkdirSync(path.join(ws, "adir.py"));
});
afterAll(() => fs.rmSync(base, { recursive: true, force: true }));

function refusal(fn: () => unknown): ProtocolRefusal {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ProtocolRefusal);
    return e as ProtocolRefusal;
  }
  throw new Error("expected a ProtocolRefusal");
}

describe("checkRelativePath", () => {
  it.each([
    ["train.py", null],
    ["sub/data.py", null],
    ["./train.py", null],
    ["..train.py", null],
    ["a..b/c.py", null],
    ["", "is empty"],
    ["train.py\0.txt", "contains a NUL byte"],
    ["/etc/passwd", "is absolute; give a path relative to the workspace"],
    ["C:\\Windows\\win.ini", "is absolute; give a path relative to the workspace"],
    ["c:/x.py", "is absolute; give a path relative to the workspace"],
    ["C:x.py", "is absolute; give a path relative to the workspace"],
    ["\\\\server\\share\\x.py", "is absolute; give a path relative to the workspace"],
    ["\\etc\\passwd", "is absolute; give a path relative to the workspace"],
    ["..", "leaves the workspace (..)"],
    ["../ws2/secret.py", "leaves the workspace (..)"],
    ["sub/../../x.py", "leaves the workspace (..)"],
    ["..\\x.py", "leaves the workspace (..)"],
    [".", "names the workspace itself"],
    ["sub/..", "names the workspace itself"],
    [".git/config", "points into .git"],
    ["./.git/config", "points into .git"],
    ["sub/../.git/HEAD", "points into .git"],
    [".GIT/config", "points into .git"],
    ["sub/.git/config", "points into .git"],
    [".git", "points into .git"],
  ])("%j → %j", (rel, want) => {
    expect(checkRelativePath(rel)).toBe(want);
  });
});

describe("isInside", () => {
  it.each([
    ["/a/ws", "/a/ws", true],
    ["/a/ws", "/a/ws/train.py", true],
    ["/a/ws", "/a/ws/..train.py", true],
    ["/a/ws", "/a/ws2/secret.py", false],
    ["/a/ws", "/a/ws2", false],
    ["/a/ws", "/a", false],
    ["/a/ws", "/b/ws", false],
  ])("isInside(%s, %s) = %s", (root, child, want) => {
    expect(isInside(root, child)).toBe(want);
  });
});

describe("resolveInside / resolveRegularFile", () => {
  it.each([
    ["train.py", "train.py"],
    ["sub/data.py", "sub/data.py"],
    ["..train.py", "..train.py"],
    ["link-in.py", "link-in.py"],
    ["new-file.py", "new-file.py"],
    ["sub/new-file.py", "sub/new-file.py"],
    ["new-dir/deeper/new.py", "new-dir/deeper/new.py"],
  ])("accepts %s", (rel, want) => {
    expect(resolveInside(ws, rel, "editable file")).toBe(path.join(ws, want));
  });

  it.each([
    ["prefix sibling via ..", "../ws2/secret.py", "bad_path", /editable file "\.\.\/ws2\/secret\.py" leaves the workspace \(\.\.\)/],
    ["..", "..", "bad_path", /leaves the workspace/],
    ["absolute", "/etc/passwd", "bad_path", /is absolute/],
    ["absolute path into a prefix sibling", path.join(os.tmpdir(), "ws2", "secret.py"), "bad_path", /is absolute/],
    ["Windows-absolute", "C:\\Users\\x\\train.py", "bad_path", /is absolute/],
    ["NUL byte (shown escaped)", "train.py\0", "bad_path", /"train\.py\\x00" contains a NUL byte/],
    [".git/config", ".git/config", "bad_path", /points into \.git/],
    ["symlink to a file outside the workspace", "link-out.py", "bad_path", /is a symlink to a file outside the workspace/],
    ["symlink into .git", "link-git.py", "bad_path", /resolves into \.git/],
    ["existing file under a symlinked dir into .git", "gitdir/config", "bad_path", /resolves into \.git/],
    ["new file under a symlinked parent dir that leaves the workspace", "linkdir/new.py", "bad_path", /lies under a symlink that leaves the workspace/],
    ["new file deeper under a symlinked parent that leaves", "linkdir/a/b/new.py", "bad_path", /lies under a symlink that leaves the workspace/],
    ["new file under a symlinked dir into .git", "gitdir/new-hook", "bad_path", /lies under a symlink into \.git/],
    ["a dangling symlink pointing outside (writing would create the target)", "dangling.py", "bad_path", /dangling symlink/],
    ["a new file under a dangling symlinked dir", "dangling-dir/x.py", "bad_path", /dangling symlink/],
  ])("refuses %s", (_rule, rel, code, message) => {
    const e = refusal(() => resolveInside(ws, rel, "editable file"));
    expect(e.code).toBe(code);
    expect(e.message).toMatch(message);
    expect(e.next.length).toBeGreaterThan(0);
  });

  it("resolveRegularFile accepts a regular file and a symlink to one inside", () => {
    expect(resolveRegularFile(ws, "train.py", "editable file")).toBe(path.join(ws, "train.py"));
    expect(resolveRegularFile(ws, "link-in.py", "editable file")).toBe(path.join(ws, "link-in.py"));
  });

  it.each([
    ["a FIFO where a file is expected", "fifo.py", "not_a_file", /editable file "fifo\.py" is not a regular file \(a FIFO\)/],
    ["a directory where a file is expected", "adir.py", "not_a_file", /editable file "adir\.py" is not a regular file \(a directory\)/],
    ["a missing file", "nope.py", "missing_file", /editable file "nope\.py" does not exist in the workspace/],
    ["a symlink out (checked before the file type)", "link-out.py", "bad_path", /outside the workspace/],
  ])("resolveRegularFile refuses %s", (_rule, rel, code, message) => {
    const e = refusal(() => resolveRegularFile(ws, rel, "editable file"));
    expect(e.code).toBe(code);
    expect(e.message).toMatch(message);
  });

  it("works when the workspace itself is reached through a symlink", () => {
    const alias = path.join(base, "alias");
    fs.symlinkSync(ws, alias);
    expect(resolveRegularFile(alias, "train.py", "editable file")).toBe(path.join(alias, "train.py"));
    expect(refusal(() => resolveInside(alias, "link-out.py", "editable file")).code).toBe("bad_path");
  });
});

describe("a workspace whose .git is a file (linked worktree)", () => {
  afterAll(() => removeWorkspaces());

  it("refuses symlinks into the common .git and into the worktree's own git dir (both outside the work tree)", () => {
    const main = makeWorkspace();
    const wt = addWorktree(main);
    const own = fs.readFileSync(path.join(wt, ".git"), "utf8").replace(/^gitdir: */, "").trim();
    fs.symlinkSync(path.join(main, ".git", "config"), path.join(wt, "common.py"));
    fs.symlinkSync(path.join(own, "HEAD"), path.join(wt, "own.py"));
    fs.symlinkSync(path.join(main, ".git"), path.join(wt, "commondir"));
    fs.symlinkSync(path.join(wt, ".git"), path.join(wt, "dotgit.py"));
    expect(resolveRegularFile(wt, "train.py", "editable file")).toBe(path.join(wt, "train.py"));
    expect(refusal(() => resolveInside(wt, "common.py", "editable file")).message).toMatch(/is a symlink to a file outside the workspace/);
    expect(refusal(() => resolveInside(wt, "own.py", "editable file")).message).toMatch(/is a symlink to a file outside the workspace/);
    expect(refusal(() => resolveInside(wt, "commondir/hooks/new", "editable file")).message).toMatch(/lies under a symlink that leaves the workspace/);
    expect(refusal(() => resolveInside(wt, "dotgit.py", "editable file")).message).toMatch(/resolves into \.git/);
    expect(refusal(() => resolveInside(wt, ".git", "editable file")).message).toMatch(/points into \.git/);
  });

  // A .git file may name git dirs inside the work tree (git init --separate-git-dir=meta, a moved
  // main checkout); containment alone would let those through.
  let lw: string;
  beforeAll(() => {
    lw = path.join(base, "lw");
    fs.mkdirSync(path.join(lw, "meta", "worktrees", "lw"), { recursive: true });
    fs.writeFileSync(path.join(lw, ".git"), "gitdir: meta/worktrees/lw\n");
    fs.writeFileSync(path.join(lw, "meta", "worktrees", "lw", "commondir"), "../..\n");
    fs.writeFileSync(path.join(lw, "meta", "worktrees", "lw", "HEAD"), "ref: refs/heads/x\n");
    fs.writeFileSync(path.join(lw, "meta", "config"), "[core]\n");
    fs.writeFileSync(path.join(lw, "train.py"), "x = 1\n");
    fs.mkdirSync(path.join(lw, "notes"));
    fs.symlinkSync(path.join(lw, "meta", "worktrees", "lw", "HEAD"), path.join(lw, "own.py"));
    fs.symlinkSync(path.join(lw, "meta", "config"), path.join(lw, "common.py"));
    fs.symlinkSync(path.join(lw, "meta"), path.join(lw, "commonlink"));
  });

  it.each([
    ["a symlink into the worktree's own git dir", "own.py", /"own\.py" resolves into \.git/],
    ["a symlink into the common dir", "common.py", /"common\.py" resolves into \.git/],
    ["the common dir's config by its path", "meta/config", /resolves into \.git/],
    ["the worktree's HEAD by its path", "meta/worktrees/lw/HEAD", /resolves into \.git/],
    ["a new file in the worktree's own git dir", "meta/worktrees/lw/new.py", /lies in \.git/],
    ["a new file under a symlinked dir into the common dir", "commonlink/new.py", /lies under a symlink into \.git/],
  ])("refuses %s when the git dirs lie inside the workspace", (_rule, rel, message) => {
    const e = refusal(() => resolveInside(lw, rel, "editable file"));
    expect(e.code).toBe("bad_path");
    expect(e.message).toMatch(message);
  });

  it("still accepts the workspace's own files there", () => {
    expect(resolveRegularFile(lw, "train.py", "editable file")).toBe(path.join(lw, "train.py"));
    expect(resolveInside(lw, "notes/new.md", "editable file")).toBe(path.join(lw, "notes", "new.md"));
  });
});

describe("printable", () => {
  it("escapes control characters and bounds the length", () => {
    expect(printable("a\nb\0c\x1b")).toBe("a\\x0ab\\x00c\\x1b");
    expect(printable("x".repeat(100))).toBe("x".repeat(80) + "…");
  });
});
