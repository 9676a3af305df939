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
const TAIL_BYTES_MAX = 12_000;
const KV = /^([A-Za-z_][A-Za-z0-9_]*):[ \t]*(\S.*?)\s*$/;

const decoder = () => new TextDecoder("utf-8", { fatal: false });

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

function shorten(rec: string): string {
  const r = rec.replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, "");
  return r.length > TAIL_RECORD_MAX ? r.slice(0, TAIL_RECORD_MAX / 2) + " …[cut]… " + r.slice(-TAIL_RECORD_MAX / 2) : r;
}

/** The last `n` non-empty records of `records`, each shortened, bounded in bytes overall. */
export function tailRecords(records: string[], n = TAIL_RECORDS): string[] {
  const out: string[] = [];
  let bytes = 0;
  for (let i = records.length - 1; i >= 0 && out.length < n; i--) {
    const rec = records[i].trimEnd();
    if (!rec.trim()) continue;
    const s = shorten(rec);
    bytes += s.length + 1;
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
  const metricRe = new RegExp(`^${metricKey}:`);
  let idx = -1;
  for (let i = records.length - 1; i >= 0; i--) {
    if (metricRe.test(records[i].trim())) {
      idx = i;
      break;
    }
  }
  if (idx < 0) return null;
  let start = idx;
  while (start > 0 && KV.test(records[start - 1].trim())) start--;
  let end = idx;
  while (end + 1 < records.length && KV.test(records[end + 1].trim())) end++;
  const out: Record<string, number | string> = {};
  for (let i = start; i <= end; i++) {
    const m = KV.exec(records[i].trim());
    if (m) out[m[1]] = parseValue(m[2]);
  }
  return out;
}

export function isProgressRecord(rec: string): boolean {
  return /^\s*step\s+\d+/i.test(rec) || /\|\s*(loss|remaining|dt)\b/.test(rec);
}

/** Parses a log file from its end. A missing or empty log parses as "no metric, empty tail". */
export function parseLogFile(file: string, metricKey: string): ParsedLog {
  let fd: number;
  try {
    fd = fs.openSync(file, "r");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return { metrics: {}, hasMetric: false, tail: [], lastProgress: null, sizeBytes: 0 };
    throw e;
  }
  try {
    const size = fs.fstatSync(fd).size;
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
  let fd: number;
  try {
    fd = fs.openSync(file, "r");
  } catch {
    return null;
  }
  try {
    const size = fs.fstatSync(fd).size;
    if (size === 0) return null;
    const records = splitRecords(decoder().decode(readEnd(fd, size, bytes)));
    if (size > bytes) records.shift();
    for (let i = records.length - 1; i >= 0; i--) {
      const r = records[i].trim();
      if (r) return shorten(r).slice(0, 200);
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
  if (/^FAIL\s*$/m.test(text)) return "loss exploded (NaN): train.py printed FAIL";
  const syn = /^\s*(SyntaxError|IndentationError|TabError): (.*)$/m.exec(text);
  if (syn) return `${syn[1]}: ${syn[2]}`.slice(0, 200);
  const exc = [...text.matchAll(/^\s*([A-Za-z_][\w.]*(?:Error|Exception|Interrupt|Exit)|AssertionError)(?::\s*(.*))?$/gm)].pop();
  if (exc) return `${exc[1]}${exc[2] ? `: ${exc[2]}` : ""}`.slice(0, 200);
  if (exit.signal) return `killed by signal ${exit.signal}`;
  if (exit.code !== null && exit.code !== 0) return `exited with code ${exit.code}`;
  return "no summary block in the log";
}
