import fs from "node:fs";

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
  const problems: string[] = [];
  const rows: ResultRow[] = [];
  if (text.length === 0) return { header: null, rows, problems, partialLastLine: false };
  // A spreadsheet that saved the file may have put a byte order mark in front of "commit".
  if (text.startsWith("\ufeff")) {
    text = text.slice(1);
    problems.push("starts with a byte order mark (ignored)");
  }
  if (text.includes("\r\n")) problems.push("has CRLF line endings (read as LF)");
  const lines = text.split(/\r?\n/);
  const partialLastLine = lines[lines.length - 1] !== "";
  if (!partialLastLine) lines.pop();
  else problems.push(`line ${lines.length} has no final newline (a partial row?)`);
  let header: string[] | null = null;
  const expected = headerFor(metric);
  let first = true;
  lines.forEach((raw, i) => {
    const line = i + 1;
    if (raw.trim() === "") return;
    const f = raw.split("\t");
    if (first) {
      first = false;
      // The header is the first non-blank line; one with other column names (a hand edit, another
      // metric) is still a header, never a data row with status "status".
      if (f[0].trim() === "commit" || f[3]?.trim() === "status") {
        header = f;
        if (f.join("\t") !== expected.join("\t")) problems.push(`header is "${f.join(" | ")}", expected "${expected.join(" | ")}"`);
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
    if (Number.isNaN(value) && f[1] !== "") problems.push(`line ${line}: ${metric} "${f[1].slice(0, 20)}" is not a number`);
    const status = f[3].trim();
    if (!(STATUSES as readonly string[]).includes(status)) problems.push(`line ${line}: status "${status.slice(0, 20)}" is not keep, discard or crash`);
    rows.push({
      line,
      commit: f[0].trim(),
      valueText: f[1],
      value,
      memoryText: f[2],
      memoryGb: parseNumber(f[2]),
      status,
      description: f.slice(4).join(" "),
    });
  });
  return { header, rows, problems, partialLastLine };
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
export function appendDurably(file: string, text: string): void {
  let prefix = "";
  try {
    const fdr = fs.openSync(file, "r");
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
  const fd = fs.openSync(file, "a");
  try {
    const buf = Buffer.from(prefix + text, "utf8");
    const n = fs.writeSync(fd, buf, 0, buf.length);
    if (n !== buf.length) throw new Error(`short write to ${file}: ${n} of ${buf.length} bytes`);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** The best kept row: the last `keep` (keeps only ever improve or tie), or null. */
export function bestKept(rows: ResultRow[]): ResultRow | null {
  for (let i = rows.length - 1; i >= 0; i--) if (rows[i].status === "keep" && (Number.isFinite(rows[i].value) || i === 0)) return rows[i];
  return null;
}

export function lastRowFor(rows: ResultRow[], short: string): ResultRow | null {
  for (let i = rows.length - 1; i >= 0; i--) if (rows[i].commit === short) return rows[i];
  return null;
}
