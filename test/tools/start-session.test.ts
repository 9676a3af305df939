import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ok, refused } from "../helpers/client.js";
import { experiment, restart, session, useSessions } from "../helpers/session.js";
import { startClient } from "../helpers/client.js";
import { alive, waitUntil } from "../helpers/procs.js";
import { git, makeWorkspace, porcelain, read, write, headShort } from "../helpers/workspace.js";

useSessions();

async function fresh(opts: Parameters<typeof makeWorkspace>[0] = {}) {
  const ws = makeWorkspace(opts);
  const { c } = await restart(ws);
  return { ws, c };
}

describe("start_session", () => {
  it("creates the branch, writes the header, excludes results and log via .git/info/exclude (not .gitignore)", async () => {
    const { ws, c } = await fresh();
    const r = await ok(c, "start_session", { tag: "nov24" });
    expect(r).toMatchObject({ tag: "nov24", branch: "autoresearch/nov24", resumed: false, headerWritten: true, rows: 0 });
    expect(r.next).toMatch(/baseline/);
    expect(git(ws, "branch", "--show-current").trim()).toBe("autoresearch/nov24");
    expect(read(ws, "results.tsv")).toBe("commit\tval_bpb\tmemory_gb\tstatus\tdescription\n");
    expect(read(ws, ".gitignore")).toBe("__pycache__/\n");
    expect(porcelain(ws)).toBe("");
  });

  it("refuses an existing branch unless resume, and bad tags", async () => {
    const { ws, c } = await fresh();
    git(ws, "branch", "autoresearch/taken");
    expect(await refused(c, "start_session", { tag: "taken" })).toMatch(/^Refused: Branch autoresearch\/taken already exists\.\nNext: .*"resume":true/);
    for (const tag of ["-x", "a..b", "has space", "x.lock", "a/b", "$(rm -rf /)", "é"]) expect(await refused(c, "start_session", { tag }), tag).toMatch(/not usable as a branch name/);
    expect(git(ws, "branch", "--list").trim().split("\n").length).toBe(2);
  });

  it("refuses a missing editable or read-only file, and a dirty tree", async () => {
    const a = await fresh({ config: { run: ["python3", "train.py"], readonly: ["prepare.py", "data.py"] } });
    expect(await refused(a.c, "start_session", { tag: "x" })).toMatch(/read-only file "data\.py" does not exist/);
    const b = await fresh();
    write(b.ws, "notes.txt", "scratch");
    expect(await refused(b.c, "start_session", { tag: "x" })).toMatch(/work tree is not clean: notes\.txt/);
    expect(git(b.ws, "branch", "--show-current").trim()).toBe("master");
  });

  it("runs the configured checks and stops on a failing one", async () => {
    const { ws, c } = await fresh({ config: { run: ["python3", "train.py"], checks: [["python3", "-c", "print('data ok')"], ["python3", "-c", "import sys; print('no cached data in ~/.cache'); sys.exit(3)"]] } });
    const msg = await refused(c, "start_session", { tag: "x" });
    expect(msg).toMatch(/The check \["python3","-c",.*\] failed \(exit 3\)\.\nno cached data/);
    expect(msg).toMatch(/report this to the human and stop/);
    expect(git(ws, "branch", "--show-current").trim()).toBe("master");
  });

  it("kills a check's whole process tree at checkTimeoutSeconds and refuses the session", async () => {
    const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "ar-check-"));
    try {
      const pidFile = path.join(scratch, "grandchild.pid");
      // sh starts a grandchild first thing, then waits forever: only a tree kill ends both.
      const check = ["sh", "-c", `sleep 300 & echo $! > '${pidFile}'; wait`];
      const { ws, c } = await fresh({ config: { run: ["python3", "train.py"], checks: [check], checkTimeoutSeconds: 5, graceSeconds: 1 } });
      const msg = await refused(c, "start_session", { tag: "x" });
      expect(msg).toMatch(/The check \["sh","-c",.*\] failed \(timed out after 5 s\)/);
      expect(fs.existsSync(pidFile), "the check started its grandchild").toBe(true);
      const pid = Number(fs.readFileSync(pidFile, "utf8"));
      expect(await waitUntil(() => !alive(pid), 30_000), `grandchild ${pid} is gone`).toBe(true);
      expect(git(ws, "branch", "--show-current").trim()).toBe("master");
    } finally {
      fs.rmSync(scratch, { recursive: true, force: true });
    }
  });

  it("names the field of a bad autoresearch.json on every call and keeps serving", async () => {
    const { c } = await fresh({ config: { run: "python3 train.py", budgetSeconds: -1, colour: "blue" } });
    const msg = await refused(c, "start_session", { tag: "x" });
    expect(msg).toMatch(/autoresearch\.json: /);
    expect(msg).toMatch(/unknown field "colour"/);
    expect(msg).toMatch(/run: expected array/);
    expect(msg).toMatch(/budgetSeconds/);
    expect(await refused(c, "status")).toMatch(/autoresearch\.json/);
  });

  it("refuses when results.tsv already holds rows of an earlier session", async () => {
    const { ws, c } = await fresh();
    write(ws, "results.tsv", "commit\tval_bpb\tmemory_gb\tstatus\tdescription\nbaseline\t0.997900\t44.0\tkeep\tbaseline\n");
    git(ws, "add", "results.tsv");
    git(ws, "commit", "-qm", "oops, tracked");
    expect(await refused(c, "start_session", { tag: "x" })).toMatch(/already holds 1 row/);
  });

  it("every tool but status/read_train/parse_metrics needs a session, and says how to start one", async () => {
    const { c } = await fresh();
    for (const [name, args] of [["apply_patch", { content: "x = 1\n" }], ["commit", { description: "x" }], ["run_training", {}], ["log_result", { description: "x" }], ["reset_to_best", {}]] as const)
      expect(await refused(c, name, args), name).toMatch(/No autoresearch session is active[\s\S]*start_session/);
    expect((await ok(c, "status")).session).toBeNull();
  });
});

describe("start_session with resume: a restarted server continues from branch + results.tsv", () => {
  it("a restarted server picks the session up by itself while HEAD is on its branch", async () => {
    const { ws, c, srv } = await session({ tag: "night", baseline: true });
    const kept = await experiment(c, "LR = 0.04", "LR = 0.045", "better");
    await experiment(c, "LR = 0.045", "LR = 0.03", "worse");
    await srv.close();

    const again = await restart(ws);
    expect(await refused(again.c, "apply_patch", { edits: [{ old: "LR = 0.03", new: "LR = 0.02" }] })).toMatch(/logged discard/);
    expect((await ok(again.c, "reset_to_best")).commit).toBe(kept.logged.row.commit);
    git(ws, "checkout", "-q", "master");
    const third = await restart(ws);
    expect(await refused(third.c, "commit", { description: "x" })).toMatch(/No autoresearch session is active/);
  });

  it("resumes without a tag from the current branch and keeps the discard rule", async () => {
    const { ws, c, srv } = await session({ tag: "night", baseline: true });
    const kept = await experiment(c, "LR = 0.04", "LR = 0.045", "better");
    await experiment(c, "LR = 0.045", "LR = 0.03", "worse");
    await srv.close();
    fs.rmSync(path.join(ws, ".git", "autoresearch", "session.json"));

    const again = await restart(ws);
    const r = await ok(again.c, "start_session", { resume: true });
    expect(r).toMatchObject({ tag: "night", branch: "autoresearch/night", resumed: true, rows: 3 });
    expect(await refused(again.c, "apply_patch", { edits: [{ old: "LR = 0.03", new: "LR = 0.02" }] })).toMatch(/logged discard/);
    expect((await ok(again.c, "reset_to_best")).commit).toBe(kept.logged.row.commit);
    const st = await ok(again.c, "status");
    expect(st.best).toMatchObject({ commit: kept.logged.row.commit, metric: 0.95 });
    expect(st.session).toMatchObject({ tag: "night" });
    await experiment(again.c, "LR = 0.045", "LR = 0.05", "best yet");
    expect(read(ws, "results.tsv").trim().split("\n").length).toBe(5);
  });

  it("restores a deleted results.tsv from the server's copy", async () => {
    const { ws, srv } = await session({ tag: "r", baseline: true });
    const before = read(ws, "results.tsv");
    await srv.close();
    fs.rmSync(path.join(ws, "results.tsv"));
    const again = await restart(ws);
    const r = await ok(again.c, "start_session", { tag: "r", resume: true });
    expect(r.problems.join("\n")).toMatch(/restored it from the server's copy/);
    expect(read(ws, "results.tsv")).toBe(before);
  });

  it("refuses to resume a branch that does not exist", async () => {
    const ws = makeWorkspace();
    const srv = await startClient(ws);
    try {
      expect(await refused(srv.client, "start_session", { tag: "nope", resume: true })).toMatch(/does not exist, so there is nothing to resume/);
    } finally {
      await srv.close();
    }
    void headShort;
  });
});
