import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ok, refused } from "../helpers/client.js";
import { session, useSessions } from "../helpers/session.js";

useSessions();

/** karpathy's train.py: one physical line of \r progress records, then the summary block. */
function karpathyLog(steps = 1000): string {
  let s = "";
  for (let i = 0; i < steps; i++) s += `\rstep ${String(i).padStart(5, "0")} (${((100 * i) / steps).toFixed(1)}%) | loss: 3.${i % 10}12 | lrm: 1.00 | dt: 310ms | tok/sec: 1,690,123 | mfu: 39.8% | epoch: 1 | remaining: ${steps - i}s    `;
  return (
    s +
    "\n---\nval_bpb:          0.997900\ntraining_seconds: 300.1\ntotal_seconds:    325.9\npeak_vram_mb:     45060.2\nmfu_percent:      39.80\ntotal_tokens_M:   499.6\nnum_steps:        953\nnum_params_M:     50.3\ndepth:            8\n"
  );
}

describe("parse_metrics", () => {
  it("reads karpathy's exact summary block after a 1,000-step \\r progress line", async () => {
    const { ws, c } = await session();
    fs.writeFileSync(path.join(ws, "run.log"), karpathyLog());
    const r = await ok(c, "parse_metrics");
    expect(r).toMatchObject({ metric: 0.9979, memoryGb: 44, crashed: false, tail: [] });
    expect(r.metrics).toEqual({ val_bpb: 0.9979, training_seconds: 300.1, total_seconds: 325.9, peak_vram_mb: 45060.2, mfu_percent: 39.8, total_tokens_M: 499.6, num_steps: 953, num_params_M: 50.3, depth: 8 });
  });

  it("calls a log without val_bpb a crash and returns at most 50 records of tail", async () => {
    const { ws, c } = await session();
    fs.writeFileSync(path.join(ws, "run.log"), karpathyLog(300).split("\n---")[0] + "\nTraceback (most recent call last):\n  File \"train.py\", line 1\ntorch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB\n");
    const r = await ok(c, "parse_metrics");
    expect(r).toMatchObject({ crashed: true, metric: null, reason: "out of memory (OOM)" });
    expect(r.tail.length).toBe(50);
    expect(r.tail[r.tail.length - 1]).toMatch(/CUDA out of memory/);
  });

  it("reads another log inside the workspace, never one outside", async () => {
    const { ws, c } = await session();
    fs.writeFileSync(path.join(ws, "old.log"), "FAIL\n");
    expect((await ok(c, "parse_metrics", { log: "old.log" })).reason).toMatch(/NaN/);
    expect(await refused(c, "parse_metrics", { log: "../x.log" })).toMatch(/leaves the workspace/);
    expect(await refused(c, "parse_metrics", { log: ".git/HEAD" })).toMatch(/points into \.git/);
    expect(await refused(c, "parse_metrics", { log: "missing.log" })).toMatch(/does not exist/);
  });
});
