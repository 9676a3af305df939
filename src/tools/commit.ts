import { z } from "zod";
import { defineTool } from "./define-tool.js";

export const commitTool = defineTool({
  name: "commit",
  title: "Commit the experiment",
  description:
    "Commits the editable file as '<tag>: <description>'; run: true also queues it for a run (one call instead of two). Refused when any other file changed (also behind the server's back), on new imports or install commands, on a syntax error, on top of a discard, or with an unlogged run. Returns the short hash.",
  effect: "additive",
  input: {
    description: z.string().max(10_000).describe("One line: what this experiment changes, e.g. 'raise LR to 0.04'."),
    run: z.boolean().optional().describe("Also queue the commit for a run at once (as run_training with wait: false); the branch goes back to what it was built on."),
  },
  output: {
    commit: z.string(),
    message: z.string(),
    run: z.object({ runId: z.string(), state: z.string(), gpu: z.string().nullable().optional() }).optional().describe("the queued run, with run: true"),
    next: z.string(),
  },
  run: async ({ session }, args) => {
    const r = await session.commit(args);
    return { data: r, text: `Committed ${r.commit} "${r.message}". Next: ${r.next}` };
  },
});
