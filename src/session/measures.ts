import type { Config } from "../config.js";
import type { Repo } from "../git.js";
import type { ResultRow } from "../results.js";
import type { MeasuredRow, NoiseSettings } from "../rules/noise.js";
import type { RunLog, RunLogEntry } from "./run-log.js";
import { contentKey } from "./run-log.js";

/**
 * results.tsv's rows joined with the run log: which code each row ran (a content key) and whether
 * it measured anything. results.tsv decides which runs exist (a row deleted by hand is a run
 * gone); the run log adds what its columns cannot hold. Rows without an entry (written before
 * the run log existed, or by hand) get their key from git, or from their commit when git does not
 * know it.
 */

/** The noise-aware rule's settings, or null for the strict rule (`"noise": false`). */
export const noiseSettings = (config: Config): NoiseSettings | null => (config.noise === false ? null : config.noise);

/** Content keys of commits: a commit's file never changes, so one lookup per commit per server. */
export class KeyCache {
  private readonly keys = new Map<string, string>();

  constructor(
    private readonly repo: Repo,
    private readonly editable: string,
  ) {}

  /** The key of the editable file at `oid`; `commit:<short>` when git cannot tell. */
  async at(oid: string | null, short: string): Promise<string> {
    if (!oid) return `commit:${short}`;
    const known = this.keys.get(oid);
    if (known) return known;
    const bytes = await this.repo.readFileAt(oid, this.editable).catch(() => null);
    const key = bytes ? contentKey(bytes) : `commit:${short}`;
    this.keys.set(oid, key);
    return key;
  }

  /** The key of a row's commit (a short hash, or karpathy's literal "baseline" for `base`). */
  async ofRow(commit: string, base: string): Promise<string> {
    const known = this.keys.get(`row:${commit}`);
    if (known) return known;
    const oid = commit === "baseline" ? base : await this.repo.expand(commit).catch(() => null);
    const key = await this.at(oid, commit);
    this.keys.set(`row:${commit}`, key);
    return key;
  }
}

export interface MeasureContext {
  tag: string;
  /** the session base (karpathy's literal "baseline" rows name it) */
  base: string;
  keys: KeyCache;
  runLog: RunLog;
}

export async function measuredRows(ctx: MeasureContext, rows: readonly ResultRow[]): Promise<MeasuredRow[]> {
  const entries = new Map<string, RunLogEntry>();
  for (const e of ctx.runLog.entries()) if (e.session === ctx.tag) entries.set(`${e.line}:${e.commit}`, e);
  const out: MeasuredRow[] = [];
  for (const given of rows) {
    // karpathy's literal "baseline" names the session base
    const row = given.commit === "baseline" ? { ...given, commit: ctx.base.slice(0, 7) } : given;
    const found = entries.get(`${given.line}:${given.commit}`);
    const fromRow = row.status !== "crash" && Number.isFinite(row.value) ? row.value : null;
    // An entry speaks for its row only while the row is as the server wrote it: a row deleted or
    // corrected by hand is taken as the file says.
    const e = found && found.status === row.status && (found.value === null ? row.valueText === "0.000000" : found.value.toFixed(6) === row.value.toFixed(6)) ? found : null;
    const value = e ? e.value : fromRow;
    const key = e?.key ?? (await ctx.keys.ofRow(given.commit, ctx.base));
    out.push({ row, key, value, revoked: e ? e.revoked : row.status !== "keep" && /\[revoked/.test(row.description) });
  }
  return out;
}

/** Earlier runs of the same code: this session's rows with the key, else another session's entries. */
export function earlierRunsOf(key: string, rows: readonly MeasuredRow[], runLog: RunLog, tag: string): { session: string; commit: string; line: number; value: number | null; status: string }[] {
  const here = rows.filter((m) => m.key === key).map((m) => ({ session: tag, commit: m.row.commit, line: m.row.line, value: m.value, status: m.row.status }));
  const elsewhere = runLog
    .entries()
    .filter((e) => e.key === key && e.session !== tag)
    .map((e) => ({ session: e.session, commit: e.commit, line: e.line, value: e.value, status: e.status }));
  return [...here, ...elsewhere];
}
