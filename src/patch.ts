import crypto from "node:crypto";
import { createTwoFilesPatch } from "diff";

/**
 * Edits to the editable file as pure functions on text. Edits apply in order, each to the result
 * of the one before; each `old` must match exactly once (exact first, then ignoring whitespace at
 * line level). Any failure leaves nothing applied: the caller writes only the final text.
 */

export interface Edit {
  old: string;
  new: string;
}

export class PatchError extends Error {
  constructor(message: string, readonly hint: string) {
    super(message);
    this.name = "PatchError";
  }
}

export const contentHash = (text: string | Buffer) => crypto.createHash("sha256").update(text).digest("hex").slice(0, 16);

export const usesCrlf = (text: string) => {
  const crlf = (text.match(/\r\n/g) ?? []).length;
  const lf = (text.match(/\n/g) ?? []).length - crlf;
  return crlf > 0 && crlf >= lf;
};

/** Gives `s` the file's line endings, so CRLF files stay CRLF byte for byte outside the edit. */
const withEol = (s: string, crlf: boolean) => (crlf ? s.replace(/\r?\n/g, "\r\n") : s);

function countOccurrences(hay: string, needle: string, limit = 2): number[] {
  const at: number[] = [];
  let i = hay.indexOf(needle);
  while (i >= 0 && at.length < limit) {
    at.push(i);
    i = hay.indexOf(needle, i + 1);
  }
  return at;
}

const norm = (line: string) => line.trim().replace(/\s+/g, " ");

/** Line-level match ignoring indentation and runs of whitespace; returns [startOffset, endOffset] per match. */
function tolerantMatches(text: string, old: string): [number, number][] {
  const oldLines = old.replace(/\r\n/g, "\n").split("\n");
  while (oldLines.length && oldLines[oldLines.length - 1].trim() === "") oldLines.pop();
  while (oldLines.length && oldLines[0].trim() === "") oldLines.shift();
  if (oldLines.length === 0) return [];
  const want = oldLines.map(norm);
  const lines = text.split("\n");
  const starts: number[] = [];
  let off = 0;
  for (const l of lines) {
    starts.push(off);
    off += l.length + 1;
  }
  const found: [number, number][] = [];
  for (let i = 0; i + want.length <= lines.length && found.length < 2; i++) {
    let ok = true;
    for (let j = 0; j < want.length && ok; j++) ok = norm(lines[i + j].replace(/\r$/, "")) === want[j];
    if (!ok) continue;
    const last = lines[i + want.length - 1];
    const end = starts[i + want.length - 1] + last.length - (last.endsWith("\r") ? 1 : 0);
    found.push([starts[i], end]);
  }
  return found;
}

function similarity(a: string, b: string): number {
  const A = new Set(a.split(/[^A-Za-z0-9_]+/).filter(Boolean));
  const B = new Set(b.split(/[^A-Za-z0-9_]+/).filter(Boolean));
  if (A.size === 0 || B.size === 0) return 0;
  let common = 0;
  for (const t of A) if (B.has(t)) common++;
  return (2 * common) / (A.size + B.size);
}

/** The lines of `text` most like the first non-empty line of `old`, numbered, for "did you mean". */
export function closestLines(text: string, old: string, count = 3): string[] {
  const probe = old.split(/\r?\n/).find((l) => l.trim()) ?? old;
  const lines = text.split(/\r?\n/);
  const scored = lines
    .map((l, i) => ({ i, s: similarity(l, probe) + (l.includes(probe.trim()) ? 1 : 0) }))
    .filter((x) => x.s > 0.2)
    .sort((a, b) => b.s - a.s || a.i - b.i)
    .slice(0, count);
  return scored.map(({ i }) => `${i + 1}: ${lines[i].slice(0, 160)}`);
}

export interface AppliedPatch {
  text: string;
  /** how each edit matched */
  matches: ("exact" | "whitespace")[];
}

export function applyEdits(original: string, edits: Edit[]): AppliedPatch {
  const crlf = usesCrlf(original);
  let text = original;
  const matches: ("exact" | "whitespace")[] = [];
  edits.forEach((e, k) => {
    const which = edits.length > 1 ? `edit ${k + 1} of ${edits.length}: ` : "";
    if (e.old.length === 0) throw new PatchError(`${which}"old" is empty`, 'Give the exact text to replace, or pass "content" to replace the whole file.');
    if (e.old === e.new) throw new PatchError(`${which}"old" and "new" are the same`, "Nothing to change; give a different replacement.");
    if (e.old.includes("\0") || e.new.includes("\0")) throw new PatchError(`${which}the text contains a NUL byte`, "Remove NUL bytes from the edit.");
    const oldT = withEol(e.old, crlf);
    const newT = withEol(e.new, crlf);
    // Exact match in the file's line endings first, then exactly as given (a mixed-EOL file).
    let needle = oldT;
    let at = countOccurrences(text, needle);
    if (at.length === 0 && oldT !== e.old) at = countOccurrences(text, (needle = e.old));
    if (at.length === 1) {
      text = text.slice(0, at[0]) + newT + text.slice(at[0] + needle.length);
      matches.push("exact");
      return;
    }
    if (at.length > 1) throw new PatchError(`${which}"old" matches ${countAll(text, needle)} places in the file`, "Include more surrounding lines in \"old\" so it matches exactly once.");
    const tol = tolerantMatches(text, e.old);
    if (tol.length === 1) {
      text = text.slice(0, tol[0][0]) + newT.replace(/^(\r?\n)+|(\r?\n)+$/g, "") + text.slice(tol[0][1]);
      matches.push("whitespace");
      return;
    }
    if (tol.length > 1) throw new PatchError(`${which}"old" matches several places when whitespace is ignored`, "Include more surrounding lines in \"old\" so it matches exactly once.");
    const near = closestLines(text, e.old);
    throw new PatchError(
      `${which}"old" was not found in the file${near.length ? `. Did you mean (line: text):\n${near.join("\n")}` : ""}`,
      "Call read_train to see the current text, then retry with \"old\" copied exactly.",
    );
  });
  return { text, matches };
}

function countAll(hay: string, needle: string): number {
  let n = 0;
  for (let i = hay.indexOf(needle); i >= 0; i = hay.indexOf(needle, i + 1)) n++;
  return n;
}

const DIFF_MAX = 16_000;

/** A unified diff of `before` → `after` for `name`, bounded in size. */
export function unifiedDiff(name: string, before: string, after: string): { diff: string; added: number; removed: number; truncated: boolean } {
  const raw = createTwoFilesPatch(`a/${name}`, `b/${name}`, before, after, "", "", { context: 2 });
  const body = raw.split("\n").filter((l) => !l.startsWith("====") && !l.startsWith("Index:"));
  let added = 0;
  let removed = 0;
  for (const l of body) {
    if (l.startsWith("+") && !l.startsWith("+++")) added++;
    else if (l.startsWith("-") && !l.startsWith("---")) removed++;
  }
  let diff = body.join("\n").replace(/\r/g, "");
  const truncated = diff.length > DIFF_MAX;
  if (truncated) diff = diff.slice(0, DIFF_MAX) + `\n… diff cut at ${DIFF_MAX} characters (+${added} -${removed} lines in all)`;
  return { diff, added, removed, truncated };
}
