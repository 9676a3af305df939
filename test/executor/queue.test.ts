import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { FlightStore, flightLogPath, Slots, type QueuedRun } from "../../src/executor/queue.js";
import type { RunHandle, RunRecord } from "../../src/executor/executor.js";

/** The queue's disk state and the slots, without a server: what a restarted server reads back. */

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});
const store = () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "arq-"));
  dirs.push(d);
  return new FlightStore(path.join(d, "queue"));
};
const queued = (id: string, at: number): QueuedRun => ({ id, commit: "a".repeat(40), parent: null, description: "x", repeat: false, queuedAt: at, attempts: 0 });
const record = (id: string, exit: RunRecord["exit"]): RunRecord => ({ id, commit: "a".repeat(40), argv: ["python3"], pid: 1, pgid: 1, serverPid: 1, startedAt: 1, endedAt: exit ? 2 : null, budgetSeconds: 5, killAfterSeconds: 10, log: `queue/${id}.log`, exit });

describe("FlightStore", () => {
  it("lists runs oldest first, with their state from the record beside the intent", () => {
    const s = store();
    s.save(queued("run-20261201000002-bbbbbb", 2));
    s.save(queued("run-20261201000001-aaaaaa", 1));
    s.save(queued("run-20261201000003-cccccc", 3));
    s.records("run-20261201000001-aaaaaa").write(record("run-20261201000001-aaaaaa", { code: 0, signal: null, timedOut: false, reason: "exit" }));
    s.records("run-20261201000002-bbbbbb").write(record("run-20261201000002-bbbbbb", null));
    expect(s.list().map((f) => [f.run.id.slice(-6), f.state])).toEqual([
      ["aaaaaa", "finished"],
      ["bbbbbb", "running"],
      ["cccccc", "queued"],
    ]);
  });

  it("requeue drops the record and keeps the intent; remove drops both and keeps the log", () => {
    const s = store();
    const id = "run-20261201000001-aaaaaa";
    s.save(queued(id, 1));
    s.records(id).write(record(id, null));
    fs.writeFileSync(s.logPath(id), "log");
    s.requeue({ ...queued(id, 1), attempts: 1 });
    expect(s.get(id)).toMatchObject({ state: "queued", run: { attempts: 1 } });
    s.remove(id);
    expect(s.get(id)).toBeNull();
    expect(fs.readFileSync(s.logPath(id), "utf8")).toBe("log");
  });

  it("ignores what is not a run's intent (a bad id, broken JSON, another file) and never builds a path from a bad id", () => {
    const s = store();
    s.save(queued("run-20261201000001-aaaaaa", 1));
    fs.writeFileSync(path.join(s.dir, "run-20261201000002-bbbbbb.json"), "{not json");
    fs.writeFileSync(path.join(s.dir, "notes.json"), "{}");
    fs.writeFileSync(path.join(s.dir, "run-20261201000003-cccccc.json"), JSON.stringify({ id: "run-20261201000009-dddddd", commit: "x" }));
    expect(s.list().map((f) => f.run.id)).toEqual(["run-20261201000001-aaaaaa"]);
    expect(s.get("../../etc/passwd")).toBeNull();
    expect(() => s.logPath("../x")).toThrow(/not a run id/);
  });

  it("names a run in flight's log under the state dir, and no other run's", () => {
    expect(flightLogPath("/state", record("run-20261201000001-aaaaaa", null))).toBe(path.join("/state", "queue", "run-20261201000001-aaaaaa.log"));
    expect(flightLogPath("/state", { ...record("run-20261201000001-aaaaaa", null), log: "run.log" })).toBeNull();
    expect(flightLogPath("/state", { ...record("run-20261201000001-aaaaaa", null), log: "queue/../../x.log" })).toBeNull();
  });
});

describe("Slots", () => {
  const handle = {} as RunHandle;
  it("hands out each GPU once until it is released", () => {
    const s = new Slots(["0", "1"]);
    const [a, b, none] = [s.take(), s.take(), s.take()];
    expect([a?.gpu, b?.gpu, none]).toEqual(["0", "1", undefined]);
    s.hold(b!, handle);
    expect(s.busy).toBe(2);
    expect(s.running()).toEqual([handle]);
    s.release(a!);
    expect(s.take()?.gpu).toBe("0");
  });
  it("one slot with the ambient environment when no gpus are configured", () => {
    const s = new Slots([null]);
    expect(s.size).toBe(1);
    const a = s.take();
    expect(a).toEqual({ key: "slot0", gpu: null });
    expect(s.take()).toBeUndefined();
    s.release(a!);
    expect(s.take()?.gpu).toBeNull();
  });
  it("several slots without a GPU each (a cluster's jobs) are distinct", () => {
    const s = new Slots([null, null, null]);
    expect([s.take(), s.take(), s.take(), s.take()].map((x) => x?.key)).toEqual(["slot0", "slot1", "slot2", undefined]);
  });
});
