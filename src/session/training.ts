import { ProtocolRefusal, refuse } from "../errors.js";
import { shortHash } from "../git.js";
import { treeViolations } from "../guards/tree.js";
import { refusalFor } from "../rules/head-state.js";
import { latestRecord, parseLogFile, type ParsedLog } from "../metrics.js";
import { resolveRegularFile, resolveWritable } from "../paths.js";
import type { ResultRow } from "../results.js";
import type { RunHandle, RunRecord, RunSpec } from "../executor/executor.js";
import { interrupted, runOutcome, type RunOutcome } from "../rules/outcome.js";
import { bestKept, nightOver, nightOverNext, propose, type Proposal } from "../rules/policy.js";
import { decide, type Decision } from "../rules/noise.js";
import { noiseSettings } from "./measures.js";
import type { Workspace } from "../workspace.js";
import { readHead, type HeadView, type SessionInfo } from "./history.js";
import type { Ledger } from "./ledger.js";
import { refuseWith, violationRefusal } from "./messages.js";
import { readiness } from "./setup.js";
import type { SourceGuard } from "./editing.js";
import { flightLogPath } from "../executor/queue.js";
import { newRunId } from "../executor/executor.js";
import { evaluationOf, hookEnv, returnedValues } from "../evaluation.js";

/** run_training and parse_metrics: what a run is given, how the server waits for it, what it answers. */

export interface Callbacks {
  signal?: AbortSignal;
  /** called while waiting for a run; `line` is the latest progress record of the log */
  progress?: (elapsedSeconds: number, totalSeconds: number, line: string | null) => void;
  /** the client can receive progress: a wait may last the whole run */
  canProgress?: boolean;
  /** the client's name from `initialize` (clientInfo.name): some clients cap a call whatever progress says */
  client?: string;
}

/** A client that gets no progress times a call out at about 60 s: a wait ends before that. */
export const MAX_WAIT_WITHOUT_PROGRESS_S = 50;

/**
 * Codex ends a call at 300 s (tool_timeout_sec) whatever progress says (SPEC §7): a wait ends
 * well before, with the run id, and the agent calls again.
 */
export const CODEX_WAIT_S = 240;

/** The longest one call may wait: autoresearch.json's maxWaitSeconds, else what the client allows. */
export function waitCap(ws: Workspace, cb: Callbacks): number {
  if (ws.config.maxWaitSeconds !== undefined) return ws.config.maxWaitSeconds;
  if (cb.client && /codex/i.test(cb.client)) return CODEX_WAIT_S;
  return cb.canProgress ? Infinity : MAX_WAIT_WITHOUT_PROGRESS_S;
}

/**
 * What must hold before a run starts: results.tsv readable, nothing but committed code in the
 * work tree, nothing committed outside the editable file, the previous run of HEAD logged, and
 * the code passing the checks commit makes.
 */
export async function assertRunnable(ws: Workspace, info: SessionInfo, ledger: Ledger, rec: RunRecord | null, head: string, guard: SourceGuard, opts: { repeat?: boolean } = {}): Promise<void> {
  const over = nightOverNow(ws, info, ledger.results().rows.length);
  if (over) refuse("night_over", `No new run: ${over}.`, nightOverNext(over));
  const ready = readiness(ws);
  if (ready) refuse(ready.code, ready.message, ready.next);
  ledger.require();
  // Work tree and committed history are checked side by side (two git processes at once).
  const [status, committed] = await Promise.all([ws.repo.status(), treeViolations(ws.repo, info.base, head, ws.config.editable, [])]);
  if (status.length) {
    const v = await treeViolations(ws.repo, info.base, head, ws.config.editable, status);
    if (v.length) violationRefusal(v, ws.config.editable);
    refuse("dirty_tree", `${ws.config.editable} has uncommitted changes; the code that runs must be the code that is logged.`, "Call commit first (or reset_to_best to drop the changes).");
  }
  if (committed.length) violationRefusal(committed, ws.config.editable);
  refuseWith(refusalFor("run", (await readHead(ws, info, ledger, rec, head)).facts, opts));
  await committedSourceOk(ws, info, head, guard);
}

/**
 * The source rules of commit (syntax, no new dependency, no install) on the code about to run: a
 * train.py committed with plain git, past the tools, is held to them too. The checker caches by
 * content, so code the tools already checked costs nothing here.
 */
async function committedSourceOk(ws: Workspace, info: SessionInfo, head: string, guard: SourceGuard): Promise<void> {
  const blob = await ws.repo.readFileAt(head, ws.config.editable);
  if (!blob) return; // the tree rules above name a missing editable file
  try {
    await guard.check(ws, info, blob.toString("utf8"));
  } catch (e) {
    if (!(e instanceof ProtocolRefusal)) throw e;
    const what = e.message.replace(/\s*\S+ was left unchanged\.$/, "");
    refuse(e.code, `${shortHash(head)} was committed past the tools and breaks a rule that commit checks: ${what}`, `Not run. Fix it with apply_patch and commit (the same checks), or reset_to_best. ${e.next}`);
  }
}

/** Why the night is over (stopAt, maxRuns in autoresearch.json), or null. */
export function nightOverNow(ws: Workspace, info: SessionInfo, rowCount: number): string | null {
  return nightOver(ws.config, new Date(), new Date(info.createdAt), rowCount);
}

/**
 * The run of `commit` as the configuration says: the agent cannot pass a command. A run in flight
 * has its own directory and log; a slot's GPU is its CUDA_VISIBLE_DEVICES.
 */
export function runSpec(ws: Workspace, commit: string, where: { cwd?: string; gpu?: string | null; logFile?: string; logName?: string; id?: string } = {}): RunSpec {
  const { config } = ws;
  const gpu = where.gpu ?? null;
  const id = where.id ?? newRunId();
  const env = { ...stringEnv(process.env), ...config.env, AUTORESEARCH_BUDGET_SECONDS: String(config.budgetSeconds), AUTORESEARCH_WORKSPACE: ws.root, ...(gpu !== null ? { CUDA_VISIBLE_DEVICES: gpu } : {}) };
  const evaluation = evaluationOf(ws);
  return {
    id,
    commit,
    argv: config.run,
    cwd: where.cwd ?? ws.root,
    env: evaluation ? { ...env, ...hookEnv(ws, id, evaluation, env) } : env,
    ...(config.gpus ? { gpu } : {}),
    ...(evaluation ? { evaluation } : {}),
    logFile: where.logFile ?? ws.logPath,
    logName: where.logName ?? config.log,
    budgetSeconds: config.budgetSeconds,
    killAfterSeconds: config.killAfterSeconds,
    graceSeconds: config.graceSeconds,
  };
}

/** The log a run wrote; the name comes from a record on disk, so it is checked like any path. */
export function runLogPath(ws: Workspace, rec: RunRecord): string {
  return flightLogPath(ws.stateDir, rec) ?? (rec.log === ws.config.log ? ws.logPath : resolveWritable(ws.root, rec.log, "log"));
}

/** The latest progress line for a progress note (of run `rec`'s log, else run.log): never throws (it runs on a timer). */
export function latestLine(ws: Workspace, rec?: RunRecord): string | null {
  try {
    return latestRecord(rec ? runLogPath(ws, rec) : ws.logPath);
  } catch {
    return null;
  }
}

/** What a finished run produced, read from its log. */
export function outcomeOf(ws: Workspace, rec: RunRecord, parsed: ParsedLog = parseLogFile(runLogPath(ws, rec), ws.config.metric.name)): RunOutcome & { parsed: ParsedLog } {
  // A run with the evaluation hook is held to what the metric function returned in it.
  const evaluation = rec.evaluation ? { ...rec.evaluation, returned: returnedValues(ws, rec.id) } : undefined;
  const o = runOutcome(rec.exit, parsed, { metric: ws.config.metric.name, memoryKey: ws.config.memoryKey, program: rec.argv[0], budgetSeconds: rec.budgetSeconds, killAfterSeconds: rec.killAfterSeconds, evaluation });
  return { ...o, parsed };
}

/**
 * Waits for `run` with progress; returns its record (finished, or still running when the wait
 * ends: the limit, the client going away, or the server closing).
 */
export async function waitFor(ws: Workspace, run: RunHandle, waitSeconds: number | undefined, cb: Callbacks, opts: { intervalMs: number; closed: () => boolean }): Promise<RunRecord> {
  const limit = Math.min(waitSeconds ?? Infinity, waitCap(ws, cb));
  const deadline = Date.now() + limit * 1000;
  const total = ws.config.killAfterSeconds;
  const tick = () => cb.progress?.(run.elapsedSeconds, total, latestLine(ws, run.record));
  // One listener for the whole wait (a new one per tick piled up: MaxListenersExceededWarning).
  const aborted = abortPromise(cb.signal);
  const finished = run.done.then(
    () => true,
    () => true,
  );
  tick();
  try {
    while (!opts.closed()) {
      const left = deadline - Date.now();
      if (left <= 0 || cb.signal?.aborted) break;
      let timer: NodeJS.Timeout | undefined;
      const tickDue = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), Math.min(opts.intervalMs, left))));
      const ended = await Promise.race([finished, tickDue, aborted.promise]);
      clearTimeout(timer);
      if (ended) break;
      tick();
    }
  } finally {
    aborted.dispose();
  }
  return run.record;
}

function abortPromise(signal?: AbortSignal): { promise: Promise<boolean>; dispose: () => void } {
  if (!signal) return { promise: new Promise(() => undefined), dispose: () => undefined };
  if (signal.aborted) return { promise: Promise.resolve(false), dispose: () => undefined };
  let onAbort: () => void = () => undefined;
  const promise = new Promise<boolean>((resolve) => {
    onAbort = () => resolve(false);
    signal.addEventListener("abort", onAbort, { once: true });
  });
  return { promise, dispose: () => signal.removeEventListener("abort", onAbort) };
}

export interface Judged {
  proposal: Proposal;
  /** the noise rule's full decision; null under the strict rule */
  decision: Decision | null;
  /** the value the status is compared with, for messages */
  against: number | null;
}

/** The proposal for run `rec` of HEAD under the configured rule; `view` is HEAD as readHead saw it. */
export function judge(ws: Workspace, info: SessionInfo, view: Pick<HeadView, "rows" | "measured" | "key">, rec: RunRecord) {
  const o = outcomeOf(ws, rec);
  const settings = noiseSettings(ws.config);
  const goal = ws.config.metric.goal;
  if (settings && view.measured && view.key) {
    const decision = decide({ outcome: o, commit: shortHash(rec.commit), key: view.key, isBase: rec.commit === info.base, rows: view.measured, goal, settings, limits: ws.config });
    return { o, judged: { proposal: decision, decision, against: decision.against?.mean ?? null } satisfies Judged };
  }
  const best = bestKept(view.rows, goal);
  return { o, judged: { proposal: propose(o, view.rows, goal, ws.config), decision: null, against: best?.value ?? null } satisfies Judged };
}

/** The outcome and proposal of a finished run, whichever commit HEAD is now; a logged run is judged without its own row. */
export async function proposalFor(ws: Workspace, info: SessionInfo, ledger: Ledger, rec: RunRecord): Promise<ReturnType<typeof judge>> {
  const own = ledger.loggedLine(rec);
  const rows = ledger.results().rows.filter((r) => r.line !== own);
  const measured = noiseSettings(ws.config) ? await ledger.measured(info, rows) : null;
  const key = measured ? await ledger.keys.at(rec.commit, shortHash(rec.commit)) : null;
  return judge(ws, info, { rows, measured, key }, rec);
}

/** run_training's answer for a run, running or finished. */
export function describeRun(ws: Workspace, rec: RunRecord, rows: readonly ResultRow[], logged: boolean, judgement: ReturnType<typeof judge> | null) {
  const base = {
    runId: rec.id,
    commit: shortHash(rec.commit),
    elapsedSeconds: Math.round(((rec.endedAt ?? Date.now()) - rec.startedAt) / 100) / 10,
    killAfterSeconds: rec.killAfterSeconds,
    ...(rec.jobId ? { jobId: rec.jobId, node: rec.node ?? null } : {}),
  };
  if (!rec.exit) {
    return {
      ...base,
      state: "running" as const,
      latest: latestLine(ws, rec),
      next: `Still running. Wait again with run_training {"runId":"${rec.id}"} or parse_metrics {"waitSeconds":50}; nothing else can change the code meanwhile.`,
    };
  }
  // The log is parsed once: the judgement read it already.
  const o = judgement?.o ?? outcomeOf(ws, rec);
  const judged = judgement?.judged ?? null;
  const proposal: Proposal = judged?.proposal ?? propose(o, rows, ws.config.metric.goal, ws.config);
  const cut = interrupted(rec.exit);
  return {
    ...base,
    state: "finished" as const,
    exitCode: rec.exit.code,
    signal: rec.exit.signal,
    timedOut: rec.exit.timedOut,
    endReason: rec.exit.reason,
    ...(rec.exit.killLatencyMs !== undefined ? { killLatencyMs: rec.exit.killLatencyMs } : {}),
    metric: o.value,
    memoryGb: o.memoryGb,
    metrics: o.parsed.metrics,
    crashed: o.crashed,
    reason: proposal.reason,
    tail: o.crashed || o.timedOut ? o.parsed.tail : [],
    ...(cut ? {} : { proposedStatus: proposal.status }),
    logged,
    next: logged
      ? "Already logged."
      : cut
        ? `The run was interrupted (${rec.exit.reason === "shutdown" ? "the server stopped: the client went away" : rec.exit.reason === "lost" ? `the cluster lost the job: ${rec.exit.note ?? "it is gone"}` : "the server died"}); it is not the code's fault and has no row to log: run it again with run_training.`
        : `Call log_result {"description":"${judged?.decision && judged.decision.kind !== "candidate" ? "<the same description as its first run>" : "..."}"}; the server proposes "${proposal.status}"${!o.crashed ? "" : rows.some((r) => r.status === "keep") ? " (read the tail above to decide whether one fix is worth it)" : " (nothing was kept yet: the baseline's crash is the environment's, not train.py's; log it, then report the reason to the human and stop)"}.`,
  };
}

function stringEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out[k] = v;
  return out;
}

/** parse_metrics' answer: the last run's own log is judged with its exit, as run_training judges it; any other log by its content; a log still being written is not judged yet. */
export function parsedLog(ws: Workspace, rec: RunRecord | null, active: RunRecord | null, log: string | undefined) {
  const name = log ?? ws.config.log;
  const parsed = parseLogFile(resolveRegularFile(ws.root, name, "log"), ws.config.metric.name);
  const running = active && name === ws.config.log ? active : null;
  const o = rec && rec.log === name && rec.exit && !running ? outcomeOf(ws, rec, parsed) : runOutcome(null, parsed, { metric: ws.config.metric.name, memoryKey: ws.config.memoryKey });
  const judged = !running;
  return {
    log: name,
    sizeBytes: parsed.sizeBytes,
    metric: o.value,
    memoryGb: o.memoryGb,
    metrics: parsed.metrics,
    crashed: judged && o.crashed,
    reason: judged ? o.reason : null,
    tail: judged && (o.crashed || o.timedOut) ? parsed.tail : [],
    running: running ? { runId: running.id, elapsedSeconds: Math.round((Date.now() - running.startedAt) / 1000), latest: parsed.lastProgress } : null,
  };
}
