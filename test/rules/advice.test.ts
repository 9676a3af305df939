import { describe, expect, it } from "vitest";
import { BASELINE_NEXT, nextAfterReset, statusNext, type AdviceFacts } from "../../src/rules/advice.js";
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
