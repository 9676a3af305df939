import { describe, expect, it } from "vitest";
import { BASELINE_NEXT, nextAfterFlightLog, nextAfterReset, statusNext, type AdviceFacts } from "../../src/rules/advice.js";
import type { HeadFacts } from "../../src/rules/head-state.js";

/** status's `next` and reset_to_best's, as tables over the facts the server reads. */

const head = (over: Partial<HeadFacts>): HeadFacts => ({ head: "a1b2c3d", status: "keep", run: { id: "r", finished: true, logged: true, line: 2 }, parentStatus: null, crashesSinceBest: 0, results: "results.tsv", ...over });
const facts = (over: Partial<AdviceFacts>): AdviceFacts => ({ hasSession: true, onBranch: { ok: true }, running: null, nightOver: null, head: head({}), editableDirty: false, rowCount: 3, stall: 1, ...over });

describe("statusNext", () => {
  it.each<{ name: string; a: AdviceFacts; says: RegExp }>([
    { name: "no session", a: facts({ hasSession: false }), says: /^Call start_session/ },
    { name: "off the branch", a: facts({ onBranch: { ok: false, branch: "autoresearch/t" } }), says: /git checkout autoresearch\/t/ },
    { name: "a run going", a: facts({ running: { id: "run-1" } }), says: /run_training \{"runId":"run-1"\}/ },
    { name: "an unlogged run", a: facts({ head: head({ status: null, run: { id: "r", finished: true, logged: false } }) }), says: /^Log the run of a1b2c3d/ },
    { name: "no rows yet", a: facts({ rowCount: 0 }), says: new RegExp(`^${BASELINE_NEXT.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`) },
    { name: "the baseline's repeat is due", a: facts({ head: head({ repeatDue: { n: 1, wanted: 2, baseline: true } }) }), says: /^The baseline a1b2c3d has 1 of 2 runs.* Run it again: run_training/ },
    { name: "a keep's confirmation is due", a: facts({ head: head({ repeatDue: { n: 1, wanted: 2, baseline: false } }) }), says: /^a1b2c3d was kept on 1 run; .* Run it again: run_training/ },
    { name: "a discard", a: facts({ head: head({ status: "discard" }) }), says: /reset_to_best/ },
    { name: "a clean keep", a: facts({}), says: /^Next idea: apply_patch/ },
    { name: "a long stall", a: facts({ stall: 12 }), says: /12 experiments since the last keep: widen the search/ },
    { name: "a run in flight finished", a: facts({ inFlight: 2, inFlightFinished: 1 }), says: /^1 run in flight finished: log_result \{\} logs the oldest\.$/ },
    { name: "runs in flight, none finished: the next idea", a: facts({ inFlight: 2, inFlightFinished: 0 }), says: /^Next idea: apply_patch/ },
    { name: "the night over with runs in flight", a: facts({ nightOver: "maxRuns 5 reached", inFlight: 2 }), says: /^The night is over, but 2 runs are in flight: log_result \{"wait":true\} until none is left/ },
  ])("$name", ({ a, says }) => {
    expect(statusNext(a)).toMatch(says);
  });
});

describe("nextAfterReset", () => {
  it.each([
    { f: { leftovers: "notes.txt", nightOver: null, kept: true, rows: 3 }, says: /still there: notes\.txt/ },
    { f: { leftovers: null, nightOver: "stopAt 07:00 passed", kept: true, rows: 3 }, says: /night is over/ },
    { f: { leftovers: null, nightOver: null, kept: true, rows: 3 }, says: /^Reset done\. Next idea: apply_patch\.$/ },
    { f: { leftovers: null, nightOver: null, kept: false, rows: 0 }, says: /^Reset to the session base\. Run the baseline/ },
  ])("$says", ({ f, says }) => {
    expect(nextAfterReset(f)).toMatch(says);
  });
});

describe("nextAfterFlightLog", () => {
  const f = (over: Partial<Parameters<typeof nextAfterFlightLog>[0]>) => ({ status: "discard", baseline: false, kept: false, stale: null, revoked: false, confirmation: null, inFlight: 0, nightOver: null, ...over });
  it.each([
    { name: "a keep", f: f({ status: "keep", kept: true, inFlight: 2 }), says: /^Kept: the branch advanced\. 2 runs in flight\. Queue the next idea/ },
    { name: "a keep with its confirmation queued", f: f({ status: "keep", kept: true, confirmation: "run-x", inFlight: 1 }), says: /^Kept: the branch advanced; its confirmation run is queued\. 1 run in flight/ },
    { name: "a discard", f: f({}), says: /^Not kept \(discard\): the branch did not move\. Nothing in flight: apply_patch, then commit \{"description":"\.\.\.","run":true\}\.$/ },
    { name: "a crash", f: f({ status: "crash", inFlight: 1 }), says: /^Not kept \(crash\)/ },
    { name: "stale, re-applied", f: f({ stale: { reapplied: "abc1234" } }), says: /built on an older one: its change was re-applied onto the best as abc1234 and queued/ },
    { name: "stale, not applicable", f: f({ stale: { reapplied: null } }), says: /does not apply onto the best: not re-queued/ },
    { name: "revoked", f: f({ revoked: true }), says: /^Revoked: the branch went back to the best/ },
    { name: "the baseline", f: f({ status: "keep", baseline: true, confirmation: "run-y" }), says: /^Baseline logged; its repeat is queued/ },
    { name: "the night over", f: f({ nightOver: "The night is over (maxRuns 3 reached).", inFlight: 1 }), says: /maxRuns 3 reached\)\. 1 run is still in flight: log_result \{"wait":true\}/ },
  ])("$name", ({ f: facts, says }) => {
    expect(nextAfterFlightLog(facts)).toMatch(says);
  });
});
