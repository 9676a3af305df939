import { afterEach, describe, expect, it } from "vitest";
import { startClient, ok, refused, call, text, type Started } from "../helpers/client.js";
import { makeWorkspace, removeWorkspaces, read, git, porcelain, headShort, logSubjects } from "../helpers/workspace.js";

let srv: Started | null = null;
afterEach(async () => {
  await srv?.close();
  srv = null;
  removeWorkspaces();
});

describe("the whole protocol (seed 001) through a real client", () => {
  it("setup, baseline, keep, discard + reset, crash + fix, and results.tsv agrees with git", async () => {
    const ws = makeWorkspace();
    srv = await startClient(ws);
    const c = srv.client;

    const start = await ok(c, "start_session", { tag: "t1" });
    expect(start.branch).toBe("autoresearch/t1");
    expect(git(ws, "branch", "--show-current").trim()).toBe("autoresearch/t1");
    expect(read(ws, "results.tsv")).toBe("commit\tval_bpb\tmemory_gb\tstatus\tdescription\n");
    expect(git(ws, "check-ignore", "results.tsv", "run.log").trim().split("\n")).toEqual(["results.tsv", "run.log"]);
    expect(porcelain(ws)).toBe("");

    // baseline
    const base = await ok(c, "run_training");
    expect(base.state).toBe("finished");
    expect(base.metric).toBeCloseTo(1.0, 6);
    expect(base.proposedStatus).toBe("keep");
    const b = await ok(c, "log_result", { description: "baseline" });
    expect(b.line).toBe(`[EXP] t1 1 | commit:${headShort(ws)} | val_bpb:1.000000 | mem:1.0GB | status:keep | baseline`);

    // an improvement
    const r = await ok(c, "read_train");
    await ok(c, "apply_patch", { edits: [{ old: "LR = 0.04", new: "LR = 0.045" }], expectedHash: r.hash });
    const cm = await ok(c, "commit", { description: "raise LR to 0.045" });
    expect(cm.commit).toBe(headShort(ws));
    const run2 = await ok(c, "run_training");
    expect(run2.metric).toBeCloseTo(0.95, 6);
    const l2 = await ok(c, "log_result", { description: "raise LR to 0.045" });
    expect(l2.row.status).toBe("keep");
    const kept = headShort(ws);

    // a worse one: discard, then reset
    await ok(c, "apply_patch", { edits: [{ old: "LR = 0.045", new: "LR = 0.02" }] });
    await ok(c, "commit", { description: "lower LR to 0.02" });
    const discarded = headShort(ws);
    await ok(c, "run_training");
    expect((await ok(c, "log_result", { description: "lower LR to 0.02" })).row.status).toBe("discard");
    expect(await refused(c, "apply_patch", { edits: [{ old: "LR = 0.02", new: "LR = 0.03" }] })).toMatch(/^Refused: HEAD .* is a logged discard/);
    const reset = await ok(c, "reset_to_best");
    expect(reset.commit).toBe(kept);
    expect(headShort(ws)).toBe(kept);
    expect(porcelain(ws)).toBe("");

    // a crash, one fix, then it works
    await ok(c, "apply_patch", { edits: [{ old: "CRASH = False", new: "CRASH = True" }] });
    await ok(c, "commit", { description: "try crash" });
    const crash = await ok(c, "run_training");
    expect(crash.crashed).toBe(true);
    expect(crash.reason).toMatch(/RuntimeError: boom/);
    expect(crash.tail.length).toBeGreaterThan(0);
    expect((await ok(c, "log_result", { description: "try crash" })).row).toMatchObject({ status: "crash", metric: "0.000000", memoryGb: "0.0" });
    await ok(c, "apply_patch", { edits: [{ old: "CRASH = True", new: "CRASH = False" }] });
    await ok(c, "commit", { description: "fix crash" });
    await ok(c, "run_training");
    expect((await ok(c, "log_result", { description: "fix crash" })).row.status).toBe("discard");
    await ok(c, "reset_to_best");

    const rows = read(ws, "results.tsv").trim().split("\n").slice(1).map((l) => l.split("\t"));
    expect(rows.map((r) => r[3])).toEqual(["keep", "keep", "discard", "crash", "discard"]);
    expect(rows[2][0]).toBe(discarded);
    // every row names a commit that exists in git with the message the agent gave
    for (const row of rows) expect(git(ws, "log", "-1", "--format=%s", row[0]).trim()).toMatch(row[4] === "baseline" ? /initial/ : new RegExp(`^t1: ${row[4]}$`));
    expect(logSubjects(ws)).toEqual(["t1: raise LR to 0.045", "initial"]);
    expect(git(ws, "ls-files")).not.toMatch(/results\.tsv|run\.log/);

    const st = await ok(c, "status");
    expect(st.best).toMatchObject({ commit: kept, metric: 0.95 });
    expect(st.counts).toMatchObject({ total: 5, keep: 2, discard: 2, crash: 1 });
    expect(st.sinceLastKeep).toBe(3);
    void call;
    void text;
  });
});
