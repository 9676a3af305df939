import { z } from "zod";
import { defineTool } from "./define-tool.js";

export const runTrainingTool = defineTool({
  name: "run_training",
  title: "Run training",
  description:
    "Runs the configured training command on the committed tree (output to run.log, never into context), kills its whole process tree at the hard limit, and returns the parsed metrics or the crash tail. Sends progress while it waits. wait: false returns a run id at once; runId waits for that run; cancel: true stops it; repeat: true measures code that already ran once more.",
  effect: "additive",
  input: {
    wait: z.boolean().optional().describe("Wait for the run to end (default true). Without progress support a wait lasts at most 50 s; call again with runId."),
    waitSeconds: z.number().min(0).max(3600).optional().describe("Longest wait in this call, in seconds."),
    runId: z.string().max(100).optional().describe("Wait for (or read) this run instead of starting one."),
    cancel: z.boolean().optional().describe("Stop the run in progress (its whole process tree)."),
    repeat: z.boolean().optional().describe("Run HEAD's code again although it already ran: a deliberate repeat that counts toward its mean."),
  },
  output: {
    runId: z.string(),
    commit: z.string(),
    state: z.enum(["running", "finished"]),
    elapsedSeconds: z.number(),
    killAfterSeconds: z.number(),
    latest: z.string().nullable().optional(),
    exitCode: z.number().nullable().optional(),
    signal: z.string().nullable().optional(),
    timedOut: z.boolean().optional(),
    endReason: z.string().optional(),
    killLatencyMs: z.number().optional(),
    metric: z.number().nullable().optional(),
    memoryGb: z.number().nullable().optional(),
    metrics: z.record(z.string(), z.union([z.number(), z.string()])).optional(),
    crashed: z.boolean().optional(),
    reason: z.string().nullable().optional(),
    tail: z.array(z.string()).optional(),
    proposedStatus: z.enum(["keep", "discard", "crash"]).optional(),
    logged: z.boolean().optional(),
    next: z.string(),
  },
  run: async ({ session, signal, client, progress }, args) => {
    const r = await session.runTraining(args, { signal, progress, client, canProgress: progress !== undefined });
    if (r.state === "running") return { data: r, text: `Run ${r.runId} of ${r.commit} is running (${r.elapsedSeconds} s)${r.latest ? `: ${r.latest}` : ""}.\nNext: ${r.next}` };
    const metricName = (await session.workspace()).config.metric.name;
    const lines = [
      `Run ${r.runId} of ${r.commit} finished in ${r.elapsedSeconds} s (${r.timedOut ? "killed at the hard limit" : r.signal ? `signal ${r.signal}` : `exit ${r.exitCode}`}).`,
      r.crashed ? `CRASH: ${r.reason}` : `${metricName} ${r.metric === null ? "none" : r.metric.toFixed(6)}${r.memoryGb !== null ? `, memory ${r.memoryGb.toFixed(1)} GB` : ""}${r.reason ? ` (${r.reason})` : ""}`,
      `Proposed status: ${r.proposedStatus}.`,
      ...(r.tail && r.tail.length ? ["Last lines of the log:", ...r.tail] : []),
      `Next: ${r.next}`,
    ];
    return { data: r, text: lines.join("\n") };
  },
});
