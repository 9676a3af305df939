import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { call, ok, refused, text } from "../helpers/client.js";
import { restart, session, useSessions } from "../helpers/session.js";
import { alive, runNode, until } from "../helpers/procs.js";
import { CLI } from "../helpers/client.js";
import { git, headShort, logSubjects, read } from "../helpers/workspace.js";
import { SUMMARY } from "../fixtures/scripts.js";
import { CALL_MS, RUN_LIMIT_S, TEST_MS } from "../helpers/timeouts.js";

// Experiments in flight (SPEC §8) through the real server and client: the queue's order, each run
// in a directory of its own on exactly its commit, one run per GPU, the bound, a candidate built
// on an older best (stale base), a restart with runs queued and running, and nothing left behind.

useSessions();

/**
 * A train.py that records where and what it ran (its cwd, CUDA_VISIBLE_DEVICES, its own LR and
 * DEPTH, start and end) in the workspace's git dir, and waits while a gate file exists there, so a
 * test decides when runs end instead of guessing how long they take.
 */
const TRAIN = `import json, os, time
LR = 0.04
DEPTH = 8
ws = os.environ["AUTORESEARCH_WORKSPACE"]
gate = os.path.join(ws, ".git", "flight-gate")
t0 = time.time()
print("started", flush=True)
while os.path.exists(gate):
    time.sleep(0.02)
with open(os.path.join(ws, ".git", "flight-trace.jsonl"), "a") as f:
    f.write(json.dumps({"lr": LR, "depth": DEPTH, "cwd": os.getcwd(), "cuda": os.environ.get("CUDA_VISIBLE_DEVICES"), "start": t0, "end": time.time(), "pid": os.getpid()}) + "\\n")
VAL = 1.0 + abs(LR - 0.05) * 10 + abs(DEPTH - 10) * 0.05
MEM = 512.0
${SUMMARY}`;

const config = (extra: Record<string, unknown> = {}) => ({ run: ["python3", "train.py"], budgetSeconds: 5, killAfterSeconds: RUN_LIMIT_S, graceSeconds: 1, noise: false, ...extra });
const gateOn = (ws: string) => fs.writeFileSync(path.join(ws, ".git", "flight-gate"), "");
const gateOff = (ws: string) => fs.rmSync(path.join(ws, ".git", "flight-gate"), { force: true });
type Traced = { lr: number; depth: number; cwd: string; cuda: string | null; start: number; end: number; pid: number };
/** What every run recorded; `flights()` leaves out the runs made in the workspace itself (the sequential baseline). */
const everyRun = (ws: string): Traced[] => {
  const f = path.join(ws, ".git", "flight-trace.jsonl");
  return fs.existsSync(f) ? read(ws, ".git/flight-trace.jsonl").trim().split("\n").map((l) => JSON.parse(l)) : [];
};
const trace = (ws: string) => everyRun(ws).filter((r) => r.cwd !== ws);
const worktreesLeft = (ws: string) => git(ws, "worktree", "list", "--porcelain").split("\n").filter((l) => l.startsWith("worktree ")).length - 1;
const runDirs = (ws: string) => (fs.existsSync(path.join(ws, ".git/autoresearch/worktrees")) ? fs.readdirSync(path.join(ws, ".git/autoresearch/worktrees")) : []);

type C = Awaited<ReturnType<typeof session>>["c"];
const text0 = (ws: string) => read(ws, "train.py");
/** apply_patch + commit {"run": true}: one candidate queued. */
async function queue(c: C, ws: string, from: string, to: string, description: string) {
  expect(text0(ws)).toContain(from);
  await ok(c, "apply_patch", { edits: [{ old: from, new: to }] });
  return (await ok(c, "commit", { description, run: true })).run as { runId: string; state: string; gpu?: string | null };
}
async function inFlight(c: C) {
  return (await ok(c, "status")).inFlight as { runId: string; commit: string; state: string; gpu: string | null }[];
}

describe("experiments in flight", () => {
  it(
    "runs queue in order, each in its own directory on exactly its commit; the agent's edits never reach them; a stale candidate is re-applied onto the best",
    async () => {
      const { ws, c } = await session({ train: TRAIN, config: config(), baseline: true });
      const base = headShort(ws);
      gateOn(ws);
      const a = await queue(c, ws, "LR = 0.04", "LR = 0.045", "lr 0.045");
      expect(a.state).toBe("running");
      // The branch went back to what the candidate was built on: the next idea starts from there.
      expect(headShort(ws)).toBe(base);
      expect(text0(ws)).toContain("LR = 0.04\n");
      const b = await queue(c, ws, "DEPTH = 8", "DEPTH = 10", "depth 10");
      expect(b.state).toBe("queued");
      expect((await inFlight(c)).map((f) => [f.runId, f.state])).toEqual([
        [a.runId, "running"],
        [b.runId, "queued"],
      ]);
      // An edit in progress while both are in flight: it must reach neither.
      await ok(c, "apply_patch", { edits: [{ old: "LR = 0.04", new: "LR = 0.9" }] });
      gateOff(ws);
      const done = await ok(c, "run_training", { runId: b.runId });
      expect(done.state).toBe("finished");
      const t = trace(ws);
      expect(t.map((r) => [r.lr, r.depth])).toEqual([
        [0.045, 8],
        [0.04, 10],
      ]);
      expect(t[1].start).toBeGreaterThanOrEqual(t[0].end); // one slot: B started after A ended
      for (const r of t) {
        expect(r.cwd).not.toBe(ws);
        expect(r.cwd.startsWith(path.join(ws, ".git", "autoresearch", "worktrees") + path.sep)).toBe(true);
      }
      // Logging a run in flight can move the branch: not over an uncommitted edit.
      expect(await refused(c, "log_result", {})).toMatch(/^Refused: train\.py has an uncommitted edit/);
      await ok(c, "reset_to_best");
      const la = await ok(c, "log_result", {});
      expect(la).toMatchObject({ runId: a.runId, row: { status: "keep", description: "lr 0.045" } });
      expect(logSubjects(ws)[0]).toBe("t: lr 0.045");
      // B beat the best but was built on the base: not fast-forwarded over A; re-applied onto it.
      // Without wait the stale row is the answer; with wait it is logged on the way and the call
      // goes on to the re-applied run (one call per experiment).
      const lb = await ok(c, "log_result", { wait: true });
      expect(lb.alsoLogged).toHaveLength(1);
      const stale = lb.alsoLogged[0];
      expect(stale.row.status).toBe("discard");
      expect(stale.row.description).toMatch(/^depth 10 \[stale base: built on [0-9a-f]{7}, the best is now [0-9a-f]{7}; re-applied as [0-9a-f]{7}, queued\]$/);
      expect(stale.requeued.runId).toMatch(/^run-/);
      expect(lb).toMatchObject({ runId: stale.requeued.runId, row: { commit: stale.requeued.commit, status: "keep" } });
      expect(trace(ws).map((r) => [r.lr, r.depth])).toEqual([
        [0.045, 8],
        [0.04, 10],
        [0.045, 10],
      ]);
      // The branch is the chain of keeps, each built on the one before.
      expect(logSubjects(ws).slice(0, 3)).toEqual([`t: depth 10 (re-applied onto ${la.row.commit})`, "t: lr 0.045", "initial"]);
      expect(read(ws, "results.tsv").trim().split("\n")).toHaveLength(5);
      expect(await inFlight(c)).toEqual([]);
      expect(worktreesLeft(ws)).toBe(0);
      expect(runDirs(ws)).toEqual([]);
      expect(git(ws, "status", "--porcelain")).toBe("");
    },
    TEST_MS,
  );

  it(
    "relative paths work as before: what the workspace has but git does not track (prepared data, a venv) is linked into the run's directory",
    async () => {
      const train = TRAIN.replace('t0 = time.time()', 'DATA = open("data/tokens.txt").read().strip()\nassert os.path.islink(".venv") and os.path.exists(".venv/marker")\nassert not os.path.exists("results.tsv") and not os.path.exists("run.log")\nt0 = time.time()').replace('"lr": LR,', '"lr": LR, "data": DATA,');
      const { ws, c } = await session({ train, config: config(), files: { ".gitignore": "__pycache__/\ndata/\n.venv/\n" } });
      fs.mkdirSync(path.join(ws, "data"));
      fs.writeFileSync(path.join(ws, "data", "tokens.txt"), "prepared\n");
      fs.mkdirSync(path.join(ws, ".venv"));
      fs.writeFileSync(path.join(ws, ".venv", "marker"), "");
      const r = await ok(c, "run_training", { wait: false });
      const done = await ok(c, "log_result", { wait: true });
      expect(done).toMatchObject({ runId: r.runId, row: { status: "keep" } });
      expect(trace(ws).map((t) => (t as Traced & { data: string }).data)).toEqual(["prepared"]);
      // results.tsv and run.log are the server's: never linked where a run could write them.
      expect(git(ws, "status", "--porcelain")).toBe("");
    },
    TEST_MS,
  );

  it(
    "gpus: one run per GPU with CUDA_VISIBLE_DEVICES set, never two on one; the queue is bounded",
    async () => {
      const { ws, c } = await session({ train: TRAIN, config: config({ gpus: [0, 1] }), baseline: true });
      gateOn(ws);
      const runs = [await queue(c, ws, "LR = 0.04", "LR = 0.041", "a"), await queue(c, ws, "LR = 0.04", "LR = 0.042", "b"), await queue(c, ws, "LR = 0.04", "LR = 0.043", "c")];
      expect(runs.map((r) => r.state)).toEqual(["running", "running", "queued"]);
      expect(runs.map((r) => r.gpu)).toEqual(["0", "1", undefined]);
      await queue(c, ws, "LR = 0.04", "LR = 0.044", "d");
      // 2 slots + 2 queued: a fifth is refused before anything is done (the edit stays uncommitted).
      await ok(c, "apply_patch", { edits: [{ old: "LR = 0.04", new: "LR = 0.046" }] });
      expect(await refused(c, "commit", { description: "e", run: true })).toMatch(/^Refused: 4 runs are in flight \(2 slots \+ 2 queued at most\)\.\nNext: Wait for one: log_result \{"wait":true\}/);
      expect(logSubjects(ws)[0]).toBe("initial");
      expect(git(ws, "status", "--porcelain")).toContain("train.py");
      await ok(c, "reset_to_best");
      expect((await inFlight(c)).map((f) => f.gpu)).toEqual(["0", "1", null, null]);
      gateOff(ws);
      for (let i = 0; i < 4; i++) await ok(c, "log_result", { wait: true });
      const t = trace(ws);
      expect(t).toHaveLength(4);
      expect(new Set(t.map((r) => r.cuda))).toEqual(new Set(["0", "1"]));
      for (const g of ["0", "1"]) {
        const on = t.filter((r) => r.cuda === g).sort((x, y) => x.start - y.start);
        for (let i = 1; i < on.length; i++) expect(on[i].start).toBeGreaterThanOrEqual(on[i - 1].end);
      }
      // The run log records each run's GPU.
      const logged = read(ws, ".git/autoresearch/runs.jsonl").trim().split("\n").map((l) => JSON.parse(l));
      const slots = logged.map((e: { slot: string | null }) => e.slot);
      expect(slots).toHaveLength(5);
      expect(slots.every((g: string | null) => g === "0" || g === "1")).toBe(true);
      expect(new Set(slots).size).toBe(2);
      // The baseline ran in the workspace itself (the sequential loop, as before), on a slot's GPU too.
      expect(everyRun(ws).find((r) => r.cwd === ws)?.cuda).toBe("0");
      expect(worktreesLeft(ws)).toBe(0);
    },
    TEST_MS,
  );

  it(
    "a restart keeps the queue: the running run is killed with its server and queued again, the queued one runs; nothing is left behind",
    async () => {
      const { ws, c, srv } = await session({ train: TRAIN, config: config(), baseline: true });
      gateOn(ws);
      const a = await queue(c, ws, "LR = 0.04", "LR = 0.045", "lr 0.045");
      const b = await queue(c, ws, "DEPTH = 8", "DEPTH = 9", "depth 9");
      await until(() => fs.existsSync(path.join(ws, ".git/autoresearch/queue", `${a.runId}.log`)) && read(ws, `.git/autoresearch/queue/${a.runId}.log`).includes("started"), "run A to start");
      const rec = JSON.parse(read(ws, `.git/autoresearch/queue/${a.runId}.run.json`));
      process.kill(srv.pid()!, "SIGKILL");
      await until(() => !alive(rec.pid), "run A's process to go with its server");
      const { c: c2 } = await restart(ws);
      const st = await ok(c2, "status");
      expect(st.problems.join(" ")).toMatch(new RegExp(`run ${a.runId} of [0-9a-f]{7} was running when its server stopped; it was killed and queued again`));
      expect(st.inFlight.map((f: { runId: string }) => f.runId)).toEqual([a.runId, b.runId]);
      gateOff(ws);
      const la = await ok(c2, "log_result", { wait: true });
      const lb = await ok(c2, "log_result", { wait: true });
      expect([la.runId, lb.runId]).toEqual([a.runId, b.runId]);
      expect(trace(ws).map((r) => [r.lr, r.depth])).toEqual([
        [0.045, 8],
        [0.04, 9],
      ]);
      expect(worktreesLeft(ws)).toBe(0);
      expect(runDirs(ws)).toEqual([]);
    },
    TEST_MS,
  );

  it(
    "one server runs a workspace's queue: a second server and the status command look but never start, kill or requeue a run",
    async () => {
      const { ws, c } = await session({ train: TRAIN, config: config(), baseline: true });
      gateOn(ws);
      const a = await queue(c, ws, "LR = 0.04", "LR = 0.045", "lr 0.045");
      const b = await queue(c, ws, "DEPTH = 8", "DEPTH = 9", "depth 9");
      const { c: second } = await restart(ws);
      const st = await ok(second, "status");
      expect(st.problems.join(" ")).toMatch(/the runs in flight belong to another autoresearch-mcp server on this workspace \(pid \d+\)/);
      expect(st.inFlight.map((f: { runId: string; state: string }) => [f.runId, f.state])).toEqual([
        [a.runId, "running"],
        [b.runId, "queued"],
      ]);
      await ok(second, "apply_patch", { edits: [{ old: "LR = 0.04", new: "LR = 0.03" }] });
      expect(await refused(second, "commit", { description: "x", run: true })).toMatch(/^Refused: The runs in flight of this workspace belong to another autoresearch-mcp server/);
      await ok(second, "reset_to_best");
      const cli = await runNode([CLI, "status", "--workspace", ws], ws, CALL_MS);
      expect(cli.code).toBe(0);
      expect(JSON.parse(cli.stdout).inFlight.map((f: { state: string }) => f.state)).toEqual(["running", "queued"]);
      // Neither started B nor touched A.
      expect((await inFlight(c)).map((f) => f.state)).toEqual(["running", "queued"]);
      gateOff(ws);
      expect((await ok(c, "log_result", { wait: true })).runId).toBe(a.runId);
      expect((await ok(c, "log_result", { wait: true })).runId).toBe(b.runId);
      expect(trace(ws)).toHaveLength(2);
    },
    TEST_MS,
  );

  it(
    "waiting, cancelling and refusing: log_result waits with progress or within its limit, a queued run can be dropped, a running one cannot be logged",
    async () => {
      const { ws, c } = await session({ train: TRAIN, config: config(), baseline: true });
      gateOn(ws);
      const a = await queue(c, ws, "LR = 0.04", "LR = 0.045", "lr 0.045");
      const b = await queue(c, ws, "DEPTH = 8", "DEPTH = 9", "depth 9");
      // While it waits, log_result sends progress (what runs, what waits); the run ends when one came.
      const seen: string[] = [];
      const logged = await ok(c, "log_result", { wait: true }, {
        onprogress: (p) => {
          seen.push(p.message ?? "");
          if (seen.length === 2) gateOff(ws);
        },
      });
      expect(logged.runId).toBe(a.runId);
      expect(seen[0]).toMatch(/^elapsed \d+s of at most \d+s \| 1 running, 1 queued$/);
      gateOn(ws);
      const b2 = await queue(c, ws, "LR = 0.04", "LR = 0.041", "lr 0.041");
      expect(b2.state).toBe("queued");
      const w = await ok(c, "log_result", { wait: true, waitSeconds: 1 });
      expect(w).toMatchObject({ waiting: true, inFlight: 2 });
      expect(read(ws, "results.tsv").trim().split("\n")).toHaveLength(3);
      // Not finished yet: a named run cannot be logged.
      expect(await refused(c, "log_result", { runId: b.runId })).toMatch(/^Refused: Run run-\S+ of [0-9a-f]{7} is running\./);
      const cancelled = await ok(c, "run_training", { runId: b2.runId, cancel: true });
      expect(cancelled.state).toBe("cancelled");
      expect((await inFlight(c)).map((f) => f.runId)).toEqual([b.runId]);
      expect(git(ws, "for-each-ref", "refs/autoresearch-mcp/queue/")).not.toContain(b2.runId);
      gateOff(ws);
      const lb = await ok(c, "log_result", { wait: true });
      expect(lb.runId).toBe(b.runId);
      expect(await refused(c, "run_training", { runId: "run-20000101000000-abcdef" })).toMatch(/not known/);
      expect(text(await call(c, "status"))).not.toMatch(/In flight/);
    },
    TEST_MS,
  );

  it(
    "under the noise rule the baseline's runs go side by side, and a new keep's confirmation is queued by the server while the agent goes on",
    async () => {
      const { ws, c } = await session({ train: TRAIN, config: config({ gpus: [0, 1], noise: true }) });
      gateOn(ws);
      const r1 = await ok(c, "run_training", { wait: false });
      const r2 = await ok(c, "run_training", { wait: false });
      expect([r1.state, r2.state]).toEqual(["running", "running"]);
      expect([r1.gpu, r2.gpu]).toEqual(["0", "1"]);
      expect(await refused(c, "run_training", { wait: false })).toMatch(/^Refused: [0-9a-f]{7} is already in flight \(2 runs/);
      gateOff(ws);
      const l1 = await ok(c, "log_result", { wait: true });
      const l2 = await ok(c, "log_result", { wait: true });
      expect([l1.row.description, l2.row.description.split(" [")[0]]).toEqual(["baseline", "baseline"]);
      expect(l2.decision).toMatchObject({ kind: "baseline", n: 2 });
      const a = await queue(c, ws, "LR = 0.04", "LR = 0.045", "lr 0.045");
      const la = await ok(c, "log_result", { wait: true });
      expect(la).toMatchObject({ runId: a.runId, row: { status: "keep" } });
      expect(la.confirmation).toMatch(/^run-/);
      // HEAD is the new keep; its confirmation is on its way, so the next idea need not wait.
      expect(headShort(ws)).toBe(la.row.commit);
      await ok(c, "apply_patch", { edits: [{ old: "DEPTH = 8", new: "DEPTH = 9" }] });
      await ok(c, "reset_to_best");
      const conf = await ok(c, "log_result", { wait: true });
      expect(conf).toMatchObject({ runId: la.confirmation, row: { commit: la.row.commit, status: "keep" }, decision: { kind: "confirmation", n: 2 } });
      expect(await inFlight(c)).toEqual([]);
    },
    TEST_MS,
  );
});
