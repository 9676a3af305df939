import { z } from "zod";
import { defineTool } from "./define-tool.js";

export const commitTool = defineTool({
  name: "commit",
  title: "Commit the experiment",
  description:
    "Commits the editable file as '<tag>: <description>'. Refused when any other file changed (also behind the server's back), on new imports or install commands, on a syntax error, on top of a discard, or with an unlogged run. Returns the short hash.",
  effect: "additive",
  input: {
    description: z.string().max(10_000).describe("One line: what this experiment changes, e.g. 'raise LR to 0.04'."),
  },
  output: { commit: z.string(), message: z.string(), next: z.string() },
  run: async ({ session }, args) => {
    const r = await session.commit(args);
    return { data: r, text: `Committed ${r.commit} "${r.message}". Next: ${r.next}` };
  },
});
