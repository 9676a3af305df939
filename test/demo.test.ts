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
    expect(exp.length).toBe(10);
    expect(stdout).toMatch(/agent edits prepare\.py behind the server's back\) -> Refused: Only train\.py may change, but: prepare\.py/);
    expect(stdout).toMatch(/agent adds "import numpy"\) -> Refused: New import "numpy"/);
    expect(stdout).toMatch(/=== Final summary ===/);
    expect(stdout).not.toMatch(/results differed from the plan/);

    const rows = fs.readFileSync(path.join(dir, "results.tsv"), "utf8").trim().split("\n");
    expect(rows[0]).toBe("commit\tval_bpb\tmemory_gb\tstatus\tdescription");
    const statuses = rows.slice(1).map((r) => r.split("\t")[3]);
    expect(statuses).toEqual(["keep", "keep", "discard", "keep", "keep", "keep", "discard", "crash", "keep", "discard"]);
    const crash = rows.slice(1).find((r) => r.split("\t")[3] === "crash")!.split("\t");
    expect(crash.slice(1, 3)).toEqual(["0.000000", "0.0"]);
    // the branch holds the kept commits (and the crash its fix was built on), on top of the example's commit
    const onBranch = rows.slice(2).map((r) => r.split("\t")).filter((f) => f[3] === "keep" || f[3] === "crash").map((f) => f[0]);
    const log = git(dir, "log", "--format=%h", "--abbrev=7", "autoresearch/demo").trim().split("\n");
    expect(log.slice(0, -1).reverse()).toEqual(onBranch);
    expect(git(dir, "status", "--porcelain")).toBe("");
    expect(git(dir, "ls-files")).not.toMatch(/results\.tsv|run\.log/);
    // best kept value is the minimum of the kept values
    const values = rows.slice(1).map((r) => r.split("\t")).filter((f) => f[3] === "keep").map((f) => Number(f[1]));
    expect(stdout).toContain(`val_bpb ${Math.min(...values).toFixed(6)}`);
  });

  it("refuses to run over a non-empty directory", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ar-demo-"));
    dirs.push(dir);
    fs.writeFileSync(path.join(dir, "mine.txt"), "do not touch");
    await expect(run(process.execPath, [CLI, "demo", "--keep", dir], { timeout: CALL_MS })).rejects.toThrow(/not empty/);
    expect(fs.readdirSync(dir)).toEqual(["mine.txt"]);
  });
});
