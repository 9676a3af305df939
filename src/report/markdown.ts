import { sanitizeDescription, type ResultRow } from "../results.js";
import { improvement, type Goal } from "../rules/policy.js";

import type { NoiseSummary } from "../rules/noise.js";
import { summarize } from "./summary.js";

/** report.md: the night in text, for a human and for an agent's final summary. */

export interface ReportInfo {
  metric: string;
  goal: Goal;
  tag?: string | null;
  branch?: string | null;
  /** problems readResults found in results.tsv (hand edits) */
  problems: string[];
  /** commit as written in results.tsv → subject of that git commit, where known */
  subjects?: Map<string, string>;
  /** the noise-aware rule's numbers (null under the strict rule) */
  noise?: NoiseSummary | null;
}

/** Text from results.tsv inside a markdown table cell or line: one line, `|` escaped, no HTML. */
function md(s: string): string {
  return sanitizeDescription(s, 10_000)
    .replace(/[\\`*[\]|]/g, (c) => `\\${c}`)
    .replace(/(?<!\w)_|_(?!\w)/g, "\\_")
    .replace(/&(?=#?\w+;)/g, "&amp;") // only where it would start an entity
    .replace(/</g, "&lt;"); // no raw HTML; a lone ">" mid-line is plain text
}

/** A commit as inline code when it is a plain token (a hash, "baseline"), else escaped text. */
const mdCommit = (c: string) => (/^[\w.-]{1,64}$/.test(c) ? `\`${c}\`` : md(c) || "(none)");
const fmt = (v: number) => v.toFixed(6);
const signed = (v: number) => (v > 0 ? "+" : v < 0 ? "−" : "±") + Math.abs(v).toFixed(6);
const pct = (part: number, whole: number) => `${((100 * part) / whole).toFixed(1)}%`;

export function renderMarkdown(rows: ResultRow[], info: ReportInfo): string {
  const { metric, goal } = info;
  const s = summarize(rows, goal);
  const m = md(metric);
  const out: string[] = [];
  out.push(`# autoresearch report${info.tag ? `: ${md(info.tag)}` : ""}`, "");
  const where = [info.branch ? `Branch \`${info.branch.replace(/`/g, "")}\`` : null, `metric \`${metric}\` (${goal === "min" ? "lower" : "higher"} is better)`].filter(Boolean);
  out.push(`${where.join(", ")}.`, "", "![progress](progress.svg)", "");

  out.push("## Summary", "");
  const c = s.counts;
  const parts = [`${c.keep} keep`, `${c.discard} discard`, `${c.crash} crash`, ...(c.other ? [`${c.other} other`] : [])];
  out.push(`- Experiments: ${rows.length} (${parts.join(", ")})`);
  const finished = c.keep + c.discard;
  out.push(`- Keep rate: ${pct(c.keep, rows.length)} (${c.keep} of ${rows.length}${finished ? `; ${pct(c.keep, finished)} of the ${finished} that were not crashes` : ""})`);
  // Under the noise rule the best and the baseline are commits' means (revoked keeps are out).
  const z = info.noise;
  const best = z ? (z.best ? { n: rows.indexOf(z.best.first) + 1, commit: z.best.commit, value: z.best.mean, description: z.best.first.description, runs: z.best.n } : null) : s.best ? { n: s.best.n, commit: s.best.row.commit, value: s.best.row.value, description: s.best.row.description, runs: 1 } : null;
  const baseline = z ? (z.baseline ? { n: 1, commit: z.baseline.commit, value: z.baseline.mean, runs: z.baseline.n } : null) : s.baseline ? { n: s.baseline.n, commit: s.baseline.row.commit, value: s.baseline.row.value, runs: 1 } : null;
  const of = (runs: number) => (z ? ` (mean of ${runs} run${runs === 1 ? "" : "s"})` : "");
  if (best) out.push(`- Best: ${mdCommit(best.commit)} (#${best.n}), ${m} ${fmt(best.value)}${of(best.runs)}: ${md(best.description) || "(no description)"}`);
  else out.push(`- Best: none yet (no kept row with a ${m} value)`);
  if (baseline) out.push(`- Baseline: ${mdCommit(baseline.commit)} (#${baseline.n}), ${m} ${fmt(baseline.value)}${of(baseline.runs)}`);
  if (best && baseline) {
    const gain = improvement(baseline.value, best.value, goal);
    const rel = baseline.value !== 0 ? ` (${((100 * gain) / Math.abs(baseline.value)).toFixed(2)}%)` : "";
    out.push(`- Improvement over baseline: ${fmt(Math.abs(gain))}${rel} ${(gain >= 0) === (goal === "min") ? "lower" : "higher"}${gain < 0 ? " (worse than the baseline)" : ""}`);
  }
  const lastKeep = rows.map((r) => r.status).lastIndexOf("keep");
  out.push(`- Experiments since the last keep: ${rows.length - 1 - lastKeep}`);
  // the longest plateau: consecutive rows without a keep (after the first keep, or from the start)
  let run = 0;
  let longest = { len: 0, end: 0 };
  rows.forEach((r, i) => {
    run = r.status === "keep" ? 0 : run + 1;
    if (run > longest.len) longest = { len: run, end: i + 1 };
  });
  if (longest.len > 1) out.push(`- Longest stretch without a keep: ${longest.len} experiments (#${longest.end - longest.len + 1}–#${longest.end})`);
  out.push("");

  if (info.noise) out.push(...noiseSection(info.noise, m, goal));

  out.push("## Trajectory", "");
  // Under the noise rule: the kept chain, one line per commit with its mean (a revoked keep is not in it).
  const trajectory = z
    ? z.lineage.map((k, i, all) => ({ n: rows.indexOf(k.first) + 1, row: { ...k.first, value: k.mean }, gain: i ? improvement(all[i - 1].mean, k.mean, goal) : null }))
    : s.trajectory;
  if (trajectory.length === 0) out.push("No kept experiment with a value yet.", "");
  else {
    out.push(`Kept ${z ? "commits" : "experiments"} in order${z ? " (each value the mean of its runs)" : ""}; gain is the change from the previous kept one (positive = better).`, "");
    out.push(`| # | commit | ${m} | gain | description |`, "|---:|---|---:|---:|---|");
    for (const t of trajectory) {
      const subject = info.subjects?.get(t.row.commit);
      // The server's commit subject is "<tag>: <description>"; show it only when it says more.
      const extra = subject && subject.trim() !== t.row.description.trim() ? ` (commit: ${md(subject)})` : "";
      out.push(`| ${t.n} | ${mdCommit(t.row.commit)} | ${fmt(t.row.value)} | ${t.gain === null ? "baseline" : signed(t.gain)} | ${md(t.row.description)}${extra} |`);
    }
    out.push("");
  }

  out.push("## All experiments", "");
  out.push(`| # | commit | ${m} | memory_gb | status | description |`, "|---:|---|---:|---:|---|---|");
  rows.forEach((r, i) => out.push(`| ${i + 1} | ${mdCommit(r.commit)} | ${md(r.valueText)} | ${md(r.memoryText)} | ${md(String(r.status))} | ${md(r.description)} |`));
  out.push("");

  if (info.problems.length) {
    out.push("## Problems in results.tsv", "", "Found while reading it (hand edits?); the file was not changed.", "");
    for (const p of info.problems) out.push(`- ${md(p)}`);
    out.push("");
  }
  return out.join("\n");
}

/** The noise-aware rule's view: the best as a mean with its standard error, σ, and how much to trust the keeps. */
function noiseSection(z: NoiseSummary, m: string, goal: Goal): string[] {
  const out = ["## Noise", ""];
  out.push(`Each commit is judged by the mean of its runs; every new keep was run again unless it was clearly ahead (clearLead standard errors), and a keep whose mean fell behind was revoked.`, "");
  out.push(`- σ of one run: ${z.sigma !== null ? fmt(z.sigma) : "not measured (no code ran twice)"}${z.df ? ` (pooled over ${z.df} degree${z.df === 1 ? "" : "s"} of freedom)` : ""}`);
  if (z.best) out.push(`- Best: ${mdCommit(z.best.commit)}, ${m} ${fmt(z.best.mean)}${z.best.stderr !== null ? ` ± ${fmt(z.best.stderr)}` : ""} (mean of ${z.best.n} run${z.best.n === 1 ? "" : "s"} ± σ/√n): ${md(z.best.first.description)}`);
  if (z.baseline && z.best) out.push(`- Baseline: ${m} ${fmt(z.baseline.mean)} (mean of ${z.baseline.n}); improvement ${fmt(Math.abs(improvement(z.baseline.mean, z.best.mean, goal)))}`);
  out.push(`- Experiments: ${z.experiments} codes tried, ${z.kept} kept${z.keepRate !== null ? ` (${(z.keepRate * 100).toFixed(1)}%)` : ""}, ${z.revoked} revoked by a repeat`);
  if (z.falseKeepRisk !== null) out.push(`- False-keep risk: ${(z.falseKeepRisk * 100).toFixed(1)}% per kept step (the chance a step's gain is noise, averaged over the kept chain)`);
  out.push("");
  return out;
}
