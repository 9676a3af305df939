import { z } from "zod";
import { defineTool } from "./define-tool.js";

export const readTrainTool = defineTool({
  name: "read_train",
  title: "Read the training script",
  description:
    "Returns the editable file (train.py) with its line count and a content hash to pass to apply_patch as expectedHash; optionally a line range, or a read-only file such as prepare.py. No other file can be read. With sinceHash (a hash from an earlier read_train, apply_patch or reset_to_best) it returns only what changed since: nothing when unchanged, else a unified diff.",
  effect: "readOnly",
  input: {
    file: z.string().max(500).optional().describe("The editable file (default) or one of the read-only files, e.g. prepare.py."),
    startLine: z.number().int().min(1).optional().describe("First line to return (1-based)."),
    endLine: z.number().int().min(1).optional().describe("Last line to return (inclusive)."),
    sinceHash: z.string().max(64).optional().describe("Hash of the version you already know: returns only the diff from it to the current file (whole file if the server does not know that hash)."),
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
    unchanged: z.boolean().optional().describe("true: the file is the version of sinceHash; content is empty"),
    diffSince: z.string().optional().describe("content is a unified diff from this hash to the current file"),
    sinceUnknown: z.boolean().optional().describe("sinceHash is not a version this server knows: content is the file"),
  },
  run: async ({ session }, args) => {
    const r = await session.readFile(args);
    if (r.unchanged) return { data: r, text: `${r.file}: unchanged since ${r.hash} (${r.totalLines} lines).` };
    if (r.diffSince) return { data: r, text: `${r.file}: ${r.totalLines} lines, hash ${r.hash}; changes since ${r.diffSince}:\n${r.content || "(none)"}` };
    const head = `${r.file}${r.readonly ? " (read-only)" : ""}: lines ${r.startLine}-${r.endLine} of ${r.totalLines}, hash ${r.hash}${r.truncated ? " (cut to fit: ask for the next lines with startLine)" : ""}${r.sinceUnknown ? " (sinceHash not known to this server: whole file)" : ""}`;
    return { data: r, text: `${head}\n${r.content}` };
  },
});
