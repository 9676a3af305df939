import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { execFileSync, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { classifyCrash, findSummary, isProgressRecord, latestRecord, parseLogFile, splitRecords, tailRecords } from "../src/metrics.js";

const LOGS = fileURLToPath(new URL("./fixtures/logs/", import.meta.url));
const fixture = (name: string) => path.join(LOGS, name);
const TMP = fs.mkdtempSync(path.join(os.tmpdir(), "armetrics-"));
afterAll(() => fs.rmSync(TMP, { recursive: true, force: true }));

let n = 0;
function tmpLog(content: string | Buffer): string {
  const f = path.join(TMP, `log-${n++}.log`);
  fs.writeFileSync(f, content);
  return f;
}

const SUMMARY = [
  "---",
  "val_bpb:          0.997900",
  "training_seconds: 300.1",
  "total_seconds:    325.9",
  "peak_vram_mb:     45060.2",
  "mfu_percent:      39.80",
  "total_tokens_M:   499.6",
  "num_steps:        953",
  "num_params_M:     50.3",
  "depth:            8",
  "",
].join("\n");

const KARPATHY_METRICS = {
  val_bpb: 0.9979,
  training_seconds: 300.1,
  total_seconds: 325.9,
  peak_vram_mb: 45060.2,
  mfu_percent: 39.8,
  total_tokens_M: 499.6,
  num_steps: 953,
  num_params_M: 50.3,
  depth: 8,
};

const progress = (step: number, total = 953) =>
  `\rstep ${String(step).padStart(5, "0")} (${((100 * step) / total).toFixed(1)}%) | loss: 3.2 | lrm: 0.5 | dt: 300ms | tok/sec: 1,000 | mfu: 39.8% | epoch: 1 | remaining: ${total - step}s    `;
const progressRun = (count: number) => Array.from({ length: count }, (_, i) => progress(i, count - 1)).join("");

describe("parseLogFile: karpathy's summary block", () => {
  it("reads every key of the summary (values at column 19) after ~1000 \\r progress records on ONE physical line", () => {
    const r = parseLogFile(fixture("karpathy-run.log"), "val_bpb");
    // the fixture really is one physical line of progress of ~110 KB
    const physical = fs.readFileSync(fixture("karpathy-run.log"), "utf8").split("\n");
    expect(Math.max(...physical.map((l) => l.length))).toBeGreaterThan(100_000);
    expect(r.metrics).toEqual(KARPATHY_METRICS);
    expect(r.hasMetric).toBe(true);
    expect(r.lastProgress).toMatch(/^step 00953 \(100\.0%\) \| loss: 3\.2 .*remaining: 0s$/);
    expect(r.sizeBytes).toBe(fs.statSync(fixture("karpathy-run.log")).size);
  });

  it("the summary printed twice: the last one wins, and keys only in the first copy do not leak", () => {
    const r = parseLogFile(fixture("summary-twice.log"), "val_bpb");
    expect(r.metrics.val_bpb).toBe(0.9979);
    expect(r.metrics).not.toHaveProperty("first_only");
  });

  it("the summary printed twice with no separator: the second copy wins", () => {
    const r = parseLogFile(fixture("summary-twice-no-separator.log"), "val_bpb");
    expect(r.metrics).toEqual(KARPATHY_METRICS);
  });

  it("val_bpb: nan → hasMetric false (the value is kept as NaN)", () => {
    const r = parseLogFile(fixture("nan.log"), "val_bpb");
    expect(r.hasMetric).toBe(false);
    expect(r.metrics.val_bpb).toBeNaN();
    expect(r.metrics.peak_vram_mb).toBe(45060.2);
  });

  it.each([
    ["inf", Infinity],
    ["-inf", -Infinity],
  ])("val_bpb: %s → hasMetric false", (v, num) => {
    const r = parseLogFile(tmpLog(SUMMARY.replace("0.997900", v)), "val_bpb");
    expect(r.hasMetric).toBe(false);
    expect(r.metrics.val_bpb).toBe(num);
  });

  it("another metric key (config metric.name) is found the same way", () => {
    const r = parseLogFile(tmpLog("---\nval_loss:         2.5\npeak_vram_mb:     100.0\n"), "val_loss");
    expect(r).toMatchObject({ hasMetric: true, metrics: { val_loss: 2.5, peak_vram_mb: 100 } });
  });

  it("non-numeric values stay text", () => {
    const r = parseLogFile(tmpLog("---\nval_bpb:          0.99\ndevice:           cuda:0 (H100)\n"), "val_bpb");
    expect(r.metrics).toEqual({ val_bpb: 0.99, device: "cuda:0 (H100)" });
  });

  it("a key mentioned inside a progress record does not count as the summary", () => {
    const r = parseLogFile(tmpLog(progress(1) + "eval val_bpb: 1.0 (partial)" + progress(2) + "\n"), "val_bpb");
    expect(r.hasMetric).toBe(false);
  });
});

describe("parseLogFile: crashes and odd logs", () => {
  it("no val_bpb → hasMetric false and a tail of at most 50 records", () => {
    const r = parseLogFile(tmpLog(progressRun(400) + "\nTraceback (most recent call last):\nRuntimeError: boom\n"), "val_bpb");
    expect(r.hasMetric).toBe(false);
    expect(r.metrics).toEqual({});
    expect(r.tail.length).toBe(50);
    expect(r.tail[r.tail.length - 1]).toBe("RuntimeError: boom");
    expect(r.tail[r.tail.length - 2]).toBe("Traceback (most recent call last):");
    expect(r.tail[0]).toMatch(/^step 00352 /);
  });

  it("FAIL printed right after a \\r record (train.py's NaN fast-fail) is classified as exploding loss", () => {
    const r = parseLogFile(fixture("fail.log"), "val_bpb");
    expect(r.hasMetric).toBe(false);
    expect(r.tail[r.tail.length - 1]).toMatch(/loss: nan .* {4}FAIL$/);
    expect(classifyCrash(r.tail, { code: 1, signal: null, timedOut: false })).toBe("loss exploded (NaN): train.py printed FAIL");
  });

  it("FAIL on a line of its own is classified too; the word FAIL inside a message is not", () => {
    expect(classifyCrash(["step 1", "FAIL"], { code: 1, signal: null, timedOut: false })).toMatch(/loss exploded/);
    expect(classifyCrash(["RuntimeError: test FAIL"], { code: 1, signal: null, timedOut: false })).toBe("RuntimeError: test FAIL");
  });

  it("a CUDA OOM traceback is classified as out of memory", () => {
    const r = parseLogFile(fixture("oom.log"), "val_bpb");
    expect(r.hasMetric).toBe(false);
    expect(classifyCrash(r.tail, { code: 1, signal: null, timedOut: false })).toBe("out of memory (OOM)");
  });

  it("a SyntaxError is classified with its message", () => {
    const r = parseLogFile(fixture("syntax-error.log"), "val_bpb");
    expect(classifyCrash(r.tail, { code: 1, signal: null, timedOut: false })).toBe("SyntaxError: '(' was never closed");
  });

  it.each([
    ["a timeout beats everything", ["CUDA out of memory"], { code: null, signal: "SIGKILL", timedOut: true }, "killed at the hard time limit"],
    ["a cancel", [], { code: null, signal: "SIGTERM", timedOut: false, cancelled: true }, "cancelled"],
    ["the last exception of a traceback", ["ValueError: a", "During handling...", "KeyError: 'b'"], { code: 1, signal: null, timedOut: false }, "KeyError: 'b'"],
    ["a signal without output", [], { code: null, signal: "SIGSEGV", timedOut: false }, "killed by signal SIGSEGV"],
    ["an exit code without output", [], { code: 3, signal: null, timedOut: false }, "exited with code 3"],
    ["a clean exit without a summary", [], { code: 0, signal: null, timedOut: false }, "no summary block in the log"],
  ] as const)("classifyCrash: %s", (_rule, tail, exit, want) => {
    expect(classifyCrash([...tail], exit)).toBe(want);
  });

  it("invalid UTF-8 and NUL bytes in the log do not hide the summary", () => {
    const junk = Buffer.from([0xff, 0xfe, 0xc3, 0x28, 0xe2, 0x82, 0x0a, 0x00, 0x00, 0x0a]);
    const r = parseLogFile(tmpLog(Buffer.concat([Buffer.from(progressRun(20)), junk, Buffer.from("\n"), Buffer.from(SUMMARY)])), "val_bpb");
    expect(r.metrics).toEqual(KARPATHY_METRICS);
  });

  it("NUL bytes glued in front of the summary on the same record (truncated-under-writer log) are ignored", () => {
    const r = parseLogFile(tmpLog(Buffer.concat([Buffer.from(progressRun(3) + "\n---\n"), Buffer.alloc(4096), Buffer.from(SUMMARY.slice(4))])), "val_bpb");
    expect(r.metrics).toEqual(KARPATHY_METRICS);
  });

  it("invalid UTF-8 in a crash tail becomes U+FFFD and control characters/ANSI colours are removed", () => {
    const r = parseLogFile(tmpLog(Buffer.concat([Buffer.from("\x1b[31mError\x1b[0m: bad \x07bell "), Buffer.from([0xff]), Buffer.from("\n")])), "val_bpb");
    expect(r.tail).toEqual(["Error: bad bell \ufffd"]);
  });

  it("a log without a final newline still parses", () => {
    const r = parseLogFile(tmpLog(progressRun(5) + "\n" + SUMMARY.trimEnd()), "val_bpb");
    expect(r.metrics).toEqual(KARPATHY_METRICS);
  });

  it("CRLF line breaks (a log written on Windows) parse the same", () => {
    const r = parseLogFile(tmpLog((progressRun(5) + "\n" + SUMMARY).replace(/\n/g, "\r\n")), "val_bpb");
    expect(r.metrics).toEqual(KARPATHY_METRICS);
  });

  it("an empty log: no metric, empty tail, no progress", () => {
    expect(parseLogFile(tmpLog(""), "val_bpb")).toEqual({ metrics: {}, hasMetric: false, tail: [], lastProgress: null, sizeBytes: 0 });
  });

  it("a missing log: no metric, empty tail", () => {
    expect(parseLogFile(path.join(TMP, "nope.log"), "val_bpb")).toEqual({ metrics: {}, hasMetric: false, tail: [], lastProgress: null, sizeBytes: 0 });
  });

  it("a FIFO in place of the log is refused at once instead of blocking the server", () => {
    const fifo = path.join(TMP, "fifo.log");
    execFileSync("mkfifo", [fifo]);
    // If a regression makes the open block, this writer unblocks it after 5 s so the test fails
    // instead of hanging the suite (a blocked open cannot be interrupted by vitest's timeout).
    const rescuer = spawn("sh", ["-c", `sleep 5; : > "$1"`, "sh", fifo], { stdio: "ignore" });
    try {
      expect(() => parseLogFile(fifo, "val_bpb")).toThrow(/not a regular file/);
      expect(latestRecord(fifo)).toBeNull();
    } finally {
      rescuer.kill("SIGKILL");
    }
  });
});

describe("tail records: capped in count and bytes", () => {
  it("at most 50 records", () => {
    const recs = Array.from({ length: 500 }, (_, i) => `line ${i}`);
    const t = tailRecords(recs);
    expect(t).toHaveLength(50);
    expect(t[0]).toBe("line 450");
    expect(t[49]).toBe("line 499");
  });

  it("each record at most ~400 characters, cut in the middle", () => {
    const t = tailRecords(["a".repeat(300) + "b".repeat(5000) + "c".repeat(300)]);
    expect(t[0].length).toBeLessThanOrEqual(420);
    expect(t[0]).toMatch(/^a{200} …\[cut\]… c{200}$/);
  });

  it("the whole tail at most 12,000 UTF-8 bytes, also for multi-byte text", () => {
    const t = tailRecords(Array.from({ length: 50 }, () => "学".repeat(390)));
    const bytes = t.reduce((s, r) => s + Buffer.byteLength(r) + 1, 0);
    expect(bytes).toBeLessThanOrEqual(12_000);
    expect(t.length).toBeGreaterThan(5);
  });

  it("does not split an emoji when cutting a long record", () => {
    const t = tailRecords(["🚀".repeat(1000)]);
    expect(t[0]).not.toMatch(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/);
  });

  it("a crash after a 10 MB progress line: the tail is small", () => {
    const f = tmpLog("x".repeat(10 << 20) + "\nTraceback (most recent call last):\nRuntimeError: boom\n");
    const r = parseLogFile(f, "val_bpb");
    expect(r.tail.slice(-2)).toEqual(["Traceback (most recent call last):", "RuntimeError: boom"]);
    expect(r.tail.reduce((s, x) => s + Buffer.byteLength(x) + 1, 0)).toBeLessThanOrEqual(12_000);
  });

  it("splitRecords splits on \\n, \\r and \\r\\n", () => {
    expect(splitRecords("a\rb\nc\r\nd")).toEqual(["a", "b", "c", "d"]);
  });

  it("isProgressRecord recognises karpathy's records", () => {
    expect(isProgressRecord(progress(3).slice(1))).toBe(true);
    expect(isProgressRecord("val_bpb: 1.0")).toBe(false);
  });

  it("findSummary on records directly", () => {
    expect(findSummary(splitRecords(SUMMARY), "val_bpb")).toEqual(KARPATHY_METRICS);
    expect(findSummary(["nothing here"], "val_bpb")).toBeNull();
  });
});

describe("big logs: read from the end, never whole", () => {
  const rssGrowth = (fn: () => void) => {
    globalThis.gc?.();
    const before = process.memoryUsage().rss;
    fn();
    return process.memoryUsage().rss - before;
  };

  it("a ~200 MB log with the summary at the end parses with small memory growth", () => {
    const f = path.join(TMP, "big.log");
    const mb = Buffer.from(progressRun(10_000).slice(0, 1 << 20));
    const fd = fs.openSync(f, "w");
    try {
      for (let i = 0; i < 200; i++) fs.writeSync(fd, mb);
      fs.writeSync(fd, "\n" + SUMMARY);
    } finally {
      fs.closeSync(fd);
    }
    expect(fs.statSync(f).size).toBeGreaterThan(200 << 20);
    let r: ReturnType<typeof parseLogFile> | null = null;
    const grew = rssGrowth(() => (r = parseLogFile(f, "val_bpb")));
    fs.rmSync(f);
    expect(r!.metrics).toEqual(KARPATHY_METRICS);
    expect(r!.sizeBytes).toBeGreaterThan(200 << 20);
    expect(grew).toBeLessThan(64 << 20);
  });

  it("a 10 MB line without a newline right before the summary", () => {
    const f = path.join(TMP, "longline.log");
    fs.writeFileSync(f, Buffer.concat([Buffer.alloc(10 << 20, "y"), Buffer.from("---\n" + SUMMARY.slice(4))]));
    let r: ReturnType<typeof parseLogFile> | null = null;
    const grew = rssGrowth(() => (r = parseLogFile(f, "val_bpb")));
    fs.rmSync(f);
    // "---" is glued to the long line; the key/value block is still the summary
    expect(r!.metrics).toEqual(KARPATHY_METRICS);
    expect(grew).toBeLessThan(64 << 20);
  });

  it("a 40 MB crash log without a summary: looks back a bounded amount and returns the tail", () => {
    const f = path.join(TMP, "crash.log");
    const chunk = Buffer.from(progressRun(10_000).slice(0, 1 << 20));
    expect(chunk.length).toBe(1 << 20);
    const fd = fs.openSync(f, "w");
    for (let i = 0; i < 40; i++) fs.writeSync(fd, chunk);
    fs.writeSync(fd, "\nRuntimeError: late crash\n");
    fs.closeSync(fd);
    const r = parseLogFile(f, "val_bpb");
    fs.rmSync(f);
    expect(r.hasMetric).toBe(false);
    expect(r.tail[r.tail.length - 1]).toBe("RuntimeError: late crash");
    expect(r.tail.length).toBeLessThanOrEqual(50);
  });
});

describe("latestRecord", () => {
  it("is the last non-empty \\r record of a running log, trimmed", () => {
    expect(latestRecord(tmpLog(progressRun(100)))).toMatch(/^step 00099 \(100\.0%\) .*remaining: 0s$/);
  });
  it("skips trailing blank records", () => {
    expect(latestRecord(tmpLog("hello\n\n\r   \n"))).toBe("hello");
  });
  it("is null for a missing or empty log", () => {
    expect(latestRecord(path.join(TMP, "missing.log"))).toBeNull();
    expect(latestRecord(tmpLog(""))).toBeNull();
  });
  it("is at most 200 characters", () => {
    expect(latestRecord(tmpLog("z".repeat(1000) + "\n"))!.length).toBeLessThanOrEqual(200);
  });
  it("one record longer than the window: its end is shown, marked as cut, instead of nothing", () => {
    const r = latestRecord(tmpLog("a".repeat(20_000) + "END"));
    expect(r).toMatch(/^….*aEND$/);
    expect(r!.length).toBeLessThanOrEqual(200);
  });
  it("reads only the end of a big log", () => {
    const f = tmpLog(Buffer.concat([Buffer.alloc(30 << 20, "q"), Buffer.from("\rstep 00001 | loss: 1.0    ")]));
    expect(latestRecord(f)).toBe("step 00001 | loss: 1.0");
    fs.rmSync(f);
  });
});

describe("parseLogFile searches raw bytes for the metric key and decodes only around it", () => {
  /** What parseLogFile means, read the slow way: the whole log decoded and split (fine for logs under 256 KiB). */
  function reference(file: string, key: string) {
    const records = splitRecords(new TextDecoder().decode(fs.readFileSync(file)));
    const metrics = findSummary(records, key) ?? {};
    const v = metrics[key];
    const prog = [...records].reverse().map((r) => r.trim()).find((r) => r && isProgressRecord(r));
    return { metrics, hasMetric: typeof v === "number" && Number.isFinite(v), tail: tailRecords(records), lastProgress: prog ? tailRecords([prog])[0] : null, sizeBytes: fs.statSync(file).size };
  }

  // mulberry32: the same logs on every run
  function rng(seed: number) {
    return () => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  it("gives what decoding the whole log gives, on 200 random hostile logs (fuzz, fixed seed)", () => {
    const rand = rng(20241);
    const pick = <T,>(xs: T[]) => xs[Math.floor(rand() * xs.length)];
    const big = () => Math.floor(rand() * 30_000);
    const parts: (() => string | Buffer)[] = [
      () => progress(Math.floor(rand() * 900)),
      () => `${pick(["val_bpb", "peak_vram_mb", "depth", "num_steps", "val_bpbx", "xval_bpb"])}:${pick(["", " ", "   "])}${pick(["0.5", "1.25", "nan", "abc", "", "-inf", "3e-2"])}`,
      () => "---",
      () => "eval val_bpb: 1.0 (partial)",
      () => "val_bpb:val_bpb: 2.5",
      () => "\x1b[32mval_bpb:\x1b[0m 0.75",
      () => "\x1b]0;title\x07val_bpb: 0.8",
      () => "\x1b[0m" + " ".repeat(300) + "val_bpb: 0.85",
      () => "\t val_bpb: 0.9",
      () => "\ufeffval_bpb: 0.95",
      () => Buffer.concat([Buffer.alloc(pick([10, 300, 20_000])), Buffer.from("val_bpb: 0.6")]),
      // (a long `xxx…xval_bpb: 0.7` would be a key/value record of its own, and a block with a
      // neighbour longer than the 8 KiB decoded around the key is cut there by design)
      () => "x".repeat(big()) + pick(["", "-val_bpb: 0.7", " val_bpb: 0.7"]),
      () => Buffer.from([0xff, 0xfe, 0xe4, 0xb8, 0x61, 0xc3]),
      () => "Traceback (most recent call last):",
      () => "RuntimeError: boom 学 🚀",
      () => "",
    ];
    const seps = ["\n", "\r", "\r\n", "\n\n"];
    for (let i = 0; i < 200; i++) {
      const chunks: Buffer[] = [];
      const count = 1 + Math.floor(rand() * 40);
      let bytes = 0;
      for (let j = 0; j < count && bytes < 100_000; j++) {
        const p = pick(parts)();
        const b = typeof p === "string" ? Buffer.from(p) : p;
        chunks.push(b, Buffer.from(pick(seps)));
        bytes += b.length + 2;
      }
      if (rand() < 0.3) chunks.push(Buffer.from(SUMMARY));
      if (rand() < 0.3) chunks.pop();
      const f = path.join(TMP, "fuzz.log");
      fs.writeFileSync(f, Buffer.concat(chunks));
      const want = reference(f, "val_bpb");
      const got = parseLogFile(f, "val_bpb");
      // compared field by field, shortened: a failing log can be megabytes
      for (const k of Object.keys(want) as (keyof typeof want)[]) {
        const [g, w] = [JSON.stringify(got[k]), JSON.stringify(want[k])];
        if (g !== w) expect(`log ${i} ${k}: ${g.slice(0, 300)}`).toBe(`log ${i} ${k}: ${w.slice(0, 300)}`);
      }
    }
  });

  it("a key split across the first and second read from the end is found", () => {
    for (const shift of [-1, 0, 1, 3, 6, 7, 8]) {
      // "val_bpb" starts `shift` bytes before the boundary of the first 64 KiB read from the end
      const fromKey = (64 << 10) + shift;
      const summary = SUMMARY.slice(4);
      const f = tmpLog(progressRun(50) + "\n---\n" + summary + "\n" + "y".repeat(fromKey - summary.length - 1));
      expect(parseLogFile(f, "val_bpb").metrics, `shift ${shift}`).toEqual(KARPATHY_METRICS);
    }
  });

  it("a key record glued to a 1 MB NUL run (a log truncated under its writer) is still the summary", () => {
    const f = tmpLog(Buffer.concat([Buffer.from(progressRun(5) + "\n---\n"), Buffer.alloc(1 << 20), Buffer.from(SUMMARY.slice(4))]));
    expect(parseLogFile(f, "val_bpb").metrics).toEqual(KARPATHY_METRICS);
  });

  it("thousands of non-key hits of the key (and one real summary before them) stay fast and correct", () => {
    const noise = ["eval val_bpb: 1.0 (partial)", "\x1b[31mval_bpb:\x1b[0m", "x val_bpb: 2"].join("\r");
    const f = tmpLog(progressRun(5) + "\n" + SUMMARY + (noise + "\r").repeat(60_000));
    expect(fs.statSync(f).size).toBeGreaterThan(2 << 20);
    const r = parseLogFile(f, "val_bpb");
    expect(r.metrics).toEqual(KARPATHY_METRICS);
    expect(r.tail.length).toBe(50);
  });

  it("a key that is not an identifier never matches (as the key: value pattern needs one)", () => {
    expect(parseLogFile(tmpLog("---\nval bpb: 1.0\n"), "val bpb").hasMetric).toBe(false);
  });

  it("polling a growing 64 MB log without a summary keeps memory flat", () => {
    const f = path.join(TMP, "flood.log");
    const chunk = Buffer.from(("\rstep 00001 (0.1%) | loss: 3.2 | \xff\xfe \x00 | dt: 314ms    ").repeat(20_000)).subarray(0, 1 << 20);
    const fd = fs.openSync(f, "w");
    for (let i = 0; i < 64; i++) fs.writeSync(fd, chunk);
    fs.closeSync(fd);
    parseLogFile(f, "val_bpb");
    globalThis.gc?.();
    const before = process.memoryUsage().rss;
    let r: ReturnType<typeof parseLogFile> | null = null;
    for (let i = 0; i < 50; i++) r = parseLogFile(f, "val_bpb");
    const grew = process.memoryUsage().rss - before;
    fs.rmSync(f);
    expect(r!.hasMetric).toBe(false);
    expect(r!.lastProgress).toMatch(/^step 00001/);
    expect(grew).toBeLessThan(32 << 20);
  });
});
