import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ok } from "./helpers/client.js";
import { experiment, restart, useSessions } from "./helpers/session.js";
import { addWorktree, git, headShort, logSubjects, makeWorkspace, porcelain, read } from "./helpers/workspace.js";

useSessions();

/** Every file outside .git with its content, to show that a directory was left alone. */
function snapshot(dir: string, rel = ""): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
    const p = path.posix.join(rel, e.name);
    if (p === ".git") continue;
    if (e.isDirectory()) Object.assign(out, snapshot(dir, p));
    else out[p] = fs.readFileSync(path.join(dir, p), "utf8");
  }
  return out;
}

describe("a workspace that is a linked git worktree", () => {
  it("runs a session there end to end through the server; the main checkout is not touched", async () => {
    const main = makeWorkspace();
    const before = snapshot(main);
    const initial = headShort(main);
    const wt = addWorktree(main, "wt");
    const { c } = await restart(wt);

    expect(await ok(c, "start_session", { tag: "wt1" })).toMatchObject({ branch: "autoresearch/wt1", resumed: false });
    await ok(c, "run_training");
    const baseline = await ok(c, "log_result", { description: "baseline" });
    expect(baseline.row.commit).toBe(initial);
    const { logged } = await experiment(c, "LR = 0.04", "LR = 0.03", "worse");
    expect(logged.row.status).toBe("discard");
    const tried = logged.row.commit;
    expect(logSubjects(wt)).toEqual(["wt1: worse", "initial"]);
    expect(git(wt, "show", "--name-only", "--format=", tried).trim()).toBe("train.py");

    const reset = await ok(c, "reset_to_best");
    expect(reset).toMatchObject({ commit: initial, droppedCommits: 1 });

    // The worktree: on the session branch, back at the best commit, the tried one still reachable.
    expect(git(wt, "branch", "--show-current").trim()).toBe("autoresearch/wt1");
    expect(headShort(wt)).toBe(initial);
    expect(logSubjects(wt)).toEqual(["initial"]);
    expect(git(wt, "log", "-1", "--format=%s", `refs/autoresearch-mcp/wt1/${tried}`).trim()).toBe("wt1: worse");
    expect(read(wt, "train.py")).toBe(git(wt, "show", `${initial}:train.py`));
    expect(read(wt, "results.tsv").trim().split("\n").map((l) => l.split("\t")[0])).toEqual(["commit", initial, tried]);
    expect(porcelain(wt)).toBe(""); // results.tsv and run.log are excluded
    expect(git(wt, "status", "--porcelain", "--ignored").split("\n")).toEqual(expect.arrayContaining(["!! results.tsv", "!! run.log"]));
    expect(read(main, ".git/info/exclude")).toMatch(/^\/results\.tsv$/m);

    // The server's state is in this worktree's own git dir, not in the main checkout's.
    const own = git(wt, "rev-parse", "--absolute-git-dir").trim();
    expect(fs.existsSync(path.join(own, "autoresearch", "session.json"))).toBe(true);
    expect(fs.existsSync(path.join(main, ".git", "autoresearch"))).toBe(false);

    // The main checkout: same branch, same commit, same files, nothing new.
    expect(git(main, "branch", "--show-current").trim()).toBe("master");
    expect(headShort(main)).toBe(initial);
    expect(porcelain(main)).toBe("");
    expect(snapshot(main)).toEqual(before);
    expect(git(main, "rev-parse", "autoresearch/wt1").trim()).toBe(git(wt, "rev-parse", "HEAD").trim());
  });
});
