import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { RunExit } from "../../src/executor/executor.js";
import { parseLogFile, type ParsedLog } from "../../src/metrics.js";
import { memoryGbOf, runOutcome, type OutcomeContext, type RunOutcome } from "../../src/rules/outcome.js";
import { propose } from "../../src/rules/policy.js";

const CTX: OutcomeContext = { metric: "val_bpb", memoryKey: "peak_vram_mb", program: "uv", budgetSeconds: 300, killAfterSeconds: 600 };

/** A parsed log by hand: the summary block's metrics (hasMetric as parseLogFile sets it) and the tail. */
function log(metrics: Record<string, number | string> = {}, tail: string[] = []): ParsedLog {
  const v = metrics.val_bpb;
  return { metrics, hasMetric: typeof v === "number" && Number.isFinite(v), tail, lastProgress: null, sizeBytes: 1000 };
}

const SUMMARY = { val_bpb: 0.9979, training_seconds: 300.1, peak_vram_mb: 45060.2, num_steps: 953 };
const TRACEBACK = ["Traceback (most recent call last):", '  File "train.py", line 12, in <module>', "RuntimeError: boom"];

const exit = (over: Partial<RunExit>): RunExit => ({ code: 0, signal: null, timedOut: false, reason: "exit", ...over });
const TIMEOUT = exit({ code: null, signal: "SIGKILL", timedOut: true, reason: "limit" });

type Want = Pick<RunOutcome, "value" | "memoryGb" | "crashed" | "timedOut"> & { reason: string | RegExp | null };

describe("runOutcome", () => {
  it.each<{ name: string; exit: RunExit | null; parsed: ParsedLog; ctx?: OutcomeContext; want: Want }>([
    {
      name: "no run record, a log with the metric",
      exit: null,
      parsed: log(SUMMARY),
      want: { value: 0.9979, memoryGb: 44, crashed: false, timedOut: false, reason: null },
    },
    {
      name: "no run record, a log without the metric",
      exit: null,
      parsed: log({}, ["step 00100 | loss 3.2"]),
      want: { value: null, memoryGb: null, crashed: true, timedOut: false, reason: "no summary block in the log" },
    },
    {
      name: "no run record, a log with a traceback",
      exit: null,
      parsed: log({}, TRACEBACK),
      want: { value: null, memoryGb: null, crashed: true, timedOut: false, reason: "RuntimeError: boom" },
    },
    {
      name: "exit 0 with the metric",
      exit: exit({}),
      parsed: log(SUMMARY),
      want: { value: 0.9979, memoryGb: 44, crashed: false, timedOut: false, reason: null },
    },
    {
      name: "exit 0 with the metric but no memory key",
      exit: exit({}),
      parsed: log({ val_bpb: 1.01 }),
      want: { value: 1.01, memoryGb: null, crashed: false, timedOut: false, reason: null },
    },
    {
      name: "exit 0 without the metric",
      exit: exit({}),
      parsed: log({ peak_vram_mb: 2048 }),
      want: { value: null, memoryGb: 2, crashed: true, timedOut: false, reason: "no summary block in the log" },
    },
    {
      name: "exit 0, the metric is not a finite number",
      exit: exit({}),
      parsed: log({ val_bpb: NaN, peak_vram_mb: 2048 }, ["FAIL"]),
      want: { value: null, memoryGb: 2, crashed: true, timedOut: false, reason: /loss exploded/ },
    },
    {
      name: "exit 1 WITH the metric is a crash (the value is still reported)",
      exit: exit({ code: 1 }),
      parsed: log(SUMMARY),
      want: { value: 0.9979, memoryGb: 44, crashed: true, timedOut: false, reason: "exited with code 1" },
    },
    {
      name: "exit 1 with the metric and a traceback after it",
      exit: exit({ code: 1 }),
      parsed: log(SUMMARY, TRACEBACK),
      want: { value: 0.9979, memoryGb: 44, crashed: true, timedOut: false, reason: "RuntimeError: boom" },
    },
    {
      name: "exit 1 without the metric, out of memory",
      exit: exit({ code: 1 }),
      parsed: log({}, ["torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB"]),
      want: { value: null, memoryGb: null, crashed: true, timedOut: false, reason: "out of memory (OOM)" },
    },
    {
      name: "timed out with the metric: not a crash",
      exit: TIMEOUT,
      parsed: log(SUMMARY),
      want: { value: 0.9979, memoryGb: 44, crashed: false, timedOut: true, reason: "killed at the hard limit of 600 s (budget 300 s)" },
    },
    {
      name: "timed out without the metric: not a crash either",
      exit: TIMEOUT,
      parsed: log({}, TRACEBACK),
      want: { value: null, memoryGb: null, crashed: false, timedOut: true, reason: "killed at the hard limit of 600 s (budget 300 s)" },
    },
    {
      name: "timed out, limits not known",
      exit: TIMEOUT,
      parsed: log({}),
      ctx: { metric: "val_bpb", memoryKey: "peak_vram_mb" },
      want: { value: null, memoryGb: null, crashed: false, timedOut: true, reason: "killed at the hard limit" },
    },
    {
      name: "cancelled, even with exit 0 and the metric",
      exit: exit({ code: 0, reason: "cancel" }),
      parsed: log(SUMMARY),
      want: { value: 0.9979, memoryGb: 44, crashed: true, timedOut: false, reason: "cancelled" },
    },
    {
      name: "cancelled by a signal, no metric",
      exit: exit({ code: null, signal: "SIGTERM", reason: "cancel" }),
      parsed: log({}, TRACEBACK),
      want: { value: null, memoryGb: null, crashed: true, timedOut: false, reason: "cancelled" },
    },
    {
      name: "server shutdown",
      exit: exit({ code: null, signal: "SIGTERM", reason: "shutdown" }),
      parsed: log({}),
      want: { value: null, memoryGb: null, crashed: true, timedOut: false, reason: "cancelled" },
    },
    {
      name: "the server died during the run",
      exit: exit({ code: null, signal: "SIGKILL", reason: "server-died" }),
      parsed: log(SUMMARY),
      want: { value: 0.9979, memoryGb: 44, crashed: true, timedOut: false, reason: "the server died during the run; its tree was killed" },
    },
    {
      name: "spawn failed, with the error text",
      exit: exit({ code: null, reason: "spawn-failed", error: "spawn uv ENOENT" }),
      parsed: log({}),
      want: { value: null, memoryGb: null, crashed: true, timedOut: false, reason: 'could not start "uv": spawn uv ENOENT' },
    },
    {
      name: "spawn failed, program unknown",
      exit: exit({ code: null, reason: "spawn-failed", error: "EACCES" }),
      parsed: log({}),
      ctx: { metric: "val_bpb", memoryKey: "peak_vram_mb" },
      want: { value: null, memoryGb: null, crashed: true, timedOut: false, reason: /^could not start .*: EACCES$/ },
    },
    {
      name: "spawn failed without error text still counts as a crash",
      exit: exit({ code: null, reason: "spawn-failed" }),
      parsed: log(SUMMARY),
      want: { value: 0.9979, memoryGb: 44, crashed: true, timedOut: false, reason: /./ },
    },
    {
      name: "killed by a signal (exit reason normal)",
      exit: exit({ code: null, signal: "SIGSEGV" }),
      parsed: log({}, ["step 00100 | loss 3.2"]),
      want: { value: null, memoryGb: null, crashed: true, timedOut: false, reason: "killed by signal SIGSEGV" },
    },
    {
      name: "killed by a signal after the summary was printed",
      exit: exit({ code: null, signal: "SIGKILL" }),
      parsed: log(SUMMARY),
      want: { value: 0.9979, memoryGb: 44, crashed: true, timedOut: false, reason: "killed by signal SIGKILL" },
    },
  ])("$name", ({ exit, parsed, ctx, want }) => {
    const o = runOutcome(exit, parsed, ctx ?? CTX);
    expect({ value: o.value, memoryGb: o.memoryGb, crashed: o.crashed, timedOut: o.timedOut }).toEqual({ value: want.value, memoryGb: want.memoryGb, crashed: want.crashed, timedOut: want.timedOut });
    if (want.reason === null) expect(o.reason).toBeNull();
    else if (typeof want.reason === "string") expect(o.reason).toBe(want.reason);
    else expect(o.reason).toMatch(want.reason);
  });

  it("a spawn failure's reason starts with could not start \"uv\"", () => {
    const o = runOutcome(exit({ code: null, reason: "spawn-failed", error: "spawn uv ENOENT" }), log({}), CTX);
    expect(o.reason!.startsWith('could not start "uv"')).toBe(true);
  });

  it("reads the configured metric and memory keys, not the defaults", () => {
    const ctx: OutcomeContext = { metric: "accuracy", memoryKey: "vram" };
    const parsed: ParsedLog = { metrics: { accuracy: 0.91, vram: 3072, val_bpb: 0.5, peak_vram_mb: 99999 }, hasMetric: true, tail: [], lastProgress: null, sizeBytes: 10 };
    expect(runOutcome(exit({}), parsed, ctx)).toEqual({ value: 0.91, memoryGb: 3, crashed: false, timedOut: false, reason: null });
  });

  it("a metric value that is text is no value (a crash)", () => {
    const parsed: ParsedLog = { metrics: { val_bpb: "n/a" }, hasMetric: true, tail: [], lastProgress: null, sizeBytes: 10 };
    expect(runOutcome(exit({}), parsed, CTX)).toMatchObject({ value: null, crashed: true });
  });

  it("every crash has a reason and no clean run has one", () => {
    const exits: (RunExit | null)[] = [null, exit({}), exit({ code: 1 }), exit({ code: 0, reason: "cancel" }), exit({ code: null, signal: "SIGKILL" }), TIMEOUT];
    for (const e of exits)
      for (const p of [log(SUMMARY), log({}), log({}, TRACEBACK)]) {
        const o = runOutcome(e, p, CTX);
        expect(o.crashed && o.timedOut).toBe(false);
        if (o.crashed || o.timedOut) expect(o.reason).toMatch(/\S/);
        else expect(o.reason).toBeNull();
      }
  });

  it("a crash with a metric is proposed as a crash, not judged by its value", () => {
    const o = runOutcome(exit({ code: 1 }), log(SUMMARY), CTX);
    expect(propose(o, [], "min")).toEqual({ status: "crash", reason: "exited with code 1" });
  });
});

describe("runOutcome on real log files (parseLogFile)", () => {
  const TMP = fs.mkdtempSync(path.join(os.tmpdir(), "aroutcome-"));
  afterAll(() => fs.rmSync(TMP, { recursive: true, force: true }));
  let n = 0;
  const parsedFrom = (text: string) => {
    const f = path.join(TMP, `run-${n++}.log`);
    fs.writeFileSync(f, text);
    return parseLogFile(f, "val_bpb");
  };
  const summary = (bpb: string) => ["---", `val_bpb:          ${bpb}`, "training_seconds: 300.1", "peak_vram_mb:     45060.2", "num_steps:        953", ""].join("\n");
  const progress = "step 00950 (99.9%) | loss: 2.912345 | dt: 312ms | remaining: 1s";

  it.each<{ name: string; text: string; exit: RunExit | null; want: Want }>([
    { name: "a finished karpathy run", text: `${progress}\n${summary("0.997900")}`, exit: exit({}), want: { value: 0.9979, memoryGb: 44, crashed: false, timedOut: false, reason: null } },
    { name: "the same log, exit 1", text: `${progress}\n${summary("0.997900")}`, exit: exit({ code: 1 }), want: { value: 0.9979, memoryGb: 44, crashed: true, timedOut: false, reason: "exited with code 1" } },
    { name: "val_bpb: nan", text: `${progress}\n${summary("nan")}`, exit: exit({}), want: { value: null, memoryGb: 44, crashed: true, timedOut: false, reason: "no summary block in the log" } },
    { name: "loss exploded: FAIL after a \\r progress record", text: `\r${progress} FAIL\n`, exit: exit({ code: 1 }), want: { value: null, memoryGb: null, crashed: true, timedOut: false, reason: "loss exploded (NaN): train.py printed FAIL" } },
    { name: "a traceback, no run record", text: `${progress}\n${TRACEBACK.join("\n")}\n`, exit: null, want: { value: null, memoryGb: null, crashed: true, timedOut: false, reason: "RuntimeError: boom" } },
    { name: "an empty log, timed out", text: "", exit: TIMEOUT, want: { value: null, memoryGb: null, crashed: false, timedOut: true, reason: "killed at the hard limit of 600 s (budget 300 s)" } },
  ])("$name", ({ text, exit, want }) => {
    const o = runOutcome(exit, parsedFrom(text), CTX);
    expect(o).toEqual({ ...want });
  });
});

describe("memoryGbOf", () => {
  it.each<{ name: string; metrics: ParsedLog["metrics"]; want: number | null }>([
    { name: "1024 MB", metrics: { peak_vram_mb: 1024 }, want: 1 },
    { name: "45060.2 MB (karpathy's H100 run)", metrics: { peak_vram_mb: 45060.2 }, want: 44 },
    { name: "1536 MB", metrics: { peak_vram_mb: 1536 }, want: 1.5 },
    { name: "one decimal, rounded", metrics: { peak_vram_mb: 81000 }, want: 79.1 },
    { name: "0 MB", metrics: { peak_vram_mb: 0 }, want: 0 },
    { name: "missing", metrics: { val_bpb: 0.99 }, want: null },
    { name: "NaN", metrics: { peak_vram_mb: NaN }, want: null },
    { name: "Infinity", metrics: { peak_vram_mb: Infinity }, want: null },
    { name: "a string", metrics: { peak_vram_mb: "45060.2" }, want: null },
    { name: "empty metrics", metrics: {}, want: null },
  ])("$name → $want", ({ metrics, want }) => {
    expect(memoryGbOf(metrics, "peak_vram_mb")).toBe(want);
  });

  it("reads the key it is given", () => {
    expect(memoryGbOf({ peak_vram_mb: 1024, vram: 2048 }, "vram")).toBe(2);
  });
});
