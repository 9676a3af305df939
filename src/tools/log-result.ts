import { z } from "zod";
import { defineTool } from "./define-tool.js";

export const logResultTool = defineTool({
  name: "log_result",
  title: "Log the result",
  description:
    "Appends the row for HEAD's last run to results.tsv (commit, metric and memory come from the run; the server proposes the status, judging a commit by the mean of its runs). You may downgrade keep to discard, or keep an equal value when the change is simpler. due: run_training asks for one more run first; a revoked keep moves the branch back. Returns the [EXP] line and what to do next.",
  effect: "additive",
  input: {
    description: z.string().max(10_000).optional().describe("One line describing the experiment (tabs and newlines are replaced). Default: the commit's own description (a repeat: its first row's)."),
    status: z.enum(["keep", "discard", "crash"]).optional().describe("Leave out to accept the proposal."),
    runId: z.string().max(100).optional().describe("Log this finished run in flight (default: HEAD's run, else the oldest finished run in flight)."),
    wait: z.boolean().optional().describe("With runs in flight and none finished: wait for the first to finish, then log it."),
    waitSeconds: z.number().min(0).max(3600).optional().describe("Longest wait in this call, in seconds."),
  },
  output: {
    line: z.string().optional(),
    row: z.object({ commit: z.string(), metric: z.string(), memoryGb: z.string(), status: z.string(), description: z.string() }).optional(),
    rowNumber: z.number().optional(),
    newBest: z.boolean().optional(),
    stall: z.number().optional(),
    runId: z.string().optional().describe("the run logged, when it was a run in flight"),
    waiting: z.boolean().optional().describe("true: the wait ended before any run finished; nothing was logged"),
    inFlight: z.number().optional(),
    requeued: z.object({ commit: z.string(), runId: z.string().nullable() }).optional().describe("a stale candidate's change re-applied onto the best and queued"),
    confirmation: z.string().optional().describe("the run id of a repeat the rule wants, queued at once"),
    alsoLogged: z
      .array(z.object({ line: z.string().optional(), row: z.object({ commit: z.string(), metric: z.string(), memoryGb: z.string(), status: z.string(), description: z.string() }).optional(), requeued: z.object({ commit: z.string(), runId: z.string().nullable() }).optional() }))
      .optional()
      .describe("rows logged on the way while waiting: stale bases, whose change the server re-applied onto the best and queued"),
    decision: z
      .object({
        kind: z.enum(["baseline", "candidate", "confirmation", "repeat"]),
        mean: z.number().nullable(),
        n: z.number(),
        sigma: z.number().nullable(),
        against: z.object({ commit: z.string(), mean: z.number(), n: z.number() }).nullable(),
        revoked: z.boolean(),
        resetTo: z.string().nullable(),
        closeCall: z.boolean(),
        lead: z.number().nullable().describe("standard errors ahead of `against` (negative: behind); null while σ is unmeasured or 0"),
        clear: z.boolean().describe("kept on one run: clearly ahead (clearLead), no confirmation"),
      })
      .optional()
      .describe("The noise-aware rule's view: the mean of this code's runs, σ, the best it was compared with, a revocation and where the branch went."),
    due: z.enum(["run_training"]).nullable().optional().describe("run_training when the server wants this commit run again first (the baseline's repeat, a new keep's confirmation)."),
    next: z.string(),
  },
  run: async ({ session, signal, client, progress }, args) => {
    const r = await session.logResult(args, { signal, progress, client, canProgress: progress !== undefined });
    const before = "alsoLogged" in r && r.alsoLogged ? r.alsoLogged.map((a) => `${a.line} (re-queued as ${a.requeued?.commit})`) : [];
    return { data: r, text: [...before, ...("line" in r && r.line ? [r.line] : []), `Next: ${r.next}`].join("\n") };
  },
});
