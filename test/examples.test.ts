import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseLogFile } from "../src/metrics.js";
import { CALL_MS, MARGIN_MS } from "./helpers/timeouts.js";

const EXAMPLE = fileURLToPath(new URL("../examples/tiny-lm/", import.meta.url));
let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "ar-tiny-"));
  fs.cpSync(EXAMPLE, dir, { recursive: true });
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

// The example trains until its data is used up or its time budget runs out. Runs whose metrics are
// compared get a budget only a hang reaches, so the data decides how much they train, never the
// speed of this machine (with a 5 s budget a loaded machine trained on less and scored otherwise).
const NO_BUDGET = 3600;
/** How long one training run may take (well under 5 s on an idle machine). */
const TRAIN_MS = CALL_MS;

// The budget test runs train.py under a fake clock: every time.time() call advances 0.05 s, so
// where the loop stops depends on the budget and the loop's logic alone, not on how fast a step is.
const FAKE_CLOCK = `import runpy, time
_now = [time.time()]
def _tick():
    _now[0] += 0.05
    return _now[0]
time.time = _tick
runpy.run_path("train.py", run_name="__main__")
`;

function train(src: string | null, budget = NO_BUDGET, { fakeClock = false } = {}) {
  if (src !== null) fs.writeFileSync(path.join(dir, "train.py"), src);
  const log = path.join(dir, "run.log");
  let code = 0;
  try {
    const out = execFileSync("python3", fakeClock ? ["-c", FAKE_CLOCK] : ["train.py"], { cwd: dir, env: { ...process.env, AUTORESEARCH_BUDGET_SECONDS: String(budget) }, stdio: ["ignore", "pipe", "pipe"], timeout: TRAIN_MS });
    fs.writeFileSync(log, out);
  } catch (e) {
    const err = e as { status: number; stdout: Buffer; stderr: Buffer; code?: string };
    if (err.code === "ETIMEDOUT") throw new Error(`train.py did not finish within ${TRAIN_MS / 1000} s`);
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
    const r = train(original(), 1, { fakeClock: true });
    expect(r.code).toBe(0);
    // it trained until the budget (not stopped by the data), then stopped within a step or two
    expect(Number(r.parsed.metrics.training_seconds)).toBeGreaterThanOrEqual(1);
    expect(Number(r.parsed.metrics.training_seconds)).toBeLessThanOrEqual(1.5);
  });

  it("its metric moves with its knobs (is computed, not printed)", { timeout: 3 * TRAIN_MS + MARGIN_MS }, () => {
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
