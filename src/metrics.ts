import fs from "node:fs";

/**
 * Reading training logs. Logs can be gigabytes and karpathy's train.py writes its progress as
 * `\r`-separated records without newlines (a whole run is one physical line of ~120 KB), so the
 * log is read from its end in bounded chunks and split into records on both `\n` and `\r`.
 * Nothing here reads a whole log into memory.
 */

export interface ParsedLog {
  /** every `key: value` of the last summary block; numbers where the value is numeric */
  metrics: Record<string, number | string>;
  /** true when the summary block holds a finite value for the metric key */
  hasMetric: boolean;
  /** last records of the log (crash diagnosis), bounded in count and bytes */
  tail: string[];
  /** the last progress record (a `\r` record or a `step ...` line), if any */
  lastProgress: string | null;
  sizeBytes: number;
}

const CHUNK = 1 << 20;
/** How far back from the end the summary block is looked for. */
const MAX_SCAN = 16 << 20;
const TAIL_RECORDS = 50;
const TAIL_RECORD_MAX = 400;
/** UTF-8 bytes of the whole tail (clients cut tool output near 25-50 KB). */
const TAIL_BYTES_MAX = 12_000;
const KV = /^([A-Za-z_][A-Za-z0-9_]*):[ \t]*(\S.*?)\s*$/;
/** ANSI escape sequences (colours, cursor moves) and control characters other than tab. */
const ANSI = /\x1b(?:\[[0-9;?]*[ -\/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])/g;
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f]/g;
const clean = (rec: string) => rec.replace(ANSI, "").replace(CONTROL, "");

const decoder = () => new TextDecoder("utf-8", { fatal: false });

/**
 * Opens a log for reading without ever blocking: a FIFO or device in place of the log would hang
 * a plain open(2) until a writer appears. Returns null when the file does not exist.
 */
function openLog(file: string): { fd: number; size: number } | null {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw e;
  }
  const st = fs.fstatSync(fd);
  if (!st.isFile()) {
    fs.closeSync(fd);
    throw new Error(`${file} is not a regular file`);
  }
  return { fd, size: st.size };
}

/** Reads up to `bytes` from the end of the file. */
function readEnd(fd: number, size: number, bytes: number): Buffer {
  const len = Math.min(size, bytes);
  const buf = Buffer.alloc(len);
  let got = 0;
  while (got < len) {
    const n = fs.readSync(fd, buf, got, len - got, size - len + got);
    if (n === 0) break;
    got += n;
  }
  return buf.subarray(0, got);
}

export function splitRecords(text: string): string[] {
  return text.split(/\r\n|\r|\n/);
}

/** `s` cut to its first/last `n` UTF-16 units without splitting a surrogate pair. */
const head = (s: string, n: number) => s.slice(0, /[\ud800-\udbff]/.test(s[n - 1] ?? "") ? n - 1 : n);
const end = (s: string, n: number) => s.slice(/[\udc00-\udfff]/.test(s[s.length - n] ?? "") ? s.length - n + 1 : s.length - n);

function shorten(rec: string): string {
  const r = clean(rec);
  return r.length > TAIL_RECORD_MAX ? head(r, TAIL_RECORD_MAX / 2) + " …[cut]… " + end(r, TAIL_RECORD_MAX / 2) : r;
}

/** The last `n` non-empty records of `records`, each shortened, bounded in bytes overall. */
export function tailRecords(records: string[], n = TAIL_RECORDS): string[] {
  const out: string[] = [];
  let bytes = 0;
  for (let i = records.length - 1; i >= 0 && out.length < n; i--) {
    const rec = records[i].trimEnd();
    if (!rec.trim()) continue;
    const s = shorten(rec);
    if (!s.trim()) continue;
    bytes += Buffer.byteLength(s) + 1;
    if (bytes > TAIL_BYTES_MAX) break;
    out.push(s);
  }
  return out.reverse();
}

function parseValue(v: string): number | string {
  if (/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(v)) return Number(v);
  if (/^[+-]?(nan|inf|infinity)$/i.test(v)) return Number(v.toLowerCase().includes("nan") ? NaN : v.startsWith("-") ? -Infinity : Infinity);
  return v;
}

/**
 * Finds the last summary block in `records`: the key/value records after the last `---` record
 * that contains `metricKey`; when no such `---` exists, the last run of key/value records that
 * contains it. A summary printed twice yields the second one.
 */
export function findSummary(records: string[], metricKey: string): Record<string, number | string> | null {
  // NUL runs (a log truncated under a writer that keeps its offset) and colour codes may sit in
  // front of a key on the same record: they are not part of it.
  const kv = (i: number) => KV.exec(clean(records[i]).trim());
  let idx = -1;
  for (let i = records.length - 1; i >= 0; i--) {
    if (records[i].includes(metricKey) && kv(i)?.[1] === metricKey) {
      idx = i;
      break;
    }
  }
  if (idx < 0) return null;
  // The block is the run of key/value records around the metric; a key seen twice means an
  // earlier copy of the summary (printed twice with no separator), which must not leak in.
  const seen = new Set<string>([metricKey]);
  let stop = idx;
  for (let m; stop + 1 < records.length && (m = kv(stop + 1)) && !seen.has(m[1]); stop++) seen.add(m[1]);
  let start = idx;
  for (let m; start > 0 && (m = kv(start - 1)) && !seen.has(m[1]); start--) seen.add(m[1]);
  const out: Record<string, number | string> = {};
  for (let i = start; i <= stop; i++) {
    const m = kv(i);
    if (m) out[m[1]] = parseValue(m[2]);
  }
  return out;
}

export function isProgressRecord(rec: string): boolean {
  return /^\s*step\s+\d+/i.test(rec) || /\|\s*(loss|remaining|dt)\b/.test(rec);
}

/** Parses a log file from its end. A missing or empty log parses as "no metric, empty tail". */
export function parseLogFile(file: string, metricKey: string): ParsedLog {
  const log = openLog(file);
  if (!log) return { metrics: {}, hasMetric: false, tail: [], lastProgress: null, sizeBytes: 0 };
  const { fd, size } = log;
  try {
    let window = Math.min(size, CHUNK);
    for (;;) {
      const text = decoder().decode(readEnd(fd, size, window));
      const records = splitRecords(text);
      // The first record of a partial window may be cut: drop it unless the window is the file.
      if (window < size) records.shift();
      const summary = findSummary(records, metricKey);
      if (summary || window >= Math.min(size, MAX_SCAN)) {
        const metrics = summary ?? {};
        const v = metrics[metricKey];
        return {
          metrics,
          hasMetric: typeof v === "number" && Number.isFinite(v),
          tail: tailRecords(records),
          lastProgress: lastProgressIn(records),
          sizeBytes: size,
        };
      }
      window = Math.min(size, window * 4, MAX_SCAN);
    }
  } finally {
    fs.closeSync(fd);
  }
}

function lastProgressIn(records: string[]): string | null {
  for (let i = records.length - 1; i >= 0; i--) {
    const r = records[i].trim();
    if (r && isProgressRecord(r)) return shorten(r);
  }
  return null;
}

/** The latest non-empty record at the end of a log (what a progress notification shows). */
export function latestRecord(file: string, bytes = 8192): string | null {
  let log: { fd: number; size: number } | null;
  try {
    log = openLog(file);
  } catch {
    return null;
  }
  if (!log) return null;
  const { fd, size } = log;
  try {
    if (size === 0) return null;
    const records = splitRecords(decoder().decode(readEnd(fd, size, bytes)));
    // The first record of a partial window may be cut; keep it only when it is all there is
    // (one record longer than the window), marked as cut.
    if (size > bytes) {
      const first = records.shift()!;
      if (!records.some((r) => clean(r).trim())) records.push(`…${first}`);
    }
    for (let i = records.length - 1; i >= 0; i--) {
      const r = clean(records[i]).trim();
      if (r && r !== "…") return r.length > 200 ? (r.startsWith("…") ? "…" + end(r, 199) : head(r, 200)) : r;
    }
    return null;
  } finally {
    fs.closeSync(fd);
  }
}

/** Recognisable crash reasons, from the log tail and how the process ended. */
export function classifyCrash(tail: string[], exit: { code: number | null; signal: string | null; timedOut: boolean; cancelled?: boolean }): string {
  if (exit.timedOut) return "killed at the hard time limit";
  if (exit.cancelled) return "cancelled";
  const text = tail.join("\n");
  if (/CUDA out of memory|OutOfMemoryError|CUBLAS_STATUS_ALLOC_FAILED|out of memory/i.test(text)) return "out of memory (OOM)";
  // train.py prints FAIL right after a `\r` progress record written with end="", so FAIL usually
  // ends a progress record rather than standing on a line of its own.
  if (tail.some((r) => r.trim() === "FAIL" || (isProgressRecord(r) && /\sFAIL\s*$/.test(r)))) return "loss exploded (NaN): train.py printed FAIL";
  const syn = /^\s*(SyntaxError|IndentationError|TabError): (.*)$/m.exec(text);
  if (syn) return `${syn[1]}: ${syn[2]}`.slice(0, 200);
  const exc = [...text.matchAll(/^\s*([A-Za-z_][\w.]*(?:Error|Exception|Interrupt|Exit)|AssertionError)(?::\s*(.*))?$/gm)].pop();
  if (exc) return `${exc[1]}${exc[2] ? `: ${exc[2]}` : ""}`.slice(0, 200);
  if (exit.signal) return `killed by signal ${exit.signal}`;
  if (exit.code !== null && exit.code !== 0) return `exited with code ${exit.code}`;
  return "no summary block in the log";
}
