import fs from "node:fs";
import { openPlainFile } from "./paths.js";

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

/** Reads of the backward search for the metric key (the first one smaller: the summary is usually at the end). */
const CHUNK = 1 << 20;
const FIRST_CHUNK = 64 << 10;
/** How far back from the end the summary block is looked for. */
const MAX_SCAN = 16 << 20;
/**
 * Bytes at the end of the log that the tail and the last progress record come from; the last
 * FIRST_TAIL bytes are tried first (decoding a \r storm with invalid UTF-8 costs ~1 ms per 64 KiB).
 */
const TAIL_WINDOW = 256 << 10;
const FIRST_TAIL = 16 << 10;
/** Bytes decoded on each side of a plausible hit of the metric key (the summary block is ~10 short lines). */
const AROUND = 8 << 10;
/** Bytes before a hit of the key that are looked at raw to rule it out without decoding. */
const PREFIX_PEEK = 256;
const TAIL_RECORDS = 50;
const TAIL_RECORD_MAX = 400;
/** UTF-8 bytes of the whole tail (clients cut tool output near 25-50 KB). */
const TAIL_BYTES_MAX = 12_000;
const KV = /^([A-Za-z_][A-Za-z0-9_]*):[ \t]*(\S.*?)\s*$/;
/** ANSI escape sequences (colours, cursor moves) and control characters other than tab. */
const ANSI = /\x1b(?:\[[0-9;?]*[ -\/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])/g;
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f]/g;
const clean = (rec: string) => rec.replace(ANSI, "").replace(CONTROL, "");

/** Invalid bytes become U+FFFD; a decode without `stream` keeps no state between calls. */
const UTF8 = new TextDecoder("utf-8", { fatal: false });
const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;
const LF = 0x0a;
const CR = 0x0d;
const ESC = 0x1b;
const COLON = 0x3a;

// Buffers allocated once and reused by every call: all reads here are synchronous, so no two calls
// share one at a time. A server polled during a 1 GiB flood then allocates only small strings.
let chunkBuf: Buffer | null = null;
let aroundBuf: Buffer | null = null;
let peekBuf: Buffer | null = null;
const scratch = () => (chunkBuf ??= Buffer.allocUnsafeSlow(CHUNK));
const regionBuf = () => (aroundBuf ??= Buffer.allocUnsafeSlow(2 * AROUND + 1));
const peek = () => (peekBuf ??= Buffer.allocUnsafeSlow(PREFIX_PEEK + 1));

/** Opens a log for reading (never blocking, a plain file only); null when it does not exist. */
function openLog(file: string): { fd: number; size: number } | null {
  let fd: number;
  try {
    fd = openPlainFile(file, fs.constants.O_RDONLY);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw e;
  }
  return { fd, size: fs.fstatSync(fd).size };
}

/** Reads `len` bytes (at most buf.length) of the file at `pos` into the start of `buf`; fewer at its end. */
function readAt(fd: number, buf: Buffer, pos: number, len: number): Buffer {
  let got = 0;
  while (got < len) {
    const n = fs.readSync(fd, buf, got, len - got, pos + got);
    if (n === 0) break;
    got += n;
  }
  return buf.subarray(0, got);
}

/**
 * Calls `visit` with the records of `text` (split as splitRecords does) from the last to the first,
 * until it returns true (then returns true); the first record is left out when `cutFirst`. Only
 * the records visited are made into strings.
 */
function recordsBackward(text: string, cutFirst: boolean, visit: (rec: string) => boolean): boolean {
  let end = text.length;
  for (let i = text.length - 1; i >= 0; i--) {
    const c = text.charCodeAt(i);
    if (c !== LF && c !== CR) continue;
    if (visit(text.slice(i + 1, end))) return true;
    if (c === LF && i > 0 && text.charCodeAt(i - 1) === CR) i--; // "\r\n" is one separator
    end = i;
  }
  return !cutFirst && visit(text.slice(0, end));
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

/** Collects the tail from records given last to first. */
class Tail {
  private out: string[] = [];
  private bytes = 0;
  private full = false;
  constructor(private readonly n: number) {}
  /** Takes the record before the ones given so far; true once the tail is complete. */
  add(record: string): boolean {
    if (this.full || this.out.length >= this.n) return true;
    const rec = record.trimEnd();
    if (!rec.trim()) return false;
    const s = shorten(rec);
    if (!s.trim()) return false;
    this.bytes += Buffer.byteLength(s) + 1;
    if (this.bytes > TAIL_BYTES_MAX) return (this.full = true);
    this.out.push(s);
    return this.out.length >= this.n;
  }
  result(): string[] {
    return this.out.slice().reverse();
  }
}

/** The last `n` non-empty records of `records`, each shortened, bounded in bytes overall. */
export function tailRecords(records: string[], n = TAIL_RECORDS): string[] {
  const tail = new Tail(n);
  for (let i = records.length - 1; i >= 0 && !tail.add(records[i]); i--);
  return tail.result();
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
    const metrics = summaryFromEnd(fd, size, metricKey) ?? {};
    const v = metrics[metricKey];
    return { metrics, hasMetric: typeof v === "number" && Number.isFinite(v), ...tailOf(fd, size), sizeBytes: size };
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * The tail and the last progress record, from the last TAIL_WINDOW bytes. Records are taken from
 * the end one by one, and only as many as needed: a window of a \r storm holds thousands. The
 * last FIRST_TAIL bytes are enough unless records are long or no progress record is near the end.
 */
function tailOf(fd: number, size: number): { tail: string[]; lastProgress: string | null } {
  for (let window = FIRST_TAIL; ; window = TAIL_WINDOW) {
    const start = Math.max(0, size - window);
    // One byte more in front tells whether the window's first record is whole.
    const from = Math.max(0, start - 1);
    const bytes = readAt(fd, scratch(), from, size - from);
    const cutFirst = start > 0 && bytes[0] !== LF && bytes[0] !== CR;
    const text = UTF8.decode(bytes.subarray(start - from));
    const tail = new Tail(TAIL_RECORDS);
    let tailDone = false;
    let lastProgress: string | null = null;
    const done = recordsBackward(text, cutFirst, (rec) => {
      if (!tailDone) tailDone = tail.add(rec);
      if (lastProgress === null) {
        const r = rec.trim();
        if (r && isProgressRecord(r)) lastProgress = shorten(r);
      }
      return tailDone && lastProgress !== null;
    });
    if (done || start === 0 || window === TAIL_WINDOW) return { tail: tail.result(), lastProgress };
  }
}

/**
 * The last summary block holding `key` within MAX_SCAN bytes of the end, or null. Raw bytes are
 * searched backwards for the key in reused CHUNK reads; a hit that a byte-level look shows cannot
 * start a `key: value` record (the byte after it is not ':', or printable text stands before it on
 * its record) is skipped, and only the small region around a plausible hit is decoded.
 */
function summaryFromEnd(fd: number, size: number, key: string): Record<string, number | string> | null {
  // KV only matches identifiers: any other key can never be found.
  if (!IDENT.test(key) || key.length > FIRST_CHUNK || size < key.length) return null;
  const k = Buffer.from(key, "latin1");
  const floor = Math.max(0, size - MAX_SCAN);
  const buf = scratch();
  let lo = size; // buf holds the file's bytes [lo, lo + len)
  let len = 0;
  let hi = size; // hits must end at or before hi
  let want = FIRST_CHUNK;
  while (hi - floor >= k.length) {
    if (hi - k.length < lo || hi > lo + len) {
      lo = Math.max(floor, hi - want);
      len = readAt(fd, buf, lo, hi - lo).length;
      want = CHUNK;
    }
    const at = buf.subarray(0, len).lastIndexOf(k, hi - k.length - lo);
    if (at < 0) {
      if (lo === floor) return null;
      hi = lo + k.length - 1; // a hit may straddle the chunk's start
      continue;
    }
    const pos = lo + at;
    if (!mayStartRecord(fd, size, pos, k.length, buf, lo, len)) {
      hi = pos + k.length - 1;
      continue;
    }
    const r = summaryAround(fd, size, floor, pos, key);
    if (r.summary) return r.summary;
    if (r.resume === null) return null;
    hi = r.resume;
  }
  return null;
}

/**
 * Byte-level filter for a hit of the key at `pos`: ':' must follow it, and the bytes before it on
 * its record (up to PREFIX_PEEK of them) must not hold printable ASCII unless an escape sequence
 * (which clean() removes) is among them. Whitespace, control bytes and non-ASCII bytes (Unicode
 * spaces, a BOM) pass, and the decoded region decides.
 */
function mayStartRecord(fd: number, size: number, pos: number, keyLen: number, buf: Buffer, lo: number, len: number): boolean {
  const after = pos + keyLen;
  if (after >= size) return false;
  const colon = after < lo + len ? buf[after - lo] : readAt(fd, peek(), after, 1)[0];
  if (colon !== COLON) return false;
  const from = Math.max(0, pos - PREFIX_PEEK);
  const prefix = from >= lo ? buf.subarray(from - lo, pos - lo) : readAt(fd, peek(), from, pos - from);
  let printable = false;
  for (let i = prefix.length - 1; i >= 0; i--) {
    const b = prefix[i];
    if (b === LF || b === CR) break;
    if (b === ESC) return true;
    if (b > 0x20 && b < 0x7f) printable = true;
  }
  return !printable;
}

/**
 * Decodes AROUND bytes on each side of a plausible hit at `pos` and looks for the summary block in
 * those records. Without one, `resume` says where the search goes on (hits ending at or before it;
 * everything after was looked at), or is null when nothing earlier can hold a summary.
 */
function summaryAround(fd: number, size: number, floor: number, pos: number, key: string): { summary: Record<string, number | string> | null; resume: number | null } {
  const rs = Math.max(0, pos - AROUND);
  const re = Math.min(size, pos + AROUND);
  const from = Math.max(0, rs - 1);
  const bytes = readAt(fd, regionBuf(), from, re - from);
  const cutFirst = rs > 0 && bytes[0] !== LF && bytes[0] !== CR;
  const region = bytes.subarray(rs - from);
  // pos is an ASCII byte, so decoding both sides apart gives the same text as decoding them together.
  const before = splitRecords(UTF8.decode(region.subarray(0, pos - rs)));
  const after = splitRecords(UTF8.decode(region.subarray(pos - rs)));
  const records = before.slice(0, -1);
  records.push(before[before.length - 1] + after[0]);
  for (let i = 1; i < after.length; i++) records.push(after[i]);
  // The last record is cut when the region ends before the file (kept when it is the key's own).
  if (re < size && after.length > 1) records.pop();
  let resume: number | null = rs > 0 ? rs : null;
  if (cutFirst && before.length > 1) {
    // The first record is cut and not the key's: it is looked at again in the next search.
    records.shift();
    let b = 0;
    while (region[b] !== LF && region[b] !== CR) b++;
    resume = rs + b;
  } else if (cutFirst) {
    // The key's own record began before the region: it can still be a `key: value` record when all
    // that stands before it on its record is whitespace or control bytes (a NUL run).
    const r = junkRecordStart(fd, floor, rs);
    if ("start" in r) {
      // the records in front of the key's belong to its block: decode AROUND bytes before it too
      resume = r.start > 0 ? r.start : null;
      if (r.start > 0) records.unshift(...recordsBefore(fd, r.start));
    } else {
      records.shift();
      resume = r.resume;
    }
  }
  return { summary: findSummary(records, key), resume };
}

/** The whole records in the AROUND bytes before `end`, the offset of a record's start. */
function recordsBefore(fd: number, end: number): string[] {
  const start = Math.max(0, end - AROUND);
  const from = Math.max(0, start - 1);
  const bytes = readAt(fd, regionBuf(), from, end - from);
  const records = splitRecords(UTF8.decode(bytes.subarray(start - from)));
  records.pop(); // the empty start of the record at `end`
  if (start > 0 && bytes[0] !== LF && bytes[0] !== CR) records.shift();
  return records;
}

/**
 * Where the record that runs into `rs` starts, when all of it before `rs` is whitespace or control
 * bytes: `{ start }`. Otherwise `{ resume }`: right after its last byte that is neither, as no hit
 * after that can start a record; null when the record began before the scan's limit (as a record
 * cut by the limit is not read).
 */
function junkRecordStart(fd: number, floor: number, rs: number): { start: number } | { resume: number | null } {
  const buf = regionBuf();
  for (let hi = rs; hi > floor; ) {
    const lo = Math.max(floor, hi - buf.length);
    const bytes = readAt(fd, buf, lo, hi - lo);
    if (bytes.length < hi - lo) return { resume: null }; // the log shrank under us
    for (let i = bytes.length - 1; i >= 0; i--) {
      const b = bytes[i];
      if (b === LF || b === CR) return { start: lo + i + 1 };
      if (b > 0x20 && b !== 0x7f) return { resume: lo + i + 1 };
    }
    hi = lo;
  }
  return floor === 0 ? { start: 0 } : { resume: null };
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
    const len = Math.min(size, bytes, CHUNK);
    const records = splitRecords(UTF8.decode(readAt(fd, scratch(), size - len, len)));
    // The first record of a partial window may be cut; keep it only when it is all there is
    // (one record longer than the window), marked as cut.
    if (size > len) {
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
