import type { ResultRow } from "../results.js";
import { baselineOf, bestKept, improvement, type Goal } from "../rules/policy.js";

/** The numbers both report.md and progress.svg are drawn from. */

export interface Summary {
  counts: { keep: number; discard: number; crash: number; other: number };
  /** kept rows with a numeric value, in order, with the gain over the previous one (positive = better) */
  trajectory: { n: number; row: ResultRow; gain: number | null }[];
  baseline: { n: number; row: ResultRow } | null;
  best: { n: number; row: ResultRow } | null;
}

/** The server's definitions (rules/policy.ts): baseline = first kept numeric row; best = best kept value, the later on a tie. */
export function summarize(rows: ResultRow[], goal: Goal): Summary {
  const counts = { keep: 0, discard: 0, crash: 0, other: 0 };
  const trajectory: Summary["trajectory"] = [];
  rows.forEach((row, i) => {
    const s = row.status;
    counts[s === "keep" || s === "discard" || s === "crash" ? s : "other"]++;
    if (s !== "keep" || !Number.isFinite(row.value)) return;
    const prev = trajectory[trajectory.length - 1];
    trajectory.push({ n: i + 1, row, gain: prev ? improvement(prev.row.value, row.value, goal) : null });
  });
  const at = (row: ResultRow | null) => (row ? { n: rows.indexOf(row) + 1, row } : null);
  return { counts, trajectory, baseline: at(baselineOf(rows)), best: at(bestKept(rows, goal)) };
}
