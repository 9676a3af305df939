import crypto from "node:crypto";
import { FILE_HEADERS_ONLY, formatPatch, structuredPatch, type StructuredPatch } from "diff";

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

/**
 * Gives `s` the file's line endings, so a CRLF file stays CRLF and an LF file stays LF byte for
 * byte outside the edit (an `old`/`new` sent with the other convention still fits the file).
 */
const withEol = (s: string, crlf: boolean) => (crlf ? s.replace(/\r?\n/g, "\r\n") : s.replace(/\r\n/g, "\n"));

/** A lone UTF-16 surrogate cannot be written as UTF-8: it would land in the file as U+FFFD. */
const UNPAIRED_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function countOccurrences(hay: string, needle: string, limit = 2): number[] {
  const at: number[] = [];
  let i = hay.indexOf(needle);
  while (i >= 0 && at.length < limit) {
    at.push(i);
    i = hay.indexOf(needle, i + 1);
  }
  return at;
}

/**
 * Whitespace as Python sees it between tokens (space, tab, form feed, vertical tab). Unicode
 * spaces such as NBSP or U+3000 are not whitespace to Python, so they must match exactly.
 */
const WS_EDGES = /^[ \t\f\v]+|[ \t\f\v]+$/g;
const WS_RUNS = /[ \t\f\v]+/g;
const norm = (line: string) => line.replace(WS_EDGES, "").replace(WS_RUNS, " ");
const isBlank = (line: string) => norm(line) === "";
const leadingWs = (line: string) => /^[ \t\f\v]*/.exec(line)![0];

/**
 * Line-level match ignoring indentation and runs of whitespace; returns [startOffset, endOffset]
 * per match: from the first character of the first matched line to the end of the last matched
 * line (before its line break). A byte order mark at the start of the file is never part of a span.
 */
function tolerantMatches(text: string, oldLines: string[]): [number, number][] {
  if (oldLines.length === 0) return [];
  const want = oldLines.map(norm);
  const bom = text.startsWith("\ufeff") ? 1 : 0;
  const lines = text.slice(bom).split("\n");
  const starts: number[] = [];
  let off = bom;
  for (const l of lines) {
    starts.push(off);
    off += l.length + 1;
  }
  // Lines become integers and the window is found with Knuth-Morris-Pratt: linear in the file
  // plus `old`, also for a file of identical lines and an `old` of thousands of them (a plain
  // window-by-window comparison is O(lines × old lines): minutes on a few MB).
  const ids = new Map<string, number>();
  const id = (l: string) => {
    let v = ids.get(l);
    if (v === undefined) ids.set(l, (v = ids.size));
    return v;
  };
  const pat = want.map(id);
  const known = ids.size;
  const have = lines.map((l) => {
    const v = ids.get(norm(l.endsWith("\r") ? l.slice(0, -1) : l));
    return v === undefined || v >= known ? -1 : v;
  });
  const fail = new Array<number>(pat.length).fill(0);
  for (let i = 1, k = 0; i < pat.length; i++) {
    while (k > 0 && pat[i] !== pat[k]) k = fail[k - 1];
    if (pat[i] === pat[k]) k++;
    fail[i] = k;
  }
  const found: [number, number][] = [];
  for (let i = 0, k = 0; i < have.length && found.length < 2; i++) {
    while (k > 0 && have[i] !== pat[k]) k = fail[k - 1];
    if (have[i] === pat[k]) k++;
    if (k === pat.length) {
      const first = i - pat.length + 1;
      const last = lines[i];
      found.push([starts[first], starts[i] + last.length - (last.endsWith("\r") ? 1 : 0)]);
      k = fail[k - 1];
    }
  }
  return found;
}

/** `old` as lines for the tolerant match: line breaks of either kind, blank edge lines dropped. */
function significantLines(s: string): string[] {
  const lines = s.split(/\r?\n/);
  while (lines.length && isBlank(lines[lines.length - 1])) lines.pop();
  while (lines.length && isBlank(lines[0])) lines.shift();
  return lines;
}

/**
 * The replacement for a whitespace-tolerant match, re-indented into the file. A model often sends
 * `old` at another indentation than the file has (a level dropped or added, spaces for the file's
 * tabs, the first line's indentation left out when copying from its first character) and `new` at
 * the same indentation as its `old`. The matched lines say what each indentation the model used
 * stands for in the file: each line of `new` at one of those indentations gets the file's, and a
 * line deeper (or shallower) than one of them keeps its offset from it, so `new`'s own structure
 * (a line moved into a block, out of one) survives the shift. Where `old` gives one indentation
 * two meanings, the first line's wins; an indentation unrelated to all of them is left as given.
 */
function reindent(newT: string, oldLines: string[], fileLines: string[], eol: string): string {
  const body = newT.replace(/^(\r?\n)+|(\r?\n)+$/g, "");
  const meaning = new Map<string, string>();
  oldLines.forEach((l, i) => {
    const o = leadingWs(l);
    if (!isBlank(l) && !meaning.has(o)) meaning.set(o, leadingWs(fileLines[i]));
  });
  if ([...meaning].every(([o, f]) => o === f)) return body;
  if (writtenForTheFile(body, oldLines, fileLines, meaning)) return body;
  const unit = indentUnits(meaning);
  const known = [...meaning.keys()].sort((a, b) => b.length - a.length); // deepest first
  const place = (ind: string): string => {
    const same = meaning.get(ind);
    if (same !== undefined) return same;
    // Deeper than an indentation of `old`: the file's for that one, plus the extra in the file's unit.
    const under = known.find((k) => ind.startsWith(k));
    if (under !== undefined) return meaning.get(under)! + unit(ind.slice(under.length));
    // Shallower than one: the file's for it, less the difference, when the file's ends with it.
    const over = [...known].reverse().find((k) => k.startsWith(ind));
    if (over !== undefined) {
      const less = unit(over.slice(ind.length));
      const f = meaning.get(over)!;
      if (f.endsWith(less)) return f.slice(0, f.length - less.length);
    }
    return ind;
  };
  return body
    .split(/\r?\n/)
    .map((l) => {
      if (isBlank(l)) return l;
      const ind = leadingWs(l);
      return place(ind) + l.slice(ind.length);
    })
    .join(eol);
}

/**
 * Whether `new` was written at the file's indentation although `old` was not (a model that read
 * the file again for `new`): then it goes in as given. Its first line tells when `old`'s first
 * line was off (at `old`'s indentation: shift it; at the file's: leave it); when that one was
 * right, `new` is the file's when all its indentations are the file's and one is not `old`'s.
 */
function writtenForTheFile(body: string, oldLines: string[], fileLines: string[], meaning: Map<string, string>): boolean {
  const first = oldLines.findIndex((l) => !isBlank(l));
  const o1 = leadingWs(oldLines[first]);
  const f1 = leadingWs(fileLines[first]);
  const used = body.split(/\r?\n/).filter((l) => !isBlank(l)).map(leadingWs);
  if (used.length === 0) return true;
  if (o1 !== f1) return used[0] === f1;
  const fileSide = new Set(meaning.values());
  return used.every((i) => fileSide.has(i)) && used.some((i) => !meaning.has(i));
}

/**
 * Extra indentation written the file's way: when `old` used spaces where the file has tabs (or the
 * other way round), as many spaces as stood for one tab become a tab, and a tab that many spaces.
 */
function indentUnits(meaning: Map<string, string>): (extra: string) => string {
  for (const [o, f] of meaning) {
    if (/^ +$/.test(o) && /^\t+$/.test(f) && o.length % f.length === 0) {
      const per = " ".repeat(o.length / f.length);
      return (x) => (/^ +$/.test(x) && x.length % per.length === 0 ? "\t".repeat(x.length / per.length) : x);
    }
    if (/^\t+$/.test(o) && /^ +$/.test(f) && f.length % o.length === 0) {
      const per = " ".repeat(f.length / o.length);
      return (x) => (/^\t+$/.test(x) ? per.repeat(x.length) : x);
    }
  }
  return (x) => x;
}

/** Python's keywords (and the constants): shared by unrelated lines, so they are no evidence of the same line. */
const KEYWORDS = new Set(
  "False None True and as assert async await break class continue def del elif else except finally for from global if import in is lambda nonlocal not or pass raise return try while with yield".split(" "),
);
/** Identifiers and attribute names; not the letters inside a number such as 1e-6 or 0x1f. */
const IDENT = /(?<![\p{L}\p{N}_])[\p{L}_][\p{L}\p{N}_]*/gu;
const identifiers = (s: string) => [...new Set(s.match(IDENT) ?? [])].filter((w) => !KEYWORDS.has(w));

/** The line without a trailing comment (a `#` outside a string literal on that line). */
function codePart(line: string): string {
  let quote = "";
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote) {
      if (c === "\\") i++;
      else if (c === quote) quote = "";
    } else if (c === '"' || c === "'") quote = c;
    else if (c === "#") return line.slice(0, i).trimEnd();
  }
  return line;
}

/** Levenshtein distance (insert, delete, substitute: 1 each), by UTF-16 unit. */
function editDistance(a: string, b: string): number {
  if (a === b) return 0;
  if (a.length < b.length) [a, b] = [b, a];
  if (b.length === 0) return a.length;
  let prev = new Uint32Array(b.length + 1);
  let cur = new Uint32Array(b.length + 1);
  for (let j = 0; j <= b.length; j++) prev[j] = j;
  for (let i = 1; i <= a.length; i++) {
    cur[0] = i;
    const ca = a.charCodeAt(i - 1);
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca === b.charCodeAt(j - 1) ? 0 : 1));
    [prev, cur] = [cur, prev];
  }
  return prev[b.length];
}

/** 1 for equal strings, 0 for nothing in common: one minus the edit distance over the longer length. */
const charRatio = (a: string, b: string) => (a.length || b.length ? 1 - editDistance(a, b) / Math.max(a.length, b.length) : 1);
/** The best `charRatio` the pair could have, from the lengths alone (the distance is at least their difference). */
const ratioBound = (a: string, b: string) => (a.length || b.length ? 1 - Math.abs(a.length - b.length) / Math.max(a.length, b.length) : 1);

/** Characters of a line compared for "did you mean": enough for any real line, bounded for a pathological one. */
const COMPARED = 200;
/** Share of the identifiers in a line's score: the same name with another value is the nearest miss. */
const IDENT_WEIGHT = 0.55;
/** Below this a line is not offered at all. */
const MIN_SCORE = 0.35;

/**
 * How alike two sets of identifiers are, 0 to 1: each name counts with its best match on the
 * other side (1 when the same, 0.9 of its character ratio ignoring case when nearly the same, as a
 * typo is; nothing under 0.6), over both sides' names (a line with many other names is less alike).
 */
function identSimilarity(probe: string[], line: string[], ratio: (a: string, b: string) => number): number {
  if (probe.length === 0 || line.length === 0) return 0;
  const best = (w: string, other: string[]) => {
    let b = 0;
    for (const o of other) {
      const r = w === o ? 1 : ratio(w, o);
      if (r > b) b = r;
      if (b === 1) break;
    }
    return b >= 0.6 ? b : 0;
  };
  let sum = 0;
  for (const w of probe) sum += best(w, line);
  for (const w of line) sum += best(w, probe);
  return sum / (probe.length + line.length);
}

interface Candidate {
  whole: string;
  code: string;
  /** the score without the characters: identifiers and containment */
  fixed: number;
  /** the most the score can be */
  bound: number;
  exact?: number;
}

/**
 * The lines of `text` most like the first non-empty line of `old`, numbered, for "did you mean".
 * A line is scored as a whole, indentation and runs of blanks aside: its identifiers (the same
 * name with another value ranks first) and the edit distance of its characters, with and without
 * its trailing comment (so `MATRIX_LR = 0.40` finds `MATRIX_LR = 0.04  # ...`); a line that
 * contains the probe outright ranks above all. Ties go to the earlier line.
 */
export function closestLines(text: string, old: string, count = 3): string[] {
  const probeLine = old.split(/\r?\n/).find((l) => l.trim()) ?? old;
  const probe = cutAt(norm(probeLine), COMPARED);
  if (!probe) return [];
  // Characters are compared ignoring case (a case slip is a typo); the identifiers keep it.
  const lowProbe = probe.toLowerCase();
  const probeCode = norm(codePart(probe));
  // A probe that is all comment is compared by the words of whole lines.
  const byComment = probeCode === "";
  const probeIds = identifiers(byComment ? probe : probeCode);
  const ratios = new Map<string, number>();
  const identRatio = (a: string, b: string) => {
    const key = a < b ? `${a}\0${b}` : `${b}\0${a}`;
    let r = ratios.get(key);
    if (r === undefined) ratios.set(key, (r = 0.9 * charRatio(a.toLowerCase(), b.toLowerCase())));
    return r;
  };
  const charWeight = probeIds.length ? 1 - IDENT_WEIGHT : 1;
  const lines = text.split(/\r?\n/);
  // One score per distinct line (a file of many equal lines costs one comparison); the edit
  // distance, the costly part, is computed only while a line's bound can still reach the top.
  const distinct = new Map<string, Candidate>();
  const at: Candidate[] = [];
  for (const raw of lines) {
    const whole = cutAt(norm(raw), COMPARED);
    let c = distinct.get(whole);
    if (!c) {
      const code = norm(codePart(whole));
      const ids = identSimilarity(probeIds, identifiers(byComment ? whole : code), identRatio);
      const contains = norm(raw).includes(probe) ? 1 : 0;
      const fixed = (probeIds.length ? IDENT_WEIGHT * ids : 0) + contains;
      // A blank line is never offered.
      const lowWhole = whole.toLowerCase();
      const lowCode = code.toLowerCase();
      const bound = whole === "" ? 0 : fixed + charWeight * Math.max(ratioBound(lowProbe, lowWhole), ratioBound(lowProbe, lowCode));
      c = { whole: lowWhole, code: lowCode, fixed, bound };
      distinct.set(whole, c);
    }
    at.push(c);
  }
  const exact = (c: Candidate) => (c.exact ??= c.fixed + charWeight * Math.max(charRatio(lowProbe, c.whole), charRatio(lowProbe, c.code)));
  const order = [...distinct.values()].sort((a, b) => b.bound - a.bound);
  const top: number[] = [];
  for (const c of order) {
    const floor = top.length >= count ? top[count - 1] : MIN_SCORE;
    if (c.bound < floor) break;
    const s = exact(c);
    if (s >= MIN_SCORE) {
      top.push(s);
      top.sort((a, b) => b - a);
      if (top.length > count) top.length = count;
    }
  }
  const scored = at
    .map((c, i) => ({ i, s: c.exact ?? -1 }))
    .filter((x) => x.s >= MIN_SCORE)
    .sort((a, b) => b.s - a.s || a.i - b.i)
    .slice(0, count);
  return scored.map(({ i }) => `${i + 1}: ${cutAt(lines[i], 160)}`);
}

/** `s` cut to at most `max` UTF-16 units without splitting a surrogate pair. */
function cutAt(s: string, max: number): string {
  if (s.length <= max) return s;
  const end = /[\ud800-\udbff]/.test(s[max - 1]) ? max - 1 : max;
  return s.slice(0, end);
}

export interface AppliedPatch {
  text: string;
  /** how each edit matched */
  matches: ("exact" | "whitespace")[];
}

export function applyEdits(original: string, edits: Edit[]): AppliedPatch {
  const crlf = usesCrlf(original);
  const eol = crlf ? "\r\n" : "\n";
  let text = original;
  const matches: ("exact" | "whitespace")[] = [];
  edits.forEach((e, k) => {
    const which = edits.length > 1 ? `edit ${k + 1} of ${edits.length}: ` : "";
    if (typeof e?.old !== "string" || typeof e?.new !== "string") throw new PatchError(`${which}"old" and "new" must both be strings`, "Give each edit as {old, new} with text values.");
    if (e.old.length === 0) throw new PatchError(`${which}"old" is empty`, 'Give the exact text to replace, or pass "content" to replace the whole file.');
    if (e.old === e.new) throw new PatchError(`${which}"old" and "new" are the same`, "Nothing to change; give a different replacement.");
    if (e.old.includes("\0") || e.new.includes("\0")) throw new PatchError(`${which}the text contains a NUL byte`, "Remove NUL bytes from the edit.");
    if (UNPAIRED_SURROGATE.test(e.old) || UNPAIRED_SURROGATE.test(e.new))
      throw new PatchError(`${which}the text contains an unpaired UTF-16 surrogate (not valid Unicode)`, "Send the characters themselves, not half of a surrogate pair.");
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
    const oldLines = significantLines(e.old);
    const tol = tolerantMatches(text, oldLines);
    if (tol.length === 1) {
      const [start, end] = tol[0];
      const fileLines = text.slice(start, end).split("\n").map((l) => (l.endsWith("\r") ? l.slice(0, -1) : l));
      text = text.slice(0, start) + reindent(newT, oldLines, fileLines, eol) + text.slice(end);
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

/** How many places `needle` matches (overlapping ones too), counted up to a bound: "1000+". */
function countAll(hay: string, needle: string, max = 1000): string {
  let n = 0;
  for (let i = hay.indexOf(needle); i >= 0 && n < max; i = hay.indexOf(needle, i + 1)) n++;
  return n >= max ? `${max}+` : String(n);
}

const DIFF_MAX = 16_000;
/** Myers' diff is O(N·D): a whole-file rewrite of a big file must not block the server for minutes. */
const DIFF_TIMEOUT_MS = 500;

/** Lines with their terminators, as the diff library sees them. */
function linesKeepingEol(s: string): string[] {
  return s.match(/[^\n]*\n|[^\n]+$/g) ?? [];
}

/** One hunk: common leading and trailing lines kept as context, everything between replaced. */
function coarsePatch(name: string, before: string, after: string, context: number): StructuredPatch {
  const a = linesKeepingEol(before);
  const b = linesKeepingEol(after);
  let p = 0;
  while (p < a.length && p < b.length && a[p] === b[p]) p++;
  let s = 0;
  while (s < a.length - p && s < b.length - p && a[a.length - 1 - s] === b[b.length - 1 - s]) s++;
  const lo = Math.max(0, p - context);
  const hiA = Math.min(a.length, a.length - s + context);
  const hiB = Math.min(b.length, b.length - s + context);
  const lines: string[] = [];
  const push = (mark: string, l: string) => {
    lines.push(mark + l.replace(/\n$/, ""));
    if (!l.endsWith("\n")) lines.push("\\ No newline at end of file");
  };
  for (let i = lo; i < p; i++) push(" ", a[i]);
  for (let i = p; i < a.length - s; i++) push("-", a[i]);
  for (let i = p; i < b.length - s; i++) push("+", b[i]);
  for (let i = a.length - s; i < hiA; i++) push(" ", a[i]);
  const oldLines = hiA - lo;
  const newLines = hiB - lo;
  // formatPatch itself writes the start one lower for an empty side (the unified-diff quirk).
  const hunks = p === a.length && p === b.length ? [] : [{ oldStart: lo + 1, oldLines, newStart: lo + 1, newLines, lines }];
  return { oldFileName: `a/${name}`, newFileName: `b/${name}`, oldHeader: undefined, newHeader: undefined, hunks };
}

/** A unified diff of `before` → `after` for `name`, bounded in size and in time. */
export function unifiedDiff(name: string, before: string, after: string): { diff: string; added: number; removed: number; truncated: boolean } {
  const patch =
    structuredPatch(`a/${name}`, `b/${name}`, before, after, undefined, undefined, { context: 2, timeout: DIFF_TIMEOUT_MS }) ?? coarsePatch(name, before, after, 2);
  // Count from the hunks, not from the text: a removed line "--x" reads "---x" in the text.
  let added = 0;
  let removed = 0;
  for (const h of patch.hunks)
    for (const l of h.lines) {
      if (l.startsWith("+")) added++;
      else if (l.startsWith("-")) removed++;
    }
  let diff = formatPatch(patch, FILE_HEADERS_ONLY).replace(/\r/g, "");
  const truncated = diff.length > DIFF_MAX;
  if (truncated) {
    const nl = diff.lastIndexOf("\n", DIFF_MAX);
    diff = (nl > DIFF_MAX / 2 ? diff.slice(0, nl) : cutAt(diff, DIFF_MAX)) + `\n… diff cut at ${DIFF_MAX} characters (+${added} -${removed} lines in all)`;
  }
  return { diff, added, removed, truncated };
}
