import { z } from "zod";
import { defineTool } from "./define-tool.js";

export const parseMetricsTool = defineTool({
  name: "parse_metrics",
  title: "Parse a training log",
  description:
    "Parses the final summary block of a log (default run.log): every key: value line, reading only the end of the file. No metric means a crash, returned with the last 50 records. waitSeconds (≤ 50) first waits for a run in progress, with progress.",
  effect: "readOnly",
  input: {
    log: z.string().max(500).optional().describe("Log file inside the workspace (default: the configured run.log)."),
    waitSeconds: z.number().min(0).max(50).optional().describe("Wait up to this long for a run in progress before parsing."),
  },
  output: {
    log: z.string(),
    sizeBytes: z.number(),
    metric: z.number().nullable(),
    memoryGb: z.number().nullable(),
    metrics: z.record(z.string(), z.union([z.number(), z.string()])),
    crashed: z.boolean(),
    reason: z.string().nullable(),
    tail: z.array(z.string()),
    running: z.object({ runId: z.string(), elapsedSeconds: z.number(), latest: z.string().nullable() }).nullable(),
  },
  run: async ({ session, signal, client, progress }, args) => {
    const r = await session.parseMetrics(args, { signal, progress, client, canProgress: progress !== undefined });
    const kv = Object.entries(r.metrics).map(([k, v]) => `${k}: ${v}`).join(", ");
    const lines = [
      r.running ? `Run ${r.running.runId} still running (${r.running.elapsedSeconds} s)${r.running.latest ? `: ${r.running.latest}` : ""}.` : null,
      r.crashed ? `No metric in ${r.log}: crash (${r.reason}).` : r.metric !== null ? `${r.log}: ${kv}` : `${r.log}: no summary yet.`,
      ...(r.tail.length ? ["Last lines of the log:", ...r.tail] : []),
    ].filter((l): l is string => l !== null);
    return { data: r, text: lines.join("\n") };
  },
});
