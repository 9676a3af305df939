import { z } from "zod";
import { defineTool } from "./define-tool.js";

export const logResultTool = defineTool({
  name: "log_result",
  title: "Log the result",
  description:
    "Appends the row for HEAD's last run to results.tsv (commit, metric and memory come from the run; the status is proposed by the server). You may downgrade keep to discard, or keep an equal value when the change is simpler. Returns the [EXP] line and what to do next.",
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
    next: z.string(),
  },
  run: async ({ session }, args) => {
    const r = await session.logResult(args);
    return { data: r, text: `${r.line}\nNext: ${r.next}` };
  },
});
