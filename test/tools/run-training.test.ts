import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { call, ok, refused, text } from "../helpers/client.js";
import { restart, session, useSessions } from "../helpers/session.js";
import { git, makeWorkspace, read, write } from "../helpers/workspace.js";
import { alive, groupGone, pidsInLog, sleep, until } from "../helpers/procs.js";
import { RUN_LIMIT_S } from "../helpers/timeouts.js";
import { crashScript, floodScript, HOLD_EDIT, release, treeScript, TREE_READY, SUMMARY } from "../fixtures/scripts.js";

useSessions();

// A run that should end by itself gets a hard limit only a hang reaches (RUN_LIMIT_S): a limit of
// a few seconds would kill a slow start on a loaded machine and fail the test for speed.
const fast = (extra: Record<string, unknown> = {}) => ({ run: ["python3", "train.py"], budgetSeconds: 1, killAfterSeconds: RUN_LIMIT_S, graceSeconds: 0.5, ...extra });

/**
 * A run killed at its hard limit with its whole tree up. The tree only counts once it printed
 * TREE_READY before the limit; on a machine too loaded to start its Pythons within the limit the
 * same run is repeated in a fresh session with a longer limit (readiness decides, not a guess of
 * how fast Python starts). Returns the session whose tree was ready, with its result and limit.
 */
async function killedAtLimit(train: string, limits = [3, 10, 30, 90]) {
  for (const limit of limits) {
    const s = await session({ train, config: fast({ killAfterSeconds: limit }) });
    const r = await ok(s.c, "run_training");
    if (read(s.ws, "run.log").includes(TREE_READY)) return { ...s, r, limit };
  }
  throw new Error(`the tree never got all its processes up within a hard limit of ${limits[limits.length - 1]} s (machine too loaded?)`);
}

/** Waits until the tree of a run has printed all `n` pids. */
const treeUp = (ws: string, n: number) => until(() => pidsInLog(ws).length === n && read(ws, "run.log").includes(TREE_READY), `the ${n} processes of the tree to print their pids`);

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
    const { ws, c, r, limit } = await killedAtLimit(treeScript({ children: 4, ignoreTerm: true }));
    expect(r).toMatchObject({ state: "finished", timedOut: true, endReason: "limit", proposedStatus: "discard", crashed: false });
    expect(r.killLatencyMs).toBeGreaterThanOrEqual(0);
    const pids = pidsInLog(ws);
    expect(pids.length).toBe(5);
    for (const pid of pids) expect(alive(pid), `pid ${pid}`).toBe(false);
    expect(groupGone(pids[0])).toBe(true);
    expect(await refused(c, "log_result", { description: "hangs", status: "keep" })).toMatch(new RegExp(`proposes "discard" \\(killed at the hard limit of ${limit} s`));
    const logged = await ok(c, "log_result", { description: "hangs" });
    expect(logged.row).toMatchObject({ status: "discard", metric: "0.000000" });
    expect(await refused(c, "log_result", { description: "again" })).toMatch(/already logged/);
  });

  it("finds a process that left the group with setsid (environment marker)", async () => {
    const { ws, r } = await killedAtLimit(treeScript({ escape: true }));
    expect(r).toMatchObject({ timedOut: true, endReason: "limit" });
    const pids = pidsInLog(ws);
    expect(pids.length).toBe(2);
    for (const pid of pids) expect(alive(pid), `pid ${pid}`).toBe(false);
  });

  it("leaves no worker behind when the script exits normally", async () => {
    const { ws, c } = await session({ train: treeScript({ children: 2, sleep: 0 }), config: fast() });
    const r = await ok(c, "run_training");
    expect(r).toMatchObject({ exitCode: 0, timedOut: false, metric: 1 });
    // the parent exits only once both workers printed their pids: all three are checked
    const pids = pidsInLog(ws);
    expect(pids.length).toBe(3);
    for (const pid of pids) expect(alive(pid), `pid ${pid}`).toBe(false);
  });

  it("returns a crash with a classified reason and at most 50 tail records", async () => {
    const { c } = await session({ train: crashScript, config: fast() });
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
    const { ws, c } = await session({ config: fast() });
    await ok(c, "apply_patch", { edits: [HOLD_EDIT] });
    await ok(c, "commit", { description: "held" });
    const seen: { progress: number; total?: number; message?: string }[] = [];
    const line = new RegExp(`elapsed \\d+s of at most ${RUN_LIMIT_S}s \\| step 0000\\d`);
    // the run ends when three notifications came, one of them with the step line (not after a time)
    const r = await ok(c, "run_training", {}, {
      onprogress: (p) => {
        seen.push(p);
        if (seen.length >= 3 && seen.some((q) => line.test(q.message ?? ""))) release(ws);
      },
    });
    expect(r.state).toBe("finished");
    expect(seen.length).toBeGreaterThanOrEqual(3);
    expect(seen[seen.length - 1].total).toBe(RUN_LIMIT_S);
    expect(seen.some((p) => line.test(p.message ?? ""))).toBe(true);
    for (let i = 1; i < seen.length; i++) expect(seen[i].progress).toBeGreaterThanOrEqual(seen[i - 1].progress);
  });

  it("refuses a second run while one runs, with its id and elapsed time; runId picks the result up", async () => {
    const { ws, c } = await session({ config: fast() });
    await ok(c, "apply_patch", { edits: [HOLD_EDIT] });
    await ok(c, "commit", { description: "held" });
    const first = await ok(c, "run_training", { waitSeconds: 0 });
    expect(first).toMatchObject({ state: "running" });
    const msg = await refused(c, "run_training");
    expect(msg).toMatch(new RegExp(`^Refused: Run ${first.runId} of [0-9a-f]{7} is in progress \\(\\d+ s elapsed\\)`));
    expect(await refused(c, "apply_patch", { edits: [{ old: "LR = 0.04", new: "LR = 0.05" }] })).toMatch(/in progress/);
    expect(await refused(c, "log_result", { description: "x" })).toMatch(/in progress/);
    release(ws);
    const done = await ok(c, "run_training", { runId: first.runId });
    expect(done).toMatchObject({ state: "finished", runId: first.runId, metric: 1.0 });
  });

  it("keeps running when the client's request times out, and the result is picked up later", async () => {
    const { ws, c } = await session({ config: fast() });
    await ok(c, "apply_patch", { edits: [HOLD_EDIT] });
    await ok(c, "commit", { description: "held" });
    // held, the run cannot end before this request times out, however slow the machine
    await expect(c.callTool({ name: "run_training", arguments: {} }, undefined, { timeout: 400 })).rejects.toThrow(/timed out/i);
    const st = await ok(c, "status");
    expect(st.running).not.toBeNull();
    release(ws);
    const r = await ok(c, "parse_metrics", { waitSeconds: 50 });
    expect(r).toMatchObject({ metric: 1.0, crashed: false, running: null });
    const picked = await ok(c, "run_training", { runId: st.running.runId });
    expect(picked).toMatchObject({ state: "finished", metric: 1.0 });
  });

  it("returns within the wait limit without progress support and says how to wait again", async () => {
    const { ws, c } = await session({ config: fast() });
    await ok(c, "apply_patch", { edits: [HOLD_EDIT] });
    await ok(c, "commit", { description: "held" });
    const r = await ok(c, "run_training", { waitSeconds: 0.5 }, { progress: false });
    expect(r.state).toBe("running");
    expect(r.next).toMatch(new RegExp(`run_training \\{"runId":"${r.runId}"\\}`));
    release(ws);
    expect((await ok(c, "run_training", { runId: r.runId }, { progress: false })).state).toBe("finished");
  });

  it("cancel stops the whole tree", async () => {
    const { ws, c } = await session({ train: treeScript({ children: 2, ignoreTerm: true }), config: fast() });
    const started = await ok(c, "run_training", { waitSeconds: 0 });
    await treeUp(ws, 3);
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
    const { c } = await session({ train: floodScript(40), config: fast() });
    const r = await ok(c, "run_training");
    expect(r).toMatchObject({ metric: 0.987654, memoryGb: 2, crashed: false });
  });

  it("proposes crash when memory is more than twice the baseline's", async () => {
    const { c } = await session({ baseline: true, config: fast() });
    await ok(c, "apply_patch", { edits: [{ old: "MEMORY_MB = 1024.0", new: "MEMORY_MB = 4096.0" }, { old: "LR = 0.04", new: "LR = 0.05" }] });
    await ok(c, "commit", { description: "huge" });
    const r = await ok(c, "run_training");
    expect(r.proposedStatus).toBe("crash");
    expect(r.reason).toMatch(/more than twice the baseline/);
    expect(await refused(c, "log_result", { description: "huge", status: "keep" })).toMatch(/not allowed/);
  });
});

describe("server shutdown and death take the training tree with them", () => {
  const slowTree = () => ({ train: treeScript({ children: 2, ignoreTerm: true }), config: fast({ graceSeconds: 0.5 }) });
  const allGone = (pids: number[]) => until(() => pids.every((p) => !alive(p)), `pids ${pids.join(", ")} to be gone`);

  it("stdin closing (the client going away) kills the tree", async () => {
    const { ws, c, srv } = await session(slowTree());
    await ok(c, "run_training", { waitSeconds: 0 });
    await treeUp(ws, 3);
    const pids = pidsInLog(ws);
    // Only stdin is closed: the SDK's close() would SIGTERM a server not gone within 2 s, and on a
    // loaded machine this would then test the SIGTERM path instead.
    (srv.transport as unknown as { _process: { stdin: { end(): void } } })._process.stdin.end();
    await allGone(pids);
  });

  it("SIGTERM to the server kills the tree", async () => {
    const { ws, c, srv } = await session(slowTree());
    await ok(c, "run_training", { waitSeconds: 0 });
    await treeUp(ws, 3);
    const pids = pidsInLog(ws);
    process.kill(srv.pid()!, "SIGTERM");
    await allGone(pids);
  });

  it("SIGKILL of the server: the watchdog kills the tree, the next server reports it, and the run is not a crash of the code (nothing to log, run it again)", async () => {
    const { ws, c, srv } = await session({ ...slowTree(), baseline: false });
    const started = await ok(c, "run_training", { waitSeconds: 0 });
    await treeUp(ws, 3);
    const pids = pidsInLog(ws);
    process.kill(srv.pid()!, "SIGKILL");
    await allGone(pids);
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
    await ok(c, "run_training", { waitSeconds: 0 });
    await treeUp(ws, 3);
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
    // A watchdog that dies young (< 1 s after the server spawned it) is not respawned: it could
    // not start at all. It was spawned before run_training answered, so 1.2 s from here is always
    // older than that, however slow the machine (an age, not a wait for something to happen).
    await sleep(1200);
    const [first] = watchdogs();
    expect(first).toBeGreaterThan(0);
    process.kill(first, "SIGKILL");
    await until(() => watchdogs().some((p) => p !== first), "a new watchdog for the live run");
    process.kill(srv.pid()!, "SIGKILL");
    await allGone(pids);
  });
});
