import { z } from "zod";
import { defineTool } from "./define-tool.js";

export const readTrainTool = defineTool({
  name: "read_train",
  title: "Read the training script",
  description:
    "Returns the editable file (train.py) with its line count and a content hash to pass to apply_patch as expectedHash; optionally a line range, or a read-only file such as prepare.py. No other file can be read.",
  effect: "readOnly",
  input: {
    file: z.string().max(500).optional().describe("The editable file (default) or one of the read-only files, e.g. prepare.py."),
    startLine: z.number().int().min(1).optional().describe("First line to return (1-based)."),
    endLine: z.number().int().min(1).optional().describe("Last line to return (inclusive)."),
  },
  output: {
    file: z.string(),
    content: z.string(),
    startLine: z.number(),
    endLine: z.number(),
    totalLines: z.number(),
    hash: z.string(),
    truncated: z.boolean(),
    readonly: z.boolean(),
  },
  run: async ({ ar }, args) => {
    const r = await ar.readFile(args);
    const head = `${r.file}${r.readonly ? " (read-only)" : ""}: lines ${r.startLine}-${r.endLine} of ${r.totalLines}, hash ${r.hash}${r.truncated ? " (cut to fit: ask for the next lines with startLine)" : ""}`;
    return { data: r, text: `${head}\n${r.content}` };
  },
});
