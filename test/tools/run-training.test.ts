import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { call, ok, refused, text } from "../helpers/client.js";
import { restart, session, useSessions } from "../helpers/session.js";
import { git, makeWorkspace, read, write } from "../helpers/workspace.js";
import { alive, groupGone, pidsInLog, sleep, waitUntil } from "../helpers/procs.js";
import { crashScript, floodScript, treeScript, SUMMARY } from "../fixtures/scripts.js";

useSessions();

const fast = (extra: Record<string, unknown> = {}) => ({ run: ["python3", "train.py"], budgetSeconds: 1, killAfterSeconds: 1.5, graceSeconds: 0.5, ...extra });

describe("run_training", () => {
  it("runs the configured argv in the workspace with the config's env, output to run.log only", async () => {
    const train = `import os\nVAL = 0.5\nMEM = 512.0\nprint("cwd:", os.getcwd())\nprint("cuda:", os.environ.get("CUDA_VISIBLE_DEVICES"))\nprint("budget:", os.environ.get("AUTORESEARCH_BUDGET_SECONDS"))\n${SUMMARY}`;
    const { ws, c } = await session({ train, config: fast({ env: { CUDA_VISIBLE_DEVICES: "1" } }) });
    const res = await call(c, "run_training");
    const r = res.structuredContent!;
    expect(r).toMatchObject({ state: "finished", exitCode: 0, metric: 0.5, memoryGb: 0.5, crashed: false, proposedStatus: "keep", endReason: "exit" });
    // the text names the metric and prints it as results.tsv will
    expect(text(res)).toMatch(/^val_bpb 0\.500000, memory 0\.5 GB$/m);
    expect(r.metrics).toMatchObject({ val_bpb: 0.5, training_seconds: 1, num_steps: 5, depth: 8, mfu_percent: 39.8 });
    const log = read(ws, "run.log");
    expect(log).toContain(`cwd: ${ws}`);
    expect(log).toContain("cuda: 1");
    expect(log).toContain("budget: 1");
    expect(r.tail).toEqual([]);
  });

  it("kills the whole tree at the hard limit, including grandchildren ignoring SIGTERM; timed out is a discard", async () => {
    // A limit of 3 s leaves the 5 Pythons time to start and print their pids on a loaded machine.
    const { ws, c } = await session({ train: treeScript({ children: 4, ignoreTerm: true }), config: fast({ killAfterSeconds: 3 }) });
    const r = await ok(c, "run_training");
    expect(r).toMatchObject({ state: "finished", timedOut: true, endReason: "limit", proposedStatus: "discard", crashed: false });
    expect(r.killLatencyMs).toBeGreaterThanOrEqual(0);
    const pids = pidsInLog(ws);
    expect(pids.length).toBe(5);
    for (const pid of pids) expect(alive(pid), `pid ${pid}`).toBe(false);
    expect(groupGone(pids[0])).toBe(true);
    expect(await refused(c, "log_result", { description: "hangs", status: "keep" })).toMatch(/proposes "discard" \(killed at the hard limit of 3 s/);
    const logged = await ok(c, "log_result", { description: "hangs" });
    expect(logged.row).toMatchObject({ status: "discard", metric: "0.000000" });
    expect(await refused(c, "log_result", { description: "again" })).toMatch(/already logged/);
  });

  it("finds a process that left the group with setsid (environment marker)", async () => {
    const { ws, c } = await session({ train: treeScript({ escape: true }), config: fast({ killAfterSeconds: 3 }) });
    await ok(c, "run_training");
    const pids = pidsInLog(ws);
    expect(pids.length).toBe(2);
    for (const pid of pids) expect(alive(pid), `pid ${pid}`).toBe(false);
  });

  it("leaves no worker behind when the script exits normally", async () => {
    const { ws, c } = await session({ train: treeScript({ children: 2, sleep: 0 }), config: fast({ killAfterSeconds: 10 }) });
    const r = await ok(c, "run_training");
    expect(r).toMatchObject({ exitCode: 0, timedOut: false, metric: 1 });
    for (const pid of pidsInLog(ws)) expect(alive(pid), `pid ${pid}`).toBe(false);
  });

  it("returns a crash with a classified reason and at most 50 tail records", async () => {
    const { c } = await session({ train: crashScript, config: fast({ killAfterSeconds: 10 }) });
    const r = await ok(c, "run_training");
    expect(r).toMatchObject({ crashed: true, exitCode: 1, proposedStatus: "crash", metric: null });
    expect(r.reason).toBe("ValueError: deep failure");
    expect(r.tail.length).toBe(50);
    expect(r.tail[r.tail.length - 1]).toBe("ValueError: deep failure");
    const t = text(await call(c, "run_training", { runId: r.runId }));
    expect(t).toMatch(/CRASH: ValueError: deep failure/);
  });

  it("refuses a launcher that is not on PATH before any run, with the fix (no uv: no baseline 'crash' over an empty log)", async () => {
    const ws = makeWorkspace({ config: fast({ run: ["uv-not-installed-xyz", "run", "train.py"] }) });
    const { c } = await restart(ws);
    const msg = await refused(c, "start_session", { tag: "t" });
    expect(msg).toMatch(/^Refused: The training command \["uv-not-installed-xyz","run","train.py"\] cannot start: "uv-not-installed-xyz" is not on PATH\./);
    expect(msg).toMatch(/set "run" in autoresearch\.json/);
    expect(git(ws, "branch", "--show-current").trim()).toBe("master");
    expect(fs.existsSync(path.join(ws, "results.tsv"))).toBe(false);
  });

  it("reports a command that passes the PATH check but cannot start (bad interpreter) as a crash", async () => {
    const ws = makeWorkspace({ config: fast({ run: ["./launch.sh"] }), files: { "launch.sh": "#!/no/such/interpreter\n" } });
    fs.chmodSync(path.join(ws, "launch.sh"), 0o755);
    git(ws, "add", "launch.sh");
    git(ws, "commit", "-q", "-m", "executable launcher");
    const { c } = await restart(ws);
    await ok(c, "start_session", { tag: "t" });
    const r = await ok(c, "run_training");
    expect(r).toMatchObject({ crashed: true, proposedStatus: "crash", endReason: "spawn-failed" });
    expect(r.reason).toMatch(/could not start "\.\/launch\.sh"/);
  });

  it("sends progress notifications with elapsed time and the latest progress line", async () => {
    const { c } = await session({ config: fast({ killAfterSeconds: 20 }) });
    await ok(c, "apply_patch", { edits: [{ old: "SLEEP = 0.0", new: "SLEEP = 2.0" }] });
    await ok(c, "commit", { description: "slow" });
    const seen: { progress: number; total?: number; message?: string }[] = [];
    const r = await ok(c, "run_training", {}, { onprogress: (p) => seen.push(p) });
    expect(r.state).toBe("finished");
    expect(seen.length).toBeGreaterThanOrEqual(3);
    expect(seen[seen.length - 1].total).toBe(20);
    expect(seen.some((p) => /elapsed \d+s of at most 20s \| step 0000\d/.test(p.message ?? ""))).toBe(true);
    for (let i = 1; i < seen.length; i++) expect(seen[i].progress).toBeGreaterThanOrEqual(seen[i - 1].progress);
  });

  it("refuses a second run while one runs, with its id and elapsed time; runId picks the result up", async () => {
    const { c } = await session({ config: fast({ killAfterSeconds: 20 }) });
    await ok(c, "apply_patch", { edits: [{ old: "SLEEP = 0.0", new: "SLEEP = 1.5" }] });
    await ok(c, "commit", { description: "slow" });
    const first = await ok(c, "run_training", { wait: false });
    expect(first).toMatchObject({ state: "running" });
    const msg = await refused(c, "run_training");
    expect(msg).toMatch(new RegExp(`^Refused: Run ${first.runId} of [0-9a-f]{7} is in progress \\(\\d+ s elapsed\\)`));
    expect(await refused(c, "apply_patch", { edits: [{ old: "LR = 0.04", new: "LR = 0.05" }] })).toMatch(/in progress/);
    expect(await refused(c, "log_result", { description: "x" })).toMatch(/in progress/);
    const done = await ok(c, "run_training", { runId: first.runId });
    expect(done).toMatchObject({ state: "finished", runId: first.runId, metric: 1.0 });
  });

  it("keeps running when the client's request times out, and the result is picked up later", async () => {
    const { c } = await session({ config: fast({ killAfterSeconds: 20 }) });
    await ok(c, "apply_patch", { edits: [{ old: "SLEEP = 0.0", new: "SLEEP = 2.0" }] });
    await ok(c, "commit", { description: "slow" });
    await expect(c.callTool({ name: "run_training", arguments: {} }, undefined, { timeout: 400 })).rejects.toThrow(/timed out/i);
    const st = await ok(c, "status");
    expect(st.running).not.toBeNull();
    const r = await ok(c, "parse_metrics", { waitSeconds: 20 });
    expect(r).toMatchObject({ metric: 1.0, crashed: false, running: null });
    const picked = await ok(c, "run_training", { runId: st.running.runId });
    expect(picked).toMatchObject({ state: "finished", metric: 1.0 });
  });

  it("returns within the wait limit without progress support and says how to wait again", async () => {
    const { c } = await session({ config: fast({ killAfterSeconds: 20 }) });
    await ok(c, "apply_patch", { edits: [{ old: "SLEEP = 0.0", new: "SLEEP = 3.0" }] });
    await ok(c, "commit", { description: "slow" });
    const r = await ok(c, "run_training", { waitSeconds: 0.5 });
    expect(r.state).toBe("running");
    expect(r.next).toMatch(new RegExp(`run_training \\{"runId":"${r.runId}"\\}`));
    expect((await ok(c, "run_training", { runId: r.runId })).state).toBe("finished");
  });

  it("cancel stops the whole tree", async () => {
    const { ws, c } = await session({ train: treeScript({ children: 2, ignoreTerm: true }), config: fast({ killAfterSeconds: 60 }) });
    const started = await ok(c, "run_training", { wait: false });
    await waitUntil(() => pidsInLog(ws).length === 3);
    const r = await ok(c, "run_training", { cancel: true });
    expect(r).toMatchObject({ runId: started.runId, endReason: "cancel", proposedStatus: "crash" });
    for (const pid of pidsInLog(ws)) expect(alive(pid)).toBe(false);
    expect(await refused(c, "run_training", { cancel: true })).toMatch(/No run is in progress/);
  });

  it("refuses to run a dirty tree", async () => {
    const { ws, c } = await session({ config: fast() });
    write(ws, "train.py", read(ws, "train.py").replace("LR = 0.04", "LR = 0.05"));
    expect(await refused(c, "run_training")).toMatch(/train\.py has uncommitted changes; the code that runs must be the code that is logged/);
    expect(fs.existsSync(path.join(ws, "run.log"))).toBe(false);
  });

  it("finds the metrics after a flood of output with \\r storms, invalid UTF-8 and a 10 MB line", async () => {
    const { c } = await session({ train: floodScript(40), config: fast({ killAfterSeconds: 60 }) });
    const r = await ok(c, "run_training");
    expect(r).toMatchObject({ metric: 0.987654, memoryGb: 2, crashed: false });
  });

  it("proposes crash when memory is more than twice the baseline's", async () => {
    const { c } = await session({ baseline: true, config: fast({ killAfterSeconds: 10 }) });
    await ok(c, "apply_patch", { edits: [{ old: "MEMORY_MB = 1024.0", new: "MEMORY_MB = 4096.0" }, { old: "LR = 0.04", new: "LR = 0.05" }] });
    await ok(c, "commit", { description: "huge" });
    const r = await ok(c, "run_training");
    expect(r.proposedStatus).toBe("crash");
    expect(r.reason).toMatch(/more than twice the baseline/);
    expect(await refused(c, "log_result", { description: "huge", status: "keep" })).toMatch(/not allowed/);
  });
});

describe("server shutdown and death take the training tree with them", () => {
  const slowTree = () => ({ train: treeScript({ children: 2, ignoreTerm: true }), config: fast({ killAfterSeconds: 120, graceSeconds: 0.5 }) });

  it("stdin closing (the client going away) kills the tree", async () => {
    const { ws, c, srv } = await session(slowTree());
    await ok(c, "run_training", { wait: false });
    await waitUntil(() => pidsInLog(ws).length === 3);
    const pids = pidsInLog(ws);
    await srv.close();
    expect(await waitUntil(() => pids.every((p) => !alive(p)), 10_000)).toBe(true);
  });

  it("SIGTERM to the server kills the tree", async () => {
    const { ws, c, srv } = await session(slowTree());
    await ok(c, "run_training", { wait: false });
    await waitUntil(() => pidsInLog(ws).length === 3);
    const pids = pidsInLog(ws);
    process.kill(srv.pid()!, "SIGTERM");
    expect(await waitUntil(() => pids.every((p) => !alive(p)), 10_000)).toBe(true);
  });

  it("SIGKILL of the server: the watchdog kills the tree, the next server reports it, and the run is not a crash of the code (nothing to log, run it again)", async () => {
    const { ws, c, srv } = await session({ ...slowTree(), baseline: false });
    const started = await ok(c, "run_training", { wait: false });
    await waitUntil(() => pidsInLog(ws).length === 3);
    const pids = pidsInLog(ws);
    process.kill(srv.pid()!, "SIGKILL");
    expect(await waitUntil(() => pids.every((p) => !alive(p)), 15_000)).toBe(true);
    const again = await restart(ws);
    const st = await ok(again.c, "status");
    expect(st.lastRun).toMatchObject({ runId: started.runId, endReason: "server-died", logged: false });
    const resumed = await ok(again.c, "start_session", { resume: true });
    expect(resumed.next).toMatch(/was interrupted.*run it again with run_training/);
    expect(await refused(again.c, "log_result", { description: "baseline (server died)" })).toMatch(/was interrupted .*no result to log[\s\S]*Next: Run it again: run_training/);
    expect((await ok(again.c, "status")).next).toMatch(/interrupted.*run it again with run_training/);
    expect((await ok(again.c, "run_training", { runId: started.runId })).next).toMatch(/interrupted \(the server died\).*run it again/);
    expect(read(ws, "results.tsv").split("\n").length).toBe(2);
    expect(git(ws, "status", "--porcelain")).toBe("");
    void sleep;
  });

  it("the watchdog killed from outside mid-run is replaced: a SIGKILLed server still takes the tree with it", async () => {
    const { ws, c, srv } = await session({ ...slowTree(), baseline: false });
    await ok(c, "run_training", { wait: false });
    await waitUntil(() => pidsInLog(ws).length === 3);
    const pids = pidsInLog(ws);
    const watchdogs = () =>
      fs
        .readdirSync("/proc")
        .filter((d) => /^\d+$/.test(d))
        .filter((d) => {
          try {
            const argv = fs.readFileSync(`/proc/${d}/cmdline`, "utf8").split("\0");
            return argv.some((a) => a.endsWith("watchdog.js")) && argv.includes(String(srv.pid()));
          } catch {
            return false;
          }
        })
        .map(Number);
    await sleep(1200); // a watchdog that dies young is not respawned (it could not start at all)
    const [first] = watchdogs();
    expect(first).toBeGreaterThan(0);
    process.kill(first, "SIGKILL");
    expect(await waitUntil(() => watchdogs().some((p) => p !== first), 10_000)).toBe(true);
    process.kill(srv.pid()!, "SIGKILL");
    expect(await waitUntil(() => pids.every((p) => !alive(p)), 15_000)).toBe(true);
  });
});
