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
    metric: z.number().nullable(),
    droppedCommits: z.number(),
    untouched: z.array(z.string()),
    leftovers: z.array(z.string()),
    next: z.string(),
  },
  run: async ({ ar }) => {
    const r = await ar.resetToBest();
    return { data: r, text: `HEAD is ${r.commit} (metric ${r.metric ?? "n/a"}), ${r.droppedCommits} commit(s) dropped. Next: ${r.next}` };
  },
});
