import crypto from "node:crypto";
import fs from "node:fs";
import { openPlainFile } from "./paths.js";

/**
 * results.tsv: `commit\tval_bpb\tmemory_gb\tstatus\tdescription`, one row per experiment.
 *
 * Written by hand rather than with the `tsv` package: tsv 0.2.0 (2014, unmaintained) strips
 * quotes from values, drops lines starting with `#` or `@`, turns a CRLF into an extra junk row
 * and converts integer-looking fields to numbers; each of those would silently change rows of a
 * user's log. Here a row is split on tabs and every field stays the text it was; numbers are read
 * only where a number is meant (val_bpb, memory_gb).
 */

export const STATUSES = ["keep", "discard", "crash"] as const;
export type Status = (typeof STATUSES)[number];

export interface ResultRow {
  /** 1-based line number in the file */
  line: number;
  commit: string;
  /** the metric column as written ("0.997900") and as a number (NaN when not a number) */
  valueText: string;
  value: number;
  memoryText: string;
  memoryGb: number;
  status: Status | string;
  description: string;
}

export interface ResultsFile {
  exists: boolean;
  header: string[] | null;
  rows: ResultRow[];
  /** things a human should know about the file (hand edits); it is never rewritten because of them */
  problems: string[];
  /** the file does not end with a newline: its last line may be partial */
  partialLastLine: boolean;
  sizeBytes: number;
}

export const headerFor = (metric: string) => ["commit", metric, "memory_gb", "status", "description"];

export function parseResults(text: string, metric = "val_bpb"): Omit<ResultsFile, "exists" | "sizeBytes"> {
  if (text.length === 0) return { header: null, rows: [], problems: [], partialLastLine: false };
  const st = newState(metric);
  const partial = feedText(st, text, true);
  const partialLine = partial === null ? null : st.lines + 1;
  if (partial !== null) feedLine(st, partial);
  return { header: st.header, rows: st.rows, problems: problemsOf(st, partialLine), partialLastLine: partial !== null };
}

/** Counts, keeps and the last keep, kept up to date row by row so `status` never walks all rows. */
export interface ResultsSummary {
  counts: { keep: number; discard: number; crash: number; other: number };
  /** rows with status keep and a numeric value, in file order (baseline, trajectory, best) */
  keeps: ResultRow[];
  /** index in `rows` of the last row with status keep, -1 when none */
  lastKeep: number;
}

/**
 * Where a parse stands after some whole lines: the same state whether the file was read at once
 * or line by line as it grew, so an append is parsed by reading only its bytes.
 */
interface ParseState {
  metric: string;
  expected: string;
  header: string[] | null;
  /** no non-blank line seen yet: the next one may be the header */
  first: boolean;
  /** lines consumed (blank ones included): the next line's number is lines + 1 */
  lines: number;
  rows: ResultRow[];
  /** problems of single lines, in line order */
  lineProblems: string[];
  bom: boolean;
  crlf: boolean;
  summary: ResultsSummary;
}

function newState(metric: string): ParseState {
  return {
    metric,
    expected: headerFor(metric).join("\t"),
    header: null,
    first: true,
    lines: 0,
    rows: [],
    lineProblems: [],
    bom: false,
    crlf: false,
    summary: { counts: { keep: 0, discard: 0, crash: 0, other: 0 }, keeps: [], lastKeep: -1 },
  };
}

/** A copy that can take more lines without changing `st` or anything handed out from it. */
function cloneState(st: ParseState): ParseState {
  const s = st.summary;
  return { ...st, rows: st.rows.slice(), lineProblems: st.lineProblems.slice(), summary: { counts: { ...s.counts }, keeps: s.keeps.slice(), lastKeep: s.lastKeep } };
}

/** The problems in the order a whole-file parse finds them: file-wide ones first, then by line. */
function problemsOf(st: ParseState, partialLine: number | null): string[] {
  return [
    ...(st.bom ? ["starts with a byte order mark (ignored)"] : []),
    ...(st.crlf ? ["has CRLF line endings (read as LF)"] : []),
    ...(partialLine !== null ? [`line ${partialLine} has no final newline (a partial row?)`] : []),
    ...st.lineProblems,
  ];
}

/**
 * Feeds the whole lines of `text` (decoded bytes that start at a line start; `atStart`: at the
 * start of the file) and returns what follows the last newline, or null when `text` ends with one.
 */
function feedText(st: ParseState, text: string, atStart: boolean): string | null {
  // A spreadsheet that saved the file may have put a byte order mark in front of "commit".
  if (atStart && text.startsWith("\ufeff")) {
    text = text.slice(1);
    st.bom = true;
  }
  if (text.length === 0) return null;
  if (text.includes("\r\n")) st.crlf = true;
  const lines = text.split(/\r?\n/);
  const rest = lines.pop()!;
  for (const raw of lines) feedLine(st, raw);
  return rest === "" ? null : rest;
}

function feedLine(st: ParseState, raw: string): void {
  const line = ++st.lines;
  const problems = st.lineProblems;
  if (raw.trim() === "") return;
  const f = raw.split("\t");
  if (st.first) {
    st.first = false;
    // The header is the first non-blank line; one with other column names (a hand edit, another
    // metric) is still a header, never a data row with status "status".
    if (f[0].trim() === "commit" || f[3]?.trim() === "status") {
      st.header = f;
      if (f.join("\t") !== st.expected) problems.push(`header is "${f.join(" | ")}", expected "${st.expected.split("\t").join(" | ")}"`);
      return;
    }
    problems.push("the header row is missing");
  }
  if (f.length < 4) {
    problems.push(`line ${line} has ${f.length} field(s), expected 5: skipped when counting`);
    return;
  }
  if (f.length === 4) problems.push(`line ${line} has 4 fields: no description`);
  if (f.length > 5) problems.push(`line ${line} has ${f.length} fields; the extra ones are read as part of the description`);
  const value = parseNumber(f[1]);
  if (Number.isNaN(value) && f[1] !== "") problems.push(`line ${line}: ${st.metric} "${f[1].slice(0, 20)}" is not a number`);
  const status = f[3].trim();
  if (!(STATUSES as readonly string[]).includes(status)) problems.push(`line ${line}: status "${status.slice(0, 20)}" is not keep, discard or crash`);
  const row: ResultRow = {
    line,
    commit: f[0].trim(),
    valueText: f[1],
    value,
    memoryText: f[2],
    memoryGb: parseNumber(f[2]),
    status,
    description: f.slice(4).join(" "),
  };
  const s = st.summary;
  s.counts[status === "keep" || status === "discard" || status === "crash" ? status : "other"]++;
  if (status === "keep") {
    s.lastKeep = st.rows.length;
    if (Number.isFinite(value)) s.keeps.push(row);
  }
  st.rows.push(row);
}

function parseNumber(s: string): number {
  const t = s.trim();
  return /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(t) ? Number(t) : NaN;
}

export function readResults(file: string, metric = "val_bpb"): ResultsFile {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return { exists: false, header: null, rows: [], problems: [], partialLastLine: false, sizeBytes: 0 };
    throw e;
  }
  return { exists: true, sizeBytes: buf.length, ...parseResults(buf.toString("utf8"), metric) };
}

/** A results file as `ResultsLog` hands it out, with its summary; never changed afterwards. */
export interface ResultsView extends ResultsFile {
  summary: ResultsSummary;
}

export const emptySummary = (): ResultsSummary => ({ counts: { keep: 0, discard: 0, crash: 0, other: 0 }, keeps: [], lastKeep: -1 });

/**
 * results.tsv, parsed once and then kept in step with the file as it grows, so that reading it
 * after an append costs the appended bytes, not a parse of the whole file (issue #7, figure 4).
 *
 * `append` (this server's rows) parses the bytes it wrote, without reading the file. `read` stats
 * the file: same inode, size, mtime and ctime → the last view. Same inode and larger → an append
 * behind the server's back (a `printf >>`), taken as one only when the bytes parsed before are
 * unchanged (the file is read and those bytes hashed: an editor that saved a changed row in place
 * and added one at the end is not an append); then only the new bytes are parsed. Anything else (smaller, touched, another
 * inode) is a full re-read. So hand edits are found and reported as before; the file is never
 * rewritten here.
 */
export class ResultsLog {
  private st: ParseState;
  /** bytes of the file parsed into `st`: whole lines, so 0 or just after a newline */
  private done = 0;
  /** sha1 of the bytes [0, done) */
  private hash = crypto.createHash("sha1");
  /** the bytes after `done`: a last line without its newline */
  private partial = Buffer.alloc(0);
  private ino = -1;
  private key: string | null = null;
  private view: ResultsView | null = null;
  /** what the last read or append did: how, and how many of the file's bytes it read */
  last: { how: "cached" | "own-append" | "append" | "full" | "missing"; bytesRead: number } = { how: "missing", bytesRead: 0 };

  constructor(
    readonly file: string,
    readonly metric = "val_bpb",
  ) {
    this.st = newState(metric);
  }

  /** The file as it is now; throws when it exists but cannot be read (a directory, no permission). */
  read(): ResultsView {
    let stat: fs.Stats;
    try {
      stat = fs.statSync(this.file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
      this.reset();
      this.last = { how: "missing", bytesRead: 0 };
      return { exists: false, header: null, rows: [], problems: [], partialLastLine: false, sizeBytes: 0, summary: emptySummary() };
    }
    if (this.view && keyOf(stat) === this.key) {
      this.last = { how: "cached", bytesRead: 0 };
      return this.view;
    }
    try {
      return this.update();
    } catch (e) {
      this.reset();
      throw e;
    }
  }

  /**
   * Appends `text` durably (`appendDurably`) and brings the view up to date from the bytes written
   * when the file was, right before, what was last read; otherwise the next `read` finds out.
   */
  append(text: string): void {
    let before: ResultsView | null = null;
    try {
      before = this.read();
    } catch {
      /* unreadable: appendDurably reports it */
    }
    const { written, stat } = appendDurably(this.file, text);
    if (!before?.exists || this.view !== before || stat.ino !== this.ino || stat.size !== before.sizeBytes + written.length) {
      this.key = null;
      return;
    }
    try {
      this.settle(stat, Buffer.concat([this.partial, written]), this.done);
      this.last = { how: "own-append", bytesRead: 0 };
    } catch {
      this.reset();
    }
  }

  /** Forgets what was parsed: the next read reads the whole file. */
  reset(): void {
    this.st = newState(this.metric);
    this.done = 0;
    this.hash = crypto.createHash("sha1");
    this.partial = Buffer.alloc(0);
    this.ino = -1;
    this.key = null;
    this.view = null;
  }

  private update(): ResultsView {
    const fd = fs.openSync(this.file, "r");
    try {
      const stat = fs.fstatSync(fd);
      const buf = fs.readFileSync(fd);
      const exact = buf.length === stat.size ? stat : null;
      if (this.view && stat.ino === this.ino && buf.length > this.view.sizeBytes) {
        const was = this.hash.copy().digest();
        if (crypto.createHash("sha1").update(buf.subarray(0, this.done)).digest().equals(was)) {
          this.last = { how: "append", bytesRead: buf.length };
          return this.settle(exact, buf.subarray(this.done), this.done);
        }
      }
      // First read, or not an append: parse it all again.
      this.reset();
      this.last = { how: "full", bytesRead: buf.length };
      return this.settle(exact, buf, 0);
    } finally {
      fs.closeSync(fd);
    }
  }

  /**
   * Parses `bytes` (the file from `at`, a line start, to its end) into the state and makes the
   * view; `stat` is the file's when it matches those bytes (else it is read again next time).
   */
  private settle(stat: fs.Stats | null, bytes: Buffer, at: number): ResultsView {
    const nl = bytes.lastIndexOf(0x0a);
    const whole = bytes.subarray(0, nl + 1);
    // Splitting at a newline byte never cuts a UTF-8 sequence: the parts decode as the whole does.
    if (whole.length) {
      feedText(this.st, whole.toString("utf8"), at === 0);
      this.hash.update(whole);
    }
    this.done = at + whole.length;
    this.partial = Buffer.from(bytes.subarray(nl + 1));
    this.ino = stat?.ino ?? -1;
    this.key = stat ? keyOf(stat) : null;
    // The view is a copy: later appends must not change rows a caller is still looking at.
    const v = cloneState(this.st);
    const rest = this.partial.length ? feedText(v, this.partial.toString("utf8"), this.done === 0) : null;
    const partialLine = rest === null ? null : v.lines + 1;
    if (rest !== null) feedLine(v, rest);
    this.view = { exists: true, header: v.header, rows: v.rows, problems: problemsOf(v, partialLine), partialLastLine: rest !== null, sizeBytes: this.done + this.partial.length, summary: v.summary };
    return this.view;
  }
}

function keyOf(st: fs.Stats): string {
  return `${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
}

/** Tabs, newlines and other control characters become spaces; length is bounded. */
export function sanitizeDescription(s: string, max = 200): string {
  // C0 and C1 controls (U+0085 NEL is a line break to Python's splitlines), line/paragraph
  // separators, and unpaired surrogates (they cannot be written as UTF-8).
  const one = String(s)
    .replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, " ")
    .replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, "\ufffd")
    .replace(/\s+/g, " ")
    .trim();
  if (one.length <= max) return one;
  const cut = /[\ud800-\udbff]/.test(one[max - 2]) ? max - 2 : max - 1;
  return one.slice(0, cut).trimEnd() + "…";
}

/** program.md's formats: 7-char commit, metric %.6f, memory %.1f; a crash is 0.000000 and 0.0. */
export function formatRow(r: { commit: string; value: number | null; memoryGb: number | null; status: Status; description: string }): string {
  const crash = r.status === "crash";
  const v = crash || r.value === null || !Number.isFinite(r.value) ? "0.000000" : r.value.toFixed(6);
  const m = crash || r.memoryGb === null || !Number.isFinite(r.memoryGb) ? "0.0" : r.memoryGb.toFixed(1);
  const commit = String(r.commit).replace(/[\s\u0000-\u001f\u007f-\u009f]/g, "").slice(0, 7);
  return [commit, v, m, r.status, sanitizeDescription(r.description)].join("\t") + "\n";
}

/** Writes the header into a new or empty results file; an existing non-empty file is left alone. */
export function ensureHeader(file: string, metric: string): boolean {
  let size = -1;
  try {
    size = fs.statSync(file).size;
  } catch {
    /* missing */
  }
  if (size > 0) return false;
  appendDurably(file, headerFor(metric).join("\t") + "\n");
  return true;
}

/**
 * Appends `text` with one write on an O_APPEND descriptor and fsyncs it, so a row is on disk
 * whole before anything else happens (karpathy PR #306: log before reset). When the file does
 * not end with a newline (a hand edit), a newline goes first so the row is never glued on.
 */
export function appendDurably(file: string, text: string): { written: Buffer; stat: fs.Stats } {
  let prefix = "";
  // Never through a symlink, never blocking on a FIFO: only a plain file is appended to.
  const { O_RDONLY, O_WRONLY, O_APPEND, O_CREAT, O_NOFOLLOW } = fs.constants;
  try {
    const fdr = openPlainFile(file, O_RDONLY | O_NOFOLLOW);
    try {
      const size = fs.fstatSync(fdr).size;
      if (size > 0) {
        const b = Buffer.alloc(1);
        fs.readSync(fdr, b, 0, 1, size - 1);
        if (b[0] !== 0x0a) prefix = "\n";
      }
    } finally {
      fs.closeSync(fdr);
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
  }
  const fd = openPlainFile(file, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW);
  try {
    const buf = Buffer.from(prefix + text, "utf8");
    const n = fs.writeSync(fd, buf, 0, buf.length);
    if (n !== buf.length) throw new Error(`short write to ${file}: ${n} of ${buf.length} bytes`);
    fs.fsyncSync(fd);
    return { written: buf, stat: fs.fstatSync(fd) };
  } finally {
    fs.closeSync(fd);
  }
}
