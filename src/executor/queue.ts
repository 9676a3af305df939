import fs from "node:fs";
import path from "node:path";
import { readJson, writeJson } from "../files.js";
import { RunRecordFile, type RunHandle, type RunRecord } from "./executor.js";

/**
 * Runs in flight (SPEC §8): what is queued, running or finished but not yet logged. Each run has
 * an intent on disk (`queue/<id>.json`: which commit, built on which, why) written before anything
 * starts, and, once started, the executor's record beside it (`<id>.run.json`) and its own log
 * (`<id>.log`). A new server reads them back: queued runs start again, interrupted ones are queued
 * again, finished ones wait to be logged. In memory: which slot (GPU) each running run holds.
 */

export interface QueuedRun {
  id: string;
  /** the commit it runs (full oid; a ref keeps it reachable while the branch moves) */
  commit: string;
  /** the commit it was built on: the branch went back there when it was queued (null: the branch stayed) */
  parent: string | null;
  /** what log_result writes by default: the commit's own description */
  description: string;
  /** a deliberate repeat of code that ran before (counts toward its mean) */
  repeat: boolean;
  queuedAt: number;
  /** how many times it started (a run interrupted by a server stop is queued again) */
  attempts: number;
  /** it re-applies the change of a candidate that beat an older best (that candidate's commit) */
  reappliedFrom?: string;
}

export type FlightState = "queued" | "running" | "finished";

export interface Flight {
  run: QueuedRun;
  record: RunRecord | null;
  state: FlightState;
}

/** In flight at once: one running per slot plus this many waiting. */
export const QUEUE_DEPTH = 2;

const ID = /^run-\d{14}-[0-9a-f]{6}$/;

export class FlightStore {
  constructor(readonly dir: string) {}

  private intentPath(id: string): string {
    if (!ID.test(id)) throw new Error(`not a run id: ${JSON.stringify(id)}`);
    return path.join(this.dir, `${id}.json`);
  }

  records(id: string): RunRecordFile {
    return new RunRecordFile(path.join(this.dir, `${id}.run.json`));
  }

  logPath(id: string): string {
    this.intentPath(id);
    return path.join(this.dir, `${id}.log`);
  }

  save(q: QueuedRun): void {
    fs.mkdirSync(this.dir, { recursive: true });
    writeJson(this.intentPath(q.id), q);
  }

  get(id: string): Flight | null {
    if (!ID.test(id)) return null;
    const run = readJson<QueuedRun>(this.intentPath(id));
    if (!run || typeof run !== "object" || run.id !== id || typeof run.commit !== "string") return null;
    const record = this.records(id).read();
    const state: FlightState = !record ? "queued" : record.exit ? "finished" : "running";
    return { run, record, state };
  }

  /** Every run in flight, oldest first. */
  list(): Flight[] {
    let names: string[] = [];
    try {
      names = fs.readdirSync(this.dir);
    } catch {
      return [];
    }
    return names
      .map((n) => /^(run-\d{14}-[0-9a-f]{6})\.json$/.exec(n)?.[1])
      .filter((id): id is string => !!id)
      .map((id) => this.get(id))
      .filter((f): f is Flight => f !== null)
      .sort((a, b) => a.run.queuedAt - b.run.queuedAt || a.run.id.localeCompare(b.run.id));
  }

  /** Back to the queue (its start was interrupted): the record goes, the intent stays. */
  requeue(q: QueuedRun): void {
    fs.rmSync(path.join(this.dir, `${q.id}.run.json`), { force: true });
    this.save(q);
  }

  /** Logged: the intent and record go; the log stays for the human. */
  remove(id: string): void {
    fs.rmSync(this.intentPath(id), { force: true });
    fs.rmSync(path.join(this.dir, `${id}.run.json`), { force: true });
  }
}

/** A slot: one run at a time; `gpu` is its CUDA_VISIBLE_DEVICES (null: the ambient environment, or the cluster's choice). */
export interface Slot {
  key: string;
  gpu: string | null;
}

/** The slots: one per GPU (`gpus`), one per job the cluster may run at once (Slurm's `maxJobs`), or one. */
export class Slots {
  private readonly all: Slot[];
  private readonly held = new Map<string, RunHandle | "starting">();

  constructor(gpus: readonly (string | null)[]) {
    this.all = gpus.map((gpu, i) => ({ key: gpu ?? `slot${i}`, gpu }));
  }

  get size(): number {
    return this.all.length;
  }

  get busy(): number {
    return this.held.size;
  }

  /** A free slot, taken until `release`; undefined when every slot is busy. */
  take(): Slot | undefined {
    const free = this.all.find((s) => !this.held.has(s.key));
    if (free) this.held.set(free.key, "starting");
    return free;
  }

  hold(slot: Slot, run: RunHandle): void {
    this.held.set(slot.key, run);
  }

  release(slot: Slot): void {
    this.held.delete(slot.key);
  }

  /** The runs in their slots. */
  running(): RunHandle[] {
    return [...this.held.values()].filter((r): r is RunHandle => r !== "starting");
  }
}

/** A run in flight's log (its record names it relative to the state dir); null for any other run. */
export function flightLogPath(stateDir: string, rec: RunRecord): string | null {
  const m = /^queue\/(run-\d{14}-[0-9a-f]{6})\.log$/.exec(rec.log);
  return m ? path.join(stateDir, "queue", `${m[1]}.log`) : null;
}
