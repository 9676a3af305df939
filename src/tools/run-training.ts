import { z } from "zod";
import { defineTool } from "./define-tool.js";

export const runTrainingTool = defineTool({
  name: "run_training",
  title: "Run training",
  description:
    "Runs the training command on the committed tree (output to a log, never into context), kills its process tree at the hard limit, returns the metrics or the crash tail, with progress. wait: false queues HEAD as a run in flight (own directory and GPU slot; the branch goes back, so the next idea can start) and returns its id; runId waits for one; cancel: true stops it; repeat: true runs code again.",
  effect: "additive",
  input: {
    wait: z.boolean().optional().describe("Wait for the run to end (default true). Without progress support a wait lasts at most 50 s; call again with runId. false: queue HEAD and return at once (the branch goes back to what it was built on, so the next idea can be prepared)."),
    waitSeconds: z.number().min(0).max(3600).optional().describe("Longest wait in this call, in seconds."),
    runId: z.string().max(100).optional().describe("Wait for (or read) this run instead of starting one."),
    cancel: z.boolean().optional().describe("Stop the run in progress (its whole process tree)."),
    repeat: z.boolean().optional().describe("Run HEAD's code again although it already ran: a deliberate repeat that counts toward its mean."),
  },
  output: {
    runId: z.string(),
    commit: z.string(),
    state: z.enum(["queued", "running", "finished", "cancelled"]),
    gpu: z.string().nullable().optional().describe("the slot's GPU (CUDA_VISIBLE_DEVICES) with gpus in autoresearch.json"),
    queuePosition: z.number().optional(),
    jobId: z.string().optional().describe("the Slurm job (executor slurm)"),
    node: z.string().nullable().optional().describe("the node the job ran on: compare results within one GPU type"),
    inFlight: z.number().optional().describe("runs queued or running, not logged"),
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
    if (r.state !== "finished") return { data: r, text: `Run ${r.runId} of ${r.commit} is ${r.state}${r.state === "running" ? ` (${r.elapsedSeconds} s)` : ""}${"latest" in r && r.latest ? `: ${r.latest}` : ""}.\nNext: ${r.next}` };
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
