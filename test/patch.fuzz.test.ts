import { describe, expect, it } from "vitest";
import { applyEdits, PatchError, type Edit } from "../src/patch.js";

/**
 * SPEC §3 (apply_patch): "a fuzz test with thousands of random and adversarial apply_patch inputs
 * (empty, huge, NUL bytes, CRLF/LF mixes, unicode confusables, old matching 0 or 2+ times,
 * overlapping edits): the file is either changed exactly as asked or left byte-identical".
 *
 * applyEdits is pure: "left byte-identical" means it throws a PatchError (nothing else may escape)
 * and the caller writes nothing. "Changed exactly as asked" is checked against an oracle written
 * here from the rules, independently of src/patch.ts:
 *  - the file's line-ending style is CRLF when CRLF breaks are at least as many as lone LF breaks;
 *    `old` and `new` are given that style; the converted `old` must occur exactly once (every
 *    occurrence counts, overlapping ones too), else `old` exactly as given must occur once;
 *  - 2+ occurrences → error; 0 → whitespace-tolerant match of whole lines (ASCII blanks ignored at
 *    the ends and collapsed inside; blank edge lines of `old` dropped); exactly one such window
 *    is replaced, nothing outside its line span changes, the replacement is `new` up to
 *    indentation and whitespace runs; otherwise error;
 *  - empty `old`, `old === new`, NUL bytes and unpaired surrogates → error;
 *  - edits apply in order, each on the previous result; one failure fails the whole call.
 */

function mulberry32(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Rng = () => number;
const int = (r: Rng, n: number) => Math.floor(r() * n);
const pick = <T>(r: Rng, xs: readonly T[]): T => xs[int(r, xs.length)];
const chance = (r: Rng, p: number) => r() < p;

const CONFUSABLES: Record<string, string> = { a: "\u0430", o: "\u03bf", e: "\u0435", "1": "\u0661", " ": "\u00a0", "=": "\uff1d", x: "\u0445" };
const TOKENS = [
  "x", "y", "lr", "LR", "=", "0.04", "1", "(", ")", ":", "def", "return", "for", "in", "range", "print", "#", "steps", "model",
  "λόγος", "学習", "🚀", "👍🏽", "é", "e\u0301", "\u0430", "a", "\u03bf", "o", "\u00a0", "\u200b", "\u3000", "'", '"', "\\", "$&", "$1", "{}", "[]",
];
const RARE = ["\0", "\ufeff", "\r", "\f", "\v"];

function genLine(r: Rng): string {
  const indent = pick(r, ["", "", "    ", "        ", "\t", "  ", " \t"]);
  const n = 1 + int(r, 6);
  const parts: string[] = [];
  for (let i = 0; i < n; i++) parts.push(chance(r, 0.03) ? pick(r, RARE) : pick(r, TOKENS));
  const sep = pick(r, [" ", " ", "", "  ", "\t"]);
  return indent + parts.join(sep) + (chance(r, 0.15) ? pick(r, [" ", "  ", "\t"]) : "");
}

type EolMode = "lf" | "crlf" | "mixed" | "with-cr";
function joinLines(r: Rng, lines: string[], mode: EolMode, finalEol: boolean): string {
  let out = "";
  lines.forEach((l, i) => {
    out += l;
    if (i < lines.length - 1 || finalEol) {
      if (mode === "lf") out += "\n";
      else if (mode === "crlf") out += "\r\n";
      else if (mode === "mixed") out += chance(r, 0.5) ? "\n" : "\r\n";
      else out += pick(r, ["\n", "\r\n", "\r"]);
    }
  });
  return out;
}

function genText(r: Rng): string {
  const k = r();
  if (k < 0.03) return "";
  const mode = pick(r, ["lf", "lf", "crlf", "crlf", "mixed", "with-cr"] as const);
  let count = 1 + int(r, 30);
  if (k > 0.985) count = 3000 + int(r, 3000); // huge: ~100-200 KB
  const lines = Array.from({ length: count }, () => genLine(r));
  // duplicated lines make "2+ matches" likely
  if (chance(r, 0.3) && lines.length > 2) lines.splice(int(r, lines.length), 0, lines[int(r, lines.length)]);
  const text = joinLines(r, lines, mode, chance(r, 0.8));
  return chance(r, 0.03) ? "\ufeff" + text : text;
}

function genNew(r: Rng): string {
  const k = r();
  if (k < 0.08) return "";
  if (k < 0.1) return "x\0y";
  if (k < 0.11) return "bad \ud800 surrogate";
  const lines = Array.from({ length: 1 + int(r, 3) }, () => genLine(r));
  return joinLines(r, lines, pick(r, ["lf", "crlf", "mixed"] as const), chance(r, 0.4));
}

function perturbWhitespace(r: Rng, line: string): string {
  let l = line;
  if (chance(r, 0.5)) l = l.replace(/^[ \t]*/, pick(r, ["", "  ", "    ", "        ", "\t"]));
  if (chance(r, 0.5)) l = l + pick(r, [" ", "   ", "\t"]);
  if (chance(r, 0.4)) l = l.replace(/ /g, "  ");
  return l;
}

function genOld(r: Rng, text: string, prevNew: string | null): string {
  const k = int(r, 12);
  const slice = (t: string) => {
    if (!t) return "x";
    const a = int(r, t.length);
    return t.slice(a, a + 1 + int(r, 40));
  };
  const lines = text.split("\n").map((l) => l.replace(/\r$/, ""));
  switch (k) {
    case 0:
    case 1:
    case 2:
      return slice(text); // exact (may match 1 or 2+ times, may split a surrogate pair)
    case 3:
    case 4: {
      // whole lines with whitespace perturbed (tolerant path)
      const i = int(r, lines.length);
      const n = 1 + int(r, 3);
      return lines.slice(i, i + n).map((l) => perturbWhitespace(r, l)).join(pick(r, ["\n", "\r\n"])) + (chance(r, 0.3) ? "\n" : "");
    }
    case 5: {
      // line endings of the other convention
      const s = slice(text) + (chance(r, 0.5) ? "\n" : "");
      return chance(r, 0.5) ? s.replace(/\r\n/g, "\n") : s.replace(/\r?\n/g, "\r\n");
    }
    case 6:
      return slice(text).replace(/[aoe1 =x]/g, (c) => CONFUSABLES[c] ?? c); // confusables
    case 7:
      return pick(r, ["", "=", "x", " ", "\n", "\r\n", "print", "    ", "\t"]); // empty or very common
    case 8:
      return prevNew ? slice(prevNew) : slice(text); // overlapping / built on the previous edit
    case 9:
      return genLine(r); // random: usually not found
    case 10:
      return pick(r, ["LR\0", "\ud83d", "\udc4d", slice(text) + "\0"]); // NUL, lone surrogates
    default:
      return "\n\n" + (lines[int(r, lines.length)] ?? "") + "\n  \n"; // blank edge lines
  }
}

function genEdits(r: Rng, text: string): Edit[] {
  const n = 1 + (chance(r, 0.6) ? 0 : int(r, 3));
  const edits: Edit[] = [];
  let prevNew: string | null = null;
  for (let i = 0; i < n; i++) {
    const old = genOld(r, text, prevNew);
    const neu = chance(r, 0.04) ? old : chance(r, 0.3) ? old.replace(/\d/g, "7") + "_v2" : genNew(r);
    edits.push({ old, new: neu });
    prevNew = neu;
  }
  return edits;
}

// ------------------------------------------------------------------------------------ oracle

function oracleCrlf(text: string): boolean {
  let crlf = 0;
  let lf = 0;
  for (let i = 0; i < text.length; i++)
    if (text[i] === "\n") {
      if (i > 0 && text[i - 1] === "\r") crlf++;
      else lf++;
    }
  return crlf > 0 && crlf >= lf;
}

function positions(hay: string, needle: string): number[] {
  const out: number[] = [];
  for (let i = 0; i + needle.length <= hay.length; i++) if (hay.startsWith(needle, i)) out.push(i);
  return out;
}

function hasLoneSurrogate(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = s.charCodeAt(i + 1);
      if (!(d >= 0xdc00 && d <= 0xdfff)) return true;
      i++;
    } else if (c >= 0xdc00 && c <= 0xdfff) return true;
  }
  return false;
}

const BLANKS = new Set([" ", "\t", "\f", "\v"]);
function squash(line: string): string {
  let out = "";
  let pendingSpace = false;
  for (const ch of line) {
    if (BLANKS.has(ch)) pendingSpace = out.length > 0;
    else {
      if (pendingSpace) out += " ";
      pendingSpace = false;
      out += ch;
    }
  }
  return out;
}

/** The unique whole-line window of `text` that equals `old` ignoring blanks: [start, end) offsets, or how many windows. */
function tolerantWindow(text: string, old: string): { count: number; start: number; end: number } {
  const want = old.split(/\r?\n/).map(squash);
  while (want.length && want[want.length - 1] === "") want.pop();
  while (want.length && want[0] === "") want.shift();
  if (want.length === 0) return { count: 0, start: -1, end: -1 };
  const base = text.startsWith("\ufeff") ? 1 : 0;
  const raw = text.slice(base).split("\n");
  const starts: number[] = [];
  let off = base;
  for (const l of raw) {
    starts.push(off);
    off += l.length + 1;
  }
  const have = raw.map((l) => squash(l.endsWith("\r") ? l.slice(0, -1) : l));
  let count = 0;
  let start = -1;
  let end = -1;
  for (let i = 0; i + want.length <= raw.length; i++) {
    if (!want.every((w, j) => have[i + j] === w)) continue;
    count++;
    if (count === 1) {
      const last = raw[i + want.length - 1];
      start = starts[i];
      end = starts[i + want.length - 1] + last.length - (last.endsWith("\r") ? 1 : 0);
    }
  }
  return { count, start, end };
}

type Outcome = { kind: "ok"; text: string; matches: string[] } | { kind: "error" } | { kind: "unverified"; why: string };

let tolerantChecked = 0;

function oracle(original: string, edits: Edit[]): Outcome {
  const crlf = oracleCrlf(original);
  const conv = (s: string) => (crlf ? s.replace(/\r?\n/g, "\r\n") : s.replace(/\r\n/g, "\n"));
  let cur = original;
  const matches: string[] = [];
  for (const e of edits) {
    if (e.old === "" || e.old === e.new || e.old.includes("\0") || e.new.includes("\0") || hasLoneSurrogate(e.old) || hasLoneSurrogate(e.new)) return { kind: "error" };
    const oldT = conv(e.old);
    const newT = conv(e.new);
    let needle = oldT;
    let at = positions(cur, needle);
    if (at.length === 0 && oldT !== e.old) at = positions(cur, (needle = e.old));
    if (at.length === 1) {
      cur = cur.slice(0, at[0]) + newT + cur.slice(at[0] + needle.length);
      matches.push("exact");
      continue;
    }
    if (at.length > 1) return { kind: "error" };
    const w = tolerantWindow(cur, e.old);
    if (w.count !== 1) return { kind: "error" };
    // The replacement text of a whitespace match is `new` up to indentation: take it from a
    // single-edit call on the same text (same line-ending style), and check it here.
    if (oracleCrlf(cur) !== crlf) return { kind: "unverified", why: "line-ending majority changed by an earlier edit" };
    const one = applyEdits(cur, [e]);
    expect(one.matches).toEqual(["whitespace"]);
    const tailLen = cur.length - w.end;
    expect(one.text.slice(0, w.start)).toBe(cur.slice(0, w.start)); // nothing before the span changed
    expect(one.text.slice(one.text.length - tailLen)).toBe(cur.slice(w.end)); // nothing after it changed
    const replaced = one.text.slice(w.start, one.text.length - tailLen);
    const wantLines = newT.replace(/^(\r?\n)+|(\r?\n)+$/g, "").split(/\r?\n/).map(squash);
    expect(replaced.split(/\r?\n/).map(squash)).toEqual(wantLines); // `new` up to blanks
    if (crlf) expect(replaced).not.toMatch(/(^|[^\r])\n/);
    else expect(replaced).not.toContain("\r\n");
    tolerantChecked++;
    cur = one.text;
    matches.push("whitespace");
  }
  return { kind: "ok", text: cur, matches };
}

// ------------------------------------------------------------------------------------ the fuzz

describe("applyEdits fuzz (seeded)", () => {
  it("3000 random and adversarial cases: changed exactly as asked, or PatchError and nothing applied", () => {
    const r = mulberry32(0x5eed_2026);
    const tally = { ok: 0, error: 0, unverified: 0, exact: 0, whitespace: 0, huge: 0 };
    for (let n = 0; n < 3000; n++) {
      const original = genText(r);
      if (original.length > 50_000) tally.huge++;
      const snapshot = Buffer.from(original, "utf16le");
      const edits = genEdits(r, original);
      const editsJson = JSON.stringify(edits);
      const want = oracle(original, edits);
      let got: ReturnType<typeof applyEdits> | null = null;
      let err: unknown = null;
      try {
        got = applyEdits(original, edits);
      } catch (e) {
        err = e;
      }
      const ctx = `case ${n}: ${JSON.stringify({ original: original.length > 300 ? `${original.length} chars` : original, edits }).slice(0, 2000)}`;
      // the inputs are never modified
      expect(Buffer.from(original, "utf16le").equals(snapshot), ctx).toBe(true);
      expect(JSON.stringify(edits), ctx).toBe(editsJson);
      if (err !== null) expect(err, ctx).toBeInstanceOf(PatchError);
      if (want.kind === "error") {
        expect(err, ctx).toBeInstanceOf(PatchError);
        tally.error++;
      } else if (want.kind === "ok") {
        expect(err, ctx).toBeNull();
        expect(got!.text, ctx).toBe(want.text);
        expect(got!.matches, ctx).toEqual(want.matches);
        tally.ok++;
        for (const m of want.matches) tally[m as "exact" | "whitespace"]++;
      } else {
        if (got) expect(typeof got.text).toBe("string");
        tally.unverified++;
      }
    }
    // the generator must actually reach every path
    expect(tally.ok).toBeGreaterThan(500);
    expect(tally.error).toBeGreaterThan(500);
    expect(tally.exact).toBeGreaterThan(300);
    expect(tally.whitespace).toBeGreaterThan(100);
    expect(tally.huge).toBeGreaterThan(10);
    expect(tally.unverified).toBeLessThan(30);
    expect(tolerantChecked).toBeGreaterThan(100);
  });

  it("targeted adversarial inputs: 0 matches, 2+ matches and overlaps leave nothing applied", () => {
    const text = "aaaa\r\nbbbb\nab\r\n";
    const cases: Edit[][] = [
      [{ old: "aa", new: "x" }], // overlapping self-matches: 3 places
      [{ old: "zz", new: "x" }],
      [{ old: "ab", new: "ba" }, { old: "ba", new: "ab" }, { old: "aaaa", new: "" }, { old: "aaaa", new: "y" }],
      [{ old: "\r\n", new: "\n" }],
      [{ old: "b\nab", new: "q" }, { old: "q", new: "q" }],
    ];
    for (const edits of cases) {
      expect(() => applyEdits(text, edits)).toThrow(PatchError);
      expect(oracle(text, edits).kind).toBe("error");
    }
  });

  // No timing is asserted (shared machines are noisy): a quadratic match would take hours and hit
  // the suite's test timeout (TEST_MS, 5 minutes; ~4 s here idle), a slow machine does not. A
  // tighter per-test timeout would be a timed assertion: vitest fails a sync test that ran longer.
  it("huge inputs: a 5 MB file and a 1 MB old are handled exactly", () => {
    const big = "x = 1\n".repeat(800_000) + "TARGET = 0\n" + "y = 2\n".repeat(100_000);
    expect(applyEdits(big, [{ old: "TARGET = 0", new: "TARGET = 1" }]).text).toBe(big.replace("TARGET = 0", "TARGET = 1"));
    expect(() => applyEdits(big, [{ old: "x = 1\n".repeat(170_000) + "nope", new: "" }])).toThrow(PatchError);
    expect(() => applyEdits(big, [{ old: "x  =  1", new: "x = 3" }])).toThrow(/several places/);
    // every line the same and an old of 1000 such lines with blanks changed: linear, not lines × old lines
    expect(() => applyEdits(big, [{ old: "x  = 1\n".repeat(1000), new: "" }])).toThrow(/several places when whitespace is ignored/);
    // a needle with 900,000 overlapping matches: the count in the message is bounded
    expect(() => applyEdits(big, [{ old: "x = 1\n", new: "" }])).toThrow(/"old" matches 1000\+ places/);
  });
});
