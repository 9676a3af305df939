import { z } from "zod";
import { defineTool } from "./define-tool.js";

export const startSessionTool = defineTool({
  name: "start_session",
  title: "Start or resume a session",
  description:
    "Setup in one call: validates autoresearch.json, checks the files, runs the configured checks, creates branch autoresearch/<tag>, writes the results.tsv header and git-excludes results and log. With resume: true, continues an existing session from its branch and results.tsv. Returns what to do next.",
  effect: "additive",
  input: {
    tag: z.string().max(64).optional().describe("Run tag, e.g. nov24; the branch is autoresearch/<tag>. Optional with resume (taken from the current branch)."),
    resume: z.boolean().optional().describe("Continue an existing session branch instead of creating one."),
  },
  output: {
    tag: z.string(),
    branch: z.string(),
    base: z.string(),
    resumed: z.boolean(),
    headerWritten: z.boolean(),
    rows: z.number(),
    checks: z.array(z.object({ argv: z.array(z.string()), ok: z.boolean(), exit: z.string(), tail: z.array(z.string()) })),
    problems: z.array(z.string()),
    excluded: z.array(z.string()).describe("untracked client setup files (opencode.json, .mcp.json, .claude/, ...) now git-excluded"),
    next: z.string(),
  },
  run: async ({ session }, args) => {
    const r = await session.startSession(args);
    const lines = [
      `${r.resumed ? "Resumed" : "Started"} session ${r.tag} on ${r.branch} (base ${r.base}, ${r.rows} row(s) in results).`,
      ...r.checks.map((c) => `check ${c.argv.join(" ")}: ${c.ok ? "ok" : c.exit}`),
      ...(r.excluded.length ? [`Git-excluded the client setup files ${r.excluded.join(", ")} (untracked; they are not part of the experiment).`] : []),
      ...r.problems.map((p) => `Note: ${p}`),
      `Next: ${r.next}`,
    ];
    return { data: r, text: lines.join("\n") };
  },
});
