import { z } from "zod";
import { defineTool } from "./define-tool.js";

const row = z.object({ n: z.number(), commit: z.string(), metric: z.string(), memoryGb: z.string(), status: z.string(), description: z.string() });
const point = z.object({ commit: z.string(), metric: z.number(), description: z.string() });

export const statusTool = defineTool({
  name: "status",
  title: "Session dashboard",
  description:
    "The dashboard: session and branch, best kept commit and metric, counts per status, experiments since the last keep (past 10: widen the search), the last rows (default 20), a run in progress, and the trajectory of keeps for the final summary.",
  effect: "readOnly",
  input: {
    rows: z.number().int().min(0).max(200).optional().describe("How many of the last results rows to return (default 20)."),
  },
  output: {
    session: z.object({ tag: z.string(), branch: z.string(), base: z.string() }).nullable(),
    head: z.string().nullable(),
    branch: z.string().nullable(),
    metric: z.string(),
    best: z
      .object({ commit: z.string(), metric: z.number().describe("the mean of its runs under the noise-aware rule"), description: z.string(), n: z.number().optional(), stderr: z.number().nullable().optional().describe("σ/√n") })
      .nullable(),
    baseline: z.object({ commit: z.string(), metric: z.number() }).nullable(),
    improvement: z.number().nullable(),
    counts: z.object({ total: z.number(), keep: z.number(), discard: z.number(), crash: z.number(), other: z.number() }),
    sinceLastKeep: z.number(),
    keepRate: z.number().nullable(),
    noise: z
      .object({
        settings: z.object({ baselineRuns: z.number(), confirmRuns: z.number(), clearLead: z.union([z.number(), z.literal(false)]) }).describe("the rule's repeats (autoresearch.json noise)"),
        sigma: z.number().nullable().describe("one run's standard deviation, pooled over every code that ran twice or more"),
        df: z.number(),
        experiments: z.number(),
        kept: z.number(),
        revoked: z.number(),
        falseKeepRisk: z.number().nullable().describe("the chance that a kept step is noise, averaged over the kept chain"),
        plateau: z.object({ sinceLastKeep: z.number(), lastGain: z.number().nullable(), lastGainSigmas: z.number().nullable() }),
      })
      .nullable()
      .describe("the noise-aware rule's numbers; null under the strict rule (noise: false)"),
    lastRows: z.array(row),
    running: z.object({ runId: z.string(), commit: z.string(), elapsedSeconds: z.number(), latest: z.string().nullable() }).nullable(),
    inFlight: z
      .array(z.object({ runId: z.string(), commit: z.string(), description: z.string(), state: z.enum(["queued", "running", "finished"]), gpu: z.string().nullable(), elapsedSeconds: z.number(), reappliedFrom: z.string().optional(), jobId: z.string().optional(), node: z.string().nullable().optional() }))
      .describe("runs queued, running, or finished and not logged yet (run_training wait: false)"),
    slots: z.object({ total: z.number(), busy: z.number(), gpus: z.array(z.string()).nullable() }),
    lastRun: z.object({ runId: z.string(), commit: z.string(), endReason: z.string(), logged: z.boolean() }).nullable(),
    recovered: z.string().nullable(),
    problems: z.array(z.string()),
    trajectory: z.array(point),
    advice: z.string(),
    next: z.string().describe("the one call to make now, from HEAD's state"),
  },
  run: async ({ session }, args) => {
    const r = await session.status(args);
    const c = r.counts;
    const lines = [
      r.session ? `Session ${r.session.tag} on ${r.session.branch}, HEAD ${r.head}.` : `No session (branch ${r.branch ?? "detached"}).`,
      r.noise
        ? `${c.total} runs of ${r.noise.experiments} experiments (rows: ${c.keep} keep, ${c.discard} discard, ${c.crash} crash); ${r.sinceLastKeep} since the last keep.`
        : `${c.total} experiments: ${c.keep} keep, ${c.discard} discard, ${c.crash} crash; ${r.sinceLastKeep} since the last keep.`,
      r.best
        ? `Best ${r.metric} ${r.best.metric.toFixed(6)}${r.best.n !== undefined ? `${r.best.stderr != null ? ` ± ${r.best.stderr.toFixed(6)}` : ""} (mean of ${r.best.n} run${r.best.n === 1 ? "" : "s"})` : ""} at ${r.best.commit} (${r.best.description})${r.improvement !== null ? `, ${r.improvement.toFixed(6)} better than baseline` : ""}.`
        : "No kept result yet.",
      r.noise
        ? `Noise: σ ${r.noise.sigma !== null ? r.noise.sigma.toFixed(6) : "not measured yet"}${r.noise.falseKeepRisk !== null ? `, false-keep risk ${(r.noise.falseKeepRisk * 100).toFixed(0)}%` : ""}, ${r.noise.kept} of ${r.noise.experiments} experiments kept${r.noise.revoked ? `, ${r.noise.revoked} revoked` : ""}.`
        : null,
      r.trajectory.length > 1 ? `Trajectory (keeps): ${r.trajectory.slice(-8).map((t) => `${t.commit} ${t.metric.toFixed(6)} ${t.description}`).join(" → ")}` : null,
      r.keepRate !== null ? `Keep rate ${(r.keepRate * 100).toFixed(0)}%.` : null,
      r.inFlight.length ? `In flight (${r.slots.busy}/${r.slots.total} slots busy): ${r.inFlight.map((f) => `${f.runId} ${f.commit} ${f.state}${f.gpu !== null ? ` gpu ${f.gpu}` : ""}${f.jobId ? ` job ${f.jobId}${f.node ? ` on ${f.node}` : ""}` : ""}`).join("; ")}` : null,
      r.running ? `Running: ${r.running.runId} of ${r.running.commit}, ${r.running.elapsedSeconds} s${r.running.latest ? ` | ${r.running.latest}` : ""}` : null,
      r.recovered ? `Note: ${r.recovered}` : null,
      ...r.problems.map((p) => `results.tsv: ${p}`),
      ...(r.lastRows.length ? [`commit\t${r.metric}\tmem\tstatus\tdescription`, ...r.lastRows.map((x) => `${x.commit}\t${x.metric}\t${x.memoryGb}\t${x.status}\t${x.description}`)] : []),
      r.advice,
      `Next: ${r.next}`,
    ].filter((l): l is string => l !== null);
    return { data: r, text: lines.join("\n") };
  },
});
