import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { CLI } from "./helpers/client.js";
import { git } from "./helpers/workspace.js";
import { CALL_MS, MARGIN_MS, RUN_LIMIT_S } from "./helpers/timeouts.js";

// The whole demo (baseline + 9 experiments of examples/tiny-lm) takes ~20 s on an idle machine;
// the child gets far more, and the test more than its child.
const DEMO_MS = 420_000;

const run = promisify(execFile);
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

describe("autoresearch-mcp demo (the scripted agent over stdio)", () => {
  it("runs baseline + experiments with keep, discard, crash + fix, two refusals, and leaves results.tsv that git agrees with", { timeout: DEMO_MS + MARGIN_MS }, async () => {
    const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "ar-demo-")), "ws");
    dirs.push(path.dirname(dir));
    // The expected keep/discard/crash of each experiment assume it trained on all of the example's
    // data: with a budget of a few seconds a loaded machine stops training early and the metrics
    // (and so the statuses) change. A budget only a hang reaches leaves the data to decide.
    const { stdout } = await run(process.execPath, [CLI, "demo", "--keep", dir, "--budget", String(RUN_LIMIT_S)], { timeout: DEMO_MS });
    const exp = stdout.split("\n").filter((l) => l.startsWith("[EXP] demo "));
    // The default noise-aware rule: the baseline runs twice and the first keep once more; the
    // example is deterministic, so σ is 0 on 2 degrees of freedom then, and every later keep is
    // clearly ahead (no confirmation).
    expect(exp.length).toBe(12);
    expect(stdout).toMatch(/agent edits prepare\.py behind the server's back\) -> Refused: Only train\.py may change, but: prepare\.py/);
    expect(stdout).toMatch(/agent adds "import numpy"\) -> Refused: New import "numpy"/);
    expect(stdout).toMatch(/=== Final summary ===/);
    expect(stdout).not.toMatch(/results differed from the plan/);

    const rows = fs.readFileSync(path.join(dir, "results.tsv"), "utf8").trim().split("\n");
    expect(rows[0]).toBe("commit\tval_bpb\tmemory_gb\tstatus\tdescription");
    const fields = rows.slice(1).map((r) => r.split("\t"));
    expect(fields.map((f) => f[3])).toEqual(["keep", "keep", "keep", "keep", "discard", "keep", "keep", "keep", "discard", "crash", "keep", "discard"]);
    // a repeat is its own row: same commit, same code, the mean in brackets
    expect(fields[1][0]).toBe(fields[0][0]);
    expect(fields[1][4]).toBe("baseline [run 2: mean 1.220276 of 2 runs, σ 0.000000]");
    expect(fields[3][4]).toMatch(/^raise ORDER from 3 to 5 bytes of context \[run 2: mean 0\.986620 of 2 runs, ahead of [0-9a-f]{7} 1\.220276\]$/);
    expect(fields[5][4]).toMatch(/^raise absolute DISCOUNT from 0\.4 to 0\.8 \[clear: σ 0, ahead of [0-9a-f]{7} 0\.986620\]$/);
    const crash = fields.find((f) => f[3] === "crash")!;
    expect(crash.slice(1, 3)).toEqual(["0.000000", "0.0"]);
    // the branch holds the kept commits (and the crash its fix was built on), on top of the example's commit
    const onBranch = [...new Set(fields.slice(1).filter((f) => f[3] === "keep" || f[3] === "crash").map((f) => f[0]))].filter((c) => c !== fields[0][0]);
    const log = git(dir, "log", "--format=%h", "--abbrev=7", "autoresearch/demo").trim().split("\n");
    expect(log.slice(0, -1).reverse()).toEqual(onBranch);
    expect(git(dir, "status", "--porcelain")).toBe("");
    expect(git(dir, "ls-files")).not.toMatch(/results\.tsv|run\.log/);
    // the best is the best commit's mean: one run, kept clearly ahead at σ 0
    const values = fields.filter((f) => f[3] === "keep").map((f) => Number(f[1]));
    expect(stdout).toContain(`val_bpb ${Math.min(...values).toFixed(6)}, mean of 1 run ± 0.000000; σ 0.000000`);
    // every run is on record beside results.tsv, with the code it ran
    const runs = fs.readFileSync(path.join(dir, ".git", "autoresearch", "runs.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
    expect(runs.map((r) => r.line)).toEqual(fields.map((_, i) => i + 2));
    expect(runs[0].key).toMatch(/^sha256:[0-9a-f]{16}$/);
    expect(runs[1].key).toBe(runs[0].key);
    expect(runs[2].key).not.toBe(runs[0].key);
    // the report says the best as a mean with its standard error
    expect(fs.readFileSync(path.join(dir, "report.md"), "utf8")).toMatch(/## Noise[\s\S]*- Best: `[0-9a-f]{7}`, val_bpb 0\.905277 ± 0\.000000 \(mean of 1 run /);
    expect(fs.readFileSync(path.join(dir, "progress.svg"), "utf8")).toContain('<text class="noise"');
  });

  it("refuses to run over a non-empty directory", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ar-demo-"));
    dirs.push(dir);
    fs.writeFileSync(path.join(dir, "mine.txt"), "do not touch");
    await expect(run(process.execPath, [CLI, "demo", "--keep", dir], { timeout: CALL_MS })).rejects.toThrow(/not empty/);
    expect(fs.readdirSync(dir)).toEqual(["mine.txt"]);
  });
});
