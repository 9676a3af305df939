import fs from "node:fs";
import path from "node:path";
import { refuse } from "../errors.js";
import { readJson, writeJson } from "../files.js";
import { shortHash } from "../git.js";
import { pidAlive } from "../process-tree.js";
import { CONFIG_FILE } from "../config.js";
import type { Executor, RunHandle } from "../executor/executor.js";
import { FlightStore, QUEUE_DEPTH, Slots, type Flight, type QueuedRun, type Slot } from "../executor/queue.js";
import { RunDirs } from "../executor/worktree.js";
import { newRunId } from "../executor/executor.js";
import { interrupted } from "../rules/outcome.js";
import type { Workspace } from "../workspace.js";
import type { Ledger } from "./ledger.js";
import { runSpec } from "./training.js";

/**
 * Runs in flight: queued, running on a slot, or finished and waiting to be logged (SPEC §8). The
 * queue is FIFO and bounded (slots + QUEUE_DEPTH); a run starts the moment a slot frees, in a
 * directory of its own (a worktree of its commit), with CUDA_VISIBLE_DEVICES set to its slot's GPU.
 * Everything is on disk first, so a restarted server starts the queued runs again, queues the
 * interrupted ones again and knows the finished ones; nothing it started outlives it.
 */

/** The ref that keeps a queued commit reachable while the branch moves on. */
const refOf = (id: string) => `queue/${id}`;

export class InFlight {
  readonly store: FlightStore;
  readonly slots: Slots;
  readonly dirs: RunDirs;
  /** the runs this server started, by id */
  private readonly handles = new Map<string, RunHandle>();
  /** resolved (and replaced) whenever a run in flight ends */
  private ended: { promise: Promise<void>; resolve: () => void } = deferred();
  private closed = false;
  private pumping: Promise<void> = Promise.resolve();
  /** why the last start failed, for status */
  lastStartError: string | null = null;

  constructor(
    private readonly ws: Workspace,
    private readonly ledger: Ledger,
    private readonly executor: Executor,
    /** a process that only reads (the status command): it never starts, ends or requeues a run */
    private readonly passive = false,
  ) {
    this.store = new FlightStore(path.join(ws.stateDir, "queue"));
    const ex = ws.config.executor;
    const gpus = ex?.type === "slurm" ? Array<null>(ex.maxJobs).fill(null) : (ws.config.gpus?.map(String) ?? [null]);
    this.slots = new Slots(gpus);
    this.dirs = new RunDirs(ws.root, path.join(ws.stateDir, "worktrees"), [ws.config.results, ws.config.log, CONFIG_FILE].map((p) => p.split("/")[0]));
  }

  /** The bound on runs in flight (queued + running). */
  get capacity(): number {
    return this.slots.size + QUEUE_DEPTH;
  }

  list(): Flight[] {
    return this.store.list();
  }

  /** Runs not yet logged that are queued or running. */
  pending(): Flight[] {
    return this.list().filter((f) => f.state !== "finished");
  }

  /** Finished and not logged, oldest first. */
  finished(): Flight[] {
    return this.list().filter((f) => f.state === "finished" && !this.logged(f));
  }

  logged(f: Flight): boolean {
    return !!f.record && !!this.ledger.loggedLine(f.record);
  }

  handle(id: string): RunHandle | undefined {
    return this.handles.get(id);
  }

  /**
   * One server runs a workspace's queue: the first to open it, until it is gone (a second client's
   * server on the same workspace would otherwise start every queued run twice).
   */
  private owner(): number | null {
    const file = path.join(this.store.dir, "owner.json");
    const o = readJson<{ pid?: unknown }>(file);
    const pid = typeof o?.pid === "number" ? o.pid : null;
    if (pid !== null && pid !== process.pid && pidAlive(pid)) return pid;
    if (this.passive) return null;
    fs.mkdirSync(this.store.dir, { recursive: true });
    if (pid !== process.pid) writeJson(file, { pid: process.pid });
    return null;
  }

  /** After a restart: what a dead server left is ended, queued again or cleaned up; then the queue runs. */
  async adopt(): Promise<string[]> {
    const notes: string[] = [];
    if (this.passive) return notes;
    const other = this.owner();
    if (other !== null) return [`the runs in flight belong to another autoresearch-mcp server on this workspace (pid ${other})`];
    for (const f of this.list()) {
      const rec = f.record;
      if (rec && this.ledger.loggedLine(rec)) {
        await this.forget(f.run.id);
        continue;
      }
      if (f.state === "running" && rec) {
        if (rec.serverPid !== process.pid && pidAlive(rec.serverPid)) continue; // another live server's
        const got = await this.executor.adopt(rec, this.store.records(rec.id)).catch(() => null);
        if (got && "done" in got) {
          // A run that outlives its server (a cluster's job) is followed again where it runs.
          const slot = this.slots.take();
          if (slot) this.follow(f.run, slot, got);
          notes.push(`run ${rec.id} of ${shortHash(f.run.commit)}${rec.jobId ? ` (job ${rec.jobId})` : ""} outlived its server and is followed again`);
          continue;
        }
        this.store.requeue({ ...f.run });
        notes.push(`run ${rec.id} of ${shortHash(f.run.commit)} was running when its server stopped; it was killed and queued again`);
      } else if (f.state === "finished" && rec && interrupted(rec.exit)) {
        this.store.requeue({ ...f.run });
        notes.push(`run ${rec.id} of ${shortHash(f.run.commit)} was interrupted (${rec.exit?.note ?? "its server stopped"}); it was queued again`);
      }
    }
    await this.dirs.prune(new Set(this.list().filter((f) => f.state !== "finished").map((f) => f.run.id))).catch(() => undefined);
    this.pump();
    return notes;
  }

  /** Queues `commit`; refuses past the bound. The caller checked that it may run. */
  async enqueue(q: Omit<QueuedRun, "id" | "queuedAt" | "attempts">, opts: { overBound?: boolean } = {}): Promise<Flight> {
    const other = this.owner();
    if (other !== null || this.passive)
      refuse("queue_owned", `The runs in flight of this workspace belong to another autoresearch-mcp server (pid ${other ?? "?"}).`, "Queue runs through that server's client, or stop it first.");
    if (!opts.overBound) this.assertRoom();
    const run: QueuedRun = { ...q, id: newRunId(), queuedAt: Date.now(), attempts: 0 };
    await this.ws.repo.keepReachable(refOf(run.id), run.commit);
    // Its directory is checked out now, so that a slot that frees starts it with one spawn.
    try {
      await this.dirs.create(run.id, run.commit);
    } catch (e) {
      await this.ws.repo.dropReachable(refOf(run.id)).catch(() => undefined);
      await this.dirs.remove(run.id).catch(() => undefined);
      refuse("worktree_failed", `Not queued: the run's directory could not be checked out (${(e as Error).message.split("\n")[0]}).`, "Fix the cause (disk space, permissions under .git/autoresearch/worktrees), then queue it again.");
    }
    this.store.save(run);
    this.pump();
    await this.pumping;
    return this.store.get(run.id)!;
  }

  /** A new session starts with nothing in flight: the runs of the last one belong to its rows. */
  assertEmpty(): void {
    const left = this.list().filter((f) => !this.logged(f));
    if (left.length)
      refuse(
        "runs_in_flight",
        `${left.length} run${left.length === 1 ? " is" : "s are"} still in flight from the session in progress (${left.map((f) => f.run.id).join(", ")}).`,
        'Log them first (log_result {"wait":true} until none is left; run_training {"runId":"…","cancel":true} drops one), or continue that session with start_session {"resume":true}.',
      );
  }

  /** Refuses when the queue is full (slots + QUEUE_DEPTH in flight). */
  assertRoom(): void {
    const inFlight = this.pending().length;
    if (inFlight >= this.capacity)
      refuse(
        "queue_full",
        `${inFlight} runs are in flight (${this.slots.size} slot${this.slots.size === 1 ? "" : "s"} + ${QUEUE_DEPTH} queued at most).`,
        'Wait for one: log_result {"wait":true} logs the next that finishes.',
      );
  }

  /** Starts queued runs while slots are free (one pump at a time). */
  pump(): void {
    if (this.passive || this.owner() !== null) return;
    this.pumping = this.pumping.then(() => this.startQueued()).catch(() => undefined);
  }

  private async startQueued(): Promise<void> {
    while (!this.closed) {
      const next = this.list().find((f) => f.state === "queued" && !this.handles.has(f.run.id));
      if (!next) return;
      const slot = this.slots.take();
      if (!slot) return;
      try {
        await this.start(next.run, slot);
        this.lastStartError = null;
      } catch (e) {
        this.slots.release(slot);
        this.lastStartError = `run ${next.run.id} could not start: ${(e as Error).message}`;
        return;
      }
    }
  }

  private async start(q: QueuedRun, slot: Slot): Promise<void> {
    const gpu = slot.gpu;
    const cwd = fs.existsSync(this.dirs.pathOf(q.id)) ? this.dirs.pathOf(q.id) : await this.dirs.create(q.id, q.commit);
    const spec = runSpec(this.ws, q.commit, { cwd, gpu, logFile: this.store.logPath(q.id), logName: `queue/${q.id}.log`, id: q.id });
    this.store.save({ ...q, attempts: q.attempts + 1 });
    this.follow(q, slot, this.executor.start(spec, { id: q.id, records: this.store.records(q.id) }));
  }

  /** Holds the slot while `run` goes; then frees it, queues a run the cluster lost again, and cleans up. */
  private follow(q: QueuedRun, slot: Slot, run: RunHandle): void {
    this.handles.set(q.id, run);
    this.slots.hold(slot, run);
    void run.done
      .catch(() => null)
      .then(async (rec) => {
        // The slot goes to the next run first; the directory is cleaned up after.
        this.slots.release(slot);
        this.handles.delete(q.id);
        // Lost by the cluster (not the code's fault): queued again at once. A server that is
        // closing leaves its interrupted runs to the next one.
        const lost = !this.closed && rec?.exit?.reason === "lost";
        if (lost) this.store.requeue({ ...q, attempts: q.attempts + 1 });
        if (!this.closed) this.pump();
        const e = this.ended;
        this.ended = deferred();
        e.resolve();
        if (!lost) await this.dirs.remove(q.id).catch(() => undefined);
      });
  }

  /** Resolves when any run in flight ends, or after `ms`. */
  nextEnd(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    return Promise.race([this.ended.promise, new Promise<void>((r) => (timer = setTimeout(r, ms)))]).finally(() => clearTimeout(timer));
  }

  /** A logged run leaves the queue: its intent, record and ref go; its log stays. */
  async forget(id: string): Promise<void> {
    this.store.remove(id);
    await this.dirs.remove(id).catch(() => undefined);
    await this.ws.repo.dropReachable(refOf(id)).catch(() => undefined);
  }

  /** Stops this server's runs (shutdown): their records say so, and the next server queues them again. */
  async close(): Promise<void> {
    this.closed = true;
    await this.pumping;
    await Promise.all([...this.handles.values()].map((r) => r.stop("shutdown").catch(() => undefined)));
    await Promise.all([...this.handles.keys()].map((id) => this.dirs.remove(id).catch(() => undefined)));
    const file = path.join(this.store.dir, "owner.json");
    if (readJson<{ pid?: unknown }>(file)?.pid === process.pid) fs.rmSync(file, { force: true });
  }
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve: () => void = () => undefined;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** The record of a run in flight, or null: a run id the agent passes is checked. */
export function flightOf(f: InFlight, id: string): Flight | null {
  return f.store.get(id);
}
