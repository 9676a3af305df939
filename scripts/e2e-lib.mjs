// What the end-to-end tests of Claude Code (e2e-claude.mjs) and Codex (e2e-codex.mjs) share: the
// report, the install of a client from the npm registry into <tmpdir>/autoresearch-e2e (never a
// dependency of this package), the workspace, the scripted loop with its tamper, the MCP tap's
// log, and the checks on results.tsv, git and leftover processes.
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { oneLine } from "./fake-llm.mjs";
import { children, killChildren, killGroup, leftovers, run } from "./procs.mjs";

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const CLI = path.join(REPO, "dist", "cli.js");
export const TAP = path.join(REPO, "scripts", "mcp-tap.mjs");
export const EXAMPLE = path.join(REPO, "examples", "tiny-lm");
export const CACHE = path.join(os.tmpdir(), "autoresearch-e2e");
export const TAG = "e2e";
export const EXPERIMENT = "raise ORDER from 3 to 5 bytes of context";
export const TAMPER = "echo '# tampered behind the server' >> prepare.py";
export const UNDO = "git checkout -- prepare.py && git status --porcelain";
export const secs = (ms) => `${(ms / 1000).toFixed(1)} s`;
export { oneLine };

// ---------------------------------------------------------------------------------------------
// Reporting

export function reporter(label) {
  const T0 = Date.now();
  const r = {
    label,
    T0,
    checks: [],
    notes: [],
    timings: [],
    interrupted: false,
    stamp: () => `[${secs(Date.now() - T0).padStart(7)}]`,
    say: (line) => r.interrupted || console.log(`${r.stamp()} ${line}`),
    check(name, ok, detail = "") {
      if (r.interrupted) return false;
      r.checks.push({ name, ok: !!ok, detail });
      console.log(`${r.stamp()} ${ok ? "ok  " : "FAIL"} ${name}${detail ? `: ${detail}` : ""}`);
      return !!ok;
    },
    note(line) {
      r.notes.push(line);
      r.say(`note: ${line}`);
    },
  };
  return r;
}

/** SIGINT/SIGTERM/SIGHUP: stop every child, list what is left on the workspace, exit 130. */
export function onSignals(r, state) {
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"])
    process.on(sig, async () => {
      if (r.interrupted) return;
      r.interrupted = true;
      console.log(`\n${r.stamp()} e2e:${r.label}: ${sig}, stopping the client and the fake model`);
      await cleanup(state);
      const left = state.tmp ? await leftovers(path.join(state.tmp, "ws")) : [];
      for (const p of left) console.log(`left behind: ${p.pid} ${p.cmd}`);
      console.log(`INTERRUPTED e2e:${r.label} after ${secs(Date.now() - r.T0)}${state.tmp ? `; temp dir kept: ${state.tmp}` : ""}`);
      process.exit(130);
    });
}

export async function cleanup(state) {
  await killChildren();
  if (state.llm) await state.llm.close().catch(() => {});
}

/** The last lines: timings, notes, PASS/FAIL; exits. */
export async function finish(r, state, { outcome, fatal, verbose, keep, header = [], files = [] }) {
  if (r.interrupted) await new Promise(() => {});
  await cleanup(state);
  const failed = r.checks.filter((c) => !c.ok);
  console.log("\n---");
  for (const h of header) console.log(h);
  for (const [what, ms] of r.timings) console.log(`${what.padEnd(60)} ${secs(ms)}`);
  if (state.llm) for (const c of state.llm.calls) console.log(`${`${c.tool}${c.step.label ? ` (${c.step.label})` : ""}${c.repeat ? " again" : ""}`.padEnd(60)} ${c.ms === null ? "-" : secs(c.ms)}`);
  for (const n of r.notes) console.log(`note: ${n}`);
  if (outcome) {
    if (failed.length || keep) console.log(`workspace kept: ${outcome.ws}${files.length ? ` (${files.map((f) => path.join(state.tmp, f)).join(", ")})` : ""}`);
    else fs.rmSync(state.tmp, { recursive: true, force: true });
  }
  console.log(`${failed.length ? "FAIL" : "PASS"} e2e:${r.label} — ${r.checks.length - failed.length}/${r.checks.length} checks in ${secs(Date.now() - r.T0)}`);
  for (const c of failed) console.log(`  failed: ${c.name}${c.detail ? `: ${oneLine(c.detail, 300)}` : ""}`);
  if (!outcome && state.tmp) console.log(`temp dir kept: ${state.tmp}`);
  if (fatal && verbose) console.error(fatal);
  process.exit(failed.length ? 1 : 0);
}

// ---------------------------------------------------------------------------------------------
// The client, installed on demand

/**
 * npm install <pkg>@<version> into CACHE/<dir>-<version> (--ignore-scripts: the binary is taken
 * from the platform package, no postinstall runs); returns the first of `binaries(prefix)` whose
 * `--version` output passes `matches`.
 */
export async function installFromNpm(r, { pkg, version, dir, binaries, matches, env = {} }) {
  const prefix = path.join(CACHE, `${dir}-${version}`);
  const find = () => {
    for (const file of binaries(prefix)) {
      if (!fs.existsSync(file)) continue;
      const v = spawnSync(file, ["--version"], { encoding: "utf8", timeout: 60_000, env: { ...process.env, HOME: os.tmpdir(), ...env } });
      if (v.status === 0 && matches(v.stdout.trim())) return { bin: file, versionLine: v.stdout.trim() };
    }
    return null;
  };
  let found = find();
  if (found) {
    r.say(`${pkg}@${version} found in ${prefix}`);
    return { version, prefix, ...found };
  }
  r.say(`installing ${pkg}@${version} into ${prefix} (npm registry)`);
  fs.mkdirSync(prefix, { recursive: true });
  const res = await run("npm", ["install", "--prefix", prefix, "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error", `${pkg}@${version}`], { timeoutMs: 600_000 });
  r.timings.push([`npm install ${pkg}`, res.ms]);
  if (res.code !== 0) throw new Error(`npm install ${pkg}@${version} failed (exit ${res.code}):\n${res.stderr.trim()}`);
  found = find();
  if (!found) throw new Error(`${pkg}@${version} installed in ${prefix}, but none of ${binaries(prefix).map((b) => path.relative(prefix, b)).join(", ")} runs here`);
  return { version, prefix, ...found };
}

// ---------------------------------------------------------------------------------------------
// The workspace

export function git(ws, ...args) {
  const res = spawnSync("git", args, { cwd: ws, encoding: "utf8" });
  if (res.status !== 0) throw new Error(`git ${args.join(" ")}: ${res.stderr.trim()}`);
  return res.stdout.trim();
}

/**
 * examples/tiny-lm in a fresh git repository under `tmp`, with a knob that makes the baseline sleep
 * `sleepSeconds` first (the experiment sets it to 0); the budget keeps the hard limit far away.
 */
export function prepareWorkspace(tmp, sleepSeconds, why) {
  const ws = path.join(tmp, "ws");
  const skip = new Set(["__pycache__", ".cache", "results.tsv", "run.log"]);
  fs.cpSync(EXAMPLE, ws, { recursive: true, filter: (src) => !skip.has(path.basename(src)) });
  const trainPath = path.join(ws, "train.py");
  let train = fs.readFileSync(trainPath, "utf8");
  const patch = (from, to) => {
    if (train.split(from).length !== 2) throw new Error(`train.py of the example changed: "${from}" does not occur exactly once`);
    train = train.replace(from, to);
  };
  patch("PROBE_BYTES = 512 ", `E2E_SLEEP_SECONDS = ${sleepSeconds}   # e2e only: ${why}\nPROBE_BYTES = 512 `);
  patch("t_start = time.time()\n", "time.sleep(E2E_SLEEP_SECONDS)\nt_start = time.time()\n");
  fs.writeFileSync(trainPath, train);
  const cfgPath = path.join(ws, "autoresearch.json");
  const cfg = JSON.parse(fs.readFileSync(cfgPath, "utf8"));
  cfg.budgetSeconds = Math.max(cfg.budgetSeconds, sleepSeconds + 60); // hard limit 2 × budget: far from the sleep
  fs.writeFileSync(cfgPath, JSON.stringify(cfg, null, 2) + "\n");
  git(ws, "init", "-q");
  git(ws, "config", "user.name", "e2e");
  git(ws, "config", "user.email", "e2e@example.invalid");
  git(ws, "config", "commit.gpgsign", "false");
  git(ws, "add", "-A");
  git(ws, "commit", "-q", "-m", `tiny-lm example, baseline sleeps ${sleepSeconds} s (e2e)`);
  return ws;
}

/** `autoresearch-mcp init <ws>`, committed as a user would (start_session needs a clean tree). */
export async function initWorkspace(r, ws) {
  const res = await run(process.execPath, [CLI, "init", ws], { timeoutMs: 60_000 });
  const out = `${res.stdout}${res.stderr}`.trim();
  if (res.code !== 0) throw new Error(`autoresearch-mcp init failed (exit ${res.code}):\n${out}`);
  r.say(`autoresearch-mcp init:\n${out.replace(/^/gm, "    ")}`);
  const dirty = git(ws, "status", "--porcelain", "--untracked-files=all");
  if (dirty) {
    git(ws, "add", "-A");
    git(ws, "commit", "-q", "-m", "autoresearch: agent setup (autoresearch-mcp init)");
  }
  return out;
}

/** The server's command line through the tap, which logs every JSON-RPC message to `tapLog`. */
export function serverCommand(ws, tapLog) {
  return { command: process.execPath, args: [TAP, tapLog, process.execPath, CLI, "serve", "--workspace", ws] };
}

/** A JSON-lines file's records (a line that does not parse is skipped); none when the file is missing. */
export function readJsonl(file) {
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => {
      try {
        return JSON.parse(l);
      } catch {
        return null;
      }
    })
    .filter(Boolean);
}

// ---------------------------------------------------------------------------------------------
// The script

/** The JSON a client shows the model for a successful MCP result (Codex wraps it in "Output:"). */
export function resultJson(text) {
  if (typeof text !== "string") return null;
  const candidates = [text];
  const i = text.indexOf("Output:\n");
  if (i >= 0) candidates.push(text.slice(i + "Output:\n".length));
  for (const c of candidates) {
    try {
      const v = JSON.parse(c.trim());
      if (v && typeof v === "object") return v;
    } catch {}
  }
  return null;
}

/** The experiment's edit: ORDER 3 → 5, and the baseline's sleep off. */
export function experimentPatch(sleepSeconds) {
  return {
    edits: [
      { old: "ORDER = 3", new: "ORDER = 5" },
      { old: `E2E_SLEEP_SECONDS = ${sleepSeconds}`, new: "E2E_SLEEP_SECONDS = 0" },
    ],
  };
}

/**
 * What log_result asks for next, as a model reads the answer: the JSON's `due` where the client
 * shows the structuredContent; where it shows the text, the `Next:` line that asks for the run again
 * (the baseline's repeat, a new keep's confirmation).
 */
export function dueOf(text) {
  const j = resultJson(text);
  if (j) return j.due ?? null;
  return /^Next: (Baseline run \d+ of \d+ logged: run_training again|Kept for now on \d+ runs?:.*run_training)/m.test(text ?? "") ? "run_training" : null;
}

/** A repeat the server asks for is followed at most this many times per commit (a guard against a loop). */
const MAX_RUNS = 4;

/**
 * The steps of one measured commit under the noise-aware rule: run_training (again with `again`),
 * then log_result, whose `then` follows `due` as the model would: while the answer says
 * "due": "run_training", run and log the same commit again with the same description. The steps
 * carry `what` ("baseline", "experiment"), `run` (1, 2, ...) and `role` ("run", "log") for the
 * checks. While the baseline's repeat is due, `probe` (a step) is tried first: the server must
 * refuse it.
 */
export function measured({ mcp, wait = {}, again = null, probe = null }) {
  const label = (what, run) => (run > 1 ? `${what}, run ${run}` : what);
  const runStep = (what, run) => ({ tool: mcp("run_training"), args: { ...wait }, ...(again ? { again } : {}), expect: "ok", label: label(what, run), what, run, role: "run" });
  const logStep = (description, what, run) => ({
    tool: mcp("log_result"),
    args: { description },
    expect: "ok",
    label: label(what, run),
    what,
    run,
    role: "log",
    then: (c) =>
      dueOf(c.result) !== "run_training" || run >= MAX_RUNS
        ? []
        : [...(probe && what === "baseline" && run === 1 ? [probe] : []), runStep(what, run + 1), logStep(description, what, run + 1)],
  });
  return (what, description) => [runStep(what, 1), logStep(description, what, 1)];
}

/**
 * The loop: start_session, the baseline (run_training again while it answers "running"),
 * log_result; while its repeat is due, an apply_patch (refused), then the baseline again and its
 * log_result; apply_patch, the tamper (the client's own shell appends to prepare.py), commit
 * (refused), the undo, commit, run_training, log_result, the confirmation run and its log_result
 * (the answer says it is due), and status. `mcp(tool)` is the client's name of a tool, `shell(cmd)`
 * a step of its shell tool; `poll` adds waitSeconds to every run_training.
 */
export function loopSteps({ mcp, shell, sleepSeconds, poll, pre = [] }) {
  const wait = poll ? { waitSeconds: poll } : {};
  // As a model reading the answers would: wait again while the run is running; after a failed call
  // (a client's timeout) ask again, and the refusal names the run in progress to wait for.
  const again = (c) => {
    const j = resultJson(c.result);
    if (j) return j.state === "running" && typeof j.runId === "string" ? { runId: j.runId, ...wait } : null;
    if (c.repeat >= 8) return null;
    const named = /"runId":"([^"]+)"/.exec(c.result ?? "");
    return named ? { runId: named[1], ...wait } : { ...wait };
  };
  const patch = experimentPatch(sleepSeconds);
  const probe = { tool: mcp("apply_patch"), args: patch, expect: "refused-due", label: "before the baseline's repeat" };
  const commit = measured({ mcp, wait, again, probe });
  return [
    ...pre,
    { tool: mcp("start_session"), args: { tag: TAG }, expect: "ok" },
    ...commit("baseline", "baseline"),
    { tool: mcp("apply_patch"), args: patch, expect: "ok" },
    { ...shell(TAMPER), expect: "shell", label: "tamper" },
    { tool: mcp("commit"), args: { description: EXPERIMENT }, expect: "refused", label: "commit after the tamper" },
    { ...shell(UNDO), expect: "shell", label: "undo" },
    { tool: mcp("commit"), args: { description: EXPERIMENT }, expect: "ok" },
    ...commit("experiment", EXPERIMENT),
    { tool: mcp("status"), args: { rows: 10 }, expect: "ok", label: "final" },
  ];
}

/**
 * The queued loop (runs in flight, one slot): start_session, the baseline queued twice (the
 * noise-aware rule's two runs, side by side in the queue), the experiment edited and queued with
 * commit {"run": true} while the baseline still runs, then log_result {"wait": true} four times
 * (again while it answers "waiting"): the baseline's runs, the experiment, and the confirmation
 * the server queued itself; status.
 */
export function queueSteps({ mcp, sleepSeconds, pre = [] }) {
  const again = (c) => {
    const j = resultJson(c.result);
    if (j) return j.waiting === true && c.repeat < 20 ? c.args : null;
    return c.repeat < 8 ? c.args : null; // a failed call (a client's timeout): ask again
  };
  const log = (label) => ({ tool: mcp("log_result"), args: { wait: true }, again, expect: "ok", label, role: "queued-log" });
  return [
    ...pre,
    { tool: mcp("start_session"), args: { tag: TAG }, expect: "ok" },
    { tool: mcp("run_training"), args: { wait: false }, expect: "ok", label: "queue the baseline", role: "queue" },
    { tool: mcp("run_training"), args: { wait: false }, expect: "ok", label: "queue the baseline's second run", role: "queue" },
    { tool: mcp("apply_patch"), args: experimentPatch(sleepSeconds), expect: "ok", label: "the experiment, while the baseline runs" },
    { tool: mcp("commit"), args: { description: EXPERIMENT, run: true }, expect: "ok", label: "commit and queue the experiment", role: "queue" },
    log("the baseline"),
    log("the baseline's second run"),
    log("the experiment"),
    log("the experiment's confirmation"),
    { tool: mcp("status"), args: { rows: 10 }, expect: "ok", label: "final" },
  ];
}

/** The queued loop's answers and what it leaves: the queue's states, the waits, the decisions, nothing left in flight. */
export function checkQueue(r, llm, ws, { sleepSeconds }) {
  const queued = llm.calls.filter((c) => c.step.role === "queue").map((c) => resultJson(c.result));
  const states = queued.map((j) => (j ? (j.state ?? j.run?.state) : "no JSON"));
  r.check("queued: the baseline runs, its second run and the experiment wait for the one slot", JSON.stringify(states) === JSON.stringify(["running", "queued", "queued"]), JSON.stringify(states));
  const back = queued[2]?.next ?? "";
  r.check("commit {run: true} says the branch went back to the base and the next idea can start", /The branch is back on [0-9a-f]{7}/.test(back), oneLine(back, 160));
  const chains = ["the baseline", "the baseline's second run", "the experiment", "the experiment's confirmation"].map((label) => llm.calls.filter((c) => c.step.label === label));
  const last = chains.map((cs) => resultJson(cs.at(-1)?.result));
  const first = chains[0];
  const waited = first.reduce((ms, c) => ms + (c.ms ?? 0), 0);
  const failed = chains.flat().filter((c) => c.result === null || !resultJson(c.result));
  r.check(
    `log_result {wait: true} waits for the baseline (sleeps ${sleepSeconds} s) with no failed call`,
    failed.length === 0 && waited >= sleepSeconds * 1000 * 0.9 && last[0]?.row?.description === "baseline",
    `${first.length} call(s) over ${secs(waited)}; failed: ${failed.length}`,
  );
  const shape = last.map((j) => (j?.decision ? `${j.decision.kind}/${j.decision.n}` : "none"));
  r.check("decisions: baseline n 1, baseline n 2, candidate n 1, confirmation n 2", shape.join(",") === "baseline/1,baseline/2,candidate/1,confirmation/2", shape.join(", "));
  r.check("the experiment's keep had its confirmation queued by the server", typeof last[2]?.confirmation === "string" && last[3]?.runId === last[2].confirmation, `${last[2]?.confirmation} / ${last[3]?.runId}`);
  const st = resultJson(llm.calls.filter((c) => c.step.label === "final").at(-1)?.result);
  r.check("status: nothing in flight at the end", Array.isArray(st?.inFlight) && st.inFlight.length === 0, JSON.stringify(st?.inFlight));
  const worktrees = git(ws, "worktree", "list", "--porcelain").split("\n").filter((l) => l.startsWith("worktree ")).length;
  const refs = git(ws, "for-each-ref", "refs/autoresearch-mcp/queue/");
  r.check("no run directory (worktree) or queue ref left", worktrees === 1 && refs === "", `${worktrees - 1} worktree(s), refs: ${refs || "none"}`);
}

// ---------------------------------------------------------------------------------------------
// Running the client

/**
 * Starts the client in its own process group, feeds each stdout line (JSONL) to `onEvent`,
 * writes stdout and stderr to files under `tmp`, kills it after `limitSeconds`.
 */
export function runClient(r, { bin, args, cwd, env, limitSeconds, tmp, name, onEvent, verbose }) {
  const eventsPath = path.join(tmp, `${name}-events.jsonl`);
  const logPath = path.join(tmp, `${name}.log`);
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(bin, args, { cwd, env, stdio: ["ignore", "pipe", "pipe"], detached: true });
    children.add(child);
    const log = fs.createWriteStream(logPath);
    const evs = fs.createWriteStream(eventsPath);
    const events = [];
    let buf = "";
    child.stdout.on("data", (d) => {
      evs.write(d);
      buf += d;
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, i).trim();
        buf = buf.slice(i + 1);
        if (!line) continue;
        let ev;
        try {
          ev = JSON.parse(line);
        } catch {
          if (verbose) r.say(`${name}: ${oneLine(line, 200)}`);
          continue;
        }
        events.push(ev);
        onEvent?.(ev);
      }
    });
    child.stderr.on("data", (d) => {
      log.write(d);
      if (verbose) process.stdout.write(d);
    });
    const timer = setTimeout(() => {
      r.say(`${name} passed ${limitSeconds} s: killing it`);
      killGroup(child, "SIGKILL");
    }, limitSeconds * 1000);
    child.on("error", (e) => log.write(`spawn error: ${e}\n`));
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      log.end();
      evs.end();
      resolve({ code, signal, ms: Date.now() - started, events, logPath, eventsPath });
    });
  });
}

/** An environment without the caller's API keys and XDG dirs, with HOME and XDG under `home`. */
export function isolatedEnv(home, drop = /^(XDG_)|_API_KEY$|^(ANTHROPIC|OPENAI|CLAUDE|CODEX)_/) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!drop.test(k)) env[k] = v;
  const xdg = {
    HOME: home,
    XDG_CONFIG_HOME: path.join(home, ".config"),
    XDG_DATA_HOME: path.join(home, ".local", "share"),
    XDG_CACHE_HOME: path.join(home, ".cache"),
    XDG_STATE_HOME: path.join(home, ".local", "state"),
  };
  for (const d of Object.values(xdg)) fs.mkdirSync(d, { recursive: true });
  return Object.assign(env, xdg);
}

// ---------------------------------------------------------------------------------------------
// Checks after the run

/** Every scripted call as the model saw it. `failedCall(c)` says why a client marked it failed. */
export function checkCalls(r, llm, { isError }) {
  llm.calls.forEach((c, i) => {
    const name = `${c.step.label ? `${c.step.label}: ` : ""}${c.tool}${c.repeat ? " (again)" : ""} ${JSON.stringify(c.args).slice(0, 60)}`;
    // A call that was followed by the same step again: its answer asked for that (e.g. "running").
    const retried = llm.calls[i + 1]?.chain === c.chain;
    if (c.result === null) {
      r.check(name, false, c.id === null ? "never called (the turn ended before this step)" : "no result reached the model");
      return;
    }
    const err = isError(c);
    const j = resultJson(c.result);
    const detail = `${secs(c.ms ?? 0)}${err ? " (error)" : ""}: ${oneLine(c.result, 150)}`;
    if (c.step.expect === "ok" && err && retried && /in progress/.test(c.result) && /"runId":"[^"]+"/.test(c.result)) {
      // The way back after a failed call: the refusal names the run to wait for.
      r.check(`${name} is refused with the run to wait for`, true, detail);
    } else if (c.step.expect === "ok") {
      r.check(name, !err && j !== null && typeof j.next === "string" && j.next.length > 0, `${detail}${j && typeof j.next !== "string" ? " [no next in the JSON]" : ""}${!j ? " [not JSON]" : ""}`);
    } else if (c.step.expect === "refused-due") {
      r.check(`${name} is refused (repeat due)`, /^Refused: The baseline [0-9a-f]{7} has 1 of 2 runs\b/m.test(c.result) && /^Next: Run it again first: run_training\b/m.test(c.result), detail);
    } else if (c.step.expect === "refused") {
      r.check(`${name} is refused`, /^Refused: Only train\.py may change\b/m.test(c.result) && /prepare\.py/.test(c.result), detail);
    } else if (c.step.expect === "shell") {
      r.check(name, !err, detail);
    } else if (c.step.expect === "toolsearch") {
      r.check(name, retried ? !err : c.step.check(c), `${detail}${retried ? " [tried again]" : ""}`);
    } else r.check(name, !err, detail);
  });
}

/** The runs: the final answer of each run_training chain, and that no call of it failed. */
export function checkRuns(r, llm, { isError, sleepSeconds, minMs = 0, why = "" }) {
  const chain = (what, run) => llm.calls.filter((c) => c.step.role === "run" && c.step.what === what && c.step.run === run);
  const baselines = [
    [1, `the baseline (sleeps ${sleepSeconds} s) finishes with no failed call${why}`],
    [2, `the baseline's repeat (the same code: sleeps ${sleepSeconds} s again) finishes with no failed call${why}`],
  ];
  for (const [run, name] of baselines) {
    const calls = chain("baseline", run);
    const last = calls.at(-1);
    const j = last ? resultJson(last.result) : null;
    const total = calls.reduce((ms, c) => ms + (c.ms ?? 0), 0);
    const failed = calls.filter((c) => c.result === null || isError(c) || !resultJson(c.result));
    r.check(
      name,
      last && failed.length === 0 && j?.state === "finished" && j.exitCode === 0 && typeof j.metric === "number" && total >= minMs,
      last
        ? `${calls.length} run_training call(s) over ${secs(total)}${calls.length > 1 ? ` (${calls.map((c) => secs(c.ms ?? 0)).join(" + ")})` : ""}; last: ${j ? `state ${j.state}, exit ${j.exitCode}, val_bpb ${j.metric}` : oneLine(last.result, 200)}${failed.length ? `; failed: ${failed.map((c) => oneLine(c.result, 160)).join(" | ")}` : ""}`
        : "never called",
    );
  }
  for (const [run, name] of [
    [1, "the experiment's run finishes"],
    [2, "the experiment's confirmation run finishes"],
  ]) {
    const calls = chain("experiment", run);
    const je = calls.length ? resultJson(calls.at(-1).result) : null;
    r.check(name, je?.state === "finished" && je.exitCode === 0 && typeof je.metric === "number", je ? `${calls.length} call(s), val_bpb ${je.metric}` : calls.length ? oneLine(calls.at(-1).result, 200) : "never called");
  }
}

const escapeRe = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/**
 * results.tsv and the run log under the noise-aware rule: the baseline and the experiment kept,
 * each with its repeat (same commit, `[run 2: mean …]`), and one run-log entry per row.
 */
export function checkRows(r, ws, base, { sleepSeconds }) {
  const resultsPath = path.join(ws, "results.tsv");
  const lines = fs.existsSync(resultsPath) ? fs.readFileSync(resultsPath, "utf8").split("\n").filter((l) => l.length) : [];
  const rows = lines.map((l) => l.split("\t"));
  r.say(`results.tsv:\n${lines.map((l) => `    ${l}`).join("\n")}`);
  const head = git(ws, "rev-parse", "HEAD");
  r.check("results.tsv header", rows[0]?.join("|") === "commit|val_bpb|memory_gb|status|description", rows[0]?.join(" | ") ?? "missing");
  r.check("results.tsv has 4 rows (the baseline and the experiment, each run twice)", rows.length === 5, `${Math.max(0, rows.length - 1)} rows`);
  const [, b, b2, x, x2] = rows;
  r.check("row 1: the baseline, keep, at the session base", b && b[3] === "keep" && b[4] === "baseline" && base.startsWith(b[0]), b?.join(" | "));
  r.check(
    "row 2: the baseline's repeat, keep, same commit, with the mean of 2 runs and σ",
    b && b2 && b2[0] === b[0] && b2[3] === "keep" && /^baseline \[run 2: mean \d+\.\d{6} of 2 runs, σ \d+\.\d{6}\]$/.test(b2[4]),
    b2?.join(" | "),
  );
  r.check("row 3: the experiment, keep, at HEAD", x && x[3] === "keep" && x[4] === EXPERIMENT && head.startsWith(x[0]), x?.join(" | "));
  r.check(
    "row 4: the experiment's confirmation, keep, same commit, its mean ahead of the baseline's",
    b && x && x2 && x2[0] === x[0] && x2[3] === "keep" && new RegExp(`^${escapeRe(EXPERIMENT)} \\[run 2: mean \\d+\\.\\d{6} of 2 runs, ahead of ${b[0]} \\d+\\.\\d{6}\\]$`).test(x2[4]),
    x2?.join(" | "),
  );
  r.check("ORDER 5 improves val_bpb", b && b2 && x && x2 && Math.max(Number(x[1]), Number(x2[1])) < Math.min(Number(b[1]), Number(b2[1])), b && x ? `${b[1]}, ${b2?.[1]} -> ${x[1]}, ${x2?.[1]}` : "");

  // .git/autoresearch/runs.jsonl: one entry per row, in order, with the code hash that groups the runs.
  const logPath = path.join(ws, ".git", "autoresearch", "runs.jsonl");
  const log = readJsonl(logPath);
  const data = rows.slice(1);
  const matches = log.length === data.length && log.every((e, i) => e && e.line === i + 2 && e.commit === data[i][0] && e.status === data[i][3] && typeof e.value === "number" && e.value.toFixed(6) === data[i][1] && e.revoked === false);
  r.check(
    ".git/autoresearch/runs.jsonl has one entry per row (line, commit, status, value)",
    matches,
    `${log.length} entries: ${log.map((e) => (e ? `line ${e.line} ${e.commit} ${e.status} ${e.value} ${e.durationSeconds} s` : "unparsable")).join("; ")}`,
  );
  const [l1, l2, l3, l4] = log;
  r.check(
    "the run log groups the runs by code: the baseline's two under one key, the experiment's two under another",
    !!(l1?.key && l1.key === l2?.key && l3?.key && l3.key === l4?.key && l1.key !== l3.key),
    log.map((e) => String(e?.key).slice(0, 12)).join(", "),
  );
  r.check(
    `the run log has both baseline runs lasting the ${sleepSeconds} s sleep or more`,
    [l1, l2].every((e) => typeof e?.durationSeconds === "number" && e.durationSeconds >= sleepSeconds),
    [l1, l2].map((e) => `${e?.durationSeconds} s`).join(", "),
  );
  return { rows, head };
}

/** The JSON answers of the script's log_result calls, in order, and of its last status call, as the model saw them. */
export function answersOf(llm) {
  const logs = llm.calls.filter((c) => c.step.role === "log").map((c) => resultJson(c.result));
  const st = resultJson(llm.calls.filter((c) => c.step.label === "final").at(-1)?.result);
  return { logs, st };
}

/**
 * log_result's and status's answers under the noise-aware rule: `due`, `decision` and `next` of
 * the four log_result calls, and status's best (mean of 2 runs) and noise. `logs`: the four
 * structuredContent objects in order; `st`: status's.
 */
export function checkNoise(r, logs, st, { base, head }) {
  const short = (h) => h?.slice(0, 7);
  const dues = logs.map((l) => (l ? l.due : "no JSON"));
  r.check("log_result's due: run_training after the first baseline and the experiment, null after their repeats", JSON.stringify(dues) === JSON.stringify(["run_training", null, "run_training", null]), JSON.stringify(dues));
  const d = logs.map((l) => l?.decision);
  const shape = d.map((x) => (x ? `${x.kind}/${x.n}` : "none"));
  r.check("log_result's decision: baseline n 1, baseline n 2, candidate n 1, confirmation n 2", shape.join(",") === "baseline/1,baseline/2,candidate/1,confirmation/2", shape.join(", "));
  const [d1, d2, d3, d4] = d;
  const quiet = d.every((x) => x && x.revoked === false && x.resetTo === null && x.closeCall === false);
  r.check(
    "decision: σ from the baseline's repeat, the experiment against the baseline's mean of 2, nothing revoked",
    quiet &&
      d1.sigma === null &&
      d1.against === null &&
      typeof d2.sigma === "number" &&
      d2.against === null &&
      typeof d3.sigma === "number" &&
      d3.against?.commit === short(base) &&
      d3.against.n === 2 &&
      d4.against?.commit === short(base) &&
      d4.against.n === 2 &&
      Math.abs(d3.against.mean - d2.mean) < 1e-9 &&
      d4.mean < d2.mean,
    d.map((x) => (x ? `${x.kind}: mean ${x.mean}, n ${x.n}, σ ${x.sigma}, against ${x.against ? `${x.against.commit} ${x.against.mean} (${x.against.n})` : "none"}, revoked ${x.revoked}` : "none")).join(" | "),
  );
  const nexts = logs.map((l) => l?.next ?? "");
  r.check(
    "log_result's next: run the baseline again, then the next idea; the keep measured again, then the next idea",
    /^Baseline run 1 of 2 logged: run_training again\b/.test(nexts[0]) && /\bapply_patch\b/.test(nexts[1]) && /^Kept for now on 1 run\b.*\brun_training\b/.test(nexts[2]) && /\bapply_patch\b/.test(nexts[3]),
    nexts.map((n) => oneLine(n, 110)).join(" | "),
  );
  const best = st?.best;
  r.check(
    "status: the best is the experiment, the mean of its 2 runs ± σ/√2",
    !!best && best.commit === short(head) && best.n === 2 && best.description === EXPERIMENT && Math.abs(best.metric - d4?.mean) < 1e-9 && typeof best.stderr === "number" && Math.abs(best.stderr - d4.sigma / Math.SQRT2) < 1e-9,
    JSON.stringify(best),
  );
  const nz = st?.noise;
  r.check("status: noise with σ, 1 experiment, 1 kept, 0 revoked", !!nz && typeof nz.sigma === "number" && nz.df === 2 && nz.experiments === 1 && nz.kept === 1 && nz.revoked === 0, JSON.stringify(nz));
}

/** results.tsv and the run log, git, and the processes left on the workspace. */
export async function checkWorkspace(r, ws, base, { sleepSeconds }) {
  const { head } = checkRows(r, ws, base, { sleepSeconds });

  const branch = git(ws, "rev-parse", "--abbrev-ref", "HEAD");
  r.check(`branch autoresearch/${TAG}`, branch === `autoresearch/${TAG}`, branch);
  const subject = git(ws, "log", "-1", "--format=%s");
  r.check("commit message", subject === `${TAG}: ${EXPERIMENT}`, subject);
  const count = git(ws, "rev-list", "--count", `${base}..HEAD`);
  const changed = git(ws, "diff", "--name-only", base, "HEAD");
  r.check("one commit on the base, touching train.py only", count === "1" && changed === "train.py", `${count} commit(s), changed: ${changed || "nothing"}`);
  r.check("HEAD's train.py has ORDER = 5", /^ORDER = 5\b/m.test(git(ws, "show", "HEAD:train.py")));
  r.check("prepare.py is as at the base (the tamper was undone)", git(ws, "diff", "--name-only", base, "--", "prepare.py") === "");
  const status = git(ws, "status", "--porcelain", "--untracked-files=all");
  r.check("clean work tree (results.tsv and run.log git-excluded)", status === "" && git(ws, "ls-files", "results.tsv", "run.log") === "", status);
  const ignored = git(ws, "status", "--porcelain", "--ignored", "--untracked-files=normal")
    .split("\n")
    .filter((l) => l.startsWith("!! "))
    .map((l) => l.slice(3))
    .filter((p) => !["results.tsv", "run.log", "__pycache__/"].includes(p));
  if (ignored.length) r.note(`the client wrote git-ignored files into the workspace: ${ignored.join(", ")}`);

  const left = await leftovers(ws);
  r.check("no process left on the workspace (server, training)", left.length === 0, left.map((p) => `${p.pid} ${oneLine(p.cmd, 100)}`).join("; "));
  for (const p of left) {
    try {
      process.kill(p.pid, "SIGKILL");
    } catch {}
  }
  return { head };
}

/**
 * The answers (see mcp-tap.mjs) the server gave to the tools/call of `tool`, in order, over every
 * connection in the tap's log: what the structuredContent said, whether or not the client showed it.
 */
export function tapAnswers(tapLog, tool) {
  const recs = readJsonl(tapLog);
  const conn = (x) => x.tap ?? 0;
  return recs
    .filter((x) => x.dir === "in" && x.method === "tools/call" && x.name === tool)
    .map((q) => recs.find((x) => x.dir === "out" && conn(x) === conn(q) && x.id === q.id && x.result)?.answer ?? null);
}

/** What the tap saw: the client's initialize, progress tokens, cancellations, server starts. */
export function checkTap(r, tapLog, { client }) {
  const recs = readJsonl(tapLog);
  const starts = recs.filter((x) => x.dir === "start");
  const init = recs.find((x) => x.dir === "in" && x.method === "initialize");
  const calls = recs.filter((x) => x.dir === "in" && x.method === "tools/call");
  // A cancellation counts when it came before the server's answer (opencode cancels answered calls too).
  const answeredAt = (id) => recs.find((x) => x.dir === "out" && x.id === id && (x.result || x.error))?.t ?? Infinity;
  const cancels = recs.filter((x) => x.dir === "in" && x.method === "notifications/cancelled");
  const cancelled = cancels.filter((x) => answeredAt(x.requestId) > x.t);
  if (cancels.length > cancelled.length) r.note(`${client} sent ${cancels.length - cancelled.length} notifications/cancelled for calls already answered`);
  const progress = recs.filter((x) => x.dir === "out" && x.method === "notifications/progress");
  const info = init?.clientInfo;
  r.check(`${client} sends initialize with clientInfo`, !!info?.name, info ? `clientInfo ${JSON.stringify(info)}, protocol ${init.protocolVersion}, capabilities ${JSON.stringify(init.capabilities)}` : "no initialize seen");
  if (starts.length) r.say(`server started ${starts.length} time(s); first in ${starts[0].cwd} with env ${starts[0].envNames.join(",")}`);
  const tokens = calls.filter((c) => c.progressToken !== null && c.progressToken !== undefined).length;
  r.say(`tools/call: ${calls.length} (${tokens} with a progressToken); progress notifications sent: ${progress.length}; cancellations: ${cancelled.length}`);
  r.check("no tools/call was cancelled by the client", cancelled.length === 0, cancelled.map((c) => `request ${c.requestId}: ${c.reason ?? ""}`).join("; "));
  return { info, starts, calls, cancelled, tokens, progress };
}
