import fs from "node:fs";
import path from "node:path";
import { execa } from "execa";
import { openPlainFile } from "../paths.js";
import { RUN_MARKER_ENV } from "../process-tree.js";
import { pidAlive } from "../process-tree.js";
import { newRunId, RunRecordFile, type EndReason, type Executor, type RunExit, type RunHandle, type RunRecord, type RunSpec, type StartOptions } from "./executor.js";

/**
 * The Slurm executor: each run is one batch job (SPEC §8). `sbatch --parsable` submits a script the
 * server writes (the configured argv, each word quoted: nothing the agent wrote reaches a shell)
 * from the run's own directory on the shared filesystem, its output to the run's log; the job's
 * state comes from `scontrol show job -o` (no accounting needed; `sacct` for a job the controller
 * has forgotten, where accounting exists), `scancel` ends it. The hard limit
 * is the server's (from the moment the job runs) and Slurm's `--time` behind it. A job outlives its
 * server: the next server follows it again by the id in the run record.
 */

export interface SlurmOptions {
  /** extra sbatch arguments from autoresearch.json (partition, gres, constraint) */
  sbatch: readonly string[];
  pollSeconds: number;
  /** where the batch scripts go (the server's state dir) */
  scriptDir: string;
}

/** What `scontrol show job -o` says of a job that matters here. */
export interface JobInfo {
  state: string;
  reason: string | null;
  exitCode: number | null;
  signal: number | null;
  node: string | null;
}

const ACTIVE = new Set(["PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESIZING", "SIGNALING", "STAGE_OUT", "STOPPED", "RESV_DEL_HOLD"]);
/** Ends that are the cluster's, not the code's: the run has no result and is queued again. */
const LOST = new Set(["NODE_FAIL", "PREEMPTED", "BOOT_FAIL", "REVOKED", "SPECIAL_EXIT"]);

/** One line of `scontrol show job -o <id>` → the fields the executor uses; null when it names no job. */
export function parseJob(line: string): JobInfo | null {
  const field = (k: string) => new RegExp(`(?:^|\\s)${k}=(\\S*)`).exec(line)?.[1] ?? null;
  const state = field("JobState");
  if (!state) return null;
  const ec = /^(\d+):(\d+)$/.exec(field("ExitCode") ?? "");
  const node = field("NodeList");
  const reason = field("Reason");
  return { state, reason: reason && reason !== "None" ? reason : null, exitCode: ec ? Number(ec[1]) : null, signal: ec ? Number(ec[2]) : null, node: node && node !== "(null)" ? node : null };
}

/** The run's end from the job's final state; `stopped` is why the server ended it, when it did. */
export function exitOf(job: JobInfo | null, stopped: EndReason | null): RunExit {
  const signal = job?.signal ? `SIG${job.signal}` : null;
  if (!job) return { code: null, signal: null, timedOut: false, reason: stopped ?? "lost", note: "the job is gone from the cluster (scontrol no longer knows it)" };
  if (job.state === "TIMEOUT" || job.state === "DEADLINE" || stopped === "limit") return { code: job.exitCode, signal, timedOut: true, reason: "limit", note: `Slurm: ${job.state}` };
  if (stopped) return { code: job.exitCode, signal, timedOut: false, reason: stopped };
  if (job.state === "CANCELLED") return { code: job.exitCode, signal, timedOut: false, reason: "cancel", note: "the job was cancelled on the cluster (scancel outside the server)" };
  if (LOST.has(job.state)) return { code: job.exitCode, signal, timedOut: false, reason: "lost", note: `Slurm ended the job: ${job.state}${job.reason ? ` (${job.reason})` : ""}` };
  if (job.state === "OUT_OF_MEMORY") return { code: job.exitCode || 1, signal, timedOut: false, reason: "exit", note: "Slurm killed the job: out of memory (the job's memory limit)" };
  return { code: job.exitCode, signal, timedOut: false, reason: "exit" };
}

/** A word for /bin/sh, single-quoted. */
const quote = (w: string) => `'${w.replace(/'/g, `'\\''`)}'`;

/** The batch script of a run: the configured argv and nothing else. */
export function batchScript(runId: string, argv: readonly string[]): string {
  return `#!/bin/sh\n# autoresearch-mcp run ${runId}\nexec ${argv.map(quote).join(" ")}\n`;
}

async function scontrol(jobId: string): Promise<JobInfo | null | "unknown"> {
  const r = await execa("scontrol", ["show", "job", "-o", jobId], { reject: false, timeout: 30_000 });
  if (r.exitCode !== 0) return /Invalid job id/i.test(String(r.stderr)) ? sacct(jobId) : "unknown";
  return parseJob(String(r.stdout).trim());
}

/**
 * A job the controller has forgotten (past MinJobAge, e.g. while the server was down): accounting
 * knows how it ended, where it exists; without it the job is gone.
 */
async function sacct(jobId: string): Promise<JobInfo | null> {
  const r = await execa("sacct", ["-n", "-P", "-X", "-j", jobId, "-o", "State,ExitCode,NodeList,Reason"], { reject: false, timeout: 30_000 });
  return r.exitCode === 0 ? parseSacct(String(r.stdout)) : null;
}

/** `sacct -n -P -X -o State,ExitCode,NodeList,Reason` → the job's end; null when it names none. */
export function parseSacct(out: string): JobInfo | null {
  const line = out.split("\n").find((l) => l.trim());
  if (!line) return null;
  const [stateField, exit = "", node = "", reason = ""] = line.split("|");
  const state = stateField.trim().split(/\s+/)[0]; // "CANCELLED by 0" → CANCELLED
  if (!state) return null;
  const ec = /^(\d+):(\d+)$/.exec(exit.trim());
  return { state, reason: reason.trim() && reason.trim() !== "None" ? reason.trim() : null, exitCode: ec ? Number(ec[1]) : null, signal: ec ? Number(ec[2]) : null, node: node.trim() && node.trim() !== "None assigned" ? node.trim() : null };
}

/** A job this server follows: submitted here, or found again after a restart. */
class SlurmJob implements RunHandle {
  readonly done: Promise<RunRecord>;
  private stopReason: EndReason | null = null;
  private wake: () => void = () => undefined;

  constructor(readonly record: RunRecord, private readonly records: RunRecordFile, private readonly spec: { killAfterSeconds: number; pollSeconds: number }, submit: Promise<string> | null) {
    this.done = this.follow(submit);
  }

  get elapsedSeconds(): number {
    return (Date.now() - this.record.startedAt) / 1000;
  }

  async stop(reason: EndReason): Promise<RunRecord> {
    this.stopReason ??= reason;
    if (this.record.jobId) await execa("scancel", [this.record.jobId], { reject: false, timeout: 30_000 });
    this.wake();
    return this.done;
  }

  private async follow(submit: Promise<string> | null): Promise<RunRecord> {
    const rec = this.record;
    if (submit) {
      try {
        rec.jobId = await submit;
        this.records.write(rec);
        if (this.stopReason) await execa("scancel", [rec.jobId], { reject: false, timeout: 30_000 });
      } catch (e) {
        return this.close({ code: null, signal: null, timedOut: false, reason: "spawn-failed", error: (e as Error).message.split("\n")[0] });
      }
    }
    let unknownSince: number | null = null;
    for (;;) {
      const job = await scontrol(rec.jobId!);
      if (job === "unknown") {
        // slurmctld not answering: keep asking (a restart of the controller keeps its jobs)
        unknownSince ??= Date.now();
      } else {
        unknownSince = null;
        if (job && ACTIVE.has(job.state)) {
          if (job.state === "RUNNING" && !rec.runningAt) {
            rec.runningAt = Date.now();
            rec.node = job.node;
            this.records.write(rec);
          }
          if (rec.runningAt && Date.now() - rec.runningAt > this.spec.killAfterSeconds * 1000 && !this.stopReason) void this.stop("limit");
        } else {
          if (job?.node) rec.node = job.node;
          return this.close(exitOf(job, this.stopReason));
        }
      }
      await new Promise<void>((r) => {
        const t = setTimeout(r, this.stopReason ? 250 : this.spec.pollSeconds * 1000);
        this.wake = () => {
          clearTimeout(t);
          r();
        };
      });
    }
  }

  private close(exit: RunExit): RunRecord {
    this.record.exit = exit;
    this.record.endedAt = Date.now();
    this.records.write(this.record);
    return this.record;
  }
}

export class SlurmExecutor implements Executor {
  private readonly live = new Set<SlurmJob>();

  constructor(private readonly records: RunRecordFile, private readonly opts: SlurmOptions) {}

  start(spec: RunSpec, opts: StartOptions = {}): RunHandle {
    const id = opts.id ?? spec.id ?? newRunId();
    const records = opts.records ?? this.records;
    // The log is the server's file (never through a link), truncated now; the job appends to it.
    const { O_WRONLY, O_CREAT, O_TRUNC, O_NOFOLLOW } = fs.constants;
    try {
      fs.closeSync(openPlainFile(spec.logFile, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0o644, spec.logName));
    } catch (e) {
      throw new Error(`cannot open ${spec.logName} for the run's output: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message} (it must be a plain file in the workspace)`);
    }
    fs.mkdirSync(this.opts.scriptDir, { recursive: true });
    const script = path.join(this.opts.scriptDir, `${id}.sh`);
    fs.writeFileSync(script, batchScript(id, spec.argv), { mode: 0o755 });
    const minutes = Math.ceil(spec.killAfterSeconds / 60) + 1;
    const args = ["--parsable", `--job-name=ar-${id}`, `--chdir=${spec.cwd}`, `--output=${spec.logFile}`, `--error=${spec.logFile}`, "--open-mode=append", `--time=${minutes}`, ...this.opts.sbatch, script];
    // The job's environment is the run's (sbatch exports the submitting environment); a server
    // inside an allocation must not hand its own SLURM_* to the job.
    const env: Record<string, string> = { [RUN_MARKER_ENV]: id };
    for (const [k, v] of Object.entries(spec.env)) if (!k.startsWith("SLURM_")) env[k] = v;
    const submit = execa("sbatch", args, { env, extendEnv: false, reject: false, timeout: 60_000, cwd: spec.cwd }).then((r) => {
      const jobId = /^(\d+)/.exec(String(r.stdout).trim())?.[1];
      if (r.exitCode !== 0 || !jobId) throw new Error(`sbatch failed: ${String(r.stderr || r.stdout || r.message).trim().split("\n")[0]}`);
      return jobId;
    });
    const rec: RunRecord = { id, commit: spec.commit, argv: spec.argv, pid: null, pgid: null, serverPid: process.pid, startedAt: Date.now(), endedAt: null, budgetSeconds: spec.budgetSeconds, killAfterSeconds: spec.killAfterSeconds, log: spec.logName, exit: null, runningAt: null, node: null, ...(spec.evaluation ? { evaluation: spec.evaluation } : {}) };
    records.write(rec);
    return this.track(new SlurmJob(rec, records, { killAfterSeconds: spec.killAfterSeconds, pollSeconds: this.opts.pollSeconds }, submit));
  }

  /** After a restart: a job still on the cluster is followed again; one that ended is closed as it ended. */
  async adopt(rec: RunRecord, records: RunRecordFile = this.records): Promise<RunHandle | RunRecord | null> {
    if (rec.exit || rec.endedAt) return null;
    if (rec.serverPid !== process.pid && pidAlive(rec.serverPid)) return null;
    if (!rec.jobId) {
      // The server died between sbatch and the record: the job is found by its name.
      const r = await execa("squeue", ["-h", "-n", `ar-${rec.id}`, "-o", "%i"], { reject: false, timeout: 30_000 });
      const jobId = /^(\d+)/.exec(String(r.stdout).trim())?.[1];
      if (!jobId) {
        rec.exit = { code: null, signal: null, timedOut: false, reason: "server-died", note: "the server died before the job was submitted" };
        rec.endedAt = Date.now();
        records.write(rec);
        return rec;
      }
      rec.jobId = jobId;
    }
    rec.serverPid = process.pid;
    records.write(rec);
    return this.track(new SlurmJob(rec, records, { killAfterSeconds: rec.killAfterSeconds, pollSeconds: this.opts.pollSeconds }, null));
  }

  /** Shutdown: this server's jobs are cancelled (the next server queues them again), as local runs are killed. */
  async close(): Promise<void> {
    await Promise.all([...this.live].map((j) => j.stop("shutdown").catch(() => undefined)));
  }

  private track(job: SlurmJob): SlurmJob {
    this.live.add(job);
    void job.done.finally(() => this.live.delete(job)).catch(() => undefined);
    return job;
  }
}
