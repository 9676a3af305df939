import fs from "node:fs";
import { describe, expect, it } from "vitest";
import { applyEdits, closestLines, contentHash, PatchError, unifiedDiff, usesCrlf, type Edit } from "../src/patch.js";

const TRAIN = [
  '"""Tiny train.py."""',
  "import os",
  "",
  "LR = 0.04          # learning rate",
  "DEPTH = 8",
  "",
  "def train():",
  "    steps = 5",
  "    for step in range(steps):",
  '        print(f"step {step}")',
  "    return 1.0",
  "",
  'print("---")',
  "",
].join("\n");

/** Runs applyEdits and returns the thrown PatchError (fails the test when nothing or something else is thrown). */
function patchError(text: string, edits: Edit[]): PatchError {
  try {
    applyEdits(text, edits);
  } catch (e) {
    expect(e).toBeInstanceOf(PatchError);
    return e as PatchError;
  }
  throw new Error("expected a PatchError");
}

describe("applyEdits: exact matches", () => {
  it.each([
    ["unique exact match is replaced in place", [{ old: "LR = 0.04", new: "LR = 0.05" }], TRAIN.replace("LR = 0.04", "LR = 0.05")],
    ["a match in the middle of a line keeps the rest of the line", [{ old: "0.04 ", new: "0.045" }], TRAIN.replace("0.04 ", "0.045")],
    ["multi-line old spanning line breaks", [{ old: "DEPTH = 8\n\ndef", new: "DEPTH = 12\n\ndef" }], TRAIN.replace("DEPTH = 8", "DEPTH = 12")],
    ["empty new deletes the match", [{ old: "DEPTH = 8\n", new: "" }], TRAIN.replace("DEPTH = 8\n", "")],
    [
      "edits apply in order, each on the result of the previous",
      [
        { old: "LR = 0.04", new: "LR = 0.05" },
        { old: "LR = 0.05", new: "LR = 0.06" },
      ],
      TRAIN.replace("LR = 0.04", "LR = 0.06"),
    ],
    [
      "a later edit can match text that an earlier edit created",
      [
        { old: "DEPTH = 8", new: "DEPTH = 8\nWIDTH = 512" },
        { old: "WIDTH = 512", new: "WIDTH = 768" },
      ],
      TRAIN.replace("DEPTH = 8", "DEPTH = 8\nWIDTH = 768"),
    ],
    ["regex metacharacters in old are literal text", [{ old: 'f"step {step}"', new: 'f"s={step}"' }], TRAIN.replace('f"step {step}"', 'f"s={step}"')],
    ["$& and $1 in new are literal text (no replace() patterns)", [{ old: "DEPTH = 8", new: "DEPTH = '$&$1$$'" }], TRAIN.replace("DEPTH = 8", () => "DEPTH = '$&$1$$'")],
  ] as [string, Edit[], string][])("%s", (_rule, edits, expected) => {
    const r = applyEdits(TRAIN, edits);
    expect(r.text).toBe(expected);
    expect(r.matches).toEqual(edits.map(() => "exact"));
  });

  it("no edits leaves the text as it is", () => {
    expect(applyEdits(TRAIN, [])).toEqual({ text: TRAIN, matches: [] });
  });
});

describe("applyEdits: refusals (PatchError, nothing applied)", () => {
  it.each([
    ["empty old is refused", [{ old: "", new: "x" }], /"old" is empty/],
    ["old === new is refused (nothing to change)", [{ old: "LR", new: "LR" }], /are the same/],
    ["a NUL byte in old is refused", [{ old: "LR\0", new: "x" }], /NUL byte/],
    ["a NUL byte in new is refused", [{ old: "LR = 0.04", new: "LR = 0.05\0" }], /NUL byte/],
    ["an unpaired surrogate in new is refused (would be written as U+FFFD)", [{ old: "LR = 0.04", new: "LR = '\ud83d'" }], /unpaired UTF-16 surrogate/],
    ["old matching 2+ places is refused with the count", [{ old: "steps", new: "n" }], /"old" matches 2 places in the file/],
    ["overlapping self-matches count as several places", [{ old: "==", new: "=" }], /matches 2 places/],
    ["old matching nowhere is refused", [{ old: "BATCH = 32", new: "BATCH = 64" }], /"old" was not found in the file/],
  ] as [string, Edit[], RegExp][])("%s", (_rule, edits, message) => {
    const text = edits[0].old === "==" ? "a === b\n" : TRAIN;
    const e = patchError(text, edits);
    expect(e.message).toMatch(message);
    expect(e.hint.length).toBeGreaterThan(0);
  });

  it("a miss says 'did you mean' with the closest lines and their 1-based line numbers", () => {
    const e = patchError(TRAIN, [{ old: "LR = 0.4", new: "LR = 0.5" }]);
    expect(e.message).toMatch(/Did you mean \(line: text\):\n4: LR = 0\.04 {10}# learning rate/);
    expect(e.hint).toMatch(/read_train/);
  });

  it("'did you mean' also finds the line when only the first line of a multi-line old is close", () => {
    const e = patchError(TRAIN, [{ old: "    for step in range(n_steps):\n        pass", new: "x" }]);
    expect(e.message).toMatch(/^9: {5}for step in range\(steps\):$/m);
  });

  it("'did you mean' lists at most 3 lines, each cut at 160 characters", () => {
    const long = Array.from({ length: 10 }, (_, i) => `value_${i} = compute(alpha, beta, gamma) ${"#".repeat(300)}`).join("\n");
    const e = patchError(long, [{ old: "value_x = compute(alpha, beta, gamma, delta)", new: "y" }]);
    const lines = e.message.split("\n").slice(1);
    expect(lines).toHaveLength(3);
    for (const l of lines) expect(l.length).toBeLessThanOrEqual(160 + 4);
  });

  it("all-or-nothing: a failing 2nd edit throws and the caller gets no text", () => {
    let result: unknown = "untouched";
    const e = (() => {
      try {
        result = applyEdits(TRAIN, [
          { old: "LR = 0.04", new: "LR = 0.05" },
          { old: "NOT THERE", new: "x" },
        ]);
      } catch (err) {
        return err;
      }
    })();
    expect(e).toBeInstanceOf(PatchError);
    expect((e as PatchError).message).toMatch(/^edit 2 of 2: "old" was not found/);
    expect(result).toBe("untouched");
  });

  it("the error names which edit failed only when there are several", () => {
    expect(patchError(TRAIN, [{ old: "", new: "x" }]).message).toBe('"old" is empty');
    expect(patchError(TRAIN, [{ old: "LR", new: "L" }, { old: "", new: "x" }]).message).toBe('edit 2 of 2: "old" is empty');
  });

  it("an earlier edit can make a later one ambiguous (sequential semantics)", () => {
    const e = patchError(TRAIN, [
      { old: "DEPTH = 8", new: "DEPTH = 8\nLR = 0.04" },
      { old: "LR = 0.04", new: "LR = 1" },
    ]);
    expect(e.message).toMatch(/edit 2 of 2: "old" matches 2 places/);
  });

  it("PatchError is an Error with name PatchError", () => {
    const e = patchError(TRAIN, [{ old: "nope nope", new: "x" }]);
    expect(e).toBeInstanceOf(Error);
    expect(e.name).toBe("PatchError");
  });
});

describe("applyEdits: whitespace-tolerant fallback (whole lines)", () => {
  it.each([
    [
      "trailing spaces in old differ from the file",
      { old: "DEPTH = 8   \n", new: "DEPTH = 9" },
      TRAIN.replace("DEPTH = 8", "DEPTH = 9"),
    ],
    [
      "runs of inner whitespace differ",
      { old: "    for step   in    range(steps):", new: "    for step in range(steps + 1):" },
      TRAIN.replace("    for step in range(steps):", "    for step in range(steps + 1):"),
    ],
    [
      "indentation of a later line differs (first line matches the file's indentation)",
      { old: "    steps = 5\n  for step   in range(steps):", new: "    steps = 6\n    for step in range(steps):" },
      TRAIN.replace("    steps = 5", "    steps = 6"),
    ],
    [
      "old without indentation: new is shifted by the same missing indentation",
      { old: "steps = 5 \nfor step in range(steps):", new: "steps = 7\nfor step in range(steps):" },
      TRAIN.replace("    steps = 5", "    steps = 7"),
    ],
    [
      "old with too much indentation: new is shifted back by the same amount",
      { old: "        return 1.0 ", new: "        return 2.0" },
      TRAIN.replace("    return 1.0", "    return 2.0"),
    ],
    [
      "blank lines around old are ignored and new's edge line breaks are dropped",
      { old: "\n\nDEPTH  = 8\n\n", new: "\nDEPTH = 10\n" },
      TRAIN.replace("DEPTH = 8", "DEPTH = 10"),
    ],
  ] as [string, Edit, string][])("%s", (_rule, edit, expected) => {
    const r = applyEdits(TRAIN, [edit]);
    expect(r.matches).toEqual(["whitespace"]);
    expect(r.text).toBe(expected);
  });

  it("replaces whole lines: everything outside the matched line span is unchanged", () => {
    const r = applyEdits(TRAIN, [{ old: "LR = 0.04 # learning rate", new: "LR = 0.1" }]);
    expect(r.matches).toEqual(["whitespace"]);
    const before = TRAIN.split("\n");
    const after = r.text.split("\n");
    expect(after[3]).toBe("LR = 0.1");
    expect([...after.slice(0, 3), ...after.slice(4)]).toEqual([...before.slice(0, 3), ...before.slice(4)]);
  });

  it("refuses when the whitespace-insensitive match is ambiguous", () => {
    const text = "if a:\n    x = 1\nif b:\n        x = 1\n";
    expect(patchError(text, [{ old: "x  =  1", new: "x = 2" }]).message).toMatch(/matches several places when whitespace is ignored/);
  });

  it("unicode spaces (NBSP) are not whitespace to Python, so they do not match a plain space", () => {
    const e = patchError("x = 1\n", [{ old: "x\u00a0= 1 ", new: "x = 2" }]);
    expect(e.message).toMatch(/not found/);
  });

  it("a byte order mark at the start of the file survives a whitespace match on line 1", () => {
    const text = "\ufeffimport os  \nx = 1\n";
    const r = applyEdits(text, [{ old: "import os\nx = 1 ", new: "import sys\nx = 2" }]);
    expect(r.matches).toEqual(["whitespace"]);
    expect(r.text).toBe("\ufeffimport sys\nx = 2\n");
  });

  it("tabs against spaces: new takes the file's tabs, so the block does not mix them (a TabError)", () => {
    const text = "def f():\n\tx = 1 \n\ty = 2\n";
    const r = applyEdits(text, [{ old: "    x = 1", new: "    x = 2\n    if x:\n        x = 3" }]);
    expect(r.text).toBe("def f():\n\tx = 2\n\tif x:\n\t\tx = 3\n\ty = 2\n");
  });

  it("an indentation unrelated to the file's stays as given", () => {
    const text = "def f():\n\tx = 1 \n";
    const r = applyEdits(text, [{ old: "    x = 1", new: "  \tx = 2" }]);
    expect(r.text).toBe("def f():\n  \tx = 2\n");
  });
});

/**
 * A model sends `old` at another indentation than the file has, and `new` at the same indentation
 * as its `old`: `new` is moved by the offset the match needed, per indentation level of `old`, its
 * own structure (a line into a block, out of one) kept. Real blocks of bench/fixtures/train.py.
 */
describe("applyEdits: a re-indented block (new moved as old had to be)", () => {
  const BENCH = fs.readFileSync(new URL("../bench/fixtures/train.py", import.meta.url), "utf8");
  const dedent = (block: string, by: number) => block.replace(new RegExp(`^ {${by}}`, "gm"), "");
  const indent = (block: string, by: string) => block.replace(/^(?=.)/gm, by);
  const WINDOWS = [
    "        window_sizes = []",
    "        for layer_idx in range(config.n_layer):",
    "            char = pattern[layer_idx % len(pattern)]",
    "            window_sizes.append(char_to_window[char])",
    "        window_sizes[-1] = (long_window, 0)",
  ].join("\n");
  const WINDOWS_NEW = [
    "        window_sizes = []",
    "        for layer_idx in range(config.n_layer):",
    "            char = pattern[layer_idx % len(pattern)]",
    "            if layer_idx == 0:",
    "                char = \"L\"",
    "            window_sizes.append(char_to_window[char])",
    "        window_sizes[-1] = (long_window, 0)",
    "        assert window_sizes",
  ].join("\n");

  it("the fixture has the block (at 8 spaces, inside a method)", () => {
    expect(BENCH).toContain(WINDOWS + "\n");
  });

  it.each([
    ["old and new dedented to the top level (a level dropped, twice)", dedent(WINDOWS, 8), dedent(WINDOWS_NEW, 8)],
    ["old and new dedented one level", dedent(WINDOWS, 4), dedent(WINDOWS_NEW, 4)],
    ["old and new one level too deep", indent(WINDOWS, "    "), indent(WINDOWS_NEW, "    ")],
    ["old and new with tabs for the file's 4 spaces", WINDOWS.replace(/^( {4})+/gm, (m) => "\t".repeat(m.length / 4)), WINDOWS_NEW.replace(/^( {4})+/gm, (m) => "\t".repeat(m.length / 4))],
    [
      "the first line's indentation left out when copying (and a trailing blank): the rest as in the file",
      WINDOWS.replace(/^ {8}/, "").replace("range(config.n_layer):", "range(config.n_layer):  "),
      WINDOWS_NEW.replace(/^ {8}/, ""),
    ],
    ["old dedented, new already at the file's indentation: new goes in as given", dedent(WINDOWS, 8), WINDOWS_NEW],
  ])("%s", (_case, old, neu) => {
    const r = applyEdits(BENCH, [{ old, new: neu }]);
    expect(r.matches).toEqual(["whitespace"]);
    expect(r.text).toBe(BENCH.replace(WINDOWS, WINDOWS_NEW));
  });

  it("a line of new moved out of old's block keeps that move (relative indentation, not one flat shift)", () => {
    const old = ["for micro_step in range(grad_accum_steps):", "    with autocast_ctx:"].join("\n");
    const neu = ["for micro_step in range(grad_accum_steps):", "    with autocast_ctx:", "        pass", "torch.cuda.synchronize()"].join("\n");
    const r = applyEdits(BENCH, [{ old, new: neu }]);
    const file = ["        for micro_step in range(grad_accum_steps):", "            with autocast_ctx:"].join("\n");
    expect(BENCH).toContain(file + "\n");
    expect(r.text).toBe(BENCH.replace(file, [file, "                pass", "        torch.cuda.synchronize()"].join("\n")));
  });

  it("old too deep, new dedenting a line below old's first: shifted back by the same amount", () => {
    const text = "def f():\n    x = 1\n    return x\n";
    const r = applyEdits(text, [{ old: "        x = 1\n        return x", new: "        x = 2\n        return x\n    \n    y = 3" }]);
    expect(r.text).toBe("def f():\n    x = 2\n    return x\n    \ny = 3\n");
  });
});

describe("applyEdits: line endings and encodings", () => {
  const CRLF = "# -*- coding: utf-8 -*-\r\nLR = 0.04\r\nNAME = 'naïve'\r\n\r\ndef f():\r\n    return 1\r\n";

  it("usesCrlf: majority CRLF is a CRLF file; no line break at all is not", () => {
    expect(usesCrlf(CRLF)).toBe(true);
    expect(usesCrlf("a\nb\n")).toBe(false);
    expect(usesCrlf("abc")).toBe(false);
    expect(usesCrlf("a\r\nb\r\nc\n")).toBe(true);
    expect(usesCrlf("a\r\nb\nc\n")).toBe(false);
  });

  it("an LF old/new applied to a CRLF file keeps CRLF everywhere, every byte outside the edit identical", () => {
    const r = applyEdits(CRLF, [{ old: "LR = 0.04\nNAME", new: "LR = 0.05\nWD = 0.1\nNAME" }]);
    expect(r.text).toBe(CRLF.replace("LR = 0.04\r\nNAME", "LR = 0.05\r\nWD = 0.1\r\nNAME"));
    expect(r.text.replace(/\r\n/g, "")).not.toMatch(/[\r\n]/);
    expect(Buffer.from(r.text, "utf8").equals(Buffer.from(CRLF.replace("LR = 0.04\r\nNAME", "LR = 0.05\r\nWD = 0.1\r\nNAME"), "utf8"))).toBe(true);
  });

  it("a CRLF old/new applied to a CRLF file matches as given", () => {
    const r = applyEdits(CRLF, [{ old: "LR = 0.04\r\n", new: "LR = 0.05\r\n" }]);
    expect(r.text).toBe(CRLF.replace("LR = 0.04", "LR = 0.05"));
  });

  it("a CRLF old/new applied to an LF file keeps the file LF", () => {
    const r = applyEdits(TRAIN, [{ old: "LR = 0.04          # learning rate\r\nDEPTH = 8", new: "LR = 0.05\r\nDEPTH = 9" }]);
    expect(r.text).toBe(TRAIN.replace("LR = 0.04          # learning rate\nDEPTH = 8", "LR = 0.05\nDEPTH = 9"));
    expect(r.text).not.toContain("\r");
  });

  it("whitespace-tolerant match in a CRLF file keeps CRLF inside and outside the replaced lines", () => {
    const r = applyEdits(CRLF, [{ old: "def f():\n  return 1", new: "def f():\n    return 2\n" }]);
    expect(r.matches).toEqual(["whitespace"]);
    expect(r.text).toBe(CRLF.replace("    return 1", "    return 2"));
  });

  it("a mixed file (mostly CRLF, one LF line) can still be edited where the LF line is", () => {
    const mixed = "a = 1\r\nb = 2\nc = 3\r\nd = 4\r\n";
    const r = applyEdits(mixed, [{ old: "b = 2\nc", new: "b = 20\nc" }]);
    // matched exactly as given; the rest of the file is untouched
    expect(r.text.startsWith("a = 1\r\n")).toBe(true);
    expect(r.text.endsWith(" = 3\r\nd = 4\r\n")).toBe(true);
    expect(r.text).toContain("b = 20");
  });

  it.each([
    ["UTF-8 Greek", "ΑΒΓ = 'λόγος'  # σχόλιο\n", "λόγος", "λέξη"],
    ["emoji (surrogate pairs)", "EMOJI = '🚀🔥'\nNEXT = '👍🏽'\n", "🔥", "✨"],
    ["CJK", "# 学習率を設定する\nLR = 0.04  # 学習\n", "学習\n", "学習率\n"],
    ["combining marks and RTL", "NAME = 'e\u0301'  # שלום\n", "שלום", "עולם"],
  ])("non-ASCII (%s) survives byte for byte outside the edit", (_what, text, old, neu) => {
    const r = applyEdits(text, [{ old, new: neu }]);
    const expected = text.replace(old, neu);
    expect(Buffer.from(r.text, "utf8").equals(Buffer.from(expected, "utf8"))).toBe(true);
  });

  it("unicode confusables do not match (Cyrillic а is not Latin a)", () => {
    const e = patchError("batch = 1\n", [{ old: "b\u0430tch = 1", new: "batch = 2" }]);
    expect(e.message).toMatch(/not found/);
  });
});

describe("closestLines", () => {
  it("returns numbered lines most like the first non-empty line of old", () => {
    expect(closestLines(TRAIN, "\n\nDEPTH = 9\n")[0]).toBe("5: DEPTH = 8");
  });
  it("returns nothing when nothing is similar", () => {
    expect(closestLines(TRAIN, "zzz_qqq")).toEqual([]);
  });

  // A near miss of one real line of bench/fixtures/train.py (karpathy-like): that line comes first.
  const BENCH = fs.readFileSync(new URL("../bench/fixtures/train.py", import.meta.url), "utf8");
  const BENCH_LINES = BENCH.split("\n");
  const numbered = (start: string) => {
    const i = BENCH_LINES.findIndex((l) => l.startsWith(start));
    expect(i, start).toBeGreaterThanOrEqual(0);
    return `${i + 1}: ${BENCH_LINES[i]}`;
  };
  it.each([
    ["two digits swapped (the reported case)", "MATRIX_LR = 0.40", "MATRIX_LR = 0.04 "],
    ["spacing around =", "MATRIX_LR=0.04", "MATRIX_LR = 0.04 "],
    ["case of the name", "matrix_lr = 0.04", "MATRIX_LR = 0.04 "],
    ["a typo in the name", "MATRIX_LRR = 0.04", "MATRIX_LR = 0.04 "],
    ["the comment half remembered", "MATRIX_LR  =  0.04 # lr for matrices", "MATRIX_LR = 0.04 "],
    ["a changed number", "DEPTH = 9", "DEPTH = 8 "],
    ["a changed number, a near name next to it (WARMDOWN_RATIO)", "WARMUP_RATIO = 0.1", "WARMUP_RATIO = 0.0 "],
    ["a digit dropped", "SCALAR_LR = 0.05", "SCALAR_LR = 0.5 "],
    ["a changed tuple", "ADAM_BETAS = (0.8, 0.99)", "ADAM_BETAS = (0.8, 0.95)"],
    ["a halved batch size", "DEVICE_BATCH_SIZE = 64", "DEVICE_BATCH_SIZE = 128 "],
    ["a typo in an indented line", "        for micro_step in range(grad_acum_steps):", "        for micro_step in range(grad_accum_steps):"],
    ["wrong indentation and a typo", "loss = loss / grad_acum_steps", "            loss = loss / grad_accum_steps"],
    ["a fragment of a call's arguments", "adam_betas=ADAM_BETAS, matrix_lr=MATRIX_LR", "        adam_betas=ADAM_BETAS, matrix_lr=MATRIX_LR,"],
  ])("%s: %j → that line first", (_case, probe, line) => {
    expect(closestLines(BENCH, probe)[0]).toBe(numbered(line));
  });

  it("MATRIX_LR = 0.40 no longer suggests lines that merely share the number 0 (attn_flops = 0, ...)", () => {
    const got = closestLines(BENCH, "MATRIX_LR = 0.40");
    expect(got[0]).toBe(numbered("MATRIX_LR = 0.04 "));
    for (const l of got) expect(l).toMatch(/LR/);
  });

  it("the same name with another value beats another name with the same value", () => {
    expect(closestLines("LA = 0.04\nLR = 0.5\n", "LR = 0.04")[0]).toBe("2: LR = 0.5");
  });

  it("a line containing old outright comes first; ties go to the earlier line", () => {
    expect(closestLines("x = norm(x)  \ny = norm(x)\nx = norm(x)\n", "x = norm(x); z")).toEqual(["1: x = norm(x)  ", "3: x = norm(x)", "2: y = norm(x)"]);
    expect(closestLines("y = f(a)\nz = f(a, b)\n", "f(a, b")[0]).toBe("2: z = f(a, b)");
  });

  it("keywords are no evidence: 'return x' does not suggest every return", () => {
    expect(closestLines("    return loss\n    return window_sizes\n", "return mystery_value")).toEqual([]);
  });

  // No timing asserted (noisy machines): without the length bound and one score per distinct
  // line this is minutes of edit distances, not a fraction of a second.
  it("a big file of long distinct lines and one of equal lines stay cheap", { timeout: 60_000 }, () => {
    const big = Array.from({ length: 30_000 }, (_, i) => `value_${i} = compute(${"abcdefgh".repeat(20)}, ${i * 7919})`).join("\n");
    expect(closestLines(big, "value_12345 = compute(x)")).toHaveLength(3);
    const same = "x = 1\n".repeat(900_000) + "TARGET = 0\n";
    expect(closestLines(same, "TARGET = 1")[0]).toBe("900001: TARGET = 0");
  });
});

describe("unifiedDiff", () => {
  it("counts added and removed lines of a one-line change", () => {
    const d = unifiedDiff("train.py", TRAIN, TRAIN.replace("DEPTH = 8", "DEPTH = 9"));
    expect(d).toMatchObject({ added: 1, removed: 1, truncated: false });
    expect(d.diff).toMatch(/^--- a\/train\.py$/m);
    expect(d.diff).toMatch(/^\+\+\+ b\/train\.py$/m);
    expect(d.diff).toMatch(/^-DEPTH = 8$/m);
    expect(d.diff).toMatch(/^\+DEPTH = 9$/m);
    expect(d.diff).toMatch(/^@@ -3,5 \+3,5 @@$/m);
  });

  it("counts a removed line that itself starts with '--' (reads '---' in the diff text)", () => {
    const before = '"""\nModule\n------\n++ marker\n"""\nx = 1\n';
    const after = '"""\nModule\n++ changed\n"""\nx = 1\n';
    const d = unifiedDiff("train.py", before, after);
    expect(d.removed).toBe(2);
    expect(d.added).toBe(1);
  });

  it("counts pure additions and pure deletions", () => {
    expect(unifiedDiff("t.py", "a\nb\n", "a\nb\nc\nd\n")).toMatchObject({ added: 2, removed: 0 });
    expect(unifiedDiff("t.py", "a\nb\nc\n", "a\n")).toMatchObject({ added: 0, removed: 2 });
  });

  it("no change gives no hunks and zero counts", () => {
    const d = unifiedDiff("t.py", TRAIN, TRAIN);
    expect(d).toMatchObject({ added: 0, removed: 0, truncated: false });
    expect(d.diff).not.toMatch(/^@@/m);
  });

  it("shows CRLF files without carriage returns", () => {
    const d = unifiedDiff("t.py", "a\r\nb\r\n", "a\r\nc\r\n");
    expect(d.diff).not.toContain("\r");
    expect(d).toMatchObject({ added: 1, removed: 1 });
  });

  it("marks a missing final newline", () => {
    const d = unifiedDiff("t.py", "a\nb", "a\nc");
    expect(d.diff).toContain("\\ No newline at end of file");
    expect(d).toMatchObject({ added: 1, removed: 1 });
  });

  it("truncates a big diff at a line boundary and says how much there was", () => {
    const before = Array.from({ length: 2000 }, (_, i) => `x${i} = ${i}`).join("\n") + "\n";
    const after = before.replace(/= (\d+)/g, "= $1.0");
    const d = unifiedDiff("t.py", before, after);
    expect(d.truncated).toBe(true);
    expect(d).toMatchObject({ added: 2000, removed: 2000 });
    expect(d.diff.length).toBeLessThan(16_200);
    expect(d.diff).toMatch(/\n… diff cut at 16000 characters \(\+2000 -2000 lines in all\)$/);
    const body = d.diff.split("\n… diff cut")[0];
    for (const l of body.split("\n").slice(2)) expect(l).toMatch(/^(@@ .* @@|[-+ ].*)$/);
  });

  // No timing asserted (noisy machines). 200,000 lines so that an unbounded diff (O(N·D), ~2 min
  // at 20,000 lines, ~100× that here) would run for hours and hit the suite's test timeout
  // (TEST_MS, 5 minutes), while the bounded one takes ~1 s idle: a slow machine cannot fail it.
  // (A tight per-test timeout instead would be a timed assertion: vitest fails a sync test that
  // ran longer than its timeout.)
  it("a whole-file rewrite of a big file: bounded diff work, coarse hunk, exact counts", () => {
    const rnd = (seed: number) => Array.from({ length: 200_000 }, (_, i) => `line_${i} = ${((i * 2654435761 + seed) >>> 0).toString(36)}`).join("\n") + "\n";
    const d = unifiedDiff("t.py", rnd(1), rnd(2));
    expect(d.truncated).toBe(true);
    // every line differs except possibly a few: counts stay within the file sizes and are balanced
    expect(d.added).toBeGreaterThan(190_000);
    expect(d.added).toBeLessThanOrEqual(200_000);
    expect(d.removed).toBe(d.added);
  });

  it("does not split an emoji when truncating", () => {
    const before = "x = 0\n";
    const after = "x = '" + "🚀".repeat(20_000) + "'\n";
    const d = unifiedDiff("t.py", before, after);
    expect(d.truncated).toBe(true);
    expect(d.diff).not.toMatch(/[\ud800-\udbff](?![\udc00-\udfff])/);
  });
});

describe("contentHash", () => {
  it("is stable, 16 hex characters, and the same for a string and its UTF-8 bytes", () => {
    const h = contentHash(TRAIN);
    expect(h).toMatch(/^[0-9a-f]{16}$/);
    expect(contentHash(TRAIN)).toBe(h);
    expect(contentHash(Buffer.from(TRAIN, "utf8"))).toBe(h);
    expect(contentHash("")).toBe("e3b0c44298fc1c14");
  });
  it("changes with any byte (CRLF vs LF, one character)", () => {
    expect(contentHash("a\r\n")).not.toBe(contentHash("a\n"));
    expect(contentHash("λ")).not.toBe(contentHash("Λ"));
  });
});
