import fs from "node:fs";
import path from "node:path";
import { readJson } from "../files.js";
import { gitOut } from "../git/backend.js";
import { latestRecord } from "../metrics.js";
import { emptySummary, ResultsLog, type ResultRow, type ResultsSummary } from "../results.js";
import { FlightStore } from "../executor/queue.js";
import { RunRecordFile, type RunRecord } from "../executor/executor.js";
import { baselineOf, bestKept, improvement, stallOf } from "../rules/policy.js";
import { renderSvg } from "../report/svg.js";
import type { Workspace } from "../workspace.js";
import { summarizeNoise } from "../rules/noise.js";
import { Ledger } from "../session/ledger.js";

/**
 * What the live page shows, read from the workspace's own records only (results.tsv, the run
 * records of HEAD's run and of runs in flight, their logs, git for a diff): it writes nothing, takes
 * no lock and starts no run, so it can run beside a serving MCP server or after the night.
 */

/** Rows the page's table gets with each update (the newest); the rest on request. */
export const TABLE_ROWS = 200;

export interface LiveRun {
  runId: string;
  commit: string;
  state: "queued" | "running";
  gpu: string | null;
  jobId: string | null;
  elapsedSeconds: number;
  latest: string | null;
}

const rowView = (r: ResultRow, n: number) => ({ n, commit: r.commit, metric: r.valueText, memoryGb: r.memoryText, status: r.status, description: r.description });

export class LiveState {
  private readonly results: ResultsLog;
  private readonly flights: FlightStore;
  private readonly lastRun: RunRecordFile;
  private svg: { key: string; svg: string } | null = null;
  private noiseCache: { key: string; value: Awaited<ReturnType<LiveState["noise"]>> } | null = null;
  private readonly ledger: Ledger;

  constructor(private readonly ws: Workspace) {
    this.results = new ResultsLog(ws.resultsPath, ws.config.metric.name);
    this.flights = new FlightStore(path.join(ws.stateDir, "queue"));
    this.lastRun = new RunRecordFile(ws.runRecordPath);
    this.ledger = new Ledger(ws);
  }

  private rows(): { rows: readonly ResultRow[]; problems: string[]; summary: ResultsSummary } {
    try {
      const v = this.results.read();
      return { rows: v.rows, problems: v.problems, summary: v.summary };
    } catch (e) {
      return { rows: [], problems: [`${this.ws.config.results} cannot be read (${(e as Error).message})`], summary: emptySummary() };
    }
  }

  /** Runs going now: HEAD's own and those in flight, with their latest progress line. */
  private live(): LiveRun[] {
    const out: LiveRun[] = [];
    const add = (rec: RunRecord | null, logFile: string, state: "queued" | "running", runId: string, commit: string) => {
      let latest: string | null = null;
      try {
        latest = state === "running" ? latestRecord(logFile) : null;
      } catch {
        /* no log yet */
      }
      out.push({ runId, commit: commit.slice(0, 7), state, gpu: rec?.gpu ?? null, jobId: rec?.jobId ?? null, elapsedSeconds: rec ? Math.round((Date.now() - rec.startedAt) / 1000) : 0, latest });
    };
    const own = this.lastRun.read();
    if (own && !own.exit) add(own, path.join(this.ws.root, this.ws.config.log), "running", own.id, own.commit);
    for (const f of this.flights.list()) if (f.state !== "finished") add(f.record, this.flights.logPath(f.run.id), f.state === "queued" ? "queued" : "running", f.run.id, f.run.commit);
    return out;
  }

  /** A fingerprint that changes when a row lands or a run starts or ends: the page asks only for news. */
  version(): string {
    const stat = (f: string) => {
      try {
        const s = fs.statSync(f);
        return `${s.size}:${s.mtimeMs}`;
      } catch {
        return "-";
      }
    };
    let queue = "-";
    try {
      queue = fs.readdirSync(this.flights.dir).filter((n) => n.endsWith(".json")).map((n) => `${n}:${stat(path.join(this.flights.dir, n))}`).join(",");
    } catch {
      /* no queue */
    }
    return [stat(this.ws.resultsPath), stat(this.ws.runRecordPath), queue].join("|");
  }

  /** The noise rule's best ± σ/√n and σ, from results.tsv and the run log (read as the server reads them); cached per rows. */
  private async noise(rows: readonly ResultRow[], key: string): Promise<{ mean: number; stderr: number | null; n: number; sigma: number | null; commit: string } | null> {
    if (this.noiseCache?.key === key) return this.noiseCache.value;
    const session = readJson<{ tag?: string; base?: string }>(this.ws.sessionPath);
    let value = null;
    if (this.ws.config.noise !== false && session?.tag && session.base) {
      try {
        const z = summarizeNoise(await this.ledger.measured({ tag: session.tag, base: session.base }, [...rows]), this.ws.config.metric.goal);
        value = z.best ? { mean: z.best.mean, stderr: z.best.stderr, n: z.best.n, sigma: z.sigma, commit: z.best.commit } : null;
      } catch {
        value = null;
      }
    }
    this.noiseCache = { key, value };
    return value;
  }

  async snapshot() {
    const { config } = this.ws;
    // results.tsv's running summary (kept as the file grows) has the counts and the keeps.
    const { rows, problems, summary } = this.rows();
    const goal = config.metric.goal;
    const best = bestKept(summary.keeps, goal);
    const base = baselineOf(summary.keeps);
    const { keep, discard, crash } = summary.counts;
    const counts = { total: rows.length, keep, discard, crash };
    const lastKeep = summary.lastKeep;
    const session = readJson<{ tag?: string; branch?: string }>(this.ws.sessionPath);
    // The chart is drawn again only when the rows changed.
    const key = `${rows.length}:${rows[rows.length - 1]?.line ?? 0}:${rows[rows.length - 1]?.status ?? ""}`;
    if (this.svg?.key !== key) this.svg = { key, svg: rows.length ? renderSvg([...rows], { metric: config.metric.name, goal, tag: session?.tag ?? null }).replace(/^<\?xml[^>]*>\s*/, "") : "" }; // inline in the page: no XML declaration
    const running = this.live();
    return {
      tag: session?.tag ?? null,
      metric: config.metric.name,
      counts,
      keepRate: rows.length ? Math.round((counts.keep / rows.length) * 1000) / 1000 : null,
      best: best ? { commit: best.commit, metric: best.value, description: best.description } : null,
      noise: await this.noise(rows, key),
      improvement: best && base ? improvement(base.value, best.value, goal) : null,
      sinceLastKeep: rows.length ? stallOf(rows.length, lastKeep) : 0,
      rows: rows.slice(-TABLE_ROWS).map((r, i, shown) => rowView(r, rows.length - shown.length + i + 1)).reverse(),
      totalRows: rows.length,
      running,
      svg: this.svg.svg,
      problems: problems.slice(0, 20),
      version: this.version(),
    };
  }

  /** Every row, newest first (the table's "all"). */
  allRows() {
    const { rows } = this.rows();
    return rows.map((r, i) => rowView(r, i + 1)).reverse();
  }

  /** The commit's change as git shows it (bounded); null for what is not a commit here. */
  async diff(commit: string): Promise<string | null> {
    if (!/^[0-9a-f]{7,40}$/.test(commit)) return null;
    try {
      const out = await gitOut(this.ws.root, ["show", "--no-color", "--stat", "--patch", "--format=commit %H%nDate:   %ad%n%n    %s%n", commit, "--"]);
      return out.length > 200_000 ? `${out.slice(0, 200_000)}\n… (cut at 200 KB)` : out;
    } catch {
      return null;
    }
  }
}
