import fs from "node:fs";
import path from "node:path";
import { errorMessage, refuse } from "../errors.js";
import { shortHash } from "../git.js";
import { treeViolations } from "../guards/tree.js";
import { unifiedDiff } from "../patch.js";
import { printable, resolveRegularFile } from "../paths.js";
import { pidAlive } from "../process-tree.js";
import { sanitizeDescription, type Status } from "../results.js";
import { openWorkspace, type Workspace } from "../workspace.js";
import { RunRecordFile, type Executor, type RunHandle, type RunRecord } from "../executor/executor.js";
import { executorFor } from "../executor/choose.js";
import { oneFixRefusal, refusalFor } from "../rules/head-state.js";
import { dashboard } from "./dashboard.js";
import { checkedEdit, readSessionFile, SourceGuard, Versions, writeEdit, type ReadResult } from "./editing.js";
import { finishInterruptedReset, headOnBranch, readHead, resetToBest, type SessionInfo } from "./history.js";
import { logRun } from "./logging.js";
import { Ledger } from "./ledger.js";
import { noSession, refuseWith, runInProgress, violationRefusal } from "./messages.js";
import { createSession, prepare, resumeSession, savedSession } from "./setup.js";
import { assertRunnable, describeRun, MAX_WAIT_WITHOUT_PROGRESS_S, parsedLog, proposalFor, runSpec, waitFor, type Callbacks } from "./training.js";
import { InFlight } from "./in-flight.js";
import type { Flight, Slot } from "../executor/queue.js";
import { descriptionOf, enqueueHead, logFlight, nextLoggable, type FlightContext } from "./flights.js";
import { cancelFlight, describeFlight, waitForFlight, waitForLoggable } from "./flight-calls.js";

export type { Callbacks, ReadResult, SessionInfo };

/**
 * The autoresearch protocol over one workspace, as one method per tool. This class only orders
 * the steps and holds the lock; the rules are in rules/ (pure), the parts in this folder. State
 * is on disk (git, results.tsv, .git/autoresearch/), so a new server picks up where the old one
 * stopped; memory holds only caches and the run this server follows.
 */

/** Tool calls that change the workspace run one at a time. */
export class Lock {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.tail.then(fn, fn);
    this.tail = next.catch(() => undefined);
    return next;
  }
}

interface Opened {
  ws: Workspace;
  ledger: Ledger;
  records: RunRecordFile;
  executor: Executor;
  flight: InFlight;
}

export class Session {
  private opened: Opened | null = null;
  private info: SessionInfo | null = null;
  private active: RunHandle | null = null;
  private recovered: RunRecord | null = null;
  /** what was found and mended when the workspace was opened */
  private readonly notes: string[] = [];
  private readonly lock = new Lock();
  private closed = false;
  private interruptedFinished: Promise<void> | null = null;
  private readonly guard = new SourceGuard();
  private readonly versions = new Versions();

  /** `readOnly`: a process that only looks (the status command) never starts or ends runs in flight. */
  constructor(readonly dir: string, private readonly opts: { progressIntervalMs?: number; readOnly?: boolean } = {}) {}

  /** Opens (once) the workspace; config errors surface on every call until fixed. */
  async workspace(): Promise<Workspace> {
    return (await this.open()).ws;
  }

  private async open(): Promise<Opened> {
    if (!this.opened) {
      let ws: Workspace;
      try {
        ws = await openWorkspace(this.dir);
      } catch (e) {
        refuse("workspace", errorMessage(e), "Fix the workspace (autoresearch.json or the git repository), then call the tool again.");
      }
      const records = new RunRecordFile(ws.runRecordPath);
      const executor = executorFor(ws, records);
      // A run left behind by a server that died is ended and closed before anything else (a
      // cluster's job that outlived it is followed again).
      const left = records.read();
      const adopted = left ? await executor.adopt(left).catch(() => null) : null;
      if (adopted && "done" in adopted) this.follow(adopted);
      else if (adopted) this.recovered = adopted;
      const ledger = new Ledger(ws);
      const flight = new InFlight(ws, ledger, executor, this.opts.readOnly);
      ledger.inFlight = () => [...flight.pending(), ...flight.finished()].map((f) => f.run.commit);
      this.opened = { ws, ledger, records, executor, flight };
      this.versions.attach(path.join(ws.stateDir, "versions"));
      this.info = await savedSession(ws);
    }
    // Until the interrupted work is finished (it can fail, e.g. results.tsv swapped for a symlink),
    // every call tries again and says why it cannot; the intents stay on disk meanwhile.
    const o = this.opened;
    this.interruptedFinished ??= this.finishInterrupted(o).catch((e: unknown) => {
      this.interruptedFinished = null;
      throw e;
    });
    await this.interruptedFinished;
    return o;
  }

  /** A server killed mid-operation leaves intents on disk: a reset is completed, a row looked up. */
  private async finishInterrupted(o: Opened) {
    const rec = o.records.read();
    const row = o.ledger.finishPending(rec);
    if (row) this.notes.push(row);
    const reset = await finishInterruptedReset(o.ws, (runId) => o.ledger.loggedLineOf(runId) !== null);
    if (reset) this.notes.push(reset);
    // Runs in flight a stopped server left: queued again or cleaned up, then the queue runs.
    this.notes.push(...(await o.flight.adopt()));
  }

  /** HEAD's run in its slot until it ends; then the slot goes to the queue. */
  private follow(run: RunHandle, slot?: Slot, flight?: InFlight): void {
    this.active = run;
    if (slot) flight?.slots.hold(slot, run);
    void run.done
      .finally(() => {
        if (this.active === run) this.active = null;
        if (slot) flight?.slots.release(slot);
        flight?.pump();
      })
      .catch(() => undefined); // callers awaiting run.done see the error; no unhandled rejection here
  }

  private context(o: Opened & { s: SessionInfo }): FlightContext {
    return { ws: o.ws, s: o.s, ledger: o.ledger, flight: o.flight, guard: this.guard, crashPoint };
  }

  private async requireSession(): Promise<Opened & { s: SessionInfo }> {
    const o = await this.open();
    if (!this.info) await noSession(o.ws);
    return { ...o, s: this.info! };
  }

  private assertNoActiveRun() {
    if (this.active) runInProgress(this.active.record.id, shortHash(this.active.record.commit), this.active.elapsedSeconds);
  }

  /** The last run's record and whether the ledger has its row. */
  private lastRun(o: Opened): { rec: RunRecord; logged: boolean } | null {
    const rec = o.records.read();
    return rec ? { rec, logged: !!o.ledger.loggedLine(rec) } : null;
  }

  // ---------------------------------------------------------------- one method per tool

  async startSession(args: { tag?: string; resume?: boolean }) {
    return this.lock.run(async () => {
      const o = await this.open();
      this.assertNoActiveRun();
      if (!args.resume) o.flight.assertEmpty();
      const { tag, branch, head, excluded } = await prepare(o.ws, args);
      const { info, result } = args.resume
        ? await resumeSession(o.ws, { ledger: o.ledger, recovered: this.recovered, notes: this.notes, lastRun: () => this.lastRun(o) ?? { rec: null, logged: false } }, tag, branch, excluded)
        : await createSession(o.ws, o.ledger, tag, branch, head, excluded);
      this.info = info;
      this.guard.forgetPolicy();
      return result;
    });
  }

  async readFile(args: { file?: string; startLine?: number; endLine?: number; sinceHash?: string }): Promise<ReadResult> {
    return readSessionFile(await this.workspace(), this.versions, args);
  }

  async applyPatch(args: { edits?: { old: string; new: string }[]; content?: string; expectedHash?: string }) {
    return this.lock.run(async () => {
      const { ws, s, ledger, records } = await this.requireSession();
      this.assertNoActiveRun();
      const head = await headOnBranch(ws, s);
      ledger.require();
      refuseWith(refusalFor("edit", (await readHead(ws, s, ledger, records.read(), head)).facts));
      const { edit, report } = await checkedEdit(ws, s, head, this.guard, args);
      writeEdit(edit);
      const d = unifiedDiff(ws.config.editable, edit.before, edit.after);
      this.versions.remember(edit.before);
      return { file: ws.config.editable, hash: this.versions.remember(edit.after), diff: d.diff, added: d.added, removed: d.removed, matches: edit.matches, syntaxChecked: report.checkedByPython && ws.config.syntaxCheck, next: 'commit {"description":"<one line: what changes>"}, then run_training.' };
    });
  }

  async commit(args: { description: string; run?: boolean }) {
    return this.lock.run(async () => {
      const o = await this.requireSession();
      const { ws, s, ledger, records } = o;
      this.assertNoActiveRun();
      const head = await headOnBranch(ws, s);
      ledger.require();
      const { facts } = await readHead(ws, s, ledger, records.read(), head);
      refuseWith(refusalFor("commit", facts));
      const status = await ws.repo.status();
      const v = await treeViolations(ws.repo, s.base, head, ws.config.editable, status);
      if (v.length) violationRefusal(v, ws.config.editable);
      const description = sanitizeDescription(args.description, 120);
      if (!description) refuse("bad_description", "The description is empty.", 'Describe the change in one line, e.g. "raise LR to 0.04".');
      if (facts.parentStatus === "crash") refuseWith(oneFixRefusal(facts, shortHash((await ws.repo.readCommit(head)).parents[0])));
      if (!status.some((e) => e.path === ws.config.editable))
        refuse("nothing_to_commit", `${ws.config.editable} has no changes since ${shortHash(head)}.`, "Use apply_patch to make the change first.");
      await this.guard.check(ws, s, fs.readFileSync(resolveRegularFile(ws.root, ws.config.editable, "editable file"), "utf8"));
      if (args.run) o.flight.assertRoom(); // refused before the commit: nothing half done
      const oid = await ws.repo.commitFile(ws.config.editable, `${s.tag}: ${description}`, () => crashPoint("commit:after-add"));
      const done = { commit: shortHash(oid), message: `${s.tag}: ${description}`, next: "Call run_training." };
      if (!args.run) return done;
      // commit {"run": true}: the commit joins the queue at once (as run_training {"wait": false}).
      const q = await enqueueHead(this.context(o), oid, {});
      const d = await describeFlight(ws, o.flight, q.flight, s, ledger, q.releasedTo);
      const gpu = "gpu" in d ? d.gpu : undefined;
      return { ...done, run: { runId: d.runId, state: d.state, ...(gpu !== undefined ? { gpu } : {}) }, next: d.next };
    });
  }

  async runTraining(args: { wait?: boolean; waitSeconds?: number; cancel?: boolean; runId?: string; repeat?: boolean }, cb: Callbacks = {}) {
    type Start = { kind: "flight" | "cancel-flight"; f: Flight; releasedTo?: string | null } | { kind: "cancel" | "attach" | "started"; run: RunHandle } | { kind: "finished"; rec: RunRecord };
    const start = await this.lock.run(async (): Promise<Start> => {
      const o = await this.requireSession();
      const { ws, s, ledger, records, executor, flight } = o;
      const inFlight = args.runId ? flight.store.get(args.runId) : null;
      if (inFlight) return { kind: args.cancel ? ("cancel-flight" as const) : ("flight" as const), f: inFlight };
      if (args.cancel) {
        if (!this.active) refuse("no_run", "No run is in progress.", "Nothing to cancel.");
        if (args.runId && args.runId !== this.active.record.id) refuse("no_run", `Run ${printable(args.runId)} is not the one in progress (${this.active.record.id}).`, "Pass the id of the run in progress.");
        return { kind: "cancel" as const, run: this.active };
      }
      if (this.active) {
        if (args.runId === this.active.record.id) return { kind: "attach" as const, run: this.active };
        this.assertNoActiveRun();
      }
      const rec = records.read();
      if (args.runId) {
        if (rec?.id === args.runId && rec.exit) return { kind: "finished" as const, rec };
        refuse("no_run", `Run ${printable(args.runId)} is not known (the last run is ${rec?.id ?? "none"}).`, "Call run_training without runId to start a run.");
      }
      if (rec && !rec.exit && rec.serverPid !== process.pid && pidAlive(rec.serverPid))
        refuse("run_in_progress", `Run ${rec.id} is in progress in another autoresearch-mcp server (pid ${rec.serverPid}).`, "Only one run at a time per workspace: wait for it to finish.");
      const head = await headOnBranch(ws, s);
      // wait:false, or runs already in flight: HEAD joins the queue (FIFO, a slot each).
      if (args.wait === false || flight.pending().length || flight.slots.busy >= flight.slots.size) {
        const q = await enqueueHead(this.context(o), head, { repeat: args.repeat });
        return { kind: "flight", f: q.flight, releasedTo: q.releasedTo };
      }
      await assertRunnable(ws, s, ledger, rec, head, this.guard, { repeat: args.repeat });
      const slot = flight.slots.take()!; // free: nothing in flight and no run of this server
      let run: RunHandle;
      try {
        run = executor.start(runSpec(ws, head, { gpu: slot.gpu }));
      } catch (e) {
        flight.slots.release(slot);
        refuse("bad_log", `Not started: ${errorMessage(e)}.`, `Remove ${ws.config.log} (the server recreates it as a plain file), then call run_training again.`);
      }
      this.follow(run, slot, flight);
      return { kind: "started" as const, run };
    });
    const o = await this.open();
    if ("f" in start) {
      const f = start.kind === "cancel-flight" ? await cancelFlight(o.flight, start.f) : args.wait === false ? start.f : await waitForFlight(o.ws, o.flight, start.f, args.waitSeconds, cb, this.waiting());
      return describeFlight(o.ws, o.flight, f, this.info, o.ledger, start.releasedTo ?? null);
    }
    const answer = async (rec: RunRecord) => describeRun(o.ws, rec, o.ledger.results().rows, !!o.ledger.loggedLine(rec), rec.exit && this.info ? await proposalFor(o.ws, this.info, o.ledger, rec) : null);
    if ("rec" in start) return answer(start.rec);
    if (start.kind === "cancel") return answer(await start.run.stop("cancel"));
    if (args.wait === false) return answer(start.run.record);
    return answer(await this.waitFor(o.ws, start.run, args.waitSeconds, cb));
  }

  private waiting() {
    return { intervalMs: this.opts.progressIntervalMs ?? 5000, closed: () => this.closed };
  }

  private waitFor(ws: Workspace, run: RunHandle, waitSeconds: number | undefined, cb: Callbacks) {
    return waitFor(ws, run, waitSeconds, cb, this.waiting());
  }

  async parseMetrics(args: { log?: string; waitSeconds?: number }, cb: Callbacks = {}) {
    const { ws, records } = await this.open();
    if (args.waitSeconds && this.active) await this.waitFor(ws, this.active, Math.min(args.waitSeconds, MAX_WAIT_WITHOUT_PROGRESS_S), cb);
    return parsedLog(ws, records.read(), this.active?.record ?? null, args.log);
  }

  /**
   * log_result. Waiting, a stale base's row is logged on the way (the server re-queued its change;
   * there is nothing for the agent to decide) and the wait goes on to the next run: one call per
   * experiment.
   */
  async logResult(args: { description?: string; status?: Status; runId?: string; wait?: boolean; waitSeconds?: number }, cb: Callbacks = {}) {
    const onTheWay: { line: string; row: { commit: string; metric: string; memoryGb: string; status: string; description: string }; requeued: { commit: string; runId: string | null } }[] = [];
    for (;;) {
      const r = await this.logOne(args, cb);
      const folded = onTheWay.length ? { alsoLogged: [...onTheWay] } : {};
      if (!args.wait || args.runId || "waiting" in r || !("requeued" in r) || !r.requeued) return { ...r, ...folded };
      onTheWay.push({ line: r.line, row: r.row, requeued: r.requeued as { commit: string; runId: string | null } });
    }
  }

  private async logOne(args: { description?: string; status?: Status; runId?: string; wait?: boolean; waitSeconds?: number }, cb: Callbacks) {
    // With runs in flight and nothing finished, a wait comes first, outside the lock.
    if (args.wait && !args.runId) {
      const o = await this.requireSession();
      if (!(await waitForLoggable(o.ws, o.flight, () => nextLoggable(this.context(o)), args.waitSeconds, cb, this.waiting())))
        return { waiting: true as const, inFlight: o.flight.pending().length, next: `Nothing finished yet (${o.flight.pending().length} in flight): log_result {"wait":true} again.` };
    }
    return this.lock.run(async () => {
      const o = await this.requireSession();
      const { ws, s, ledger, records } = o;
      this.assertNoActiveRun();
      const head = await headOnBranch(ws, s);
      const rec = records.read();
      const flight = args.runId && args.runId !== rec?.id ? o.flight.store.get(args.runId) : null;
      if (args.runId && args.runId !== rec?.id && !flight) refuse("no_run", `Run ${printable(args.runId)} is not known.`, "status lists the runs in flight.");
      const own = !!rec && rec.commit === head && !!rec.exit && !ledger.loggedLine(rec);
      if (flight && own) refuse("unlogged_run", `HEAD's own run ${rec!.id} of ${shortHash(head)} is finished but not logged.`, "Log it first: log_result without runId.");
      const f = flight ?? (own || args.runId ? null : nextLoggable(this.context(o)));
      if (f) return logFlight(this.context(o), f, head, args);
      const description = args.description ?? (await descriptionOf(ws, s, ledger.results().rows, head));
      return logRun(ws, s, ledger, rec, head, { ...args, description }, crashPoint);
    });
  }

  async resetToBest() {
    return this.lock.run(async () => {
      const { ws, s, ledger, records } = await this.requireSession();
      this.assertNoActiveRun();
      const head = await headOnBranch(ws, s);
      ledger.require();
      return resetToBest(ws, s, ledger, records.read(), head, this.versions, crashPoint);
    });
  }

  async status(args: { rows?: number }) {
    const o = await this.open();
    return dashboard({ ws: o.ws, info: this.info, ledger: o.ledger, active: this.active, lastRun: this.lastRun(o), recovered: this.recovered, notes: this.notes, flight: o.flight }, args);
  }

  /** Stops a run of this server (shutdown); resolves when its tree is gone. */
  async close(): Promise<void> {
    this.closed = true;
    this.guard.close();
    await this.opened?.flight.close().catch(() => undefined);
    await this.opened?.executor.close().catch(() => undefined);
  }
}

/** Test hook: the server kills itself at a named point, to prove nothing is lost when that happens. */
function crashPoint(name: string) {
  if (process.env.AUTORESEARCH_TEST_CRASH_AT === name) process.kill(process.pid, "SIGKILL");
}
