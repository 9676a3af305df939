import { describe, expect, it } from "vitest";
import { headState, oneFixRefusal, refusalFor, type Action, type HeadFacts, type HeadState } from "../../src/rules/head-state.js";
import { CRASHES_PER_IDEA } from "../../src/rules/policy.js";

/**
 * The HEAD state machine as a table: each state is built from the facts the server reads
 * (results.tsv, the last run record, git), then every action is asked of it.
 */

const HEAD = "a1b2c3d";
const RESULTS = "results.tsv";

const facts = (over: Partial<HeadFacts>): HeadFacts => ({
  head: HEAD,
  status: null,
  run: null,
  parentStatus: null,
  crashesSinceBest: 0,
  results: RESULTS,
  ...over,
});

const logged = (line: number) => ({ id: "run-0007", finished: true, logged: true, line });

/** One canonical set of facts per state, as the server would see it. */
const STATE_FACTS: Record<HeadState, HeadFacts> = {
  // a kept commit whose run is logged
  clean: facts({ status: "keep", run: logged(2) }),
  // a fresh commit that ran and finished, nothing logged yet
  unlogged_run: facts({ status: null, run: { id: "run-0007", finished: true, logged: false } }),
  // a logged discard
  on_discard: facts({ status: "discard", run: logged(3) }),
  // the first crash since the best kept commit
  on_crash: facts({ status: "crash", run: logged(4), crashesSinceBest: 1 }),
  // a commit on top of a crash, not run yet
  fix_pending: facts({ status: null, run: null, parentStatus: "crash" }),
  // the fix crashed too
  second_crash: facts({ status: "crash", run: logged(5), crashesSinceBest: 2 }),
  // the baseline itself crashed and nothing was kept
  baseline_crashed: facts({ status: "crash", run: logged(2), crashesSinceBest: 1, baselinePending: true }),
  // (noise rule) a new keep with one run: its confirmation comes first
  repeat_due: facts({ status: "keep", run: logged(3), repeatDue: { n: 1, wanted: 2, baseline: false }, ranBefore: { commit: HEAD, line: 3, value: 0.99, status: "keep", session: "" } }),
};

const STATES = Object.keys(STATE_FACTS) as HeadState[];
const ACTIONS: Action[] = ["edit", "commit", "run", "log", "reset"];

/**
 * The expected refusal code for every state × action; null: allowed. (The one-fix rule for a
 * commit in fix_pending is `oneFixRefusal`, checked at commit time, below.)
 */
const EXPECTED: Record<HeadState, Record<Action, string | null>> = {
  clean: { edit: null, commit: null, run: null, log: "already_logged", reset: null },
  unlogged_run: { edit: "unlogged_run", commit: "unlogged_run", run: "unlogged_run", log: null, reset: "unlogged_run" },
  on_discard: { edit: "on_discard", commit: "on_discard", run: null, log: "already_logged", reset: null },
  on_crash: { edit: null, commit: null, run: null, log: "already_logged", reset: null },
  fix_pending: { edit: null, commit: null, run: null, log: "no_run", reset: null },
  second_crash: { edit: "second_crash", commit: "second_crash", run: null, log: "already_logged", reset: null },
  baseline_crashed: { edit: "baseline_crashed", commit: "baseline_crashed", run: null, log: "already_logged", reset: null },
  repeat_due: { edit: "repeat_due", commit: "repeat_due", run: null, log: "already_logged", reset: null },
};

/** What each refusal tells the agent to call instead. */
const NEXT_TOOL: Record<string, RegExp> = {
  unlogged_run: /log_result/,
  on_discard: /reset_to_best/,
  second_crash: /reset_to_best/,
  no_run: /run_training/,
  already_logged: /reset_to_best|apply_patch/,
  baseline_crashed: /Report the reason to the human and stop.*run_training/,
  interrupted: /run_training/,
  repeat_due: /run_training/,
};

describe("headState", () => {
  it.each(STATES)("the canonical facts of %s are read as that state", (state) => {
    expect(headState(STATE_FACTS[state])).toBe(state);
  });

  it.each<{ name: string; f: HeadFacts; state: HeadState }>([
    { name: "no rows, no run, no parent row (a fresh commit)", f: facts({}), state: "clean" },
    { name: "a run still going is not unlogged", f: facts({ run: { id: "r", finished: false, logged: false } }), state: "clean" },
    { name: "a re-run of a kept commit, finished and unlogged", f: facts({ status: "keep", run: { id: "r", finished: true, logged: false } }), state: "unlogged_run" },
    { name: "an unlogged re-run wins over a discard row", f: facts({ status: "discard", run: { id: "r", finished: true, logged: false } }), state: "unlogged_run" },
    { name: "an unlogged re-run wins over a crash row", f: facts({ status: "crash", crashesSinceBest: 2, run: { id: "r", finished: true, logged: false } }), state: "unlogged_run" },
    { name: "an interrupted run (client gone) does not count as a run of a fix", f: facts({ parentStatus: "crash", run: { id: "r", finished: true, logged: false, interrupted: true } }), state: "fix_pending" },
    { name: "an interrupted run is not an unlogged run", f: facts({ status: "keep", run: { id: "r", finished: true, logged: false, interrupted: true } }), state: "clean" },
    { name: "a baseline crash after a keep is an ordinary crash", f: facts({ status: "crash", crashesSinceBest: 1, baselinePending: false }), state: "on_crash" },
    { name: "a discard row with no run record (hand-written row)", f: facts({ status: "discard" }), state: "on_discard" },
    { name: "one crash since the best", f: facts({ status: "crash", crashesSinceBest: 1 }), state: "on_crash" },
    { name: "exactly CRASHES_PER_IDEA crashes", f: facts({ status: "crash", crashesSinceBest: CRASHES_PER_IDEA }), state: "second_crash" },
    { name: "more crashes than that", f: facts({ status: "crash", crashesSinceBest: CRASHES_PER_IDEA + 3 }), state: "second_crash" },
    { name: "the fix is running: not pending any more", f: facts({ parentStatus: "crash", run: { id: "r", finished: false, logged: false } }), state: "clean" },
    { name: "a commit on a discard parent is not a fix", f: facts({ parentStatus: "discard" }), state: "clean" },
    { name: "a commit on a keep parent", f: facts({ parentStatus: "keep" }), state: "clean" },
    { name: "a logged commit whose parent crashed is not pending", f: facts({ status: "keep", parentStatus: "crash", run: logged(6) }), state: "clean" },
  ])("$name → $state", ({ f, state }) => {
    expect(headState(f)).toBe(state);
  });
});

describe("refusalFor: every state × every action", () => {
  const table = STATES.flatMap((state) => ACTIONS.map((action) => ({ state, action, code: EXPECTED[state][action] })));

  it("covers all 8 states × 5 actions", () => {
    expect(table).toHaveLength(40);
  });

  it.each(table)("$state / $action → $code", ({ state, action, code }) => {
    const f = STATE_FACTS[state];
    const r = refusalFor(action, f);
    if (code === null) {
      expect(r).toBeNull();
      return;
    }
    expect(r).not.toBeNull();
    expect(r!.code).toBe(code);
    expect(r!.message.trim().length).toBeGreaterThan(0);
    expect(r!.next.trim().length).toBeGreaterThan(0);
    // Every refusal names HEAD, so the agent knows which commit it is about.
    expect(r!.message).toContain(HEAD);
    expect(r!.next).toMatch(NEXT_TOOL[code]);
  });

  it("an unlogged run refused for run_training names the run id", () => {
    expect(refusalFor("run", STATE_FACTS.unlogged_run)!.message).toContain("run-0007");
  });

  it("an unlogged run refused for edit names results.tsv", () => {
    const f = { ...STATE_FACTS.unlogged_run, results: "experiments/results.tsv" };
    expect(refusalFor("edit", f)!.message).toContain("experiments/results.tsv");
  });

  it("the unlogged_run refusal for reset warns the run would be lost and says to log first", () => {
    const r = refusalFor("reset", STATE_FACTS.unlogged_run)!;
    expect(r.message).toMatch(/lose/);
    expect(r.next).toMatch(/log_result.*reset_to_best/);
  });
});

describe("refusalFor log: no_run and already_logged", () => {
  it.each<{ name: string; f: HeadFacts; code: string | null; mentions?: string }>([
    { name: "no run record at all", f: facts({ status: "keep" }), code: "no_run" },
    { name: "a run still going", f: facts({ run: { id: "r", finished: false, logged: false } }), code: "no_run" },
    { name: "a discard with no run record", f: facts({ status: "discard" }), code: "no_run" },
    { name: "a finished, unlogged run", f: facts({ run: { id: "r", finished: true, logged: false } }), code: null },
    { name: "an unlogged re-run of a kept commit", f: facts({ status: "keep", run: { id: "r", finished: true, logged: false } }), code: null },
    { name: "logged, line known", f: facts({ status: "keep", run: logged(7) }), code: "already_logged", mentions: "line 7" },
    { name: "logged, line unknown", f: facts({ status: "keep", run: { id: "r", finished: true, logged: true, line: null } }), code: "already_logged", mentions: "line ?" },
    { name: "logged, line absent", f: facts({ status: "crash", crashesSinceBest: 1, run: { id: "r", finished: true, logged: true } }), code: "already_logged", mentions: "line ?" },
  ])("$name → $code", ({ f, code, mentions }) => {
    const r = refusalFor("log", f);
    if (code === null) return expect(r).toBeNull();
    expect(r?.code).toBe(code);
    expect(r!.message).toContain(HEAD);
    expect(r!.next.length).toBeGreaterThan(0);
    if (mentions) expect(r!.message).toContain(mentions);
  });
});

describe("oneFixRefusal", () => {
  const PARENT = "9f8e7d6";

  it("refuses a second commit on top of an unrun fix, naming both commits", () => {
    const r = oneFixRefusal(STATE_FACTS.fix_pending, PARENT);
    expect(r?.code).toBe("one_fix");
    expect(r!.message).toContain(HEAD);
    expect(r!.message).toContain(PARENT);
    expect(r!.next).toMatch(/run_training/);
    expect(r!.next).toMatch(/reset_to_best/);
  });

  it.each(STATES.filter((s) => s !== "fix_pending"))("allows a commit in state %s", (state) => {
    expect(oneFixRefusal(STATE_FACTS[state], PARENT)).toBeNull();
  });

  it("allows a commit once the fix has a run (it ran: no longer pending)", () => {
    expect(oneFixRefusal(facts({ parentStatus: "crash", run: { id: "r", finished: false, logged: false } }), PARENT)).toBeNull();
  });

  it("allows a commit on a parent that was not a crash", () => {
    expect(oneFixRefusal(facts({ parentStatus: "discard" }), PARENT)).toBeNull();
    expect(oneFixRefusal(facts({ parentStatus: null }), PARENT)).toBeNull();
  });

  it("in fix_pending, refusalFor itself allows commit: the one-fix rule is the only guard", () => {
    expect(refusalFor("commit", STATE_FACTS.fix_pending)).toBeNull();
    expect(oneFixRefusal(STATE_FACTS.fix_pending, PARENT)).not.toBeNull();
  });
});

describe("a run ended from outside the code (client gone, server died)", () => {
  const f = facts({ status: null, run: { id: "run-0009", finished: true, logged: false, interrupted: true } });
  it("has nothing to log and says to run it again", () => {
    const r = refusalFor("log", f)!;
    expect(r.code).toBe("interrupted");
    expect(r.message).toContain(HEAD);
    expect(r.message).toContain("run-0009");
    expect(r.next).toMatch(/run_training/);
  });
  it.each<Action>(["edit", "commit", "run", "reset"])("does not block %s", (a) => {
    expect(refusalFor(a, f)).toBeNull();
  });
});

describe("(noise rule) a due repeat and code that already ran", () => {
  const ran = { commit: HEAD, line: 4, value: 0.991234, status: "discard", session: "" };

  it.each<{ name: string; f: HeadFacts; state: HeadState }>([
    { name: "a baseline with 1 of 2 runs", f: facts({ status: "keep", run: logged(2), repeatDue: { n: 1, wanted: 2, baseline: true } }), state: "repeat_due" },
    { name: "an unlogged repeat wins over the due repeat", f: facts({ status: "keep", run: { id: "r", finished: true, logged: false }, repeatDue: { n: 1, wanted: 2, baseline: false } }), state: "unlogged_run" },
    { name: "no repeat due: a confirmed keep", f: facts({ status: "keep", run: logged(5), repeatDue: null }), state: "clean" },
  ])("$name → $state", ({ f, state }) => {
    expect(headState(f)).toBe(state);
  });

  it("the baseline's due repeat says why (σ) and which run it is", () => {
    const r = refusalFor("edit", facts({ status: "keep", run: logged(2), repeatDue: { n: 1, wanted: 2, baseline: true } }))!;
    expect(r.code).toBe("repeat_due");
    expect(r.message).toMatch(/baseline a1b2c3d has 1 of 2 runs.*σ/);
    expect(r.next).toMatch(/^Run it again first: run_training/);
  });

  it.each<{ name: string; f: HeadFacts; repeat: boolean; code: string | null }>([
    { name: "a logged discard run again by accident", f: facts({ status: "discard", run: logged(4), ranBefore: ran }), repeat: false, code: "already_run" },
    { name: "the same, asked for on purpose", f: facts({ status: "discard", run: logged(4), ranBefore: ran }), repeat: true, code: null },
    { name: "a new commit whose train.py another commit ran", f: facts({ status: null, ranBefore: { ...ran, commit: "0f0f0f0" } }), repeat: false, code: "already_run" },
    { name: "a due repeat needs no flag", f: facts({ status: "keep", run: logged(3), repeatDue: { n: 1, wanted: 2, baseline: false }, ranBefore: ran }), repeat: false, code: null },
    { name: "code that never measured a value (a crash) runs again freely", f: facts({ status: "crash", run: logged(4), crashesSinceBest: 1, ranBefore: null }), repeat: false, code: null },
    { name: "the strict rule knows no earlier runs", f: facts({ status: "discard", run: logged(4) }), repeat: false, code: null },
  ])("run: $name → $code", ({ f, repeat, code }) => {
    const r = refusalFor("run", f, { repeat });
    if (code === null) return expect(r).toBeNull();
    expect(r?.code).toBe(code);
    expect(r!.message).toContain("0.991234");
    expect(r!.next).toMatch(/run_training \{"repeat":true\}/);
  });

  it("already_run names where the code ran, this commit or another, and another session", () => {
    expect(refusalFor("run", facts({ status: "discard", run: logged(4), ranBefore: ran }))!.message).toMatch(/^This commit already ran \(row 4: a1b2c3d 0\.991234 discard\)/);
    expect(refusalFor("run", facts({ ranBefore: { ...ran, commit: "0f0f0f0", session: "nov30" } }))!.message).toMatch(/^This train\.py already ran \(session nov30, row 4: 0f0f0f0 0\.991234 discard\)/);
    expect(refusalFor("run", facts({ status: "discard", run: logged(4), ranBefore: ran }))!.next).toMatch(/Otherwise reset_to_best/);
  });
});
