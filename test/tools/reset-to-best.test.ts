import { describe, expect, it } from "vitest";
import { ok, refused } from "../helpers/client.js";
import { experiment, session, useSessions } from "../helpers/session.js";
import { git, headShort, porcelain, read, write } from "../helpers/workspace.js";

useSessions();

describe("reset_to_best (checked against the git CLI)", () => {
  it("returns to the best kept commit; results.tsv and run.log stay; git status is clean", async () => {
    const { ws, c } = await session({ baseline: true });
    const { logged } = await experiment(c, "LR = 0.04", "LR = 0.045", "better");
    const best = logged.row.commit;
    await experiment(c, "LR = 0.045", "LR = 0.03", "worse");
    const results = read(ws, "results.tsv");
    const log = read(ws, "run.log");
    write(ws, "train.py", read(ws, "train.py") + "# uncommitted scribble\n");
    const r = await ok(c, "reset_to_best");
    expect(r).toMatchObject({ commit: best, metric: 0.95, untouched: ["results.tsv", "run.log"] });
    expect(r.droppedCommits).toBeGreaterThanOrEqual(1);
    expect(git(ws, "rev-parse", "--short=7", "HEAD").trim()).toBe(best);
    expect(git(ws, "rev-parse", "--abbrev-ref", "HEAD").trim()).toBe("autoresearch/t");
    expect(porcelain(ws)).toBe("");
    expect(git(ws, "diff", "HEAD", "--stat")).toBe("");
    expect(read(ws, "train.py")).toBe(git(ws, "show", `${best}:train.py`));
    expect(read(ws, "results.tsv")).toBe(results);
    expect(read(ws, "run.log")).toBe(log);
    expect(git(ws, "fsck", "--no-progress", "--no-dangling").trim()).toBe("");
  });

  it("goes to the session base when nothing was kept yet", async () => {
    const { ws, c } = await session();
    const base = headShort(ws);
    await ok(c, "apply_patch", { edits: [{ old: "LR = 0.04", new: "LR = 0.05" }] });
    await ok(c, "commit", { description: "never ran" });
    expect((await ok(c, "reset_to_best")).commit).toBe(base);
    expect(headShort(ws)).toBe(base);
  });

  it("requires a reset after a crash whose one fix crashed too", async () => {
    const { c } = await session({ baseline: true });
    await experiment(c, "CRASH = False", "CRASH = True", "crash 1");
    const fix = await experiment(c, "LR = 0.04", "LR = 0.041", "fix that does not fix");
    expect(fix.logged.row.status).toBe("crash");
    expect(fix.logged.next).toMatch(/Crashed again: call reset_to_best/);
    expect(await refused(c, "apply_patch", { edits: [{ old: "CRASH = True", new: "CRASH = False" }] })).toMatch(/crashed again after a fix attempt/);
    await ok(c, "reset_to_best");
    await ok(c, "apply_patch", { edits: [{ old: "LR = 0.04", new: "LR = 0.045" }] });
  });

  it("allows exactly one fix commit after a crash", async () => {
    const { c } = await session({ baseline: true });
    await experiment(c, "CRASH = False", "CRASH = True", "crash");
    await ok(c, "apply_patch", { edits: [{ old: "LR = 0.04", new: "LR = 0.041" }] });
    await ok(c, "commit", { description: "fix 1" });
    await ok(c, "apply_patch", { edits: [{ old: "CRASH = True", new: "CRASH = False" }] });
    expect(await refused(c, "commit", { description: "fix 2" })).toMatch(/is already the fix for the crash of [0-9a-f]{7} and has not run yet/);
  });

  it("a kept commit run again for a noise check (#560) stays kept: no deadlock after logging the repeat as discard", async () => {
    const { c } = await session({ baseline: true });
    const again = await ok(c, "run_training");
    expect(again.proposedStatus).toBe("discard");
    await ok(c, "log_result", { description: "baseline again (noise check)" });
    expect((await ok(c, "status")).best.description).toBe("baseline");
    await ok(c, "apply_patch", { edits: [{ old: "LR = 0.04", new: "LR = 0.045" }] });
  });
});
