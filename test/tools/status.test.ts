import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ok, text, call } from "../helpers/client.js";
import { experiment, session, useSessions } from "../helpers/session.js";

useSessions();

describe("status", () => {
  it("gives best, counts, stall count, last rows (default 20), trajectory and the run in progress", async () => {
    const { ws, c } = await session({ tag: "s", baseline: true });
    // 24 hand-written discards on top, as a long night would leave them
    const rows = Array.from({ length: 24 }, (_, i) => `abc${String(i).padStart(4, "0")}\t1.100000\t1.0\tdiscard\ttry ${i}, (variant)\n`).join("");
    fs.appendFileSync(path.join(ws, "results.tsv"), rows);
    const st = await ok(c, "status");
    expect(st.counts).toEqual({ total: 25, keep: 1, discard: 24, crash: 0, other: 0 });
    expect(st.sinceLastKeep).toBe(24);
    expect(st.lastRows.length).toBe(20);
    expect(st.lastRows[19]).toMatchObject({ n: 25, commit: "abc0023", metric: "1.100000", status: "discard", description: "try 23, (variant)" });
    expect(st.advice).toMatch(/widen the search/);
    expect(st.best).toMatchObject({ metric: 1, description: "baseline" });
    expect(st.trajectory).toEqual([{ commit: st.best.commit, metric: 1, description: "baseline" }]);
    expect((await ok(c, "status", { rows: 3 })).lastRows.length).toBe(3);
    expect(st.running).toBeNull();
  });

  it("renders a short text for clients that read only text", async () => {
    const { c } = await session({ tag: "s", baseline: true });
    await experiment(c, "LR = 0.04", "LR = 0.045", "better");
    const t = text(await call(c, "status"));
    expect(t).toMatch(/^Session s on autoresearch\/s, HEAD [0-9a-f]{7}\./);
    expect(t).toMatch(/2 experiments: 2 keep, 0 discard, 0 crash; 0 since the last keep\./);
    expect(t).toMatch(/Best val_bpb 0\.950000 at [0-9a-f]{7} \(better\), 0\.050000 better than baseline\./);
    expect(t.length).toBeLessThan(2000);
  });

  it("reports hand edits of results.tsv without rewriting it", async () => {
    const { ws, c } = await session({ tag: "s" });
    const file = path.join(ws, "results.tsv");
    fs.writeFileSync(file, "commit\tval_bpb\tmemory_gb\tstatus\tdescription\r\nbaseline\t0.997900\t44.0\tkeep\tbaseline\r\nabc1234\tnan\t44.0\tdiscard\tdiverged\textra\r\nabc12");
    const before = fs.readFileSync(file);
    const st = await ok(c, "status");
    expect(st.problems.join("\n")).toMatch(/CRLF/);
    expect(st.problems.join("\n")).toMatch(/not a number/);
    expect(st.problems.join("\n")).toMatch(/no final newline/);
    expect(st.best).toMatchObject({ commit: "baseline", metric: 0.9979 });
    expect(fs.readFileSync(file).equals(before)).toBe(true);
  });

  it("lists at most 20 problems of a badly edited results.tsv, with a count of the rest", async () => {
    const { ws, c } = await session({ tag: "s" });
    const bad = Array.from({ length: 300 }, (_, i) => `c${i}\tnot-a-number\t1.0\tdiscard\tx\n`).join("");
    fs.writeFileSync(path.join(ws, "results.tsv"), "commit\tval_bpb\tmemory_gb\tstatus\tdescription\nbaseline\t0.997900\t44.0\tkeep\tbaseline\n" + bad);
    const st = await ok(c, "status");
    expect(st.problems).toHaveLength(21);
    expect(st.problems[20]).toMatch(/^… and \d+ more$/);
    expect(st.counts.total).toBe(301);
  });
});
