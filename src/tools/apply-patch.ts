import { z } from "zod";
import { defineTool } from "./define-tool.js";

export const applyPatchTool = defineTool({
  name: "apply_patch",
  title: "Edit the training script",
  description:
    "Edits the editable file only (there is no path). Give edits, a list of {old, new} applied in order (each old must match exactly once; whitespace-tolerant fallback), or the whole new content. All or nothing; a Python syntax error or a new dependency leaves the file unchanged. Returns the diff and the new hash.",
  effect: "destructive",
  input: {
    edits: z
      .array(z.object({ old: z.string().describe("Exact text to replace; must occur once."), new: z.string().describe("Replacement text.") }))
      .max(100)
      .optional()
      .describe("Replacements applied in order."),
    content: z.string().max(2_000_000).optional().describe("The whole new file (instead of edits)."),
    expectedHash: z.string().max(64).optional().describe("Hash from read_train; the patch is refused if the file changed since."),
  },
  output: {
    file: z.string(),
    hash: z.string(),
    diff: z.string(),
    added: z.number(),
    removed: z.number(),
    matches: z.array(z.string()),
    syntaxChecked: z.boolean(),
    next: z.string(),
  },
  run: async ({ session }, args) => {
    const r = await session.applyPatch(args);
    const fuzzy = r.matches.includes("whitespace") ? " (matched ignoring whitespace)" : "";
    return { data: r, text: `Patched ${r.file}: +${r.added} -${r.removed} lines${fuzzy}, hash ${r.hash}${r.syntaxChecked ? "" : " (syntax not checked: no Python for the check, or syntaxCheck is off)"}. Next: ${r.next}\n${r.diff}` };
  },
});
