import fs from "node:fs";
import path from "node:path";
import { errorMessage, ProtocolRefusal, refuse } from "../errors.js";
import { fileSize, readJson, writeJson } from "../files.js";
import { appendDurably, emptySummary, ensureHeader, headerFor, ResultsLog, type ResultsView } from "../results.js";
import type { RunRecord } from "../executor/executor.js";
import type { Workspace } from "../workspace.js";
import { RunLog, type RunLogEntry } from "./run-log.js";
import { KeyCache, measuredRows } from "./measures.js";
import type { MeasuredRow } from "../rules/noise.js";

/**
 * The ledger: results.tsv and what the server knows about its own rows. A row is appended whole
 * (one write, fsync) with an intent written first, so a server killed between the two leaves
 * enough on disk for the next one to tell whether the row landed; it is neither lost nor written
 * twice. A mirror copy under .git/autoresearch/ lets a deleted results.tsv be restored.
 */

/** Whether the last run was logged: the ledger's own file, beside the executor's run record. */
interface LedgerEntry {
  runId: string;
  /** results.tsv line written for this run */
  loggedLine: number | null;
  /** a row being appended (byte offset and text) */
  pendingRow: { offset: number; text: string } | null;
  /** the run log entry that goes with the pending row (its line is known once the row landed) */
  pendingEntry?: PendingEntry | null;
  /** earlier runs' lines: with runs in flight the last logged run is not the only one that matters */
  logged?: Record<string, number>;
}

/** How many earlier runs' lines ledger.json remembers (a night is about a hundred). */
const LOGGED_KEPT = 1000;

export type PendingEntry = Omit<RunLogEntry, "line">;

/** Older servers kept the ledger fields in the run record itself. */
type LegacyRecord = RunRecord & { loggedLine?: number | null; pendingRow?: LedgerEntry["pendingRow"] };

export class Ledger {
  /** results.tsv as last parsed, kept in step with the file as it grows */
  private cache: ResultsLog | null = null;
  private readonly entryPath: string;
  /** every logged run of every session, with what results.tsv has no column for */
  readonly runs: RunLog;
  /** which code each commit holds (the noise rule keys runs by it) */
  readonly keys: KeyCache;
  /** the commits of runs in flight and not logged yet (a repeat queued is a repeat on its way) */
  inFlight: () => readonly string[] = () => [];

  constructor(private readonly ws: Workspace) {
    this.entryPath = path.join(ws.stateDir, "ledger.json");
    this.runs = new RunLog(path.join(ws.stateDir, "runs.jsonl"));
    this.keys = new KeyCache(ws.repo, ws.config.editable);
  }

  /** `rows` (results.tsv's, by default) with the code each ran and what it measured. */
  measured(session: { tag: string; base: string }, rows = this.results().rows): Promise<MeasuredRow[]> {
    return measuredRows({ tag: session.tag, base: session.base, keys: this.keys, runLog: this.runs }, rows);
  }

  private log(): ResultsLog {
    const file = this.ws.resultsPath;
    if (this.cache?.file !== file || this.cache.metric !== this.ws.config.metric.name) this.cache = new ResultsLog(file, this.ws.config.metric.name);
    return this.cache;
  }

  /** Forgets the parse (a new session, a restored file). */
  forget(): void {
    this.cache = null;
  }

  /** results.tsv now: a stat when unchanged, the new bytes after an append, else a full read. Never throws. */
  results(): ResultsView {
    try {
      return this.log().read();
    } catch (e) {
      // Unreadable (a directory, no permission): report it; never guess at its rows.
      return { exists: true, header: null, rows: [], problems: [`${this.ws.config.results} cannot be read (${errorMessage(e)})`], partialLastLine: false, sizeBytes: 0, summary: emptySummary() };
    }
  }

  /**
   * The rules read results.tsv: when it is missing or unreadable the server cannot tell a discard
   * from a keep, so it refuses rather than treat it as empty (a reset to the base would drop every
   * kept commit).
   */
  require(): ResultsView {
    const name = this.ws.config.results;
    const resume = `it restores ${name} from the server's copy.`;
    let file: ResultsView;
    try {
      file = this.log().read();
    } catch (e) {
      if (e instanceof ProtocolRefusal) throw e;
      refuse("results_unreadable", `${name} cannot be read (${errorMessage(e)}); the rules need its rows.`, `Make it a readable plain file again, or move it away and call start_session {"resume":true}: ${resume}`);
    }
    if (!file.exists) refuse("results_missing", `${name} was deleted; the rules need its rows (which commits were kept or discarded).`, `Call start_session {"resume":true}: ${resume}`);
    return file;
  }

  /** Starts results.tsv and its mirror for a new session; true when the header was written. */
  begin(): boolean {
    const written = ensureHeader(this.ws.resultsPath, this.ws.config.metric.name);
    fs.writeFileSync(this.ws.resultsMirrorPath, headerFor(this.ws.config.metric.name).join("\t") + "\n");
    this.forget();
    return written;
  }

  /** On resume: a missing results.tsv comes back from the mirror (or a header); says what it did. */
  restore(): string | null {
    const { ws } = this;
    let note: string | null = null;
    if (!fs.existsSync(ws.resultsPath)) {
      if (fs.existsSync(ws.resultsMirrorPath)) {
        fs.copyFileSync(ws.resultsMirrorPath, ws.resultsPath);
        note = `${ws.config.results} was missing; restored it from the server's copy (.git/autoresearch/results.mirror.tsv)`;
      } else {
        ensureHeader(ws.resultsPath, ws.config.metric.name);
        note = `${ws.config.results} was missing and no copy exists; started it with the header only`;
      }
    }
    if (!fs.existsSync(ws.resultsMirrorPath)) fs.copyFileSync(ws.resultsPath, ws.resultsMirrorPath);
    this.forget();
    return note;
  }

  private entry(rec: RunRecord): LedgerEntry {
    const e = readJson<LedgerEntry>(this.entryPath);
    if (e?.runId === rec.id) return e;
    const earlier = e?.logged?.[rec.id];
    if (typeof earlier === "number") return { runId: rec.id, loggedLine: earlier, pendingRow: null };
    const legacy = rec as LegacyRecord;
    return { runId: rec.id, loggedLine: legacy.loggedLine ?? null, pendingRow: legacy.pendingRow ?? null };
  }

  /** Writes the entry of run `runId`, carrying the lines of earlier logged runs along. */
  private writeEntry(next: Omit<LedgerEntry, "logged">): void {
    const e = readJson<LedgerEntry>(this.entryPath);
    const logged: Record<string, number> = { ...(e?.logged && typeof e.logged === "object" ? e.logged : {}) };
    if (e && typeof e.runId === "string" && typeof e.loggedLine === "number" && e.runId !== next.runId) logged[e.runId] = e.loggedLine;
    const ids = Object.keys(logged);
    for (const id of ids.slice(0, Math.max(0, ids.length - LOGGED_KEPT))) delete logged[id];
    writeJson(this.entryPath, { ...next, logged } satisfies LedgerEntry);
  }

  /** The results.tsv line of this run's row, null while it is not logged. */
  loggedLine(rec: RunRecord): number | null {
    return this.entry(rec).loggedLine;
  }

  /** The same by run id alone (no older record format to consult). */
  loggedLineOf(runId: string): number | null {
    const e = readJson<LedgerEntry>(this.entryPath);
    if (e?.runId === runId) return e.loggedLine;
    const earlier = e?.logged?.[runId];
    return typeof earlier === "number" ? earlier : null;
  }

  /**
   * Appends the row of run `rec`, or throws having written nothing. `crashPoint` lets tests kill
   * the server between the intent and the append, and after the append.
   */
  append(rec: RunRecord, row: string, crashPoint: (name: string) => void = () => undefined, entry: PendingEntry | null = null): number | null {
    const { ws } = this;
    const cannotAppend: (why: string) => never = (why) =>
      refuse("write_failed", `Could not append to ${ws.config.results} (${why}); nothing was written. The row is: ${row.trimEnd().replace(/\t/g, " | ")}`, "Fix the file or the disk (space, permissions), then call log_result again; the run stays unlogged until then.");
    let file: string;
    try {
      file = ws.resultsPath;
    } catch (e) {
      cannotAppend(errorMessage(e));
    }
    if (!fs.existsSync(file))
      refuse("results_missing", `${ws.config.results} was deleted; appending now would start a log without its earlier rows.`, `Call start_session {"resume":true}: it restores ${ws.config.results} from the server's copy. Then log_result again.`);
    this.writeEntry({ runId: rec.id, loggedLine: null, pendingRow: { offset: fileSize(file), text: row }, pendingEntry: entry });
    crashPoint("log_result:before-append");
    try {
      this.log().append(row);
    } catch (e) {
      this.writeEntry({ runId: rec.id, loggedLine: null, pendingRow: null });
      cannotAppend(errorMessage(e));
    }
    crashPoint("log_result:after-append");
    const rows = this.results().rows;
    const line = rows[rows.length - 1]?.line ?? null;
    this.recordRun(entry, line);
    this.writeEntry({ runId: rec.id, loggedLine: line, pendingRow: null });
    try {
      appendDurably(ws.resultsMirrorPath, row);
    } catch {
      /* the mirror is a convenience copy */
    }
    return line;
  }

  /** The run log's line for a row that landed; a failure costs only the extra detail (the row counts). */
  private recordRun(entry: PendingEntry | null, line: number | null): void {
    if (!entry || line === null) return;
    try {
      this.runs.append({ ...entry, line });
    } catch {
      /* results.tsv has the row; the run log is its detail */
    }
  }

  /**
   * A row whose append may or may not have reached results.tsv when the server died is looked up
   * there; returns a note when it had landed.
   */
  finishPending(rec: RunRecord | null): string | null {
    const raw = readJson<LedgerEntry>(this.entryPath);
    // The pending row is the last log_result's, whichever run it was (the last run, or one in flight).
    const e = raw && typeof raw.runId === "string" ? raw : rec ? this.entry(rec) : null;
    if (!e?.pendingRow || e.loggedLine) return null;
    const line = findAppendedRow(this.ws.resultsPath, e.pendingRow);
    if (line !== null) this.recordRun(e.pendingEntry ?? null, line);
    this.writeEntry({ runId: e.runId, loggedLine: line, pendingRow: null });
    const commit = e.pendingEntry?.commit ?? (rec?.id === e.runId ? rec.commit.slice(0, 7) : e.pendingRow.text.split("\t")[0]);
    return line !== null ? `the row of ${commit} had reached ${this.ws.config.results} when the server stopped; it is counted as logged` : null;
  }
}

/** The line number of `pending.text` if it was appended at (or right after) `pending.offset`. */
function findAppendedRow(file: string, pending: { offset: number; text: string }): number | null {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch {
    return null;
  }
  const tail = buf.subarray(pending.offset).toString("utf8");
  if (!tail.replace(/^\n/, "").startsWith(pending.text)) return null;
  const before = buf.subarray(0, pending.offset).toString("utf8") + (tail.startsWith("\n") ? "\n" : "");
  return before.split("\n").length;
}
