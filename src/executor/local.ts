import fs from "node:fs";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { killTree, pidAlive, pipedChildUsable, RUN_MARKER_ENV, unrefPiped } from "../process-tree.js";
import { openPlainFile } from "../paths.js";
import { newRunId, RunRecordFile, type EndReason, type Executor, type RunHandle, type RunRecord, type RunSpec, type StartOptions } from "./executor.js";

const WATCHDOG = fileURLToPath(new URL("./watchdog.js", import.meta.url));

/**
 * The local executor: runs the training command on this machine. The run gets its own process group (so the whole tree can be
 * signalled at once) and an environment marker (so processes that leave the group with setsid are
 * still found on Linux). Output goes straight from the child to run.log on disk, never through
 * the server, so a run that floods gigabytes costs the server nothing. A small watchdog process
 * kills the tree if the server itself dies; a run record on disk lets the next server start
 * finish the story.
 */

/** What the runner needs of an execa subprocess. */
type Child = Promise<{ exitCode?: number; signal?: string; failed: boolean; message?: string }> & { pid?: number };


/** A run in progress, owned by this server. */
class LocalRun implements RunHandle {
  readonly done: Promise<RunRecord>;
  private stopReason: EndReason | null = null;
  private killing: Promise<{ latencyMs: number; survivors: number }> | null = null;
  private limitTimer: NodeJS.Timeout | null = null;

  private constructor(readonly record: RunRecord, private readonly spec: RunSpec, private readonly records: RunRecordFile, child: Child | null, spawnError: string | null) {
    this.done = this.supervise(child, spawnError);
  }

  static start(spec: RunSpec, records: RunRecordFile, id = newRunId()): LocalRun {
    // Never through a symlink and never blocking on a FIFO swapped in behind the server's back;
    // anything but a regular file is refused before the run starts.
    const { O_WRONLY, O_CREAT, O_TRUNC, O_NOFOLLOW } = fs.constants;
    let fd: number;
    try {
      fd = openPlainFile(spec.logFile, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0o644, spec.logName);
    } catch (e) {
      throw new Error(`cannot open ${spec.logName} for the run's output: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message} (it must be a plain file in the workspace)`);
    }
    let child: Child | null = null;
    let spawnError: string | null = null;
    try {
      const sub = execa(spec.argv[0], spec.argv.slice(1), {
        cwd: spec.cwd,
        env: { ...spec.env, [RUN_MARKER_ENV]: id },
        extendEnv: false,
        detached: true,
        stdin: "ignore",
        // execa 9 accepts a file descriptor here at run time; its types only take a literal number.
        stdout: fd as 3,
        stderr: fd as 3,
        reject: false,
        cleanup: false,
        buffer: false,
      });
      child = sub;
    } catch (e) {
      spawnError = (e as Error).message;
    } finally {
      fs.closeSync(fd);
    }
    const pid = child?.pid ?? null;
    const rec: RunRecord = {
      id,
      commit: spec.commit,
      argv: spec.argv,
      pid,
      pgid: pid,
      serverPid: process.pid,
      startedAt: Date.now(),
      endedAt: null,
      budgetSeconds: spec.budgetSeconds,
      killAfterSeconds: spec.killAfterSeconds,
      log: spec.logName,
      exit: null,
      ...(spec.gpu !== undefined ? { gpu: spec.gpu } : {}),
      ...(spec.evaluation ? { evaluation: spec.evaluation } : {}),
    };
    records.write(rec);
    if (pid !== null) watchdog.watch(id, pid, spec.graceSeconds);
    return new LocalRun(rec, spec, records, child, spawnError);
  }

  get elapsedSeconds(): number {
    return (Date.now() - this.record.startedAt) / 1000;
  }

  /** Stops the run (cancel, shutdown); resolves when the tree is gone. */
  async stop(reason: EndReason): Promise<RunRecord> {
    this.stopReason ??= reason;
    this.killing ??= killTree(this.record.pgid, this.record.id, this.spec.graceSeconds * 1000);
    return this.done;
  }

  private async supervise(child: Child | null, spawnError: string | null): Promise<RunRecord> {
    const rec = this.record;
    if (child) {
      this.limitTimer = setTimeout(() => {
        this.stopReason ??= "limit";
        this.killing ??= killTree(rec.pgid, rec.id, this.spec.graceSeconds * 1000);
      }, this.spec.killAfterSeconds * 1000);
      const r = await child;
      clearTimeout(this.limitTimer);
      if (r.failed && r.exitCode === undefined && !r.signal) spawnError = String(r.message ?? "spawn failed").split("\n")[0];
      // Whatever the main process left behind (workers, grandchildren) goes with it.
      const cleanup = this.killing ?? killTree(rec.pgid, rec.id, Math.min(1000, this.spec.graceSeconds * 1000));
      const k = await cleanup;
      const reason: EndReason = spawnError ? "spawn-failed" : (this.stopReason ?? "exit");
      rec.exit = {
        code: r.exitCode ?? null,
        signal: r.signal ?? null,
        timedOut: reason === "limit",
        reason,
        ...(spawnError ? { error: spawnError } : {}),
        ...(this.killing ? { killLatencyMs: k.latencyMs } : {}),
        survivors: k.survivors,
      };
    } else {
      rec.exit = { code: null, signal: null, timedOut: false, reason: "spawn-failed", error: spawnError ?? "spawn failed", survivors: 0 };
    }
    rec.endedAt = Date.now();
    try {
      this.records.write(rec);
    } finally {
      watchdog.release(rec.id);
    }
    return rec;
  }
}

/**
 * The server's watchdog: a separate node process (not sh: dash cannot signal a process group)
 * that outlives a SIGKILLed server and takes the run trees with it. One per server, started at
 * the first run and fed over a pipe, so a run start costs a line, not a node start (~100 ms of
 * CPU taken from the training run on a small machine).
 */
class Watchdog {
  private proc: ReturnType<typeof execa> | null = null;
  /** the live runs, replayed to a new watchdog if the old one died (killed from outside) */
  private readonly live = new Map<string, string>();

  watch(runId: string, pgid: number, graceSeconds: number): void {
    const line = `watch ${runId} ${pgid} ${graceSeconds}`;
    this.live.set(runId, line);
    this.send(line);
  }

  release(runId: string): void {
    this.live.delete(runId);
    if (this.proc) this.send(`release ${runId}`, false);
  }

  private send(line: string, start = true): void {
    try {
      if (!pipedChildUsable(this.proc)) {
        if (!start) return;
        this.proc = this.spawn();
        // A fresh watchdog learns every live run (the line itself is one of them).
        for (const l of this.live.values()) this.proc.stdin!.write(`${l}\n`);
        return;
      }
      this.proc.stdin!.write(`${line}\n`);
    } catch {
      /* without a watchdog the next server start still cleans up */
    }
  }

  private spawn(): ReturnType<typeof execa> {
    const w = execa(process.execPath, [WATCHDOG, String(process.pid)], { detached: true, stdin: "pipe", stdout: "ignore", stderr: "ignore", reject: false, cleanup: false, buffer: false });
    void w.catch(() => undefined);
    const born = Date.now();
    w.on("exit", () => {
      if (this.proc !== w) return;
      this.proc = null;
      // Killed from outside while runs are live: a new one takes them over at once (not again
      // and again if it cannot even start).
      if (this.live.size && Date.now() - born > 1000) this.send("", true);
    });
    w.stdin!.on("error", () => undefined);
    unrefPiped(w);
    return w;
  }
}

const watchdog = new Watchdog();

/** Local runs: one process group each, a watchdog per server, nothing left when the server goes. */
export class LocalExecutor implements Executor {
  private readonly live = new Set<LocalRun>();

  constructor(private readonly records: RunRecordFile, private readonly graceSeconds: number) {}

  start(spec: RunSpec, opts: StartOptions = {}): RunHandle {
    const run = LocalRun.start(spec, opts.records ?? this.records, opts.id ?? spec.id);
    this.live.add(run);
    void run.done.finally(() => this.live.delete(run)).catch(() => undefined);
    return run;
  }

  /**
   * A record left open by a server that is gone means that server died mid-run. A local run
   * cannot be followed by another process (its output pipe and exit status went with the
   * server), so what is left of the tree is killed (the watchdog normally did already) and the
   * record closed.
   */
  async adopt(rec: RunRecord, records: RunRecordFile = this.records): Promise<RunRecord | null> {
    if (rec.exit || rec.endedAt) return null;
    if (rec.serverPid !== process.pid && pidAlive(rec.serverPid)) return null; // another live server owns it
    const k = await killTree(rec.pgid, rec.id, this.graceSeconds * 1000);
    rec.exit = { code: null, signal: null, timedOut: false, reason: "server-died", killLatencyMs: k.latencyMs, survivors: k.survivors };
    rec.endedAt = Date.now();
    records.write(rec);
    return rec;
  }

  async close(): Promise<void> {
    await Promise.all([...this.live].map((r) => r.stop("shutdown").catch(() => undefined)));
  }
}
