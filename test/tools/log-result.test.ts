import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ok, refused } from "../helpers/client.js";
import { experiment, session, useSessions } from "../helpers/session.js";
import { headShort, read, write } from "../helpers/workspace.js";

useSessions();

describe("log_result", () => {
  it("writes whole rows in program.md's formats and returns the [EXP] line", async () => {
    const { ws, c } = await session({ tag: "mar5" });
    await ok(c, "run_training");
    const r = await ok(c, "log_result", { description: "baseline\twith\ttabs\nand a newline" });
    expect(r.line).toBe(`[EXP] mar5 1 | commit:${headShort(ws)} | val_bpb:1.000000 | mem:1.0GB | status:keep | baseline with tabs and a newline`);
    expect(read(ws, "results.tsv")).toBe(`commit\tval_bpb\tmemory_gb\tstatus\tdescription\n${headShort(ws)}\t1.000000\t1.0\tkeep\tbaseline with tabs and a newline\n`);
    expect(r.next).toMatch(/Kept/);
  });

  it("refuses keep for a worse result and for a crash; allows the downgrade keep → discard", async () => {
    const { c } = await session({ baseline: true });
    await ok(c, "apply_patch", { edits: [{ old: "LR = 0.04", new: "LR = 0.02" }] });
    await ok(c, "commit", { description: "worse" });
    await ok(c, "run_training");
    expect(await refused(c, "log_result", { description: "worse", status: "keep" })).toMatch(/^Refused: Status "keep" is not allowed for this run: the server proposes "discard", val_bpb 1\.200000 vs best kept 1\.000000/);
    expect((await ok(c, "log_result", { description: "worse" })).row.status).toBe("discard");
    await ok(c, "reset_to_best");

    await ok(c, "apply_patch", { edits: [{ old: "CRASH = False", new: "CRASH = True" }] });
    await ok(c, "commit", { description: "crash" });
    await ok(c, "run_training");
    expect(await refused(c, "log_result", { description: "crash", status: "keep" })).toMatch(/proposes "crash"/);
    expect(await refused(c, "log_result", { description: "crash", status: "discard" })).toMatch(/proposes "crash"/);
    await ok(c, "log_result", { description: "crash" });
    await ok(c, "reset_to_best");

    const better = await experiment(c, "LR = 0.04", "LR = 0.045", "better but hacky", "discard");
    expect(better.run.proposedStatus).toBe("keep");
    expect(better.logged.row.status).toBe("discard");
  });

  it("allows keep for an equal value (a simpler change), never crash → keep", async () => {
    const { c } = await session({ baseline: true });
    await ok(c, "apply_patch", { edits: [{ old: "MEMORY_MB = 1024.0", new: "MEMORY_MB = 1000.0" }] });
    await ok(c, "commit", { description: "equal, simpler" });
    const run = await ok(c, "run_training");
    expect(run.proposedStatus).toBe("discard");
    expect((await ok(c, "log_result", { description: "equal, simpler", status: "keep" })).row.status).toBe("keep");
  });

  it("refuses without a run of HEAD, and twice for the same run", async () => {
    const { c } = await session();
    expect(await refused(c, "log_result", { description: "x" })).toMatch(/has no finished run to log.*\nNext: Call run_training first/);
    await ok(c, "run_training");
    await ok(c, "log_result", { description: "baseline" });
    expect(await refused(c, "log_result", { description: "again" })).toMatch(/already logged/);
  });

  it("appends after a hand-edited file without a final newline and never glues rows", async () => {
    const { ws, c } = await session();
    fs.appendFileSync(path.join(ws, "results.tsv"), "baseline\t0.997900\t44.0\tkeep\thand-written, no newline");
    await ok(c, "run_training");
    await ok(c, "log_result", { description: "mine" });
    const lines = read(ws, "results.tsv").split("\n");
    expect(lines[1]).toBe("baseline\t0.997900\t44.0\tkeep\thand-written, no newline");
    expect(lines[2]).toMatch(/^[0-9a-f]{7}\t1\.000000\t1\.0\tdiscard\tmine$/);
  });

  it("is refused before the baseline-only rule is broken: the code cannot change with an unlogged run", async () => {
    const { ws, c } = await session();
    await ok(c, "run_training");
    expect(await refused(c, "apply_patch", { edits: [{ old: "LR = 0.04", new: "LR = 0.05" }] })).toMatch(/not logged in results\.tsv.*\nNext: Call log_result first/);
    expect(await refused(c, "reset_to_best")).toMatch(/not logged yet; a reset now would lose it/);
    expect(await refused(c, "run_training")).toMatch(/is not logged yet/);
    write(ws, "x", "");
  });
});
