import fs from "node:fs";
import { execFileSync } from "node:child_process";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { batchScript, exitOf, parseJob, parseSacct } from "../../src/executor/slurm.js";
import { parseConfig } from "../../src/config.js";
import { runOutcome, interrupted } from "../../src/rules/outcome.js";

/**
 * The Slurm executor's reading of the cluster, on `scontrol show job -o` lines recorded from the
 * real one-node cluster of SLURM-LOCAL.md (paths and host names replaced); the whole path runs in
 * `npm run e2e:slurm`.
 */

const recorded = (state: string) => fs.readFileSync(new URL(`../fixtures/slurm/scontrol-${state}.txt`, import.meta.url), "utf8").trim();
const ctx = { metric: "val_bpb", memoryKey: "peak_vram_mb" };
const parsed = { metrics: {}, hasMetric: false, tail: [], sizeBytes: 0, lastProgress: null } as unknown as Parameters<typeof runOutcome>[1];

describe("parseJob", () => {
  it.each([
    ["running", { state: "RUNNING", reason: null, exitCode: 0, signal: 0, node: "node01" }],
    ["pending", { state: "PENDING", reason: "Resources", exitCode: 0, signal: 0, node: null }],
    ["completed", { state: "COMPLETED", reason: null, exitCode: 0, signal: 0, node: "node01" }],
    ["failed", { state: "FAILED", reason: "NonZeroExitCode", exitCode: 3, signal: 0, node: "node01" }],
    ["cancelled", { state: "CANCELLED", reason: null, exitCode: 0, signal: 15, node: "node01" }],
    ["timeout", { state: "TIMEOUT", reason: "TimeLimit", exitCode: 0, signal: 15, node: "node01" }],
  ])("%s", (state, want) => {
    expect(parseJob(recorded(state))).toEqual(want);
  });
  it("a line without a job state is no job", () => {
    expect(parseJob("slurm_load_jobs error: Invalid job id specified")).toBeNull();
    expect(parseJob("")).toBeNull();
  });
});

describe("parseSacct: a job the controller forgot, from accounting", () => {
  it.each([
    ["COMPLETED|0:0|node01|None\n", { state: "COMPLETED", reason: null, exitCode: 0, signal: 0, node: "node01" }],
    ["CANCELLED by 0|0:15|node01|None\n", { state: "CANCELLED", reason: null, exitCode: 0, signal: 15, node: "node01" }],
    ["NODE_FAIL|0:0|node02|NodeDown\n", { state: "NODE_FAIL", reason: "NodeDown", exitCode: 0, signal: 0, node: "node02" }],
    ["PENDING|0:0|None assigned|Resources\n", { state: "PENDING", reason: "Resources", exitCode: 0, signal: 0, node: null }],
  ])("%j", (out, want) => expect(parseSacct(out)).toEqual(want));
  it("no line: no job", () => expect(parseSacct("\n")).toBeNull());
});

describe("exitOf: the job's end as the run's", () => {
  const job = (state: string) => parseJob(recorded(state))!;
  it.each([
    { name: "completed", exit: exitOf(job("completed"), null), want: { code: 0, reason: "exit", timedOut: false } },
    { name: "failed: the code's exit", exit: exitOf(job("failed"), null), want: { code: 3, reason: "exit", timedOut: false } },
    { name: "Slurm's time limit", exit: exitOf(job("timeout"), null), want: { reason: "limit", timedOut: true } },
    { name: "the server's hard limit (it cancelled the job)", exit: exitOf(job("cancelled"), "limit"), want: { reason: "limit", timedOut: true } },
    { name: "cancelled by the server on request", exit: exitOf(job("cancelled"), "cancel"), want: { reason: "cancel", timedOut: false } },
    { name: "cancelled outside the server (a human's scancel)", exit: exitOf(job("cancelled"), null), want: { reason: "cancel", note: "the job was cancelled on the cluster (scancel outside the server)" } },
    { name: "a node failure", exit: exitOf({ state: "NODE_FAIL", reason: "NodeDown", exitCode: 0, signal: 0, node: "node01" }, null), want: { reason: "lost", note: "Slurm ended the job: NODE_FAIL (NodeDown)" } },
    { name: "preempted", exit: exitOf({ state: "PREEMPTED", reason: null, exitCode: 0, signal: 0, node: "node01" }, null), want: { reason: "lost" } },
    { name: "gone from the cluster", exit: exitOf(null, null), want: { reason: "lost", note: "the job is gone from the cluster (scontrol no longer knows it)" } },
    { name: "out of memory", exit: exitOf({ state: "OUT_OF_MEMORY", reason: null, exitCode: 0, signal: 0, node: "node01" }, null), want: { reason: "exit", code: 1 } },
  ])("$name", ({ exit, want }) => {
    expect(exit).toMatchObject(want);
  });
  it("a lost job is no metric and no crash of the code: no row, queued again", () => {
    const exit = exitOf({ state: "NODE_FAIL", reason: "NodeDown", exitCode: 0, signal: 0, node: "node01" }, null);
    expect(interrupted(exit)).toBe(true);
    expect(runOutcome(exit, parsed, ctx)).toMatchObject({ crashed: true, reason: "Slurm ended the job: NODE_FAIL (NodeDown)" });
  });
  it("a job cancelled on the cluster is a crash that says so", () => {
    const o = runOutcome(exitOf(parseJob(recorded("cancelled")), null), parsed, ctx);
    expect(o).toMatchObject({ crashed: true, reason: "the job was cancelled on the cluster (scancel outside the server)" });
  });
});

describe("batchScript", () => {
  it("runs the configured argv word for word: quotes, $, backticks and spaces reach the program, never a shell", () => {
    const argv = ["printf", "%s|", "it's", "$HOME", "`id`", "a b", "; echo no"];
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "arsl-"));
    try {
      const f = path.join(dir, "job.sh");
      fs.writeFileSync(f, batchScript("run-20261202000000-abcdef", argv), { mode: 0o755 });
      expect(execFileSync(f, { encoding: "utf8" })).toBe("it's|$HOME|`id`|a b|; echo no|");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("executor in autoresearch.json", () => {
  it("slurm: sbatch arguments, maxJobs and the poll interval; local is the default", () => {
    expect(parseConfig({}).executor).toBeUndefined();
    expect(parseConfig({ executor: { type: "local" } }).executor).toEqual({ type: "local" });
    expect(parseConfig({ executor: { type: "slurm", sbatch: ["--partition=gpu", "--gres=gpu:1"], maxJobs: 8 } }).executor).toEqual({ type: "slurm", sbatch: ["--partition=gpu", "--gres=gpu:1"], maxJobs: 8, pollSeconds: 2 });
  });
  it.each([
    [{ executor: { type: "pbs" } }, /executor/],
    [{ executor: { type: "slurm", maxJobs: 0 } }, /executor\.maxJobs/],
    [{ executor: { type: "slurm", sbatch: "--gres=gpu:1" } }, /executor\.sbatch: expected array/],
    [{ executor: { type: "slurm", sbatch: ["--output=x.log"] } }, /"--output=x\.log" is set by the server/],
    [{ executor: { type: "slurm", sbatch: ["--wrap=rm -rf ~"] } }, /is set by the server/],
    [{ executor: { type: "slurm" }, gpus: [0, 1] }, /gpus is for slots on this machine; with the Slurm executor/],
  ])("%j is refused, the field named", (raw, msg) => {
    expect(() => parseConfig(raw)).toThrow(msg);
  });
});
