import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ok, refused } from "../helpers/client.js";
import { session, useSessions } from "../helpers/session.js";
import { read } from "../helpers/workspace.js";
import { RUN_LIMIT_S } from "../helpers/timeouts.js";

// The metric comes from the read-only evaluation (SPEC §10), with real Python: the hook on
// PYTHONPATH sees what prepare.evaluate_bpb returned, and a printed val_bpb that is not that value
// is a crash with the figures, never a keep.

useSessions();
const sites: string[] = [];
afterAll(() => {
  for (const d of sites) fs.rmSync(d, { recursive: true, force: true });
});

const PREPARE = `BASE = 1.01

def evaluate_bpb(scale=1.0):
    """The read-only evaluation."""
    return BASE * scale
`;
/** train.py as karpathy's prints it: the value evaluate_bpb returned; `line` is what the agent made of it. */
const train = (line: string) => `import os
from prepare import evaluate_bpb
import prepare
${line}
print("---")
print(f"val_bpb:          {val_bpb:.6f}")
print("peak_vram_mb:     512.0")
`;
const HONEST = "val_bpb = evaluate_bpb()";
const config = (extra: Record<string, unknown> = {}) => ({ run: ["python3", "train.py"], budgetSeconds: 5, killAfterSeconds: RUN_LIMIT_S, graceSeconds: 1, noise: false, ...extra });

describe("the metric comes from the read-only evaluation", () => {
  it("an honest run is judged as before; the report of what evaluate_bpb returned stays out of the work tree", async () => {
    const { ws, c } = await session({ train: train(HONEST), files: { "prepare.py": PREPARE }, config: config() });
    const r = await ok(c, "run_training");
    expect(r).toMatchObject({ crashed: false, metric: 1.01, proposedStatus: "keep" });
    expect(fs.readFileSync(path.join(ws, ".git/autoresearch/eval", `${r.runId}.jsonl`), "utf8").trim()).toBe('{"value": 1.01}');
    expect((await ok(c, "log_result", {})).row.status).toBe("keep");
  });

  it.each([
    { name: "a scaled metric (val_bpb = 0.9 * evaluate_bpb())", line: "val_bpb = 0.9 * evaluate_bpb()", reason: /^printed 0\.909000, evaluate_bpb returned 1\.010000: the metric must be the value the read-only evaluation returns$/ },
    { name: "a constant (the evaluation never called)", line: "val_bpb = 0.5", reason: /^prepare\.evaluate_bpb was never called/ },
    { name: "the evaluation replaced before it is called", line: "prepare.evaluate_bpb = lambda *a: 0.5\nval_bpb = prepare.evaluate_bpb()", reason: /^prepare\.evaluate_bpb was never called/ },
    { name: "the evaluation called, then another value printed", line: "evaluate_bpb()\nval_bpb = 0.95", reason: /^printed 0\.950000, evaluate_bpb returned 1\.010000/ },
    { name: "the environment cleared to escape the hook", line: "os.environ.pop('PYTHONPATH', None)\nval_bpb = 0.5", reason: /never called/ },
  ])("$name: a crash with the figures, never a keep", async ({ line, reason }) => {
    const { ws, c } = await session({ train: train(HONEST), files: { "prepare.py": PREPARE }, config: config(), baseline: true });
    await ok(c, "apply_patch", { edits: [{ old: HONEST, new: line }] });
    await ok(c, "commit", { description: "better metric" });
    const r = await ok(c, "run_training");
    expect(r.crashed).toBe(true);
    expect(r.proposedStatus).toBe("crash");
    expect(r.reason).toMatch(reason);
    expect(await refused(c, "log_result", { status: "keep" })).toMatch(/^Refused: Status "keep" is not allowed for this run: the server proposes "crash"/);
    const logged = await ok(c, "log_result", {});
    expect(logged.row.status).toBe("crash");
    expect(read(ws, "results.tsv").trim().split("\n").at(-1)).toMatch(/\tcrash\tbetter metric$/);
  });

  it("holds for a run in flight (its own directory) and leaves a sitecustomize of the user's working", async () => {
    // The user's own PYTHONPATH (in autoresearch.json's env) with a sitecustomize: it comes after the hook.
    const site = fs.mkdtempSync(path.join(os.tmpdir(), "ar-usersite-"));
    sites.push(site);
    fs.writeFileSync(path.join(site, "sitecustomize.py"), `import os\nopen(os.path.join(os.environ["AUTORESEARCH_WORKSPACE"], ".git", "user-site-ran"), "w").close()\n`);
    const { ws, c } = await session({ train: train(HONEST), files: { "prepare.py": PREPARE }, config: config({ env: { PYTHONPATH: site } }) });
    await ok(c, "run_training", { wait: false });
    expect((await ok(c, "log_result", { wait: true })).row.status).toBe("keep");
    await ok(c, "apply_patch", { edits: [{ old: HONEST, new: "val_bpb = 0.9 * evaluate_bpb()" }] });
    await ok(c, "commit", { description: "scaled", run: true });
    const logged = await ok(c, "log_result", { wait: true });
    expect(logged.row.status).toBe("crash");
    expect(fs.existsSync(path.join(ws, ".git", "user-site-ran"))).toBe(true);
  });

  it("evaluation: false turns the check off (the strict reading of the log, as before)", async () => {
    const { c } = await session({ train: train("val_bpb = 0.9 * evaluate_bpb()"), files: { "prepare.py": PREPARE }, config: config({ evaluation: false }) });
    expect(await ok(c, "run_training")).toMatchObject({ crashed: false, metric: 0.909 });
  });

  it("no read-only module defines the function: nothing to check", async () => {
    const { c } = await session({ train: train("val_bpb = 0.5").replace("from prepare import evaluate_bpb\nimport prepare\n", ""), config: config() });
    expect(await ok(c, "run_training")).toMatchObject({ crashed: false, metric: 0.5 });
  });
});
