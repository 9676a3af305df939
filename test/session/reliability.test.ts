import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { call, ok, refused, text } from "../helpers/client.js";
import { experiment, killedAt, restart, session, useSessions } from "../helpers/session.js";
import { git, headShort, porcelain, read, write } from "../helpers/workspace.js";

useSessions();

const rowsOf = (ws: string) => read(ws, "results.tsv").split("\n").filter(Boolean);

describe("the server killed with SIGKILL at each step of a cycle: nothing lost, nothing doubled", () => {
  it("during commit (index written, no commit yet): git stays consistent and the commit can be redone", async () => {
    const { ws, c, srv } = await session({ baseline: true, env: { AUTORESEARCH_TEST_CRASH_AT: "commit:after-add" } });
    const head = headShort(ws);
    await ok(c, "apply_patch", { edits: [{ old: "LR = 0.04", new: "LR = 0.045" }] });
    await killedAt(c, srv.pid()!, "commit", { description: "better" });
    expect(headShort(ws)).toBe(head);
    expect(git(ws, "fsck", "--no-dangling").trim()).toBe("");
    const again = await restart(ws);
    await ok(again.c, "commit", { description: "better" });
    expect(git(ws, "show", "--name-only", "--format=%s", "HEAD").trim().split("\n")).toEqual(["t: better", "", "train.py"]);
    expect(porcelain(ws)).toBe("");
  });

  it("before the row is appended: no row, and log_result works after the restart", async () => {
    const { ws, c, srv } = await session({ env: { AUTORESEARCH_TEST_CRASH_AT: "log_result:before-append" } });
    await ok(c, "run_training");
    await killedAt(c, srv.pid()!, "log_result", { description: "baseline" });
    expect(rowsOf(ws).length).toBe(1);
    const again = await restart(ws);
    await ok(again.c, "log_result", { description: "baseline" });
    expect(rowsOf(ws).length).toBe(2);
  });

  it("after the row is appended but before it is marked: counted as logged once, never twice", async () => {
    const { ws, c, srv } = await session({ env: { AUTORESEARCH_TEST_CRASH_AT: "log_result:after-append" } });
    await ok(c, "run_training");
    await killedAt(c, srv.pid()!, "log_result", { description: "baseline" });
    expect(rowsOf(ws).length).toBe(2);
    const again = await restart(ws);
    expect(await refused(again.c, "log_result", { description: "baseline" })).toMatch(/already logged \(line 2\)/);
    expect((await ok(again.c, "status")).problems.join("\n")).toMatch(/counted as logged/);
    expect(rowsOf(ws).length).toBe(2);
    await ok(again.c, "apply_patch", { edits: [{ old: "LR = 0.04", new: "LR = 0.045" }] });
  });

  it("during reset_to_best (ref moved, files not checked out): the next server completes the reset", async () => {
    const { ws, c, srv } = await session({ baseline: true, env: { AUTORESEARCH_TEST_CRASH_AT: "reset_to_best:after-ref" } });
    const best = headShort(ws);
    await experiment(c, "LR = 0.04", "LR = 0.02", "worse");
    await killedAt(c, srv.pid()!, "reset_to_best", {});
    expect(headShort(ws)).toBe(best);
    expect(porcelain(ws)).not.toBe("");
    const again = await restart(ws);
    const st = await ok(again.c, "status");
    expect(st.problems.join("\n")).toMatch(/interrupted reset_to_best to [0-9a-f]{7} was completed/);
    expect(porcelain(ws)).toBe("");
    expect(read(ws, "train.py")).toBe(git(ws, "show", "HEAD:train.py"));
    expect(rowsOf(ws).length).toBe(3);
  });
});

describe("faults while logging", () => {
  it("results.tsv unwritable: a clear error that carries the row, nothing half-written, and the retry works", async () => {
    const { ws, c } = await session({ baseline: true });
    await ok(c, "apply_patch", { edits: [{ old: "LR = 0.04", new: "LR = 0.045" }] });
    await ok(c, "commit", { description: "better" });
    await ok(c, "run_training");
    const saved = read(ws, "results.tsv");
    fs.rmSync(path.join(ws, "results.tsv"));
    fs.mkdirSync(path.join(ws, "results.tsv"));
    const msg = await refused(c, "log_result", { description: "better" });
    expect(msg).toMatch(/^Refused: Could not append to results\.tsv \(.*(EISDIR|is not a regular file \(a directory\)).*\); nothing was written\. The row is: [0-9a-f]{7} \| 0\.950000 \| 1\.0 \| keep \| better/);
    fs.rmSync(path.join(ws, "results.tsv"), { recursive: true });
    fs.writeFileSync(path.join(ws, "results.tsv"), saved);
    await ok(c, "log_result", { description: "better" });
    expect(read(ws, "results.tsv")).toBe(saved + `${headShort(ws)}\t0.950000\t1.0\tkeep\tbetter\n`);
  });

  it("results.tsv deleted behind the server's back: refused, and resume restores it with every row", async () => {
    const { ws, c } = await session({ baseline: true });
    await experiment(c, "LR = 0.04", "LR = 0.045", "better");
    const saved = read(ws, "results.tsv");
    await ok(c, "apply_patch", { edits: [{ old: "LR = 0.045", new: "LR = 0.046" }] });
    await ok(c, "commit", { description: "more" });
    await ok(c, "run_training");
    fs.rmSync(path.join(ws, "results.tsv"));
    expect(await refused(c, "log_result", { description: "more" })).toMatch(/results\.tsv was deleted[\s\S]*start_session \{"resume":true\}/);
    expect((await ok(c, "status")).problems.join("\n")).toMatch(/results\.tsv is missing/);
    await ok(c, "start_session", { resume: true });
    expect(read(ws, "results.tsv")).toBe(saved);
    await ok(c, "log_result", { description: "more" });
    expect(rowsOf(ws).length).toBe(4);
  });
});

describe("results.tsv missing or unreadable: the rules refuse instead of reading it as empty", () => {
  it("deleted (git clean -fdx) or swapped for a symlink after a discard: reset_to_best and apply_patch refuse; no kept commit is dropped", async () => {
    const { ws, c } = await session({ baseline: true });
    await experiment(c, "LR = 0.04", "LR = 0.045", "better");
    const best = headShort(ws);
    await experiment(c, "LR = 0.045", "LR = 0.02", "worse");
    const discarded = headShort(ws);
    const saved = read(ws, "results.tsv");
    for (const swap of ["delete", "symlink"]) {
      fs.rmSync(path.join(ws, "results.tsv"), { force: true });
      if (swap === "symlink") {
        fs.writeFileSync(path.join(ws, "elsewhere.tsv"), saved);
        fs.symlinkSync("elsewhere.tsv", path.join(ws, "results.tsv"));
      }
      const why = swap === "delete" ? /results\.tsv was deleted[\s\S]*start_session \{"resume":true\}/ : /results\.tsv" is a symlink/;
      expect(await refused(c, "reset_to_best")).toMatch(why);
      expect(await refused(c, "apply_patch", { edits: [{ old: "LR = 0.02", new: "LR = 0.03" }] })).toMatch(why);
      expect(headShort(ws)).toBe(discarded);
      fs.rmSync(path.join(ws, "results.tsv"), { force: true });
      fs.rmSync(path.join(ws, "elsewhere.tsv"), { force: true });
    }
    await ok(c, "start_session", { resume: true });
    expect(read(ws, "results.tsv")).toBe(saved);
    await ok(c, "reset_to_best");
    expect(headShort(ws)).toBe(best);
  });

  it("a symlinked results.tsv at start: refused before the branch is made, and a fresh start works once it is a plain file", async () => {
    const { makeWorkspace } = await import("../helpers/workspace.js");
    const ws = makeWorkspace();
    fs.writeFileSync(path.join(ws, "..", `${path.basename(ws)}-results.tsv`), "");
    fs.symlinkSync(path.join(ws, "..", `${path.basename(ws)}-results.tsv`), path.join(ws, "results.tsv"));
    fs.appendFileSync(path.join(ws, ".git", "info", "exclude"), "results.tsv\n");
    const { c } = await restart(ws);
    expect(await refused(c, "start_session", { tag: "s1" })).toMatch(/results\.tsv" is a symlink|leaves the workspace|outside the workspace/);
    expect(git(ws, "branch", "--list", "autoresearch/*").trim()).toBe("");
    fs.rmSync(path.join(ws, "results.tsv"));
    fs.rmSync(path.join(ws, "..", `${path.basename(ws)}-results.tsv`));
    await ok(c, "start_session", { tag: "s1" });
  });

  it("an interrupted row append that cannot be finished (results.tsv a symlink) is retried on every call until it can", async () => {
    const { ws, c, srv } = await session({ env: { AUTORESEARCH_TEST_CRASH_AT: "log_result:after-append" } });
    await ok(c, "run_training");
    await killedAt(c, srv.pid()!, "log_result", { description: "baseline" });
    const saved = read(ws, "results.tsv");
    fs.renameSync(path.join(ws, "results.tsv"), path.join(ws, "kept.tsv"));
    fs.symlinkSync("kept.tsv", path.join(ws, "results.tsv"));
    const again = await restart(ws);
    for (let i = 0; i < 2; i++) expect(await refused(again.c, "status")).toMatch(/results\.tsv" is a symlink/);
    fs.rmSync(path.join(ws, "results.tsv"));
    fs.renameSync(path.join(ws, "kept.tsv"), path.join(ws, "results.tsv"));
    expect((await ok(again.c, "status")).problems.join("\n")).toMatch(/counted as logged/);
    expect(await refused(again.c, "log_result", { description: "baseline" })).toMatch(/already logged \(line 2\)/);
    expect(read(ws, "results.tsv")).toBe(saved);
  });
});

describe("the agent working behind the server's back", () => {
  it("git checkout of another branch: refused with how to get back", async () => {
    const { ws, c } = await session({ baseline: true });
    git(ws, "checkout", "-q", "master");
    expect(await refused(c, "apply_patch", { edits: [{ old: "LR = 0.04", new: "LR = 0.05" }] })).toMatch(/^Refused: HEAD is on master, not on the session branch autoresearch\/t\.\nNext: Run "git checkout autoresearch\/t"/);
    expect(await refused(c, "run_training")).toMatch(/not on the session branch/);
    git(ws, "checkout", "-q", "autoresearch/t");
    await ok(c, "apply_patch", { edits: [{ old: "LR = 0.04", new: "LR = 0.05" }] });
  });

  it("a commit behind the server's back after a run: the run is not logged against code that did not run", async () => {
    const { ws, c } = await session({ baseline: true });
    await ok(c, "apply_patch", { edits: [{ old: "LR = 0.04", new: "LR = 0.045" }] });
    await ok(c, "commit", { description: "better" });
    await ok(c, "run_training");
    write(ws, "train.py", read(ws, "train.py").replace("LR = 0.045", "LR = 0.05"));
    git(ws, "commit", "-qam", "sneaky tweak after the run");
    expect(await refused(c, "log_result", { description: "better" })).toMatch(/has no finished run to log/);
    expect(rowsOf(ws).length).toBe(2);
  });
});

describe("parallel tool calls from one client are serialized, never interleaved", () => {
  it("two commits at once: one commit, one refusal", async () => {
    const { ws, c } = await session({ baseline: true });
    await ok(c, "apply_patch", { edits: [{ old: "LR = 0.04", new: "LR = 0.045" }] });
    const rs = await Promise.all([call(c, "commit", { description: "a" }), call(c, "commit", { description: "b" })]);
    expect(rs.filter((r) => !r.isError).length).toBe(1);
    expect(text(rs.find((r) => r.isError)!)).toMatch(/no changes since/);
    expect(git(ws, "log", "--format=%s").trim().split("\n").length).toBe(2);
  });

  it("ten concurrent patches: each applies whole or is refused; the file is the sequential result", async () => {
    const { ws, c } = await session({ baseline: true });
    const edits = Array.from({ length: 10 }, (_, i) => call(c, "apply_patch", { edits: [{ old: "LR = 0.04", new: `LR = 0.04${i}` }] }));
    const rs = await Promise.all(edits);
    expect(rs.filter((r) => !r.isError).length).toBeGreaterThanOrEqual(1);
    const lr = read(ws, "train.py").match(/^LR = (\S+)/m)![1];
    expect(lr).toMatch(/^0\.04(\d0*)*$/);
    expect(read(ws, "train.py").match(/^LR = /gm)!.length).toBe(1);
  });

  it("run_training twice at once: one run", async () => {
    const { ws, c } = await session();
    const rs = await Promise.all([call(c, "run_training"), call(c, "run_training")]);
    expect(rs.filter((r) => !r.isError).length).toBe(1);
    expect(text(rs.find((r) => r.isError)!)).toMatch(/is in progress/);
    void ws;
  });
});
