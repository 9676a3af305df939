import { classifyCrash, type ParsedLog } from "../metrics.js";
import type { RunExit } from "../executor/executor.js";

/**
 * What a run produced, pure: its exit and its parsed log → value, memory, crashed, reason.
 * `run_training` and `parse_metrics` both answer with this, so they never disagree on a crash.
 */

export interface RunOutcome {
  /** the metric of the summary block, null when there is none */
  value: number | null;
  memoryGb: number | null;
  /** the run failed: no metric, a non-zero exit, stopped early (a timeout is not a crash) */
  crashed: boolean;
  /** killed at the hard limit */
  timedOut: boolean;
  /** why it crashed or was killed; null when it ended normally */
  reason: string | null;
}

export interface OutcomeContext {
  metric: string;
  memoryKey: string;
  /** the program the run started (for "could not start" reasons) */
  program?: string;
  budgetSeconds?: number;
  killAfterSeconds?: number;
  /** the read-only metric function and what it returned in this run (SPEC §10): the metric must be its last value */
  evaluation?: { module: string; function: string; returned: readonly (number | null)[] };
}

/** Printed and returned agree to the 6 decimals results.tsv keeps. */
const SAME_METRIC = 5e-7;

/** Why the printed metric is not the evaluation's, or null when it is (or nothing is checked). */
export function evaluationMismatch(value: number, e: OutcomeContext["evaluation"]): string | null {
  if (!e) return null;
  const fn = `${e.module}.${e.function}`;
  if (!e.returned.length) return `${fn} was never called: the metric must be the value the read-only evaluation returns`;
  const last = e.returned[e.returned.length - 1];
  if (last === null) return `${fn} returned something that is not a number`;
  if (Math.abs(last - value) > SAME_METRIC) return `printed ${value.toFixed(6)}, ${e.function} returned ${last.toFixed(6)}: the metric must be the value the read-only evaluation returns`;
  return null;
}

/** `peak_vram_mb` → GB with one decimal, as results.tsv writes it. */
export function memoryGbOf(metrics: ParsedLog["metrics"], key: string): number | null {
  const mem = metrics[key];
  return typeof mem === "number" && Number.isFinite(mem) ? Math.round((mem / 1024) * 10) / 10 : null;
}

/**
 * Runs ended from outside the code: the client went away (the server shut down with it), the
 * server died, or the cluster lost the job. Not the code's fault: such a run has no result and needs no row.
 */
export const interrupted = (exit: RunExit | null): boolean => exit?.reason === "shutdown" || exit?.reason === "server-died" || exit?.reason === "lost";

/** Runs that ended without finishing their work, whatever their exit code says. */
const STOPPED_EARLY = new Set(["cancel", "shutdown", "server-died", "spawn-failed", "lost"]);

/**
 * `exit` is null for a log with no run record behind it (a log the agent names, or a run still
 * going): then only the log decides.
 */
export function runOutcome(exit: RunExit | null, parsed: ParsedLog, ctx: OutcomeContext): RunOutcome {
  const raw = parsed.metrics[ctx.metric];
  const value = parsed.hasMetric && typeof raw === "number" ? raw : null;
  const memoryGb = memoryGbOf(parsed.metrics, ctx.memoryKey);
  if (exit?.timedOut) {
    const limit = ctx.killAfterSeconds !== undefined ? ` of ${ctx.killAfterSeconds} s (budget ${ctx.budgetSeconds} s)` : "";
    return { value, memoryGb, crashed: false, timedOut: true, reason: `killed at the hard limit${limit}` };
  }
  const crashed = value === null || (exit !== null && (STOPPED_EARLY.has(exit.reason) || exit.code !== 0));
  if (!crashed) {
    // A metric that is not the evaluation's is no result: a crash with the figures, never a keep.
    const mismatch = evaluationMismatch(value, ctx.evaluation);
    return mismatch ? { value, memoryGb, crashed: true, timedOut: false, reason: mismatch } : { value, memoryGb, crashed: false, timedOut: false, reason: null };
  }
  let reason: string;
  if (exit?.error) reason = `could not start ${JSON.stringify(ctx.program ?? "the command")}: ${exit.error}`;
  else if (exit?.reason === "server-died") reason = "the server died during the run; its tree was killed";
  else if (exit?.note) reason = exit.note;
  else {
    const cancelled = exit?.reason === "cancel" || exit?.reason === "shutdown";
    reason = classifyCrash(parsed.tail, { code: exit?.code ?? null, signal: exit?.signal ?? null, timedOut: false, cancelled });
  }
  return { value, memoryGb, crashed: true, timedOut: false, reason };
}
