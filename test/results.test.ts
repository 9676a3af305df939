import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { bestKept } from "../src/rules/policy.js";
import { rowFor } from "../src/session/history.js";
import { appendDurably, ensureHeader, formatRow, headerFor, parseResults, readResults, ResultsLog, sanitizeDescription, type ResultRow, type ResultsView } from "../src/results.js";

const TMP = fs.mkdtempSync(path.join(os.tmpdir(), "arresults-"));
afterAll(() => fs.rmSync(TMP, { recursive: true, force: true }));
let n = 0;
const tmpFile = (content?: string | Buffer) => {
  const f = path.join(TMP, `results-${n++}.tsv`);
  if (content !== undefined) fs.writeFileSync(f, content);
  return f;
};

const HEADER = "commit\tval_bpb\tmemory_gb\tstatus\tdescription\n";
// Rows as karpathy's own results.tsv has them: first commit literally "baseline", descriptions with commas and parentheses.
const KARPATHY = [
  HEADER,
  "baseline\t0.997900\t44.0\tkeep\tbaseline\n",
  "a1b2c3d\t0.993200\t44.2\tkeep\tincrease LR to 0.04 (from 0.02), warmup 5%\n",
  "b2c3d4e\t1.005000\t44.0\tdiscard\tswitch to GeLU, drop ReLU²\n",
  "c3d4e5f\t0.000000\t0.0\tcrash\tdouble model width (OOM)\n",
].join("");

/** Every non-blank data line is either a row or named in a problem. */
function accountedFor(text: string, parsed: ReturnType<typeof parseResults>) {
  const lines = text.replace(/^\ufeff/, "").split(/\r?\n/);
  lines.forEach((l, i) => {
    if (!l.trim() || (parsed.header && i === 0)) return;
    const line = i + 1;
    const asRow = parsed.rows.some((r) => r.line === line);
    const asProblem = parsed.problems.some((p) => p.includes(`line ${line} `) || p.includes(`line ${line}:`));
    expect(asRow || asProblem, `line ${line}: ${JSON.stringify(l)}`).toBe(true);
  });
}

describe("parseResults", () => {
  it("reads karpathy-style rows: literal 'baseline' commit, commas and parentheses in descriptions", () => {
    const r = parseResults(KARPATHY);
    expect(r.header).toEqual(headerFor("val_bpb"));
    expect(r.problems).toEqual([]);
    expect(r.partialLastLine).toBe(false);
    expect(r.rows.map((x) => [x.line, x.commit, x.value, x.memoryGb, x.status, x.description])).toEqual([
      [2, "baseline", 0.9979, 44, "keep", "baseline"],
      [3, "a1b2c3d", 0.9932, 44.2, "keep", "increase LR to 0.04 (from 0.02), warmup 5%"],
      [4, "b2c3d4e", 1.005, 44, "discard", "switch to GeLU, drop ReLU²"],
      [5, "c3d4e5f", 0, 0, "crash", "double model width (OOM)"],
    ]);
  });

  it("keeps valueText exactly as written (the tsv package must not decide what a float is)", () => {
    const r = parseResults(HEADER + "a\t0.997900\t44.0\tkeep\tx\nb\t1e-3\t007\tdiscard\ty\nc\t0.10\t1\tdiscard\tz\n");
    expect(r.rows.map((x) => [x.valueText, x.value, x.memoryText, x.memoryGb])).toEqual([
      ["0.997900", 0.9979, "44.0", 44],
      ["1e-3", 0.001, "007", 7],
      ["0.10", 0.1, "1", 1],
    ]);
  });

  it.each([
    ["missing header: rows still read, problem reported", "a1b2c3d\t0.99\t44.0\tkeep\tx\n", /header row is missing/, 1],
    ["wrong header (other metric name): it is still the header, problem reported", "commit\tval_loss\tmemory_gb\tstatus\tdescription\na\t1\t2\tkeep\td\n", /header is "commit \| val_loss/, 1],
    ["a header with another first column is not read as a data row", "hash\tval_bpb\tmem\tstatus\tdesc\na\t1\t2\tkeep\td\n", /header is "hash/, 1],
    ["CRLF line endings", KARPATHY.replace(/\n/g, "\r\n"), /CRLF/, 4],
    ["extra columns are read into the description", HEADER + "a\t0.99\t44.0\tkeep\tdesc\textra\n", /line 2 has 6 fields/, 1],
    ["a partial last line (no final newline)", HEADER + "a\t0.99\t44.0\tkeep\tdesc\nb\t0.98", /line 3 has no final newline/, 1],
    ["nan value", HEADER + "a\tnan\t44.0\tcrash\tboom\n", /line 2: val_bpb "nan" is not a number/, 1],
    ["unknown status", HEADER + "a\t0.99\t44.0\tkept\tx\n", /status "kept" is not keep, discard or crash/, 1],
    ["a row with 4 fields has no description", HEADER + "a\t0.99\t44.0\tkeep\n", /line 2 has 4 fields: no description/, 1],
    ["a row with too few fields is skipped and reported", HEADER + "a\t0.99\n", /line 2 has 2 field\(s\), expected 5/, 0],
    ["a byte order mark in front of the header", "\ufeff" + KARPATHY, /byte order mark/, 4],
  ])("%s", (_rule, text, problem, rows) => {
    const r = parseResults(text);
    expect(r.problems.join("\n")).toMatch(problem);
    expect(r.rows).toHaveLength(rows);
    accountedFor(text, r);
  });

  it("blank lines are skipped and line numbers stay the file's", () => {
    const text = HEADER + "\n" + "a\t0.99\t44.0\tkeep\tx\n" + "   \n\n" + "b\t0.98\t44.0\tkeep\ty\n";
    const r = parseResults(text);
    expect(r.problems).toEqual([]);
    expect(r.rows.map((x) => x.line)).toEqual([3, 6]);
  });

  it("a header after leading blank lines is still the header", () => {
    const r = parseResults("\n\n" + KARPATHY);
    expect(r.header).toEqual(headerFor("val_bpb"));
    expect(r.rows).toHaveLength(4);
    expect(r.rows.map((x) => x.commit)).not.toContain("commit");
  });

  it("nothing lost in a messy file: every data line is a row or a problem", () => {
    const text = "\ufeffcommit\tval_bpb\tmemory_gb\tstatus\tdescription\r\n\r\nbaseline\t0.997900\t44.0\tkeep\tbaseline\r\njunk\r\nx\tnan\t1\tweird\ta\tb\tc\r\n\ty\t\t\t\r\nlast\t0.9\t1.0\tkeep";
    const r = parseResults(text);
    accountedFor(text, r);
    expect(r.partialLastLine).toBe(true);
  });

  it("empty text: no header, no rows, no problems", () => {
    expect(parseResults("")).toEqual({ header: null, rows: [], problems: [], partialLastLine: false });
  });
});

describe("readResults", () => {
  it("a missing file", () => {
    expect(readResults(path.join(TMP, "none.tsv"))).toMatchObject({ exists: false, rows: [], sizeBytes: 0 });
  });
  it("sizeBytes is the file's byte size, also with invalid UTF-8", () => {
    const buf = Buffer.concat([Buffer.from(KARPATHY), Buffer.from([0xff, 0xfe, 0x0a])]);
    const f = tmpFile(buf);
    expect(readResults(f).sizeBytes).toBe(buf.length);
  });
});

describe("formatRow", () => {
  it.each([
    ["val_bpb %.6f, memory %.1f, 7-char commit", { commit: "a1b2c3d4e5f6", value: 0.99789, memoryGb: 44.04, status: "keep", description: "more LR" }, "a1b2c3d\t0.997890\t44.0\tkeep\tmore LR\n"],
    ["rounding of %.6f and %.1f", { commit: "abcdef0", value: 1.0000004, memoryGb: 43.96, status: "discard", description: "x" }, "abcdef0\t1.000000\t44.0\tdiscard\tx\n"],
    ["a crash is 0.000000 and 0.0 whatever the values", { commit: "abcdef0", value: 1.5, memoryGb: 12.3, status: "crash", description: "OOM" }, "abcdef0\t0.000000\t0.0\tcrash\tOOM\n"],
    ["null value/memory → zeros", { commit: "abcdef0", value: null, memoryGb: null, status: "discard", description: "timed out" }, "abcdef0\t0.000000\t0.0\tdiscard\ttimed out\n"],
    ["NaN value → zeros", { commit: "abcdef0", value: NaN, memoryGb: Infinity, status: "discard", description: "nan" }, "abcdef0\t0.000000\t0.0\tdiscard\tnan\n"],
    ["tabs, newlines, CR and control characters in the description become spaces", { commit: "abcdef0", value: 1, memoryGb: 1, status: "keep", description: "a\tb\nc\r\nd\u0000e\u001bf\u0085g\u2028h" }, "abcdef0\t1.000000\t1.0\tkeep\ta b c d e f g h\n"],
    ["a commit with whitespace cannot break the row", { commit: "ab\ncd\tef0123", value: 1, memoryGb: 1, status: "keep", description: "x" }, "abcdef0\t1.000000\t1.0\tkeep\tx\n"],
  ] as const)("%s", (_rule, row, want) => {
    expect(formatRow({ ...row })).toBe(want);
  });

  it("a 1 MB description is capped (one row, one line, bounded)", () => {
    const row = formatRow({ commit: "abcdef0", value: 1, memoryGb: 1, status: "keep", description: "word ".repeat(200_000) + "\n".repeat(1000) });
    expect(row.length).toBeLessThan(300);
    expect(row.split("\n")).toHaveLength(2);
    expect(row.split("\t")).toHaveLength(5);
    expect(row.trimEnd().endsWith("…")).toBe(true);
  });

  it("the cap never splits an emoji into a lone surrogate", () => {
    for (let pad = 0; pad < 4; pad++) {
      const d = sanitizeDescription("x".repeat(pad) + "🚀".repeat(300));
      expect(d).not.toMatch(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/);
      expect(d.length).toBeLessThanOrEqual(200);
    }
  });

  it("formatRow's output parses back to the same values", () => {
    const row = formatRow({ commit: "a1b2c3d", value: 0.9932, memoryGb: 44.2, status: "keep", description: "LR 0.04, (warmup)" });
    const r = parseResults(HEADER + row);
    expect(r.problems).toEqual([]);
    expect(r.rows[0]).toMatchObject({ commit: "a1b2c3d", valueText: "0.993200", value: 0.9932, memoryGb: 44.2, status: "keep", description: "LR 0.04, (warmup)" });
  });
});

describe("appendDurably / ensureHeader", () => {
  it("appendDurably on a file without a final newline adds one first: rows are never glued", () => {
    const f = tmpFile(HEADER + "baseline\t0.997900\t44.0\tkeep\tbaseline");
    appendDurably(f, "a1b2c3d\t0.990000\t44.0\tkeep\tx\n");
    const text = fs.readFileSync(f, "utf8");
    expect(text).toBe(HEADER + "baseline\t0.997900\t44.0\tkeep\tbaseline\na1b2c3d\t0.990000\t44.0\tkeep\tx\n");
    expect(parseResults(text).rows).toHaveLength(2);
  });

  it("appendDurably on a file with a final newline adds nothing extra", () => {
    const f = tmpFile(HEADER);
    appendDurably(f, "a\t1.000000\t1.0\tkeep\tx\n");
    appendDurably(f, "b\t1.000000\t1.0\tkeep\ty\n");
    expect(fs.readFileSync(f, "utf8")).toBe(HEADER + "a\t1.000000\t1.0\tkeep\tx\nb\t1.000000\t1.0\tkeep\ty\n");
  });

  it("appendDurably creates a missing file", () => {
    const f = tmpFile();
    appendDurably(f, "x\n");
    expect(fs.readFileSync(f, "utf8")).toBe("x\n");
  });

  it("ensureHeader writes the header into a missing or empty file", () => {
    const missing = tmpFile();
    expect(ensureHeader(missing, "val_bpb")).toBe(true);
    expect(fs.readFileSync(missing, "utf8")).toBe(HEADER);
    const empty = tmpFile("");
    expect(ensureHeader(empty, "val_loss")).toBe(true);
    expect(fs.readFileSync(empty, "utf8")).toBe("commit\tval_loss\tmemory_gb\tstatus\tdescription\n");
  });

  it("ensureHeader does not touch a non-empty file (not even one without a header)", () => {
    const f = tmpFile("a\t1\t1\tkeep\tx");
    const before = fs.statSync(f).mtimeMs;
    expect(ensureHeader(f, "val_bpb")).toBe(false);
    expect(fs.readFileSync(f, "utf8")).toBe("a\t1\t1\tkeep\tx");
    expect(fs.statSync(f).mtimeMs).toBe(before);
  });
});

describe("the policy on parsed rows (rules/policy.ts, session/history.ts)", () => {
  const rows = parseResults(KARPATHY).rows;
  it("bestKept is the best kept value (here the last keep: keeps only improve)", () => {
    expect(bestKept(rows, "min")?.commit).toBe("a1b2c3d");
    expect(bestKept(rows.filter((r) => r.status !== "keep"), "min")).toBeNull();
  });
  it("rowFor gives a commit's last row, or its keep when it was ever kept", () => {
    expect(rowFor(rows, "b2c3d4e")?.status).toBe("discard");
    expect(rowFor(rows, "zzzzzzz")).toBeNull();
    const rerun = parseResults(`commit\tval_bpb\tmemory_gb\tstatus\tdescription\nabc1234\t0.9\t1.0\tkeep\tx\nabc1234\t0.95\t1.0\tdiscard\tnoise check\n`).rows;
    expect(rowFor(rerun, "abc1234")?.status).toBe("keep");
  });
});

describe("ResultsLog: parsed once, then kept in step with the file", () => {
  const ROW = (c: string, v: string, st = "discard", d = "try") => `${c}\t${v}\t44.0\t${st}\t${d}\n`;
  const summaryOf = (rows: ResultRow[]) => {
    const counts = { keep: 0, discard: 0, crash: 0, other: 0 };
    for (const r of rows) counts[r.status === "keep" || r.status === "discard" || r.status === "crash" ? r.status : "other"]++;
    return { counts, keeps: rows.filter((r) => r.status === "keep" && Number.isFinite(r.value)), lastKeep: rows.map((r) => r.status).lastIndexOf("keep") };
  };
  /** The view is what a full read of the file gives, and its summary matches its rows. */
  const sameAsFullRead = (v: ResultsView, f: string) => {
    const { summary, ...file } = v;
    expect(file).toEqual(readResults(f));
    expect(summary).toEqual(summaryOf(v.rows));
  };
  /** A later mtime, as an editor saving a second later leaves it (the kernel's clock is coarse). */
  const touchLater = (f: string) => {
    const t = fs.statSync(f).mtime.getTime() / 1000 + 2;
    fs.utimesSync(f, t, t);
  };

  it("an append of its own is parsed from the bytes written, without reading the file", () => {
    const f = tmpFile(KARPATHY);
    const log = new ResultsLog(f);
    sameAsFullRead(log.read(), f);
    expect(log.last.how).toBe("full");
    log.append(ROW("d4e5f6a", "0.990000", "keep", "better"));
    expect(log.last).toEqual({ how: "own-append", bytesRead: 0 });
    const v = log.read();
    expect(log.last.how).toBe("cached");
    sameAsFullRead(v, f);
    expect(v.rows.at(-1)).toMatchObject({ line: 6, commit: "d4e5f6a", value: 0.99, status: "keep" });
    expect(v.summary.counts).toEqual({ keep: 3, discard: 1, crash: 1, other: 0 });
    expect(v.summary.lastKeep).toBe(4);
  });

  it("its own append after a hand-written partial last line: the newline goes first, the line is whole", () => {
    const f = tmpFile(HEADER + "baseline\t0.997900\t44.0\tkeep\tbaseline");
    const log = new ResultsLog(f);
    expect(log.read().problems.join("\n")).toMatch(/line 2 has no final newline/);
    log.append(ROW("a1b2c3d", "0.990000"));
    expect(log.last.how).toBe("own-append");
    const v = log.read();
    sameAsFullRead(v, f);
    expect(v.problems).toEqual([]);
    expect(v.rows.map((r) => r.line)).toEqual([2, 3]);
  });

  it("an append behind its back (printf >>) is parsed from the new bytes only, once", () => {
    const f = tmpFile(KARPATHY);
    const log = new ResultsLog(f);
    log.read();
    fs.appendFileSync(f, ROW("e5f6a7b", "1.010000") + ROW("f6a7b8c", "nan", "crash", "boom"));
    const v = log.read();
    expect(log.last.how).toBe("append");
    sameAsFullRead(v, f);
    expect(v.problems.join("\n")).toMatch(/line 7: val_bpb "nan" is not a number/);
    expect(log.read()).toBe(v);
    expect(log.last.how).toBe("cached");
  });

  it("a partial last line that grows into a whole one, and rows after it", () => {
    const f = tmpFile(KARPATHY);
    const log = new ResultsLog(f);
    log.read();
    fs.appendFileSync(f, "e5f6a7b\t1.01");
    let v = log.read();
    sameAsFullRead(v, f);
    expect(v.partialLastLine).toBe(true);
    expect(v.problems.join("\n")).toMatch(/line 6 has no final newline/);
    fs.appendFileSync(f, "0000\t44.0\tdiscard\tslower\n" + ROW("f6a7b8c", "1.020000"));
    v = log.read();
    expect(log.last.how).toBe("append");
    sameAsFullRead(v, f);
    expect(v.partialLastLine).toBe(false);
    expect(v.rows.at(-2)).toMatchObject({ line: 6, valueText: "1.010000", description: "slower" });
  });

  it("a truncation behind its back is a full re-read", () => {
    const f = tmpFile(KARPATHY);
    const log = new ResultsLog(f);
    log.read();
    fs.truncateSync(f, KARPATHY.lastIndexOf("c3d4e5f"));
    const v = log.read();
    expect(log.last.how).toBe("full");
    sameAsFullRead(v, f);
    expect(v.rows).toHaveLength(3);
  });

  it("a row changed in place with the same size is found (mtime changed): full re-read", () => {
    const f = tmpFile(KARPATHY);
    const log = new ResultsLog(f);
    log.read();
    fs.writeFileSync(f, KARPATHY.replace("1.005000\t44.0\tdiscard", "0.985000\t44.0\tdiscard"));
    touchLater(f);
    const v = log.read();
    expect(log.last.how).toBe("full");
    sameAsFullRead(v, f);
    expect(v.rows[2].value).toBe(0.985);
  });

  it("an editor that changed an early row and added one at the end (same inode, larger) is not taken for an append", () => {
    // Early enough that the changed bytes are far from the old end of the file.
    const many = HEADER + Array.from({ length: 200 }, (_, i) => ROW(`a${String(i).padStart(6, "0")}`, "1.000000", i === 3 ? "keep" : "discard", `idea ${i}`)).join("");
    const f = tmpFile(many);
    const ino = fs.statSync(f).ino;
    const log = new ResultsLog(f);
    expect(log.read().summary.counts.keep).toBe(1);
    fs.writeFileSync(f, many.replace("keep\tidea 3\n", "discard\tidea 3 (noise)\n") + ROW("b0000001", "1.000000"));
    expect(fs.statSync(f).ino).toBe(ino);
    const v = log.read();
    expect(log.last.how).toBe("full");
    sameAsFullRead(v, f);
    expect(v.summary.counts).toEqual({ keep: 0, discard: 201, crash: 0, other: 0 });
    expect(v.summary.lastKeep).toBe(-1);
  });

  it("a file replaced by another (rename, sed -i) is a full re-read; a deleted one is missing", () => {
    const f = tmpFile(KARPATHY);
    const log = new ResultsLog(f);
    log.read();
    const other = tmpFile(KARPATHY + ROW("a0a0a0a", "1.100000"));
    fs.renameSync(other, f);
    sameAsFullRead(log.read(), f);
    expect(log.last.how).toBe("full");
    fs.rmSync(f);
    expect(log.read()).toMatchObject({ exists: false, rows: [], problems: [], sizeBytes: 0 });
    fs.writeFileSync(f, HEADER);
    sameAsFullRead(log.read(), f);
    expect(log.last.how).toBe("full");
  });

  it("a byte order mark, CRLF and a partial line stay reported in a full parse's order across appends", () => {
    const f = tmpFile("\ufeff" + KARPATHY.replace(/\n/g, "\r\n").replace(/\r\n$/, ""));
    const log = new ResultsLog(f);
    sameAsFullRead(log.read(), f);
    log.append(ROW("d4e5f6a", "0.990000", "kept"));
    const v = log.read();
    sameAsFullRead(v, f);
    expect(v.problems[0]).toMatch(/byte order mark/);
    expect(v.problems[1]).toMatch(/CRLF/);
    expect(v.problems.join("\n")).toMatch(/line 6: status "kept"/);
  });

  it("a view handed out earlier does not change when rows are appended", () => {
    const f = tmpFile(KARPATHY);
    const log = new ResultsLog(f);
    const before = log.read();
    const rows = before.rows.slice();
    const counts = { ...before.summary.counts };
    log.append(ROW("d4e5f6a", "0.990000", "keep"));
    fs.appendFileSync(f, ROW("e5f6a7b", "0.980000", "keep"));
    expect(log.read().rows).toHaveLength(6);
    expect(before.rows).toEqual(rows);
    expect(before.summary.counts).toEqual(counts);
    expect(before.summary.keeps).toHaveLength(2);
  });

  it("an unreadable file throws (the caller reports it); once readable again it is read whole", () => {
    const f = tmpFile(KARPATHY);
    const log = new ResultsLog(f);
    log.read();
    fs.rmSync(f);
    fs.mkdirSync(f);
    expect(() => log.read()).toThrow(/EISDIR/);
    expect(() => log.append(ROW("d4e5f6a", "0.990000"))).toThrow(/EISDIR|is not a regular file/);
    fs.rmdirSync(f);
    fs.writeFileSync(f, KARPATHY);
    sameAsFullRead(log.read(), f);
    expect(log.last.how).toBe("full");
  });

  it("fuzz: any bytes, appended in any pieces, by it or behind its back, read as a full parse reads them", () => {
    let seed = 12345;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    const atoms = ["\n", "\r\n", "\r", "\t", "keep", "discard", "crash", "commit", "status", "0.99", "nan", " ", "é", "\ufeff", "a1b2c3d"];
    const bytes = () => {
      const parts: Buffer[] = [];
      // now and then a byte of a cut or invalid UTF-8 sequence
      for (let i = rnd(12); i >= 0; i--) parts.push(rnd(10) === 0 ? Buffer.from([[0xe2, 0x82, 0xff, 0x80][rnd(4)]]) : Buffer.from(atoms[rnd(atoms.length)]));
      return Buffer.concat(parts);
    };
    for (let round = 0; round < 25; round++) {
      const f = tmpFile(rnd(3) === 0 ? "" : bytes());
      const log = new ResultsLog(f);
      for (let step = 0; step < 12; step++) {
        if (rnd(3) === 0) log.append(formatRow({ commit: "abc1234", value: rnd(2) ? 0.99 : null, memoryGb: 1, status: (["keep", "discard", "crash"] as const)[rnd(3)], description: "x" }));
        else fs.appendFileSync(f, bytes());
        sameAsFullRead(log.read(), f);
      }
    }
  });
});
