import crypto from "node:crypto";
import { readJson, writeJson } from "../files.js";

/**
 * The executor seam: where a training run executes. The session asks an executor to start a run,
 * to adopt what a dead server left behind, and to stop a run; it learns the end from `done`.
 * The local process runner (one process group per run, a watchdog) is the first implementation;
 * per-GPU slots and Slurm jobs come behind the same interface (SPEC §8).
 *
 * The run record is the executor's: what ran, where, and how it ended. Whether a run was logged
 * to results.tsv is the ledger's business and lives in the ledger's own file.
 */

/** "lost": the cluster ended the job for reasons of its own (node failure, preemption, the job gone). */
export type EndReason = "exit" | "limit" | "cancel" | "shutdown" | "server-died" | "spawn-failed" | "lost";

export interface RunExit {
  code: number | null;
  signal: string | null;
  timedOut: boolean;
  reason: EndReason;
  /** spawn error text (command not found, permission denied) */
  error?: string;
  /** ms from the first kill signal to the last process of the tree gone, when the tree was killed */
  killLatencyMs?: number;
  /** processes still alive after the final SIGKILL (0 unless the OS refused) */
  survivors?: number;
  /** what the cluster said about the end, in words (a Slurm job's state and reason) */
  note?: string;
}

export interface RunRecord {
  id: string;
  commit: string;
  argv: string[];
  pid: number | null;
  pgid: number | null;
  serverPid: number;
  startedAt: number;
  endedAt: number | null;
  budgetSeconds: number;
  killAfterSeconds: number;
  /** the log's name in the workspace (a run in flight: its own log in the server's state dir) */
  log: string;
  exit: RunExit | null;
  /** the GPU of its slot (CUDA_VISIBLE_DEVICES), absent with one slot and the ambient environment */
  gpu?: string | null;
  /** a Slurm job: its id and the node it ran on (results compare within one GPU type only) */
  jobId?: string;
  node?: string | null;
  /** when the job left the cluster's queue and began to run (the hard limit counts from there) */
  runningAt?: number | null;
  /** the metric function whose returns the run reported (its printed metric must be the last one) */
  evaluation?: { module: string; function: string };
}

/** What to run: the session decides it, the executor carries it out. */
export interface RunSpec {
  commit: string;
  argv: string[];
  cwd: string;
  env: Record<string, string>;
  /** absolute path of the log, already checked to be a plain file in the workspace */
  logFile: string;
  logName: string;
  budgetSeconds: number;
  killAfterSeconds: number;
  graceSeconds: number;
  /** the GPU of the slot it runs on (already in env as CUDA_VISIBLE_DEVICES) */
  gpu?: string | null;
  /** the run id chosen with the spec (its evaluation report is named by it) */
  id?: string;
  /** the evaluation hook is in env: the record says so */
  evaluation?: { module: string; function: string };
}

/** Where a run's record goes and which id it has, when the caller chose them (a queued run). */
export interface StartOptions {
  id?: string;
  records?: RunRecordFile;
}

/** A run this server follows. */
export interface RunHandle {
  readonly record: RunRecord;
  /** resolves with the closed record when the run has ended, its processes gone */
  readonly done: Promise<RunRecord>;
  readonly elapsedSeconds: number;
  /** ends the run (cancel, shutdown); resolves when it is gone */
  stop(reason: EndReason): Promise<RunRecord>;
}

export interface Executor {
  /** Starts a run; throws an Error with a readable message when it cannot even be started. */
  start(spec: RunSpec, opts?: StartOptions): RunHandle;
  /**
   * After a restart: the record a dead server left open. Returns a handle when the run can be
   * followed, the closed record when it was ended here, or null when it is not ours to touch
   * (another live server owns it, or it was already closed).
   */
  adopt(rec: RunRecord, records?: RunRecordFile): Promise<RunHandle | RunRecord | null>;
  /** Ends every run of this server (shutdown) and releases helper processes. */
  close(): Promise<void>;
}

export function newRunId(): string {
  const t = new Date().toISOString().replace(/[-:T]/g, "").slice(0, 14);
  return `run-${t}-${crypto.randomBytes(3).toString("hex")}`;
}

/** The record file of the last run (`.git/autoresearch/run.json`). */
export class RunRecordFile {
  constructor(readonly file: string) {}

  read(): RunRecord | null {
    const rec = readJson<RunRecord>(this.file);
    return rec && typeof rec === "object" && typeof rec.id === "string" ? rec : null;
  }

  write(rec: RunRecord): void {
    writeJson(this.file, rec);
  }
}
