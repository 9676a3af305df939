import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseLogFile } from "../src/metrics.js";

const EXAMPLE = fileURLToPath(new URL("../examples/tiny-lm/", import.meta.url));
let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "ar-tiny-"));
  fs.cpSync(EXAMPLE, dir, { recursive: true });
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function train(src: string | null, budget = 5) {
  if (src !== null) fs.writeFileSync(path.join(dir, "train.py"), src);
  const log = path.join(dir, "run.log");
  let code = 0;
  try {
    const out = execFileSync("python3", ["train.py"], { cwd: dir, env: { ...process.env, AUTORESEARCH_BUDGET_SECONDS: String(budget) }, stdio: ["ignore", "pipe", "pipe"] });
    fs.writeFileSync(log, out);
  } catch (e) {
    const err = e as { status: number; stdout: Buffer; stderr: Buffer };
    code = err.status;
    fs.writeFileSync(log, Buffer.concat([err.stdout, err.stderr]));
  }
  return { code, raw: fs.readFileSync(log, "latin1"), parsed: parseLogFile(log, "val_bpb") };
}

const original = () => fs.readFileSync(path.join(EXAMPLE, "train.py"), "utf8");

describe("examples/tiny-lm", () => {
  it("prints karpathy's summary block after \\r progress records and a parsable val_bpb", () => {
    const r = train(original());
    expect(r.code).toBe(0);
    expect(r.raw).toMatch(/\rstep \d+/);
    expect(r.raw).toMatch(/\n---\nval_bpb:          \d\.\d{6}\ntraining_seconds: /);
    expect(Object.keys(r.parsed.metrics)).toEqual(["val_bpb", "training_seconds", "total_seconds", "peak_vram_mb", "mfu_percent", "total_tokens_M", "num_steps", "num_params_M", "depth"]);
    expect(r.parsed.hasMetric).toBe(true);
    expect(r.parsed.metrics.val_bpb).toBeGreaterThan(0.5);
    expect(r.parsed.metrics.val_bpb).toBeLessThan(3);
  });

  it("honours the budget: total_seconds stays within budget plus evaluation", () => {
    const r = train(original(), 1);
    expect(Number(r.parsed.metrics.training_seconds)).toBeLessThanOrEqual(1.5);
  });

  it("its metric moves with its knobs (is computed, not printed)", () => {
    const base = Number(train(original()).parsed.metrics.val_bpb);
    const higher = Number(train(original().replace("ORDER = 3", "ORDER = 5")).parsed.metrics.val_bpb);
    const capped = Number(train(original().replace("MAX_TRAIN_BYTES = None", "MAX_TRAIN_BYTES = 20_000")).parsed.metrics.val_bpb);
    expect(higher).toBeLessThan(base);
    expect(capped).toBeGreaterThan(base);
  });

  it("crashes without a summary on a broken edit", () => {
    const r = train(original().replace("ADD_K = 1.0", "ADD_K = 0.0"));
    expect(r.code).not.toBe(0);
    expect(r.parsed.hasMetric).toBe(false);
  });

  it("uses the standard library only", () => {
    const src = original() + fs.readFileSync(path.join(EXAMPLE, "prepare.py"), "utf8");
    const mods = [...src.matchAll(/^\s*(?:import|from)\s+([A-Za-z_]\w*)/gm)].map((m) => m[1]);
    const std = JSON.parse(execFileSync("python3", ["-c", "import sys, json; print(json.dumps(sorted(sys.stdlib_module_names)))"]).toString()) as string[];
    expect(mods.filter((m) => !std.includes(m) && m !== "prepare")).toEqual([]);
  });
});
