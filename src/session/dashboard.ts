import { shortHash } from "../git.js";
import type { RunHandle, RunRecord } from "../executor/executor.js";
import { baselineOf, bestKept, improvement, stallOf, statusAdvice } from "../rules/policy.js";
import type { Workspace } from "../workspace.js";
import type { SessionInfo } from "./history.js";
import type { Ledger } from "./ledger.js";
import { capList } from "./messages.js";
import { latestLine, nightOverNow } from "./training.js";
import { statusNext } from "../rules/advice.js";
import { readHead } from "./history.js";
import { stallOfMeasured, summarizeNoise, type MeasuredRow, type NoiseSummary } from "../rules/noise.js";
import { noiseSettings } from "./measures.js";
import type { InFlight } from "./in-flight.js";

/** The status tool: the session at a glance, from results.tsv's running summary (nothing walks all rows). */

export interface DashboardInput {
  ws: Workspace;
  info: SessionInfo | null;
  ledger: Ledger;
  active: RunHandle | null;
  lastRun: { rec: RunRecord; logged: boolean } | null;
  recovered: RunRecord | null;
  notes: readonly string[];
  flight: InFlight;
}

export async function dashboard(d: DashboardInput, args: { rows?: number }) {
  const { ws, info, ledger, active } = d;
  const { config } = ws;
  const results = ledger.results();
  const rows = results.rows;
  const { keeps, lastKeep } = results.summary;
  const counts = { ...results.summary.counts };
  const goal = config.metric.goal;
  const best = bestKept(keeps, goal);
  const baseline = baselineOf(keeps);
  const n = Math.max(0, Math.min(args.rows ?? 20, 200));
  const head = await ws.repo.headOid();
  const branch = await ws.repo.currentBranch();
  const measured = info && noiseSettings(config) ? await ledger.measured(info, rows) : null;
  const stall = measured ? stallOfMeasured(measured) : stallOf(rows.length, lastKeep);
  const rec = d.lastRun?.rec ?? null;
  const next = await nextFor(d, head, branch, rows.length, stall, measured);
  const z = measured ? summarizeNoise(measured, goal) : null;
  const settings = noiseSettings(config);
  const noise = z && settings ? { settings, ...noiseView(z, goal, stall) } : null;
  return {
    session: info ? { tag: info.tag, branch: info.branch, base: shortHash(info.base) } : null,
    head: head ? shortHash(head) : null,
    branch,
    metric: config.metric.name,
    best: z?.best
      ? { commit: z.best.commit, metric: z.best.mean, description: z.best.first.description, n: z.best.n, stderr: z.best.stderr }
      : best
        ? { commit: best.commit, metric: best.value, description: best.description }
        : null,
    baseline: baseline ? { commit: baseline.commit, metric: z?.baseline?.mean ?? baseline.value } : null,
    improvement: baseline && (z?.best || best) ? improvement(z?.baseline?.mean ?? baseline.value, z?.best?.mean ?? best!.value, goal) : null,
    counts: { total: rows.length, ...counts },
    sinceLastKeep: stall,
    keepRate: z ? z.keepRate : rows.length ? Math.round((counts.keep / rows.length) * 1000) / 1000 : null,
    noise,
    lastRows: rows
      .slice(rows.length - Math.min(n, rows.length))
      .map((r, i, shown) => ({ n: rows.length - shown.length + i + 1, commit: r.commit, metric: r.valueText, memoryGb: r.memoryText, status: r.status, description: r.description })),
    inFlight: d.flight.list().filter((f) => !d.flight.logged(f)).map((f) => ({
      runId: f.run.id,
      commit: shortHash(f.run.commit),
      description: f.run.description,
      state: f.state,
      gpu: f.record?.gpu ?? null,
      elapsedSeconds: f.record ? Math.round(((f.record.endedAt ?? Date.now()) - f.record.startedAt) / 1000) : 0,
      ...(f.run.reappliedFrom ? { reappliedFrom: shortHash(f.run.reappliedFrom) } : {}),
      ...(f.record?.jobId ? { jobId: f.record.jobId, node: f.record.node ?? null } : {}),
    })),
    slots: { total: d.flight.slots.size, busy: d.flight.slots.busy, gpus: config.gpus?.map(String) ?? null },
    running: active ? { runId: active.record.id, commit: shortHash(active.record.commit), elapsedSeconds: Math.round(active.elapsedSeconds), latest: latestLine(ws) } : null,
    lastRun: rec ? { runId: rec.id, commit: shortHash(rec.commit), endReason: rec.exit?.reason ?? (active ? "running" : "unknown"), logged: d.lastRun!.logged } : null,
    recovered: d.recovered ? `run ${d.recovered.id} was still running when its server died; it was killed when this server started` : null,
    problems: capList([...(info && !results.exists ? [`${config.results} is missing: start_session {"resume":true} restores it from the server's copy`] : []), ...results.problems, ...d.notes], 20),
    trajectory: z ? z.lineage.map((k) => ({ commit: k.commit, metric: k.mean, description: k.first.description })) : keeps.map((r) => ({ commit: r.commit, metric: r.value, description: r.description })),
    advice: statusAdvice(!!info, stall),
    next,
  };
}

/** status's noise block: σ and what it means for the best, the keeps and the plateau. */
function noiseView(z: NoiseSummary, goal: "min" | "max", stall: number) {
  const last = z.lineage.length > 1 ? z.lineage[z.lineage.length - 1] : null;
  const prev = z.lineage.length > 1 ? z.lineage[z.lineage.length - 2] : null;
  const gain = last && prev ? improvement(prev.mean, last.mean, goal) : null;
  return {
    sigma: z.sigma,
    df: z.df,
    experiments: z.experiments,
    kept: z.kept,
    revoked: z.revoked,
    falseKeepRisk: z.falseKeepRisk,
    plateau: { sinceLastKeep: stall, lastGain: gain, lastGainSigmas: gain !== null && z.sigma ? Math.round((gain / z.sigma) * 100) / 100 : null },
  };
}

/** The state-following `next`: HEAD's facts, whether train.py has uncommitted edits, the night's limits. */
async function nextFor(d: DashboardInput, head: string | null, branch: string | null, rowCount: number, stall: number, measured: MeasuredRow[] | null): Promise<string> {
  const { ws, info } = d;
  const onBranch = info && branch === info.branch ? ({ ok: true } as const) : ({ ok: false, branch: info?.branch ?? "" } as const);
  let facts = null;
  let editableDirty = false;
  if (info && onBranch.ok && head) {
    [facts, editableDirty] = await Promise.all([
      readHead(ws, info, d.ledger, d.lastRun?.rec ?? null, head, measured).then((h) => h.facts),
      ws.repo.status().then((st) => st.some((e) => e.path === ws.config.editable)),
    ]);
  }
  return statusNext({
    hasSession: !!info,
    onBranch,
    running: d.active ? { id: d.active.record.id } : null,
    inFlight: d.flight.list().filter((f) => !d.flight.logged(f)).length,
    inFlightFinished: d.flight.finished().length,
    nightOver: info ? nightOverNow(ws, info, rowCount) : null,
    head: facts,
    editableDirty,
    rowCount,
    stall,
  });
}
