import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { measuredRows, type KeyCache } from "../../src/session/measures.js";
import { RunLog, type RunLogEntry } from "../../src/session/run-log.js";
import type { ResultRow } from "../../src/results.js";

/** results.tsv's rows joined with the run log: the entry speaks for its row only while the row is as written. */

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

function log(entries: Partial<RunLogEntry>[]): RunLog {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ar-runlog-"));
  dirs.push(dir);
  const l = new RunLog(path.join(dir, "runs.jsonl"));
  entries.forEach((e, i) => l.append({ session: "t", line: 2 + i, commit: "aaaaaaa", oid: "a", key: "code:A", value: 1, memoryGb: 1, durationSeconds: 1, status: "keep", runId: `r${i}`, slot: null, revoked: false, at: "", ...e }));
  return l;
}
const row = (line: number, commit: string, value: number, status: string, description = "x"): ResultRow => ({ line, commit, valueText: value.toFixed(6), value, memoryText: "1.0", memoryGb: 1, status, description });
const keys = { ofRow: async (c: string) => `git:${c}` } as unknown as KeyCache;
const ctx = (runLog: RunLog) => ({ tag: "t", base: "aaaaaaa0000000000000000000000000000000000", keys, runLog });

describe("measuredRows", () => {
  it("takes the key, the exact value and the revocation from the run log", async () => {
    const m = await measuredRows(ctx(log([{ value: 0.9876543 }, { line: 3, commit: "bbbbbbb", key: "code:B", value: null, status: "crash", revoked: true }])), [row(2, "aaaaaaa", 0.987654, "keep"), { ...row(3, "bbbbbbb", 0, "crash"), valueText: "0.000000" }]);
    expect(m.map((x) => [x.key, x.value, x.revoked])).toEqual([
      ["code:A", 0.9876543, false],
      ["code:B", null, true],
    ]);
  });

  it("a row deleted by hand: the row now on that line is taken as the file says, not from the deleted run's entry", async () => {
    const l = log([{ value: 1.0 }, { value: 1.002 }, { commit: "bbbbbbb", key: "code:B", value: 0.9 }, { commit: "bbbbbbb", key: "code:B", value: 0.99 }]);
    const m = await measuredRows(ctx(l), [row(2, "aaaaaaa", 1.0, "keep"), row(3, "aaaaaaa", 1.002, "keep"), row(4, "bbbbbbb", 0.99, "keep")]);
    expect(m[2]).toMatchObject({ value: 0.99, key: "git:bbbbbbb" });
  });

  it("a value corrected by hand wins over the run log", async () => {
    const m = await measuredRows(ctx(log([{ value: 1.0 }])), [row(2, "aaaaaaa", 1.5, "keep")]);
    expect(m[0].value).toBe(1.5);
  });

  it("rows without entries: keys from git, crashes measure nothing, a [revoked note counts; karpathy's literal baseline is the base", async () => {
    const m = await measuredRows(ctx(log([])), [row(2, "baseline", 0.9979, "keep"), { ...row(3, "ccccccc", 0, "crash"), valueText: "0.000000" }, row(4, "ddddddd", 0.99, "discard", "D [revoked: mean …]")]);
    expect(m.map((x) => [x.row.commit, x.key, x.value, x.revoked])).toEqual([
      ["aaaaaaa", "git:baseline", 0.9979, false],
      ["ccccccc", "git:ccccccc", null, false],
      ["ddddddd", "git:ddddddd", 0.99, true],
    ]);
  });
});
