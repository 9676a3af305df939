import crypto from "node:crypto";
import fs from "node:fs";
import { appendDurably } from "../results.js";

/**
 * The per-run record beside results.tsv: one JSON line per logged run in
 * .git/autoresearch/runs.jsonl, for every session of the workspace. results.tsv keeps karpathy's
 * five columns; this file keeps what they cannot: which code ran (a hash of the editable file's
 * content, so the same code under two commits is recognised), the full value, the duration, the
 * slot, and whether the row revoked a keep.
 */

export interface RunLogEntry {
  /** the session's tag and the row's line in that session's results.tsv */
  session: string;
  line: number;
  commit: string;
  oid: string;
  key: string;
  value: number | null;
  memoryGb: number | null;
  durationSeconds: number | null;
  status: string;
  runId: string;
  /** where it ran: the slot's GPU (gpus), null for the one local slot of the sequential loop */
  slot: string | null;
  /** a Slurm job: its id and node (results compare within one GPU type only) */
  jobId?: string;
  node?: string | null;
  revoked: boolean;
  at: string;
}

/** The key of a run's code: sha256 of the editable file's bytes, short enough to read. */
export const contentKey = (bytes: Buffer | string): string => "sha256:" + crypto.createHash("sha256").update(bytes).digest("hex").slice(0, 16);

export class RunLog {
  private cache: { size: number; mtimeMs: number; entries: RunLogEntry[] } | null = null;

  constructor(readonly file: string) {}

  /** Every entry that parses; a torn or hand-broken line is skipped, never fatal. */
  entries(): RunLogEntry[] {
    let st: fs.Stats;
    try {
      st = fs.statSync(this.file);
    } catch {
      return [];
    }
    if (this.cache && this.cache.size === st.size && this.cache.mtimeMs === st.mtimeMs) return this.cache.entries;
    let text = "";
    try {
      text = fs.readFileSync(this.file, "utf8");
    } catch {
      return [];
    }
    const entries: RunLogEntry[] = [];
    for (const line of text.split("\n")) {
      if (!line.trim()) continue;
      try {
        const e = JSON.parse(line) as RunLogEntry;
        if (e && typeof e.key === "string" && typeof e.commit === "string" && typeof e.line === "number") entries.push(e);
      } catch {
        /* a line cut by a crash mid-write: the row in results.tsv still counts */
      }
    }
    this.cache = { size: st.size, mtimeMs: st.mtimeMs, entries };
    return entries;
  }

  has(runId: string): boolean {
    return this.entries().some((e) => e.runId === runId);
  }

  /** One line, one write, fsync'd; a run already on record is not written twice. */
  append(e: RunLogEntry): void {
    if (this.has(e.runId)) return;
    appendDurably(this.file, JSON.stringify(e) + "\n");
    this.cache = null;
  }
}
