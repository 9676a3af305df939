import { z } from "zod";
import { defineTool } from "./define-tool.js";

export const resetToBestTool = defineTool({
  name: "reset_to_best",
  title: "Reset to the best kept commit",
  description:
    "Hard-resets the session branch to the best kept commit; results.tsv and run.log stay. Use after a discard or a crash you will not fix. Refused while HEAD's run is not logged.",
  effect: "destructive",
  input: {},
  output: {
    commit: z.string(),
    hash: z.string().nullable().describe("content hash of the editable file now (for read_train sinceHash / apply_patch expectedHash)"),
    metric: z.number().nullable(),
    droppedCommits: z.number(),
    untouched: z.array(z.string()),
    leftovers: z.array(z.string()),
    next: z.string(),
  },
  run: async ({ session }) => {
    const r = await session.resetToBest();
    const metricName = (await session.workspace()).config.metric.name;
    return { data: r, text: `HEAD is ${r.commit} (${metricName} ${r.metric ?? "n/a"}), ${r.droppedCommits} commit(s) dropped${r.hash ? `; file hash ${r.hash}` : ""}. Next: ${r.next}` };
  },
});
