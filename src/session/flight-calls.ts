import { shortHash } from "../git.js";
import type { Flight } from "../executor/queue.js";
import type { Workspace } from "../workspace.js";
import type { SessionInfo } from "./history.js";
import type { InFlight } from "./in-flight.js";
import type { Ledger } from "./ledger.js";
import { describeRun, proposalFor, waitCap, waitFor, type Callbacks } from "./training.js";

/** run_training and log_result on runs in flight: waiting for one (or for whichever ends first), cancelling, the answer. */

/** Waits for run `f` (queued: until it has started and ended) within the call's limit; returns it as it is then. */
export async function waitForFlight(ws: Workspace, flight: InFlight, f: Flight, waitSeconds: number | undefined, cb: Callbacks, opts: { intervalMs: number; closed: () => boolean }): Promise<Flight> {
  const { closed } = opts;
  const deadline = Date.now() + Math.min(waitSeconds ?? Infinity, waitCap(ws, cb)) * 1000;
  let now = f;
  while (now.state !== "finished" && !closed() && !cb.signal?.aborted) {
    const left = deadline - Date.now();
    if (left <= 0) break;
    const h = flight.handle(now.run.id);
    if (h) await waitFor(ws, h, left / 1000, cb, opts);
    else {
      cb.progress?.(0, ws.config.killAfterSeconds, `queued (${flight.pending().filter((p) => p.state === "queued").length} waiting for a slot)`);
      await flight.nextEnd(Math.min(left, opts.intervalMs));
    }
    now = flight.store.get(f.run.id) ?? now;
    if (!flight.store.get(f.run.id)) break; // logged meanwhile
  }
  return now;
}

/** log_result {"wait": true}: waits until some run in flight can be logged; false when the wait ended first. */
export async function waitForLoggable(ws: Workspace, flight: InFlight, loggable: () => Flight | null, waitSeconds: number | undefined, cb: Callbacks, opts: { intervalMs: number; closed: () => boolean }): Promise<boolean> {
  const { closed } = opts;
  const deadline = Date.now() + Math.min(waitSeconds ?? Infinity, waitCap(ws, cb)) * 1000;
  const started = Date.now();
  for (;;) {
    if (loggable()) return true;
    if (!flight.pending().length) return true; // nothing to wait for: log_result says what is there
    const left = deadline - Date.now();
    if (left <= 0 || closed() || cb.signal?.aborted) return false;
    const running = flight.pending().filter((p) => p.state === "running").length;
    cb.progress?.((Date.now() - started) / 1000, ws.config.killAfterSeconds, `${running} running, ${flight.pending().length - running} queued`);
    await flight.nextEnd(Math.min(left, opts.intervalMs));
  }
}

/** Cancels a run in flight: a running one is stopped (its row is a crash to log), a queued one leaves the queue. */
export async function cancelFlight(flight: InFlight, f: Flight): Promise<Flight> {
  const h = flight.handle(f.run.id);
  if (h) await h.stop("cancel");
  else if (f.state === "queued") {
    await flight.forget(f.run.id);
    return { ...f, state: "queued", record: null, cancelled: true } as Flight & { cancelled: true };
  }
  return flight.store.get(f.run.id) ?? f;
}

/** run_training's answer for a run in flight. */
export async function describeFlight(ws: Workspace, flight: InFlight, f: Flight, info: SessionInfo | null, ledger: Ledger, releasedTo: string | null) {
  const id = f.run.id;
  const back = releasedTo ? ` The branch is back on ${shortHash(releasedTo)}: apply_patch the next idea meanwhile.` : "";
  const gpu = f.record?.gpu ?? undefined;
  const inFlight = flight.pending().length;
  if ((f as { cancelled?: boolean }).cancelled)
    return { runId: id, commit: shortHash(f.run.commit), state: "cancelled" as const, elapsedSeconds: 0, killAfterSeconds: ws.config.killAfterSeconds, inFlight, next: "Cancelled before it started: it has no row." };
  if (f.state === "queued" || !f.record) {
    const ahead = flight.pending().filter((p) => p.state === "queued" && p.run.queuedAt < f.run.queuedAt).length;
    return { runId: id, commit: shortHash(f.run.commit), state: "queued" as const, elapsedSeconds: 0, killAfterSeconds: ws.config.killAfterSeconds, queuePosition: ahead + 1, inFlight, next: `Queued (${ahead} ahead of it); it starts when a slot frees.${back} log_result {"wait":true} logs the next run that finishes.` };
  }
  const rec = f.record;
  const logged = !!ledger.loggedLine(rec);
  const d = describeRun(ws, rec, ledger.results().rows, logged, rec.exit && info ? await proposalFor(ws, info, ledger, rec) : null);
  const next =
    d.state === "running"
      ? `Running${gpu !== undefined && gpu !== null ? ` on GPU ${gpu}` : ""}.${back} Wait with run_training {"runId":"${id}"}, or log_result {"wait":true} for whichever finishes first.`
      : logged || d.next.startsWith("The run was interrupted")
        ? d.next
        : `Call log_result {"runId":"${id}"} (the description defaults to its commit's); the server proposes "${d.proposedStatus}".`;
  return { ...d, ...(gpu !== undefined ? { gpu } : {}), inFlight, next };
}
