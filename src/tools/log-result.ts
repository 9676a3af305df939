import { z } from "zod";
import { defineTool } from "./define-tool.js";

export const logResultTool = defineTool({
  name: "log_result",
  title: "Log the result",
  description:
    "Appends the row for HEAD's last run to results.tsv (commit, metric and memory come from the run; the server proposes the status, judging a commit by the mean of its runs). You may downgrade keep to discard, or keep an equal value when the change is simpler. due: run_training asks for one more run first; a revoked keep moves the branch back. Returns the [EXP] line and what to do next.",
  effect: "additive",
  input: {
    description: z.string().max(10_000).describe("One line describing the experiment (tabs and newlines are replaced)."),
    status: z.enum(["keep", "discard", "crash"]).optional().describe("Leave out to accept the proposal."),
  },
  output: {
    line: z.string(),
    row: z.object({ commit: z.string(), metric: z.string(), memoryGb: z.string(), status: z.string(), description: z.string() }),
    rowNumber: z.number(),
    newBest: z.boolean(),
    stall: z.number(),
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
      })
      .optional()
      .describe("The noise-aware rule's view: the mean of this code's runs, σ, the best it was compared with, a revocation and where the branch went."),
    due: z.enum(["run_training"]).nullable().describe("run_training when the server wants this commit run again first (the baseline's repeat, a new keep's confirmation)."),
    next: z.string(),
  },
  run: async ({ session }, args) => {
    const r = await session.logResult(args);
    return { data: r, text: `${r.line}\nNext: ${r.next}` };
  },
});
