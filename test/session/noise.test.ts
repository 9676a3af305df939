import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { call, ok, refused, text } from "../helpers/client.js";
import { killedAt, restart, session, useSessions } from "../helpers/session.js";
import { git, headShort, read } from "../helpers/workspace.js";
import { CALL_MS, RUN_LIMIT_S } from "../helpers/timeouts.js";

// The noise-aware keep rule (the default) through the real server and client: the baseline's
// repeat, a confirmed keep, a revoked one, a deliberate repeat, the same code under a new
// commit, and the run log kept beside results.tsv across a crash.

useSessions();

/**
 * The fixture train.py plus noise: each run adds the next number of a queue file outside the
 * workspace (the test's stand-in for run-to-run variance), so every outcome is scripted.
 */
const FIXTURE = fs.readFileSync(new URL("../fixtures/train.py", import.meta.url), "utf8");
const NOISY = FIXTURE.replace(
  "val = train()",
  `def noise():
    q = os.environ.get("FIXTURE_NOISE")
    if not q:
        return 0.0
    vals = open(q).read().split()
    open(q, "w").write(" ".join(vals[1:]))
    if vals and vals[0] == "x":
        raise RuntimeError("boom: scripted crash")
    if vals and vals[0] == "t":
        time.sleep(60)
    return float(vals[0]) if vals else 0.0

val = train() + noise()`,
);

const queues: string[] = [];
function noiseQueue(...values: (number | string)[]): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ar-noise-"));
  queues.push(dir);
  const file = path.join(dir, "queue");
  fs.writeFileSync(file, values.join(" "));
  return file;
}

async function noisySession(values: (number | string)[], noise: unknown = { baselineRuns: 2, confirmRuns: 1 }, env: Record<string, string> = {}, extra: Record<string, unknown> = {}) {
  const q = noiseQueue(...values);
  return session({ train: NOISY, env, config: { run: ["python3", "train.py"], budgetSeconds: 5, killAfterSeconds: RUN_LIMIT_S, graceSeconds: 1, env: { FIXTURE_NOISE: q }, noise, ...extra } });
}

const rows = (ws: string) =>
  read(ws, "results.tsv")
    .trim()
    .split("\n")
    .slice(1)
    .map((l) => l.split("\t"));
const runLog = (ws: string) =>
  fs
    .readFileSync(path.join(ws, ".git", "autoresearch", "runs.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));

type C = Awaited<ReturnType<typeof session>>["c"];
async function runAndLog(c: C, description: string, runArgs: Record<string, unknown> = {}, logArgs: Record<string, unknown> = {}) {
  const run = await ok(c, "run_training", runArgs);
  return { run, logged: await ok(c, "log_result", { description, ...logArgs }) };
}
async function candidate(c: C, old: string, neu: string, description: string) {
  await ok(c, "apply_patch", { edits: [{ old, new: neu }] });
  await ok(c, "commit", { description });
  return runAndLog(c, description);
}

describe("the noise-aware rule, end to end", () => {
  // LR 0.04 → 1.000 (0.9 + 0.1); 0.045 → 0.950; 0.048 → 0.920; the queue adds each run's noise.
  it("measures σ on the baseline, confirms a keep, revokes a lucky one and puts the branch back", { timeout: 4 * CALL_MS }, async () => {
    const { ws, c } = await noisySession([0.0002, -0.0002, 0.0001, -0.0001, -0.0104, 0, 0]);
    const base = headShort(ws);

    const b1 = await runAndLog(c, "baseline");
    expect(b1.run.proposedStatus).toBe("keep");
    expect(b1.logged).toMatchObject({ due: "run_training", decision: { kind: "baseline", n: 1, sigma: null } });
    expect(b1.logged.next).toMatch(/^Baseline run 1 of 2 logged: run_training again/);
    // nothing else until the baseline has its repeat
    expect(await refused(c, "apply_patch", { edits: [{ old: "LR = 0.04", new: "LR = 0.045" }] })).toMatch(/The baseline [0-9a-f]{7} has 1 of 2 runs[\s\S]*Next: Run it again first: run_training/);
    expect((await ok(c, "status")).next).toMatch(/has 1 of 2 runs.*Run it again: run_training/);
    const b2 = await runAndLog(c, "baseline");
    expect(b2.logged.due).toBeNull();
    expect(b2.logged.decision.sigma).toBeCloseTo(0.0004 / Math.SQRT2, 6);
    expect(b2.logged.row.description).toBe("baseline [run 2: mean 1.000000 of 2 runs, σ 0.000283]");

    // a real gain: kept on one run, confirmed on the second
    const a1 = await candidate(c, "LR = 0.04", "LR = 0.045", "LR 0.045");
    expect(a1.logged).toMatchObject({ newBest: true, due: "run_training", decision: { kind: "candidate", n: 1, against: { commit: base, n: 2 } } });
    expect(a1.logged.next).toMatch(/^Kept for now on 1 run/);
    expect(await refused(c, "commit", { description: "x" })).toMatch(/was kept on 1 run; every new keep is measured 2 times/);
    const a2 = await runAndLog(c, "LR 0.045");
    expect(a2.logged).toMatchObject({ newBest: false, due: null, decision: { kind: "confirmation", n: 2, revoked: false } });
    expect(a2.logged.row.status).toBe("keep");
    const kept = headShort(ws);

    // a lucky draw (-0.0104 on a change that is truly worse, LR 0.044 → 0.960) is kept 1.5 standard
    // errors ahead (σ 0.000224 pooled on 2 degrees of freedom), not clearly: its repeat revokes it
    const l1 = await candidate(c, "LR = 0.045", "LR = 0.044", "LR 0.044");
    expect(l1.logged.row.status).toBe("keep");
    expect(l1.logged).toMatchObject({ due: "run_training", decision: { kind: "candidate", clear: false } });
    expect(l1.logged.decision.lead).toBeCloseTo(0.0004 / (Math.sqrt(0.00000005) * Math.sqrt(1.5)), 1);
    const lucky = headShort(ws);
    const l2 = await runAndLog(c, "LR 0.044");
    expect(l2.logged.row.status).toBe("discard");
    expect(l2.logged.decision).toMatchObject({ kind: "confirmation", revoked: true, resetTo: kept });
    expect(l2.logged.row.description).toMatch(/^LR 0\.044 \[revoked: mean 0\.954800 of 2 runs behind [0-9a-f]{7} 0\.950000\]$/);
    expect(l2.logged.next).toMatch(/^Revoked: .*The branch went back to [0-9a-f]{7}\. Next idea: apply_patch/);
    // the server moved the branch itself; the revoked commit stays reachable for git show
    expect(headShort(ws)).toBe(kept);
    expect(git(ws, "status", "--porcelain")).toBe("");
    expect(git(ws, "cat-file", "-t", lucky).trim()).toBe("commit");

    const st = await ok(c, "status");
    expect(st.best).toMatchObject({ commit: kept, n: 2, description: "LR 0.045" });
    expect(st.best.metric).toBeCloseTo(0.95, 6);
    expect(st.best.stderr).toBeGreaterThan(0);
    expect(st.noise).toMatchObject({ settings: { baselineRuns: 2, confirmRuns: 1, clearLead: 5 }, experiments: 2, kept: 1, revoked: 1 });
    expect(st.keepRate).toBe(0.5);
    expect(st.trajectory.map((t: { commit: string }) => t.commit)).toEqual([base, kept]);
    expect(text(await call(c, "status"))).toMatch(/Best val_bpb 0\.950000 ± 0\.\d{6} \(mean of 2 runs\)/);

    // results.tsv keeps karpathy's five columns, a row per run; the run log has the rest
    expect(rows(ws).map((r) => [r.length, r[3]])).toEqual([5, 5, 5, 5, 5, 5].map((n, i) => [n, ["keep", "keep", "keep", "keep", "keep", "discard"][i]]));
    const log = runLog(ws);
    expect(log.map((e) => e.line)).toEqual([2, 3, 4, 5, 6, 7]);
    expect(log[5]).toMatchObject({ commit: lucky, status: "discard", revoked: true, slot: null });
    expect(log[0].key).toBe(log[1].key);
    expect(log[2].key).not.toBe(log[0].key);
    for (const e of log) expect(e.durationSeconds).toBeGreaterThan(0);

    // a real gain far beyond the noise (LR 0.048 → 0.920, 5.8 standard errors ahead with the revoked
    // pair in σ): kept on its one run, no confirmation, the next idea may start at once
    const k1 = await candidate(c, "LR = 0.045", "LR = 0.048", "LR 0.048");
    expect(k1.logged).toMatchObject({ newBest: true, due: null, decision: { kind: "candidate", n: 1, clear: true, against: { commit: kept } } });
    expect(k1.logged.decision.lead).toBeGreaterThan(3);
    expect(k1.logged.next).toMatch(/^Kept, clearly ahead \(\d+\.\d standard errors\): no confirmation run is needed\. Next idea: apply_patch\.$/);
    expect(k1.logged.row.description).toMatch(/^LR 0\.048 \[clear: \d+\.\d standard errors ahead of [0-9a-f]{7} 0\.950000\]$/);
    expect((await ok(c, "status")).best).toMatchObject({ commit: headShort(ws), n: 1 });
    await ok(c, "apply_patch", { edits: [{ old: "LR = 0.048", new: "LR = 0.049" }] });
  });

  it("a discard run again by accident is refused with its earlier result; a deliberate repeat counts toward its mean", { timeout: 4 * CALL_MS }, async () => {
    // baseline 1.000 twice; LR 0.039 → 1.011 (+0.0015 noise) is behind, within one standard error
    const { ws, c } = await noisySession([0.001, -0.001, -0.0095, -0.0125]);
    await runAndLog(c, "baseline");
    await runAndLog(c, "baseline");
    const d = await candidate(c, "LR = 0.04", "LR = 0.039", "LR 0.039");
    expect(d.logged.row.status).toBe("discard");
    expect(d.logged.decision.closeCall).toBe(true);
    expect(d.logged.next).toMatch(/close call.*run_training \{"repeat":true\}/);
    const msg = await refused(c, "run_training");
    expect(msg).toMatch(/This commit already ran \(row 4: [0-9a-f]{7} 1\.000500 discard\)/);
    expect(msg).toMatch(/Next: To measure it again on purpose, run_training \{"repeat":true\}.*Otherwise reset_to_best/);
    const again = await runAndLog(c, "LR 0.039", { repeat: true });
    // (1.0005 + 0.9975) / 2 = 0.999 < 1.000: the mean pulls it ahead; with two runs it needs no confirmation
    expect(again.logged).toMatchObject({ due: null, decision: { kind: "repeat", n: 2 } });
    expect(again.logged.row.status).toBe("keep");
    expect(headShort(ws)).toBe(rows(ws)[2][0]);
  });

  it("the same train.py under a new commit is named before it runs, with the earlier result", { timeout: 4 * CALL_MS }, async () => {
    const { c } = await noisySession([0, 0, 0]);
    await runAndLog(c, "baseline");
    await runAndLog(c, "baseline");
    const d = await candidate(c, "LR = 0.04", "LR = 0.03", "LR 0.03");
    expect(d.logged.row.status).toBe("discard");
    await ok(c, "reset_to_best");
    await ok(c, "apply_patch", { edits: [{ old: "LR = 0.04", new: "LR = 0.03" }] });
    await ok(c, "commit", { description: "LR 0.03 again" });
    expect(await refused(c, "run_training")).toMatch(/This train\.py already ran \(row 4: [0-9a-f]{7} 1\.100000 discard\)/);
  });

  it("the best run again on purpose moves its mean; a new session's baseline runs though an earlier night ran that code, and a candidate it ran is named with that night", { timeout: 6 * CALL_MS }, async () => {
    const { ws, c } = await noisySession([0.0002, -0.0002, 0, 0, 0.0006, 0, 0, 0]);
    await runAndLog(c, "baseline");
    await runAndLog(c, "baseline");
    await candidate(c, "LR = 0.04", "LR = 0.045", "LR 0.045");
    await runAndLog(c, "LR 0.045");
    // the confirmed best, once more: a deliberate repeat of HEAD (the best) that keeps it
    expect(await refused(c, "run_training")).toMatch(/This commit already ran/);
    const again = await runAndLog(c, "LR 0.045", { repeat: true });
    expect(again.logged).toMatchObject({ due: null, decision: { kind: "repeat", n: 3, revoked: false } });
    expect(again.logged.decision.mean).toBeCloseTo(0.9502, 6);
    expect((await ok(c, "status")).best).toMatchObject({ n: 3 });
    const d = await candidate(c, "LR = 0.045", "LR = 0.03", "LR 0.03");
    expect(d.logged.row.status).toBe("discard");

    // the next night: the human moves results.tsv away and starts a new session from master
    fs.rmSync(path.join(ws, "results.tsv"));
    git(ws, "checkout", "-q", "master");
    await ok(c, "start_session", { tag: "night2" });
    const b = await runAndLog(c, "baseline");
    expect(b.logged.decision).toMatchObject({ kind: "baseline", n: 1 });
    await runAndLog(c, "baseline");
    await ok(c, "apply_patch", { edits: [{ old: "LR = 0.04", new: "LR = 0.03" }] });
    await ok(c, "commit", { description: "LR 0.03" });
    expect(await refused(c, "run_training")).toMatch(/This train\.py already ran \(session t, row 7: [0-9a-f]{7} 1\.100000 discard\)/);
    await runAndLog(c, "LR 0.03", { repeat: true });
    expect(runLog(ws).filter((e) => e.session === "night2")).toHaveLength(3);
  });

  it("at the night's end no repeat is due: the answer says the night is over, in the text and the JSON", { timeout: 4 * CALL_MS }, async () => {
    const q = noiseQueue(0, 0);
    const { c } = await session({ train: NOISY, config: { run: ["python3", "train.py"], budgetSeconds: 5, killAfterSeconds: RUN_LIMIT_S, graceSeconds: 1, env: { FIXTURE_NOISE: q }, noise: { baselineRuns: 2 }, maxRuns: 1 } });
    const b = await runAndLog(c, "baseline");
    expect(b.logged.due).toBeNull();
    expect(b.logged.next).toMatch(/^The night is over \(maxRuns 1 reached/);
  });

  it("run_training {runId} of a logged run is judged without its own row, and answers with the status it was logged with", { timeout: 4 * CALL_MS }, async () => {
    const { c } = await noisySession([0.001, -0.001]);
    await runAndLog(c, "baseline");
    const r2 = await ok(c, "run_training");
    const logged = await ok(c, "log_result", { description: "baseline" });
    const again = await ok(c, "run_training", { runId: r2.runId });
    expect(again).toMatchObject({ logged: true, proposedStatus: logged.row.status, next: "Already logged." });
  });

  it("noise: false is the strict rule: no repeat asked, no decision block, status without σ", { timeout: 4 * CALL_MS }, async () => {
    const { c } = await noisySession([0, 0], false);
    const b = await runAndLog(c, "baseline");
    expect(b.logged.due).toBeNull();
    expect(b.logged.decision).toBeUndefined();
    const st = await ok(c, "status");
    expect(st.noise).toBeNull();
    expect(st.best.n).toBeUndefined();
    await ok(c, "apply_patch", { edits: [{ old: "LR = 0.04", new: "LR = 0.045" }] });
  });

  it("a server killed after the row landed: the run log gets its entry from the intent on restart", { timeout: 4 * CALL_MS }, async () => {
    const { ws, c, srv } = await noisySession([0, 0], undefined, { AUTORESEARCH_TEST_CRASH_AT: "log_result:after-append" });
    await ok(c, "run_training");
    await killedAt(c, srv.pid()!, "log_result", { description: "baseline" });
    expect(fs.existsSync(path.join(ws, ".git", "autoresearch", "runs.jsonl"))).toBe(false);
    const again = await restart(ws);
    const st = await ok(again.c, "status");
    expect(st.next).toMatch(/has 1 of 2 runs/);
    expect(runLog(ws)).toMatchObject([{ line: 2, status: "keep", revoked: false }]);
    await runAndLog(again.c, "baseline");
    expect(runLog(ws).map((e) => e.line)).toEqual([2, 3]);
  });
});

describe("the noise-aware rule where runs fail, the agent overrides, or the server dies", () => {
  it("a crashed repeat of the baseline is not counted: the baseline stays the reference and its repeat is asked for again", { timeout: 4 * CALL_MS }, async () => {
    const { ws, c } = await noisySession([0, "x", 0, 0]);
    await runAndLog(c, "baseline");
    const b2 = await runAndLog(c, "baseline");
    expect(b2.logged.row.status).toBe("crash");
    expect(b2.logged.row.description).toBe("baseline [baseline repeat crashed: not counted]");
    expect(b2.logged.due).toBe("run_training");
    expect(b2.logged.next).toMatch(/^The baseline's repeat failed \(RuntimeError: boom: scripted crash\); it is not counted: run_training again/);
    expect((await ok(c, "status")).best).toMatchObject({ commit: headShort(ws), n: 1 });
    expect(await refused(c, "apply_patch", { edits: [{ old: "LR = 0.04", new: "LR = 0.01" }] })).toMatch(/has 1 of 2 runs/);
    expect((await runAndLog(c, "baseline")).logged).toMatchObject({ due: null, decision: { n: 2 } });
    // LR 0.01 → 1.3: far worse than the baseline's 1.0, and discarded as such
    const w = await candidate(c, "LR = 0.04", "LR = 0.01", "LR 0.01");
    expect(w.logged.row.status).toBe("discard");
    expect(w.logged.decision.against).toMatchObject({ commit: rows(ws)[0][0], n: 2 });
  });

  it("a repeat of the baseline killed at the hard limit is not counted either; twice failed, the night goes on without σ", { timeout: 6 * CALL_MS }, async () => {
    const { c } = await noisySession([0, "t", "t"], { baselineRuns: 2, confirmRuns: 1 }, {}, { budgetSeconds: 1, killAfterSeconds: 3, graceSeconds: 0 });
    await runAndLog(c, "baseline");
    const b2 = await runAndLog(c, "baseline");
    expect(b2.logged).toMatchObject({ due: "run_training", row: { status: "discard" } });
    const b3 = await runAndLog(c, "baseline");
    expect(b3.logged.due).toBeNull();
    expect(b3.logged.next).toMatch(/^The baseline's repeats failed .*σ stays unmeasured.*Next idea: apply_patch/);
    await ok(c, "apply_patch", { edits: [{ old: "LR = 0.04", new: "LR = 0.045" }] });
  });

  it("the baseline's runs cannot be downgraded: they are measurements", { timeout: 4 * CALL_MS }, async () => {
    const { c } = await noisySession([0, 0]);
    await runAndLog(c, "baseline");
    await ok(c, "run_training");
    expect(await refused(c, "log_result", { description: "baseline", status: "discard" })).toMatch(/Status "discard" is not allowed/);
    expect((await ok(c, "log_result", { description: "baseline" })).due).toBeNull();
  });

  it("keep on a level mean (the simpler change) is confirmed like any keep, and may be kept again on a level confirmation", { timeout: 4 * CALL_MS }, async () => {
    const { ws, c } = await noisySession([0, 0, 0, 0]);
    await runAndLog(c, "baseline");
    await runAndLog(c, "baseline");
    await ok(c, "apply_patch", { edits: [{ old: "MEMORY_MB = 1024.0", new: "MEMORY_MB = 1024.00" }] });
    await ok(c, "commit", { description: "simpler, same value" });
    const k = await runAndLog(c, "simpler", {}, { status: "keep" });
    expect(k.logged).toMatchObject({ due: "run_training", row: { status: "keep" } });
    expect(k.logged.next).toMatch(/^Kept for now on 1 run/);
    const level = await ok(c, "run_training");
    expect(level.proposedStatus).toBe("discard");
    const again = await ok(c, "log_result", { description: "simpler", status: "keep" });
    expect(again).toMatchObject({ due: null, row: { status: "keep" }, decision: { revoked: false } });
    expect(headShort(ws)).toBe(rows(ws)[2][0]);
  });

  it("one crash after the best is one crash, counted from the best mean (not from the luckiest single run)", { timeout: 6 * CALL_MS }, async () => {
    // B: a lucky 0.90 then 1.00 (mean 0.95); X on B crashes; its fix Y holds 0.92 twice; D on Y crashes once
    const { ws, c } = await noisySession([0, 0, -0.05, 0.05, 0, 0, 0, 0]);
    await runAndLog(c, "baseline");
    await runAndLog(c, "baseline");
    await candidate(c, "LR = 0.04", "LR = 0.045", "B");
    await runAndLog(c, "B");
    expect((await candidate(c, "CRASH = False", "CRASH = True", "X crashes")).logged.row.status).toBe("crash");
    await ok(c, "apply_patch", { edits: [{ old: "CRASH = True", new: "CRASH = False" }, { old: "LR = 0.045", new: "LR = 0.048" }] });
    await ok(c, "commit", { description: "Y" });
    await runAndLog(c, "Y");
    await runAndLog(c, "Y");
    expect((await ok(c, "status")).best.commit).toBe(headShort(ws));
    const d = await candidate(c, "CRASH = False", "CRASH = True", "D crashes");
    expect(d.logged.next).toMatch(/^Crashed: if the fix is trivial/);
    await ok(c, "apply_patch", { edits: [{ old: "CRASH = True", new: "CRASH = False" }] });
  });

  it("killed between a revocation's row and its reset: the next server finishes the reset", { timeout: 6 * CALL_MS }, async () => {
    const { ws, c, srv } = await noisySession([0, 0, 0, "x"]);
    await runAndLog(c, "baseline");
    await runAndLog(c, "baseline");
    const base = headShort(ws);
    await candidate(c, "LR = 0.04", "LR = 0.045", "B");
    await srv.close();
    const dying = await restart(ws, { AUTORESEARCH_TEST_CRASH_AT: "log_result:after-append" });
    await ok(dying.c, "run_training");
    await killedAt(dying.c, dying.srv.pid()!, "log_result", { description: "B" });
    expect(rows(ws)[3].slice(3)).toEqual(["crash", "B [revoked: its confirmation crashed]"]);
    const again = await restart(ws);
    const st = await ok(again.c, "status");
    expect(st.problems.join("\n")).toMatch(/interrupted reset_to_best to [0-9a-f]{7} was completed/);
    expect(headShort(ws)).toBe(base);
    expect(git(ws, "status", "--porcelain")).toBe("");
  });

  it("a session of the strict rule resumed under the noise rule keeps its kept commits (a repeat logged as discard took nothing back)", { timeout: 6 * CALL_MS }, async () => {
    const { ws, c, srv } = await noisySession([0, 0, 0], false);
    await runAndLog(c, "baseline");
    await candidate(c, "LR = 0.04", "LR = 0.045", "B");
    const b = headShort(ws);
    const rep = await runAndLog(c, "B again");
    expect(rep.logged.row.status).toBe("discard");
    await srv.close();
    const cfg = JSON.parse(read(ws, "autoresearch.json"));
    delete cfg.noise;
    git(ws, "update-index", "--skip-worktree", "autoresearch.json");
    fs.writeFileSync(path.join(ws, "autoresearch.json"), JSON.stringify(cfg));
    const upgraded = await restart(ws);
    await ok(upgraded.c, "start_session", { tag: "t", resume: true });
    expect((await ok(upgraded.c, "status")).best).toMatchObject({ commit: b, n: 2 });
    await ok(upgraded.c, "reset_to_best");
    expect(headShort(ws)).toBe(b);
  });
});

// the queue files live outside the workspaces: remove them too
afterAll(() => {
  for (const d of queues.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});
