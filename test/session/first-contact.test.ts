import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ok, refused } from "../helpers/client.js";
import { experiment, restart, session, useSessions } from "../helpers/session.js";
import { git, makeWorkspace, porcelain, write } from "../helpers/workspace.js";

// What a new user hits in the first minutes (issue "Real clients and first contact"), through
// the real server and client: client setup files, a broken environment, a crashed baseline, the
// answer that says what to do next, the night's end and a memory cap.

useSessions();

const config = (extra: Record<string, unknown> = {}) => ({ run: ["python3", "train.py"], budgetSeconds: 5, graceSeconds: 1, killAfterSeconds: 600, ...extra });

describe("client setup files", () => {
  it("untracked opencode.json, .mcp.json, .claude/ and AGENTS.md are git-excluded and named; any other untracked file is still refused", async () => {
    const ws = makeWorkspace({ config: config() });
    write(ws, "opencode.json", '{"mcp":{}}\n');
    write(ws, ".mcp.json", '{"mcpServers":{}}\n');
    fs.mkdirSync(path.join(ws, ".claude", "skills", "autoresearch"), { recursive: true });
    write(ws, ".claude/skills/autoresearch/SKILL.md", "# skill\n");
    write(ws, "AGENTS.md", "# agents\n");
    const { c } = await restart(ws);
    const r = await ok(c, "start_session", { tag: "t" });
    expect(r.excluded).toEqual(["opencode.json", ".mcp.json", ".claude", "AGENTS.md"]);
    expect(porcelain(ws)).toBe("");
    expect(fs.readFileSync(path.join(ws, ".git", "info", "exclude"), "utf8")).toMatch(/^\/opencode\.json$/m);
    expect(git(ws, "ls-files")).not.toMatch(/opencode|mcp|claude|AGENTS/);
    // the loop runs with them in place
    await ok(c, "run_training");
    await ok(c, "log_result", { description: "baseline" });
    write(ws, "notes.txt", "mine\n");
    expect(await refused(c, "apply_patch", { edits: [{ old: "LR = 0.04", new: "LR = 0.045" }] })).toMatch(/Only train\.py may change, but: notes\.txt \(untracked file\)/);
  });

  it("a tracked client file that changes is still a change outside train.py", async () => {
    const ws = makeWorkspace({ config: config(), files: { "AGENTS.md": "# tracked\n" } });
    const { c } = await restart(ws);
    const r = await ok(c, "start_session", { tag: "t" });
    expect(r.excluded).toEqual([]);
    await ok(c, "run_training");
    await ok(c, "log_result", { description: "baseline" });
    write(ws, "AGENTS.md", "# changed\n");
    expect(await refused(c, "apply_patch", { edits: [{ old: "LR = 0.04", new: "LR = 0.045" }] })).toMatch(/AGENTS\.md \(changed in the work tree\)/);
  });
});

describe("autoresearch.json added mid-session", () => {
  it("the refusal says how to change the config, and the way it names works", async () => {
    // karpathy's default command, uv run train.py, with a stand-in uv on PATH
    const bin = fs.mkdtempSync(path.join(os.tmpdir(), "ar-bin-"));
    fs.writeFileSync(path.join(bin, "uv"), '#!/bin/sh\nshift\nexec python3 "$@"\n', { mode: 0o755 });
    const env = { PATH: `${bin}${path.delimiter}${process.env.PATH}` };
    const { ws, c } = await session({ config: null, env });
    // No autoresearch.json: the defaults, the noise-aware rule among them (the baseline runs twice).
    await ok(c, "run_training");
    expect((await ok(c, "log_result", { description: "baseline" })).due).toBe("run_training");
    await ok(c, "run_training");
    expect((await ok(c, "log_result", { description: "baseline" })).due).toBeNull();
    write(ws, "autoresearch.json", JSON.stringify(config()));
    const msg = await refused(c, "run_training");
    expect(msg).toMatch(/Next: autoresearch\.json is the human's .*git-exclude it \("echo \/autoresearch\.json >> \.git\/info\/exclude"\) and restart the server/);
    fs.appendFileSync(path.join(ws, ".git", "info", "exclude"), "/autoresearch.json\n");
    const again = await restart(ws, env);
    expect(porcelain(ws)).toBe("");
    const st = await ok(again.c, "status");
    expect(st.session).not.toBeNull();
    expect(st.next).toMatch(/^Next idea: apply_patch/);
    await experiment(again.c, "LR = 0.04", "LR = 0.045", "closer");
    fs.rmSync(bin, { recursive: true, force: true });
  });
});

describe("a broken environment is found before any run", () => {
  it("karpathy's prepare.py without prepared data: start_session refuses with the fix, nothing is made", async () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), "ar-home-"));
    try {
      const prepare = [
        "import os",
        'CACHE_DIR = os.path.join(os.path.expanduser("~"), ".cache", "autoresearch")',
        'DATA_DIR = os.path.join(CACHE_DIR, "data")',
        'TOKENIZER_DIR = os.path.join(CACHE_DIR, "tokenizer")',
        "BASE_LOSS = 1.0",
        "",
      ].join("\n");
      const ws = makeWorkspace({ config: config(), files: { "prepare.py": prepare } });
      const { c } = await restart(ws, { HOME: home });
      const msg = await refused(c, "start_session", { tag: "t" });
      expect(msg).toContain(`prepare.py reads its data and tokenizer from ${path.join(home, ".cache", "autoresearch")}, which does not exist`);
      expect(msg).toMatch(/Next: Report to the human: run "uv run prepare\.py" once/);
      expect(git(ws, "branch", "--show-current").trim()).toBe("master");
      // prepared: data shards and the tokenizer are there, and the session starts
      fs.mkdirSync(path.join(home, ".cache", "autoresearch", "data"), { recursive: true });
      fs.writeFileSync(path.join(home, ".cache", "autoresearch", "data", "shard_00000.parquet"), "x");
      fs.mkdirSync(path.join(home, ".cache", "autoresearch", "tokenizer"));
      await ok(c, "start_session", { tag: "t" });
    } finally {
      fs.rmSync(home, { recursive: true, force: true });
    }
  });
});

describe("a crashed baseline", () => {
  it("every later answer says report and stop; no answer offers a fix of train.py; the baseline runs again once fixed", async () => {
    const { ws, c } = await session({ config: config(), train: fs.readFileSync(new URL("../fixtures/train.py", import.meta.url), "utf8").replace("CRASH = False", "CRASH = True") });
    const run = await ok(c, "run_training");
    expect(run.proposedStatus).toBe("crash");
    expect(run.next).toMatch(/nothing was kept yet: the baseline's crash is the environment's/);
    expect(run.next).not.toMatch(/one fix/);
    const logged = await ok(c, "log_result", { description: "baseline" });
    expect(logged.next).toMatch(/^The baseline crashed: .*Report the reason to the human and stop/);
    const st = await ok(c, "status");
    expect(st.next).toMatch(/^The baseline crashed/);
    expect(st.next).not.toMatch(/apply_patch|Keep going/);
    expect(await refused(c, "apply_patch", { edits: [{ old: "CRASH = True", new: "CRASH = False" }] })).toMatch(/Refused: The baseline [0-9a-f]{7} crashed and nothing was kept yet[\s\S]*Next: The baseline crashed/);
    const reset = await ok(c, "reset_to_best");
    expect(reset.next).toMatch(/nothing was kept yet\. The baseline crashed/);
    // the same code crashing again (the human has not fixed anything yet) still says stop
    await ok(c, "run_training");
    expect((await ok(c, "log_result", { description: "baseline again" })).next).toMatch(/^The baseline crashed/);
    expect(porcelain(ws)).toBe("");
  });
});

describe("status.next follows the state", () => {
  it("baseline to run, unlogged run, uncommitted edit, committed but not run, discard, next idea", async () => {
    const { ws, c } = await session({ config: config() });
    const next = async () => (await ok(c, "status")).next as string;
    expect(await next()).toMatch(/^Run the baseline as it is: run_training/);
    await ok(c, "run_training");
    expect(await next()).toMatch(/^Log the run of [0-9a-f]{7}: log_result/);
    await ok(c, "log_result", { description: "baseline" });
    expect(await next()).toMatch(/^Next idea: apply_patch/);
    await ok(c, "apply_patch", { edits: [{ old: "LR = 0.04", new: "LR = 0.03" }] });
    expect(await next()).toMatch(/^train\.py has an uncommitted edit: commit/);
    await ok(c, "commit", { description: "lower" });
    expect(await next()).toMatch(/^HEAD [0-9a-f]{7} is committed but has not run: run_training/);
    await ok(c, "run_training");
    await ok(c, "log_result", { description: "lower" });
    expect(await next()).toMatch(/^HEAD is a logged discard: call reset_to_best/);
    await ok(c, "reset_to_best");
    expect(await next()).toMatch(/^Next idea: apply_patch/);
    expect(porcelain(ws)).toBe("");
  });
});

describe("the night has an end", () => {
  it("maxRuns: past it no run starts, and every answer says to write the final summary", async () => {
    const { c } = await session({ config: config({ maxRuns: 2 }), baseline: true });
    const { logged } = await experiment(c, "LR = 0.04", "LR = 0.045", "closer");
    expect(logged.next).toMatch(/^The night is over \(maxRuns 2 reached: 2 runs logged\).*final summary.*stop/);
    expect((await ok(c, "status")).next).toMatch(/^The night is over/);
    await ok(c, "apply_patch", { edits: [{ old: "LR = 0.045", new: "LR = 0.05" }] });
    await ok(c, "commit", { description: "closest" });
    expect(await refused(c, "run_training")).toMatch(/Refused: No new run: maxRuns 2 reached: 2 runs logged\.\nNext: The night is over/);
    expect((await ok(c, "reset_to_best")).next).toMatch(/^The night is over/);
  });

  it("stopAt in the past (an ISO time): no run starts", async () => {
    const { c } = await session({ config: config({ stopAt: "2020-01-01T00:00:00" }) });
    expect(await refused(c, "run_training")).toMatch(/No new run: stopAt 2020-01-01T00:00:00 passed/);
  });

  it("a bad stopAt names the field", async () => {
    const ws = makeWorkspace({ config: config({ stopAt: "tomorrow morning" }) });
    const { c } = await restart(ws);
    expect(await refused(c, "start_session", { tag: "t" })).toMatch(/autoresearch\.json: stopAt: must be a clock time such as "07:00"/);
  });
});

describe("a memory cap the user sets", () => {
  it("maxMemoryGb: a run above it is proposed as a crash with the figure, and keep is refused", async () => {
    const { c } = await session({ config: config({ maxMemoryGb: 1.5 }), baseline: true });
    await ok(c, "apply_patch", { edits: [{ old: "MEMORY_MB = 1024.0", new: "MEMORY_MB = 2048.0" }, { old: "LR = 0.04", new: "LR = 0.045" }] });
    await ok(c, "commit", { description: "bigger" });
    const run = await ok(c, "run_training");
    expect(run).toMatchObject({ proposedStatus: "crash", crashed: false, memoryGb: 2 });
    expect(run.reason).toBe("memory 2 GB is above the limit of 1.5 GB (maxMemoryGb in autoresearch.json)");
    expect(await refused(c, "log_result", { description: "bigger", status: "keep" })).toMatch(/above the limit of 1\.5 GB/);
    expect((await ok(c, "log_result", { description: "bigger" })).row.status).toBe("crash");
  });
});

describe("one call never waits past the client's limit", () => {
  it("maxWaitSeconds: run_training answers 'running' with the run id in time, and the next call picks the run up", async () => {
    const { c } = await session({ config: config({ maxWaitSeconds: 10 }), baseline: true });
    await ok(c, "apply_patch", { edits: [{ old: "SLEEP = 0.0", new: "SLEEP = 14.0" }] });
    await ok(c, "commit", { description: "slow" });
    const first = await ok(c, "run_training");
    expect(first).toMatchObject({ state: "running" });
    expect(first.next).toContain(`run_training {"runId":"${first.runId}"}`);
    let r = first;
    while (r.state === "running") r = await ok(c, "run_training", { runId: first.runId });
    expect(r).toMatchObject({ state: "finished", runId: first.runId, proposedStatus: "discard" });
  });
});
